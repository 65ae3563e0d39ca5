"""BudgetGuard: worst-case reservations, max_tokens lowered to fit, refusals, downgrades, settlement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.budgets.conftest import Clock, policy
from tests.budgets.support import DeadLedger, RecordingAlerter, admitted, ask, recorded_call
from tokenomy.budgets import BudgetGuard, BudgetRequest, Downgrade, Rejection, Reservation
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import DowngradeStep
from tokenomy.budgets.settings import BudgetSettings, FailMode
from tokenomy.budgets.spend import StoreSpend
from tokenomy.schema import Cost, Usage
from tokenomy.store import open_store

NO_WAIT = BudgetSettings(contention_wait=0)
"""Refusals while reservations are open come at once (the requests in these tests never settle)."""


def test_the_worst_case_is_reserved_on_every_applicable_policy(clock: Clock) -> None:
    guard = BudgetGuard([policy(name="usd"), policy(name="tok", limit_tokens=1_000_000)], clock=clock)
    res = admitted(guard.reserve(ask()))
    assert res.max_tokens == 1024
    assert not res.lowered
    assert res.worst_case_usd == Decimal("0.0007644")
    assert [(h.policy, h.amount) for h in res.held] == [("usd", 764_400), ("tok", 2_024)]
    assert guard.ledger.usage([h.key for h in res.held]) == [(0, 764_400), (0, 2_024)]


def test_max_tokens_is_lowered_to_fit_what_is_left(clock: Clock) -> None:
    # the last refusal comes while the second request is in flight: refuse at once, not after a
    # wait for it to settle (tests/budgets/test_contention.py covers the wait)
    guard = BudgetGuard([policy(limit_tokens=5_000)], clock=clock, settings=NO_WAIT)
    first = admitted(guard.reserve(ask(max_tokens=3_000)))
    guard.settle(first, 2_000)  # 1000 input + 2000 output = 3000 tokens
    second = admitted(guard.reserve(ask(max_tokens=3_000)))
    assert (second.max_tokens, second.requested_max_tokens, second.lowered) == (1_000, 3_000, True)
    refused = guard.reserve(ask(max_tokens=3_000))
    assert isinstance(refused, Rejection)


def test_no_max_tokens_means_the_model_maximum(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_usd="100")], clock=clock)
    res = admitted(guard.reserve(ask(input_tokens=28_000, max_tokens=None)))
    assert res.max_tokens == 100_000  # the 128k context window minus the input
    capped = BudgetGuard(
        [policy()], clock=clock, settings=BudgetSettings(max_output_tokens={"gpt-4o-mini": 16_384})
    )
    assert admitted(capped.reserve(ask(max_tokens=None))).max_tokens == 16_384


def test_a_request_continuing_a_stored_conversation_reserves_the_context_window_as_input(
    clock: Clock,
) -> None:
    """The provider bills the stored conversation's tokens as input: one such request reserved its
    own few tokens and settled 100,060 against a 20,000-token budget."""
    import dataclasses

    guard = BudgetGuard([policy(limit_tokens=200_000)], clock=clock, settings=NO_WAIT)
    stored = dataclasses.replace(ask(input_tokens=10, max_tokens=50), stored_input=True)
    res = admitted(guard.reserve(stored))
    assert [h.amount for h in res.held] == [128_000 + 50]  # gpt-4o-mini's context window, then its output
    assert res.max_tokens == 50
    guard.settle(res, 50)
    small = BudgetGuard([policy(limit_tokens=20_000)], clock=clock, settings=NO_WAIT)
    assert isinstance(small.reserve(stored), Rejection)  # it cannot be bounded under 20,000
    assert admitted(small.reserve(ask(input_tokens=10, max_tokens=50))).held[0].amount == 60


def test_a_stored_conversation_on_a_model_of_unknown_context_window_reserves_the_setting(
    clock: Clock,
) -> None:
    """Where the catalog knows no context window (gpt-4.5-preview; a model it cannot price under a
    token budget), the request's own 10 tokens were all it reserved, whatever the conversation held."""
    import dataclasses

    def stored(model: str) -> BudgetRequest:
        return dataclasses.replace(ask(input_tokens=10, max_tokens=50), model=model, stored_input=True)

    guard = BudgetGuard([policy(limit_tokens=3_000_000)], clock=clock, settings=NO_WAIT)
    for model in ("gpt-4.5-preview", "a-model-no-catalog-prices"):
        res = admitted(guard.reserve(stored(model)))
        assert [h.amount for h in res.held] == [2_000_000 + 50], model
        guard.settle(res, 50)
    small = BudgetGuard([policy(limit_tokens=200_000)], clock=clock, settings=NO_WAIT)
    assert isinstance(small.reserve(stored("gpt-4.5-preview")), Rejection)
    named = BudgetSettings(contention_wait=0, unknown_context_window=128_000)
    own = BudgetGuard([policy(limit_tokens=200_000)], clock=clock, settings=named)
    assert [h.amount for h in admitted(own.reserve(stored("gpt-4.5-preview"))).held] == [128_050]
    usd = BudgetGuard([policy(limit_usd="100")], clock=clock, settings=NO_WAIT)
    assert isinstance(usd.reserve(stored("gpt-4.5-preview")), Rejection)  # 2M at $75/M: $150


