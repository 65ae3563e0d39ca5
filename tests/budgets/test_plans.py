"""Admission plans: kept per request shape, until a window or the prices' day ends, never for the rest."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.budgets import support
from tests.budgets.conftest import Clock, policy
from tokenomy.budgets import BudgetGuard, BudgetRequest, Reservation


def ask(team: str | None = "search", max_tokens: int = 1024, session: str | None = None) -> BudgetRequest:
    return support.ask(max_tokens=max_tokens, team=team, session=session)


def held_keys(found: object) -> list[str]:
    assert isinstance(found, Reservation), found
    return [h.key for h in found.held]


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_plan_is_kept_per_shape_until_the_first_of_its_windows_ends(clock: Clock) -> None:
    berlin = policy(name="b", scope="team", limit_tokens=10**9, timezone="Europe/Berlin")
    monthly = policy(name="m", limit_tokens=10**9, window="month")
    guard = BudgetGuard([berlin, monthly], clock=clock)
    assert held_keys(guard.reserve(ask())) == ["b:search:d2026-03-10", "m:*:m2026-03"]
    _, plan = guard._plans.find(ask(), clock.now)
    assert plan is not None
    assert (plan.since, plan.until) == (at("2026-03-10T00:00:00"), at("2026-03-10T23:00:00"))
    assert guard._plans.find(ask(team="other"), clock.now)[1] is None  # another shape: its own plan
    assert guard._plans.find(ask(max_tokens=1023), clock.now)[1] is None
    assert held_keys(guard.reserve(ask(team="other"))) == ["b:other:d2026-03-10", "m:*:m2026-03"]
    clock.now = at("2026-03-10T22:59:59")
    assert guard._plans.find(ask(), clock.now)[1] is plan
    clock.now = at("2026-03-10T23:00:00")  # midnight in Berlin: the plan is not used any more
    assert guard._plans.find(ask(), clock.now)[1] is None
    assert held_keys(guard.reserve(ask())) == ["b:search:d2026-03-11", "m:*:m2026-03"]
    clock.now = at("2026-03-10T12:00:00")  # a clock stepping back before the new plan: not used either
    assert guard._plans.find(ask(), clock.now)[1] is None
    assert held_keys(guard.reserve(ask())) == ["b:search:d2026-03-10", "m:*:m2026-03"]


def test_the_prices_utc_day_bounds_a_plan_as_well(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=10**9, window="month")], clock=clock)
    first = guard.reserve(ask())
    plan = guard._plans.find(ask(), clock.now)[1]
    assert plan is not None
    assert plan.until == at("2026-03-11T00:00:00")  # prices are dated: a new card may apply tomorrow
    clock.now = at("2026-03-11T00:00:00")
    assert guard._plans.find(ask(), clock.now)[1] is None
    assert held_keys(guard.reserve(ask())) == held_keys(first) == ["p:*:m2026-03"]


def test_no_plan_is_kept_for_sessions_per_request_caps_or_soft_policies(clock: Clock) -> None:
    soft = policy(name="s", limit_tokens=10**9, mode="soft", downgrade=[{"max_tokens": 1}])
    for policies in (
        [policy(limit_tokens=10**9, window="session")],
        [policy(limit_tokens=10**9, window="request")],
        [soft],
        [policy(name="day", limit_tokens=10**9), policy(name="cap", limit_tokens=10**9, window="request")],
    ):
        guard = BudgetGuard(policies, clock=clock)
        assert isinstance(guard.reserve(ask(session="s1")), Reservation)
        assert guard._plans.find(ask(session="s1"), clock.now)[1] is None


def test_new_policies_start_without_plans(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=10_000)], clock=clock)
    assert isinstance(guard.reserve(ask()), Reservation)
    assert guard._plans.find(ask(), clock.now)[1] is not None
    guard.set_policies([policy(limit_tokens=3_524)])  # the same account, a lower limit
    assert guard._plans.find(ask(), clock.now)[1] is None
    lowered = guard.reserve(ask())
    assert isinstance(lowered, Reservation)
    assert (lowered.max_tokens, lowered.lowered) == (500, True)  # 3524 - 2024 held - 1000 input


def test_a_plan_made_while_the_policies_change_is_not_kept(clock: Clock) -> None:
    guard = BudgetGuard([policy(limit_tokens=10_000)], clock=clock)
    prepared = guard._prepared

    def changed_meanwhile(*args: object, **kwargs: object) -> object:
        found = prepared(*args, **kwargs)  # type: ignore[arg-type]  # the guard's own arguments
        guard.set_policies([policy(limit_tokens=3_524)])  # another thread changes the policies now
        return found

    guard._prepared = changed_meanwhile  # type: ignore[method-assign,assignment]
    assert isinstance(guard.reserve(ask()), Reservation)  # served by the plan of the old rules
    guard._prepared = prepared  # type: ignore[method-assign]
    assert guard._plans.find(ask(), clock.now)[1] is None  # but that plan was not kept
    lowered = guard.reserve(ask())
    assert isinstance(lowered, Reservation)
    assert (lowered.max_tokens, lowered.lowered) == (500, True)  # the new limit applies at once
