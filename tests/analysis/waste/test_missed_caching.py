"""Missed prompt caching on providers where the caller must ask for the cache."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.missed_caching import MissedCaching
from tokenomy.schema import Call, Usage, WasteEffect


def _run(
    model: str = "claude-sonnet-4-5", *, provider: str = "anthropic", gap: float = 10.0, **kw: int
) -> list[Call]:
    chat = Conversation("s1", provider=provider, model=model, system=kw.get("system", 2_000), tools=1_000)
    return [chat.ask(f"c{i}", (f"turn-{i}", 200), after=gap) for i in range(3)]


def test_a_prefix_re_sent_without_cache_reads_is_missed_caching(tmp_path: Path) -> None:
    (hit,) = detect(tmp_path, MissedCaching(), _run()).hits
    assert [c.call_id for c in hit.calls] == ["c1", "c2"]  # the first call had nothing to read
    assert all(c.tokens == 3_000 and c.effect is WasteEffect.PREFIX for c in hit.calls)
    # claude-sonnet-4-5: input $3, cache read $0.30, 5-minute write $3.75 per million tokens.
    # Two reads instead of fresh input save 2 x 3,000 x $2.70/M; one write costs 3,000 x $0.75/M more.
    assert sum((c.cost or Decimal(0)) for c in hit.calls) == Decimal("0.013950000000")


def test_calls_past_the_cache_lifetime_could_not_have_read_it(tmp_path: Path) -> None:
    assert detect(tmp_path, MissedCaching(), _run(gap=400)).hits == []


def test_a_prefix_below_the_models_minimum_is_not_cacheable(tmp_path: Path) -> None:
    # claude-haiku-4-5 caches from 4,096 tokens: a 3,000-token prefix cannot be cached
    assert detect(tmp_path, MissedCaching(), _run("claude-haiku-4-5")).hits == []


def test_automatic_caches_are_left_to_the_advisor(tmp_path: Path) -> None:
    assert detect(tmp_path, MissedCaching(), _run("gpt-4.1", provider="openai")).hits == []


def _reads(call: Call) -> Usage:
    """The call's usage as if its stable prefix and history had been read from the cache."""
    cached = 3_000 + (call.history_tokens or 0)
    return Usage.of(
        input_uncached=(call.usage.input_total or 0) - cached,
        cache_read=cached,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=60,
        reasoning=0,
    )


def test_calls_that_read_the_cache_or_do_not_report_it_are_not_missed(tmp_path: Path) -> None:
    calls = _run()
    read = [calls[0], *(c.replace(usage=_reads(c)) for c in calls[1:])]
    assert detect(tmp_path, MissedCaching(), read).hits == []
    unknown = [c.replace(usage=Usage(input_total=c.usage.input_total, output_total=60)) for c in calls]
    assert detect(tmp_path / "unknown", MissedCaching(), unknown).hits == []


def test_a_model_switch_starts_a_new_cache(tmp_path: Path) -> None:
    calls = _run()
    opus = calls[1].replace(response_model="claude-opus-4-1", request_model="claude-opus-4-1")
    # each call follows one on another model: there was no cache of this model to read
    assert detect(tmp_path, MissedCaching(), [calls[0], opus, calls[2]]).hits == []


def test_a_run_whose_cache_expires_between_stretches_pays_a_write_for_each(tmp_path: Path) -> None:
    chat = Conversation("s1", provider="anthropic", model="claude-sonnet-4-5", system=2_000, tools=1_000)
    gaps = [10.0, 10.0, 600.0, 10.0]  # the third call comes after the 5-minute lifetime
    calls = [chat.ask(f"c{i}", (f"turn-{i}", 200), after=gap) for i, gap in enumerate(gaps)]
    (hit,) = detect(tmp_path, MissedCaching(), calls).hits
    assert [c.call_id for c in hit.calls] == ["c1", "c3"]
    # Two reads save 2 x 3,000 x $2.70/M = $0.0162; caching would write the prefix twice (at c0, and
    # again at c2 after the entry expired): 2 x 3,000 x $0.75/M = $0.0045 more. One write would be $0.0138.
    assert sum((c.cost or Decimal(0)) for c in hit.calls) == Decimal("0.011700000000")


def _writes(call: Call, i: int) -> Call:
    """The call with caching on: its 3,000-token stable prefix written to the 5-minute cache, nothing
    read, and its conversation differing from the previous call's from message 2 on (prefix hash 3)."""
    total = call.usage.input_total or 0
    usage = Usage.of(
        input_uncached=total - 3_000,
        cache_read=0,
        cache_write_5m=3_000,
        cache_write_1h=0,
        output_visible=60,
        reasoning=0,
    )
    hashes = (*call.prefix_hashes[:2], f"drift-{i}", f"end-{i}")
    return call.replace(usage=usage, prefix_hashes=hashes)


def test_caching_that_is_on_but_never_hits_is_priced_at_the_write_rate(tmp_path: Path) -> None:
    calls = [_writes(c, i) for i, c in enumerate(_run())]
    (hit,) = detect(tmp_path, MissedCaching(), calls).hits
    assert [c.call_id for c in hit.calls] == ["c1", "c2"]
    # c1 and c2 paid the 5-minute write rate for the prefix ($3.75/M) where a read costs $0.30/M:
    # 2 x 3,000 x $3.45/M; no write premium, since c0 already wrote the entry they should have read.
    assert sum((c.cost or Decimal(0)) for c in hit.calls) == Decimal("0.020700000000")
    assert "caching is on but never hits" in hit.note
    assert "prefix hash 3 (message 2)" in hit.note
    assert "turn on" not in hit.note.lower()
    assert all("written to the cache again" in (c.note or "") for c in hit.calls)


def test_a_call_that_did_not_write_is_still_priced_at_the_input_rate(tmp_path: Path) -> None:
    calls = _run()
    mixed = [calls[0], _writes(calls[1], 1), calls[2]]  # only c1 wrote; c0 and c2 wrote nothing
    (hit,) = detect(tmp_path, MissedCaching(), mixed).hits
    # c1: 3,000 x $3.45/M at the write rate; c2: 3,000 x $2.70/M at the input rate; one premium
    # (3,000 x $0.75/M) for the stretch, since c0 wrote nothing; c2 follows c1, which did write.
    assert sum((c.cost or Decimal(0)) for c in hit.calls) == Decimal("0.016200000000")
    assert hit.note.startswith("1 of 2 call(s) wrote their 3,000-token prefix")