def test_a_hard_refusal_names_scope_limit_spent_and_reset(clock: Clock) -> None:
    alerts = RecordingAlerter()
    berlin = policy(scope="team", match="search", limit_usd="0.001", window="day", timezone="Europe/Berlin")
    guard = BudgetGuard([berlin], clock=clock, alerter=alerts)
    guard.settle(admitted(guard.reserve(ask(max_tokens=1000, team="search"))), 1000)  # $0.00075
    refused = guard.reserve(ask(max_tokens=1000, team="search"))
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.type, refused.policy) == (429, "budget_exceeded", "p")
    assert (refused.scope, refused.limit, refused.spent, refused.reserved) == (
        "team 'search'",
        Decimal("0.001"),
        Decimal("0.00075"),
        Decimal(0),
    )
    assert refused.resets_at == datetime(2026, 3, 10, 23, tzinfo=UTC)
    assert "budget 'p' (team 'search', $0.001 per day (Europe/Berlin)) is exhausted" in refused.message
    assert "spent $0.0008" in refused.message
    assert "it resets at 2026-03-11 00:00 Europe/Berlin (2026-03-10T23:00Z)" in refused.message
    assert refused.message.endswith(
        "(`tokenomy budgets set p ...`, or its [[budget]] table when tokenomy.toml defines it)."
    )
    assert refused.retry_after(datetime(2026, 3, 10, 22, 59, 30, tzinfo=UTC)) == 31
    fields = refused.error_fields()
    assert fields["type"] == "budget_exceeded"
    assert fields["resets_at"] == "2026-03-10T23:00:00+00:00"
    assert [a.kind for a in alerts.sent] == ["exhausted"]
    guard.reserve(ask(max_tokens=1000, team="search"))
    assert len(alerts.sent) == 1  # raised once per account
    other = admitted(guard.reserve(ask(max_tokens=1000, team="ads")))  # the policy matches search only
    assert other.held == ()


def test_each_team_has_its_own_account_and_unattributed_requests_share_one(clock: Clock) -> None:
    guard = BudgetGuard([policy(scope="team", limit_tokens=4_100)], clock=clock, settings=NO_WAIT)
    keys = {
        h.key for r in (ask(team="a"), ask(team="b"), ask(), ask()) for h in admitted(guard.reserve(r)).held
    }
    assert keys == {"p:a:d2026-03-10", "p:b:d2026-03-10", "p:(unattributed):d2026-03-10"}
    assert isinstance(guard.reserve(ask()), Rejection)  # the two unattributed requests filled theirs


def test_windows_roll_over_to_a_fresh_account(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=2_100, timezone="Europe/Berlin")], clock=clock)
    guard.settle(admitted(guard.reserve(ask())), 1024)
    assert isinstance(guard.reserve(ask()), Rejection)
    clock.advance(11 * 3600)  # 23:00 UTC: midnight in Berlin
    assert admitted(guard.reserve(ask())).held[0].key == "p:*:d2026-03-11"


