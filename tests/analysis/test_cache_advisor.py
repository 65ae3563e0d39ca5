"""The prompt-cache advisor: prefixes per route, how they repeat, why calls missed, what caching saves."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect, store_of
from tokenomy.analysis.cache_advisor import CacheAdvice, advise, route_name
from tokenomy.analysis.waste.missed_caching import MissedCaching
from tokenomy.schema import Call, Usage


def _advice(tmp_path: Path, calls: list[Call]) -> CacheAdvice:
    with store_of(tmp_path, calls) as store:
        return advise(store)


def _chat(session: str = "s1", provider: str = "openai", model: str = "gpt-4.1-mini") -> Conversation:
    return Conversation(session, provider=provider, model=model, system=2_000, tools=1_000)


def test_an_explicit_cache_nobody_asked_for_is_the_saving(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    (route,) = _advice(tmp_path, [chat.ask(f"c{i}", (f"t{i}", 200), after=10) for i in range(3)]).routes
    assert route_name(route.route) == "chat / bot on anthropic claude-sonnet-4-5"
    assert (route.calls, route.prefix_tokens, route.min_tokens) == (3, 3_000, 1_024)
    assert route.repeat_share == 1.0
    assert (route.gap_p50_s, route.gap_p90_s) == (10.0, 10.0)
    assert route.hit_ratio == 0.0
    (miss,) = route.misses
    assert (miss.reason, miss.calls, miss.tokens, miss.runs) == ("not_cached", 2, 6_000, 1)
    assert miss.cost == Decimal("0.016200000000")  # 6,000 tokens at $3.00 - $0.30 per million
    assert route.expected_saving == Decimal("0.013950000000")  # less one 5-minute write premium
    assert route.advice.startswith("turn caching on")


def test_stretches_of_different_prefixes_save_what_the_findings_count(tmp_path: Path) -> None:
    """Two sessions of one route send no breakpoint, with a 3,000- and a 9,000-token prefix: each
    stretch's write premium is on its own prefix, so the expected saving is the missed_caching
    findings' money to the cent (the route's median prefix times the stretches was not). A third
    session caches: the advice counts the calls that read (not a token share, which a large cached
    prefix makes look like most) and says which send no breakpoint."""
    small = Conversation("s1", provider="anthropic", model="claude-sonnet-4-5", system=2_000, tools=1_000)
    large = Conversation("s2", provider="anthropic", model="claude-sonnet-4-5", system=8_000, tools=1_000)
    calls = [small.ask(f"a{i}", (f"t{i}", 200), after=10) for i in range(4)]
    calls += [large.ask(f"b{i}", (f"u{i}", 200), after=10) for i in range(2)]
    cached = Conversation("s3", provider="anthropic", model="claude-sonnet-4-5", system=2_000, tools=1_000)
    for i in range(3):
        call = cached.ask(f"c{i}", (f"v{i}", 200), after=10)
        total = call.usage.input_total or 0
        read = Usage.of(
            input_uncached=total - 3_000,
            cache_read=3_000 if i else 0,
            cache_write_5m=0 if i else 3_000,
            cache_write_1h=0,
            output_visible=60,
            reasoning=0,
        )
        calls.append(call.replace(usage=read))
    (route,) = _advice(tmp_path, calls).routes
    hits = detect(tmp_path / "audit", MissedCaching(), calls).hits
    assert sorted(h.session_id for h in hits) == ["s1", "s2"]
    found = sum((c.cost or Decimal(0)) for h in hits for c in h.calls)
    # s1: 3 misses of 3,000 tokens at $3.00 - $0.30, less a write premium of 3,000 x $0.75;
    # s2: 1 miss of 9,000 tokens, less 9,000 x $0.75 (per million)
    assert found == Decimal("0.024300000000") - Decimal("0.002250000000") + Decimal(
        "0.024300000000"
    ) - Decimal("0.006750000000")
    assert route.expected_saving == found
    assert route.hit_ratio is not None
    assert 0 < route.hit_ratio < 0.5
    assert route.advice.startswith("2 of 9 calls read from the cache (")  # c1 and c2; by calls, not tokens
    assert "but 4 call(s) in 2 run(s) send the prefix with no breakpoint" in route.advice


def test_a_prefix_that_changes_every_call_is_drift(tmp_path: Path) -> None:
    calls = []
    chat = _chat()
    for i in range(3):
        chat.system_text = f"system as of request {i}"  # a timestamp at the top of the prompt
        calls.append(chat.ask(f"c{i}", (f"t{i}", 200)))
    calls = [c.replace(usage=_fresh(c)) for c in calls]
    (route,) = _advice(tmp_path, calls).routes
    assert [(m.reason, m.calls) for m in route.misses] == [("prefix_drift", 2)]
    assert route.expected_saving == Decimal("0.001800000000")  # 6,000 tokens at $0.40 - $0.10 (gpt-4.1-mini)
    assert route.advice == "the prefix changes on every call: move per-request values (times, ids) after it"


def _fresh(call: Call) -> Usage:
    """The call's usage with nothing read from a cache."""
    return Usage.of(
        input_uncached=call.usage.input_total or 0,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=60,
        reasoning=0,
    )