def test_soft_policies_walk_the_downgrade_chain(clock: Clock) -> None:
    alerts = RecordingAlerter()
    soft = policy(
        limit_tokens=10_000,
        mode="soft",
        soft_threshold="0.5",
        downgrade=[{"model": "gpt-4o-mini"}, {"max_tokens": 256, "reasoning_effort": "low"}],
    )
    guard = BudgetGuard([soft], clock=clock, alerter=alerts)
    big = BudgetRequest(
        model="gpt-4o", provider="openai", input_tokens=1000, max_tokens=2000, reasoning_effort="high"
    )
    first = guard.reserve(big)
    assert isinstance(first, Reservation)
    assert first.model == "gpt-4o"
    guard.settle(first, 4_000)  # 5000 tokens: 50%, step 1
    second = guard.reserve(big)
    assert isinstance(second, Downgrade)
    assert (second.model, second.max_tokens, second.reasoning_effort) == ("gpt-4o-mini", 2000, "high")
    assert second.steps == (("p", DowngradeStep(model="gpt-4o-mini")),)
    guard.settle(second, 1_500)  # 7500 tokens: 75%, step 2 as well (steps at 50% and 75%)
    third = guard.reserve(big)
    assert isinstance(third, Downgrade)
    assert (third.model, third.max_tokens, third.reasoning_effort) == ("gpt-4o-mini", 256, "low")
    guard.settle(third, 256)
    fourth = guard.reserve(big)
    assert isinstance(fourth, Downgrade)
    guard.settle(fourth, 5_000)  # past 100%: a soft policy never refuses
    assert isinstance(guard.reserve(big), Downgrade)
    assert [(a.kind, a.level) for a in alerts.sent] == [("downgrade", 1), ("downgrade", 2)]
    # each alert gives the share that chose its step, not counting the request's own reservation
    assert [a.used_share for a in alerts.sent] == [0.5, 0.75]
    assert "is at 50% of 10,000 tokens per day" in alerts.sent[0].message
    # steps are cumulative: the second alert names the model too, not only its own step
    assert alerts.sent[1].message.endswith(
        "requests now go out with model=gpt-4o-mini, then max_tokens<=256, reasoning_effort=low (step 2 of 2)"
    )


def test_settlement_takes_usage_cost_or_output_tokens_and_counts_once(clock: Clock) -> None:
    guard = BudgetGuard(
        [policy(name="usd", limit_usd="10"), policy(name="tok", limit_tokens=10**6)], clock=clock
    )
    res = admitted(guard.reserve(ask()))
    usage = Usage.of(
        input_uncached=600,
        cache_read=400,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=90,
        reasoning=10,
    )
    settled = guard.settle(res, usage)
    # 600 * 0.15 + 400 * 0.075 + 100 * 0.60 dollars per million
    assert settled.cost == Decimal("0.00018")
    assert settled.tokens == 1_100
    guard.settle(res, usage)  # a second settlement is ignored
    assert guard.ledger.usage([h.key for h in res.held]) == [(180_000, 0), (1_100, 0)]
    by_cost = admitted(guard.reserve(ask()))
    guard.settle(by_cost, Cost(total=Decimal("0.0001")))
    by_tokens = admitted(guard.reserve(ask()))
    assert guard.settle(by_tokens, 0).cost == Decimal("0.00015")  # a cut stream: the input only
    released = admitted(guard.reserve(ask()))
    guard.release(released)
    spent_usd, spent_tokens = guard.ledger.usage([h.key for h in res.held])
    assert spent_usd == (180_000 + 100_000 + 150_000, 0)
    # settling by cost cannot tell tokens: the reservation (2024 tokens) is charged
    assert spent_tokens == (1_100 + 2_024 + 1_000, 0)


def test_a_token_budget_counts_a_half_known_usage_of_a_model_without_prices(clock: Clock) -> None:
    """An answer whose input total is unknown (an Anthropic body without its cache fields) from a
    model the catalog cannot price: the token budget is charged the counted input and the reported
    output, not the whole reservation (it was: no price card, so nothing was counted)."""
    guard = BudgetGuard([policy(limit_tokens=10**6)], clock=clock)
    res = admitted(guard.reserve(BudgetRequest(model="house-model-7", input_tokens=40, max_tokens=5000)))
    settled = guard.settle(res, Usage(input_uncached=40, output_visible=16, reasoning=0, output_total=16))
    assert (settled.cost, settled.tokens) == (None, 56)
    assert guard.ledger.usage([h.key for h in res.held]) == [(56, 0)]


def test_negative_amounts_and_counts_are_refused_not_given_back_as_room(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_usd="0.01")], clock=clock)
    res = admitted(guard.reserve(ask()))
    for refund in (
        Decimal("-1"),
        Decimal("NaN"),
        Cost(total=Decimal("-0.5")),
        Usage(input_total=-5, output_total=3),
    ):
        with pytest.raises(ValueError, match="settle\\(\\) takes a"):
            guard.settle(res, refund)
    guard.settle(res, 0)  # still open: settled once, properly
    # 1,000 input tokens of gpt-4o-mini at $0.15 per million: $0.00015, in nano-dollars
    assert guard.ledger.usage([h.key for h in res.held]) == [(150_000, 0)]
    with pytest.raises(ValueError, match="input_tokens and min_tokens must be 0 or more"):
        BudgetRequest(model="gpt-4o-mini", input_tokens=-1_000_000)
    with pytest.raises(ValueError, match="choices 1 or more"):
        BudgetRequest(model="gpt-4o-mini", choices=0)