def test_each_reason_a_call_can_miss(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    first = chat.ask("c0", ("t0", 200))
    late = chat.ask("c1", ("t1", 200), after=600)
    chat.tools = 1_300
    tools = chat.ask("c2", ("t2", 200))
    small = _chat("s2", provider="anthropic", model="claude-haiku-4-5")
    small_calls = [small.ask(f"h{i}", (f"t{i}", 200)) for i in range(2)]
    advice = _advice(tmp_path, [first, late, tools, *small_calls])
    reasons = {route_name(r.route): [(m.reason, m.calls) for m in r.misses] for r in advice.routes}
    assert reasons == {
        "chat / bot on anthropic claude-sonnet-4-5": [("expired", 1), ("tools_changed", 1)],
        "chat / bot on anthropic claude-haiku-4-5": [("below_minimum", 1)],
    }


def test_a_route_that_reads_its_cache_has_nothing_to_fix(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    calls = [chat.ask("c0", ("t0", 200), write_5m=3_200)]
    calls += [chat.ask(f"c{i}", (f"t{i}", 200), cache_read=3_000) for i in range(1, 4)]
    (route,) = _advice(tmp_path, calls).routes
    assert route.misses == ()
    assert route.expected_saving == Decimal(0)
    assert route.hit_ratio is not None
    assert round(route.hit_ratio, 3) == round(9_000 / sum(c.usage.input_total or 0 for c in calls), 3)


def test_each_stretch_of_misses_after_an_expiry_pays_its_own_write(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    gaps = [10.0, 10.0, 600.0, 10.0]  # the third call comes after the 5-minute lifetime
    (route,) = _advice(
        tmp_path, [chat.ask(f"c{i}", (f"t{i}", 200), after=g) for i, g in enumerate(gaps)]
    ).routes
    assert [(m.reason, m.calls) for m in route.misses] == [("expired", 1), ("not_cached", 2)]
    # two misses save 2 x 3,000 x $2.70/M; caching writes the prefix at c0 and again at c2:
    # 2 x 3,000 x $0.75/M
    assert route.expected_saving == Decimal("0.011700000000")


def _written(call: Call) -> Usage:
    """The call's usage with its 3,000-token stable prefix written to the 5-minute cache, nothing read."""
    return Usage.of(
        input_uncached=(call.usage.input_total or 0) - 3_000,
        cache_read=0,
        cache_write_5m=3_000,
        cache_write_1h=0,
        output_visible=60,
        reasoning=0,
    )


def test_a_cache_written_on_every_call_and_never_read_is_rewritten_not_off(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    calls = [chat.ask(f"c{i}", (f"t{i}", 200), after=10) for i in range(3)]
    calls = [c.replace(usage=_written(c)) for c in calls]
    (route,) = _advice(tmp_path, calls).routes
    (miss,) = route.misses
    assert (miss.reason, miss.calls, miss.tokens, miss.written_tokens) == ("rewritten", 2, 6_000, 6_000)
    # they paid the 5-minute write rate ($3.75/M) where a read costs $0.30/M; c0 wrote the entry, so
    # fixing it writes nothing more
    assert miss.cost == route.expected_saving == Decimal("0.020700000000")
    assert route.advice.startswith("caching is on but never hits")
    # the same money as the audit's finding on these calls
    (hit,) = detect(tmp_path / "audit", MissedCaching(), calls).hits
    assert sum((c.cost or Decimal(0)) for c in hit.calls) == route.expected_saving


def test_writes_of_either_lifetime_on_one_route_are_each_priced_at_their_own_rate(tmp_path: Path) -> None:
    """One session of the route writes 1-hour entries, the other 5-minute ones: the advisor priced
    every write at the route's longer rate ($0.0342) where the finding prices each call's own."""
    short = Conversation("s1", provider="anthropic", model="claude-sonnet-4-5", system=2_000, tools=1_000)
    long = Conversation("s2", provider="anthropic", model="claude-sonnet-4-5", system=2_000, tools=1_000)
    calls = [
        c.replace(usage=_written(c)) for c in (short.ask(f"a{i}", (f"t{i}", 200), after=10) for i in range(3))
    ]
    for i in range(2):
        call = long.ask(f"b{i}", (f"u{i}", 200), after=10)
        hour = dataclasses.replace(_written(call), cache_write_5m=0, cache_write_1h=3_000)
        calls.append(call.replace(usage=hour))
    (route,) = _advice(tmp_path, calls).routes
    (miss,) = route.misses
    assert (miss.reason, miss.written_tokens) == ("rewritten", 9_000)
    # a1, a2: 3,000 x ($3.75 - $0.30)/M each; b1: 3,000 x ($6.00 - $0.30)/M
    assert miss.cost == Decimal("0.020700000000") + Decimal("0.017100000000")
    hits = detect(tmp_path / "audit", MissedCaching(), calls).hits
    assert sorted(h.session_id for h in hits) == ["s1", "s2"]
    assert sum((c.cost or Decimal(0)) for h in hits for c in h.calls) == miss.cost


def test_a_cache_written_but_expired_before_the_next_call_suggests_the_hour_cache(tmp_path: Path) -> None:
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    calls = [chat.ask(f"c{i}", (f"t{i}", 200), after=600) for i in range(3)]  # past the 5-minute lifetime
    (route,) = _advice(tmp_path, [c.replace(usage=_written(c)) for c in calls]).routes
    assert [(m.reason, m.calls) for m in route.misses] == [("expired", 2)]
    assert route.advice.startswith("the cache is written but expires before the next call")
    assert "1-hour cache" in route.advice


def test_a_long_context_route_is_priced_at_its_long_context_rates(tmp_path: Path) -> None:
    """Calls of 250k tokens on Claude Sonnet 4.5 are billed at its long-context rates ($6.00 input,
    $0.60 read, $7.50 write): the advisor priced the route at the base tier's, half its finding."""
    chat = _chat(provider="anthropic", model="claude-sonnet-4-5")
    calls = [chat.ask(f"c{i}", (f"t{i}", 247_000), after=30, carry=False) for i in range(3)]
    (route,) = _advice(tmp_path, calls).routes
    (miss,) = route.misses
    assert (miss.reason, miss.tokens) == ("not_cached", 6_000)
    assert miss.cost == Decimal("0.032400000000")  # 6,000 tokens at $6.00 - $0.60 per million
    assert route.expected_saving == Decimal("0.027900000000")  # less one write premium ($7.50 - $6.00)
    (finding,) = detect(tmp_path / "finding", MissedCaching(), calls).hits
    assert sum((c.cost or Decimal(0)) for c in finding.calls) == route.expected_saving