def test_reservations_that_die_expire_after_the_ttl(clock: Clock) -> None:
    guard = BudgetGuard(
        [policy(limit_tokens=2_100)],
        clock=clock,
        settings=BudgetSettings(reservation_ttl=30, contention_wait=0),
    )
    admitted(guard.reserve(ask()))  # never settled
    assert isinstance(guard.reserve(ask()), Rejection)
    clock.advance(31)
    assert admitted(guard.reserve(ask())).max_tokens == 1024


def test_per_request_caps_lower_or_refuse_a_single_request(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=1_500, window="request")], clock=clock)
    assert admitted(guard.reserve(ask())).max_tokens == 500
    refused = guard.reserve(ask(input_tokens=1_400))
    assert isinstance(refused, Rejection)
    assert "caps each request" in refused.message
    assert "256 output tokens" in refused.message
    assert admitted(guard.reserve(ask())).held == ()  # nothing is held for a per-request cap


def test_session_windows_count_per_session(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=2_100, window="session")], clock=clock)
    one = ask(session="s1")
    guard.settle(admitted(guard.reserve(one)), 1024)
    assert isinstance(guard.reserve(one), Rejection)
    refused = guard.reserve(one)
    assert isinstance(refused, Rejection)
    assert refused.resets_at is None
    assert "does not reset; start a new session. Ask for less, or raise the limit" in refused.message
    assert "Wait for the reset" not in refused.message  # a session window never resets
    other = ask(session="s2")
    assert admitted(guard.reserve(other)).held[0].key == "p:*:ss2"


def test_an_unpriced_model_cannot_be_bounded_in_dollars(clock: Clock) -> None:
    guard = BudgetGuard([policy(), policy(name="tok", limit_tokens=10_000)], clock=clock)
    refused = guard.reserve(BudgetRequest(model="house-model-7", input_tokens=10, max_tokens=10))
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.type) == (400, "budget_unpriced_model")
    assert refused.message.count("add a [[price]] entry") == 1  # the advice is given once
    assert refused.message.endswith(", or use a priced model.")
    tokens_only = BudgetGuard([policy(name="tok", limit_tokens=10_000)], clock=clock)
    res = admitted(tokens_only.reserve(BudgetRequest(model="house-model-7", input_tokens=10, max_tokens=10)))
    assert res.held[0].amount == 20
    assert res.worst_case_usd is None


def test_fail_closed_refuses_and_fail_open_admits_unmetered(clock: Clock) -> None:
    closed = BudgetGuard([policy()], ledger=DeadLedger(), clock=clock)
    refused = closed.reserve(ask())
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.type) == (503, "budget_unavailable")
    assert "redis://127.0.0.1:1/0 is unreachable" in refused.message
    alerts = RecordingAlerter()
    settings = BudgetSettings(fail=FailMode.OPEN)
    dead = DeadLedger()
    opened = BudgetGuard([policy()], ledger=dead, clock=clock, settings=settings, alerter=alerts)
    res = admitted(opened.reserve(ask()))
    assert (res.enforced, res.max_tokens) == (False, 1024)
    assert [(h.key, h.amount) for h in res.held] == [("p:*:d2026-03-10", 0)]  # named, nothing held
    assert [a.kind for a in alerts.sent] == ["enforcement_off"]
    opened.settle(res, 10)  # what was used is still sent, to be added when the ledger answers
    # 1000 input tokens at $0.15/M and 10 output at $0.60/M: $0.000156, in nano-dollars
    assert dead.kept == [(res.id, ["p:*:d2026-03-10"], [156_000])]


def test_missing_accounts_are_rebuilt_from_the_store(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                recorded_call("in-window", datetime(2026, 3, 10, 9), "0.60", team="search"),
                recorded_call("other-team", datetime(2026, 3, 10, 9), "5.00", team="ads"),
                recorded_call("yesterday", datetime(2026, 3, 9, 9), "5.00", team="search"),
            ]
        )
        guard = BudgetGuard(
            [policy(scope="team", limit_usd="1.00")],
            ledger=MemoryLedger(clock=clock),
            spend=StoreSpend(store),
            clock=clock,
        )
        res = admitted(guard.reserve(ask(team="search")))
        assert guard.ledger.usage([res.held[0].key]) == [(600_000_000, 764_400)]
        # $0.40 minus the reservation left: a second request is lowered to fit
        second = admitted(guard.reserve(ask(team="search", max_tokens=1_000_000)))
        assert second.max_tokens == (400_000_000 - 764_400 - 150_000) * 1000 // 600_000


def test_asyncio_admission_gives_the_same_answers(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=5_000)], clock=clock)

    async def run() -> list[int | None]:
        first = await guard.areserve(ask(max_tokens=3_000))
        assert isinstance(first, Reservation)
        await guard.asettle(first, 2_000)
        second = await guard.areserve(ask(max_tokens=3_000))
        assert isinstance(second, Reservation)
        await guard.arelease(second)
        third = await guard.areserve(ask(max_tokens=3_000))
        return [
            first.max_tokens,
            second.max_tokens,
            third.max_tokens if isinstance(third, Reservation) else None,
        ]

    assert asyncio.run(run()) == [3_000, 1_000, 1_000]


def test_settling_output_tokens_charges_the_exact_cost_rounded_up_to_nano_dollars(clock: Clock) -> None:
    guard = BudgetGuard(
        [policy(name="usd", limit_usd="10"), policy(name="tok", limit_tokens=10**6)], clock=clock
    )
    res = admitted(guard.reserve(ask(input_tokens=1_001)))
    settled = guard.settle(res, 333)
    # 1001 * 0.15 + 333 * 0.60 dollars per million
    assert settled.cost == Decimal("0.00034995")
    assert res.card is not None
    assert settled.cost == res.card.worst_case(1_001, 333)
    assert settled.tokens == 1_334
    assert guard.ledger.usage([h.key for h in res.held]) == [(349_950, 0), (1_334, 0)]


def test_new_policies_replace_the_lines_cached_for_their_accounts(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=10_000)], clock=clock)
    guard.release(admitted(guard.reserve(ask())))
    assert admitted(guard.reserve(ask())).max_tokens == 1024
    guard.set_policies([policy(limit_tokens=3_524)])  # the same account, a lower limit
    lowered = admitted(guard.reserve(ask()))
    assert lowered.held[0].key == "p:*:d2026-03-10"
    assert (lowered.max_tokens, lowered.lowered) == (500, True)  # 3524 - 2024 held - 1000 input


def test_the_direct_path_and_the_soft_policy_path_reserve_and_settle_the_same(clock: Clock) -> None:
    hard = [policy(name="usd"), policy(name="tok", limit_tokens=1_000_000)]
    quiet_soft = policy(name="soft", limit_tokens=10**9, mode="soft", downgrade=[{"max_tokens": 1}])
    direct = BudgetGuard(hard, clock=clock)  # no soft policy: no generator, one ledger call
    stepped = BudgetGuard([*hard, quiet_soft], clock=clock)  # usage read first, then the same reserve
    for guard in (direct, stepped):
        res = admitted(guard.reserve(ask(input_tokens=1_001)))
        assert [(h.policy, h.amount) for h in res.held][:2] == [("usd", 764_550), ("tok", 2_025)]
        assert res.max_tokens == 1024
        assert guard.settle(res, 333).cost == Decimal("0.00034995")
        again = asyncio.run(guard.areserve(ask(input_tokens=1_001)))
        assert isinstance(again, Reservation)
        assert [h.amount for h in again.held][:2] == [764_550, 2_025]
        assert guard.ledger.usage([h.key for h in again.held][:2]) == [(349_950, 764_550), (1_334, 2_025)]


def test_requests_that_write_their_input_to_the_cache_cannot_overspend(clock: Clock) -> None:
    # A 1-hour cache write bills Claude Sonnet 4.5's input at $6 / MTok, twice the uncached $3: a
    # worst case at the uncached rate let two such requests spend $0.129 of a $0.10 budget
    guard = BudgetGuard([policy(limit_usd="0.10")], clock=clock, settings=NO_WAIT)
    request = BudgetRequest(
        model="claude-sonnet-4-5", provider="anthropic", input_tokens=10_000, max_tokens=300
    )
    written = Usage.of(
        input_uncached=0,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=10_000,
        output_visible=300,
        reasoning=0,
    )
    first = admitted(guard.reserve(request))
    assert first.worst_case_usd == Decimal("0.0645")
    assert guard.settle(first, written).cost == Decimal("0.0645")
    refused = guard.reserve(request)  # $0.0355 left: not enough for the input written to the cache
    assert isinstance(refused, Rejection)
    assert guard.ledger.usage([h.key for h in first.held]) == [(64_500_000, 0)]


def test_each_answer_a_request_asks_for_is_reserved(clock: Clock) -> None:
    # n = 4 answers of up to 3,000 tokens each could write 12,000 tokens: one answer's worth was
    # reserved, so a 5,000-token budget could be spent 2.8 times over by a single request
    guard = BudgetGuard([policy(limit_tokens=5_000)], clock=clock, settings=NO_WAIT)
    many = BudgetRequest(
        model="gpt-4o-mini", provider="openai", input_tokens=1_000, max_tokens=3_000, choices=4
    )
    res = admitted(guard.reserve(many))
    assert (res.max_tokens, res.choices, res.lowered) == (1_000, 4, True)  # 1,000 + 4 x 1,000 fills it
    assert [h.amount for h in res.held] == [5_000]
    assert isinstance(guard.reserve(ask(max_tokens=256)), Rejection)
    guard.settle(res, 2_400)  # what the four answers wrote together
    assert guard.ledger.usage([h.key for h in res.held]) == [(3_400, 0)]
    dollars = BudgetGuard([policy(limit_usd="1")], clock=clock)
    three = BudgetRequest(
        model="gpt-4o-mini", provider="openai", input_tokens=1_000, max_tokens=1_024, choices=3
    )
    held = admitted(dollars.reserve(three))
    assert held.worst_case_usd == Decimal("0.0019932")  # $0.00015 input + 3 x 1,024 x $0.60 / MTok
    assert [h.amount for h in held.held] == [1_993_200]


def test_a_session_budget_lasts_as_long_as_its_session_is_active(clock: Clock) -> None:
    # the in-process account of a session was dropped a week after its *first* reservation, so a
    # session active every day started over at zero on day 8 and could spend its limit again
    guard = BudgetGuard([policy(limit_tokens=5_000, window="session")], clock=clock, settings=NO_WAIT)
    for _ in range(5):
        res = admitted(guard.reserve(ask(input_tokens=500, max_tokens=500, session="s-1")))
        guard.settle(res, 500)
        clock.advance(2 * 86_400)
    assert guard.ledger.usage([res.held[0].key]) == [(5_000, 0)]
    assert isinstance(guard.reserve(ask(input_tokens=500, max_tokens=500, session="s-1")), Rejection)
    clock.advance(8 * 86_400)  # a week after its last reservation, an idle session's account goes
    assert guard.ledger.usage([res.held[0].key]) == [None]


def test_a_token_budgets_stored_spend_counts_a_cut_reasoning_streams_visible_output(tmp_path: Path) -> None:
    """A cut reasoning stream is stored with its counted visible output and its total unknown: the
    stored spend added 0 for its output."""
    from tokenomy.budgets.policy import Unit
    from tokenomy.schema import Kind

    with open_store(tmp_path / "t.duckdb") as store:
        cut = recorded_call("cut", datetime(2026, 3, 10, 9), "0.01", team="search")
        usage = Usage(input_total=1_000, output_visible=40, kind=Kind.ESTIMATED)  # reasoning unknown
        store.insert_calls([cut.replace(usage=usage)])
        spent = StoreSpend(store).window(policy(limit_tokens=10_000), None, None, None)
        assert spent.amount(Unit.TOKENS) == 1_040


def test_an_in_process_ledger_used_after_a_fork_refuses_instead_of_counting_a_copy(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard made before a fork (a pre-forking server, a fork-started pool) gave each child a full
    copy of every budget: four children took four times the limit, with no word."""
    from tokenomy.budgets import memory

    guard = BudgetGuard([policy(limit_tokens=100_000)], clock=clock, settings=NO_WAIT)
    admitted(guard.reserve(ask()))
    monkeypatch.setattr(memory, "_FORKS", [memory._FORKS[0] + 1])  # as in a forked child
    refused = guard.reserve(ask())
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.type) == (503, "budget_unavailable")
    assert "before the process forked" in refused.message
    assert "redis://" in refused.message
    after = BudgetGuard([policy(limit_tokens=100_000)], clock=clock, settings=NO_WAIT)  # made in the child
    admitted(after.reserve(ask()))
