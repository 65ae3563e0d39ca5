"""Prompt bloat: a session's system prompt many times its route's usual one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import T0, detect, make_call
from tokenomy.analysis.waste.bloated_system_prompt import BloatedSystemPrompt
from tokenomy.schema import Attribution, Call, WasteEffect

BOT = Attribution(team="support", feature="chat", agent="bot", intent="chat_support")


def _sessions(sizes: list[int], attribution: Attribution = BOT) -> list[Call]:
    calls = []
    for i, size in enumerate(sizes):
        for step in range(2):
            calls.append(
                make_call(
                    f"s{i}-{step}",
                    session=f"s{i}",
                    step=step,
                    started_at=T0 + timedelta(minutes=i, seconds=step * 5),
                    attribution=attribution,
                    system=size,
                )
            )
    return calls


def test_a_system_prompt_many_times_its_routes_is_bloated(tmp_path: Path) -> None:
    found = detect(tmp_path, BloatedSystemPrompt(), _sessions([1_000] * 12 + [5_000]))
    (hit,) = found.hits
    assert hit.session_id == "s12"
    assert [c.tokens for c in hit.calls] == [4_000, 4_000]
    assert all(c.effect is WasteEffect.SYSTEM for c in hit.calls)
    assert hit.calls[0].cost == Decimal("0.001600000000")  # 4,000 input tokens of gpt-4.1-mini at $0.40/M
    assert "5.0x" in hit.note


def test_a_prompt_only_somewhat_larger_is_not_bloated(tmp_path: Path) -> None:
    assert detect(tmp_path, BloatedSystemPrompt(), _sessions([1_000] * 12 + [2_500])).hits == []


def test_too_few_peer_sessions_to_judge(tmp_path: Path) -> None:
    assert detect(tmp_path, BloatedSystemPrompt(), _sessions([1_000] * 5 + [5_000])).hits == []


def test_calls_of_no_agent_or_feature_have_no_peers(tmp_path: Path) -> None:
    anonymous = Attribution(team="support")
    assert detect(tmp_path, BloatedSystemPrompt(), _sessions([1_000] * 12 + [5_000], anonymous)).hits == []


def test_a_cached_bloated_prompt_counts_at_the_cache_read_rate(tmp_path: Path) -> None:
    calls = _sessions([1_000] * 12)
    anthropic = Attribution(team="support", feature="chat", agent="bot", intent="chat_support")
    for step in range(2):
        # the 5,000-token system prompt and 400 tool tokens read from the cache; a 20,000-token history fresh
        calls.append(
            make_call(
                f"big-{step}",
                session="big",
                step=step,
                started_at=T0 + timedelta(hours=1, seconds=step * 5),
                provider="anthropic",
                model="claude-sonnet-4-5",
                attribution=anthropic,
                system=5_000,
                history=20_000,
                cache_read=5_400,
            )
        )
    (hit,) = detect(tmp_path, BloatedSystemPrompt(), calls).hits
    assert [c.tokens for c in hit.calls] == [4_000, 4_000]
    # 4,000 excess tokens read from the cache at $0.30/M, not at the call's average input rate
    # ((5,400 x $0.30 + 20,100 x $3.00) / 25,500 = $2.43/M, which would give $0.00971)
    assert [c.cost for c in hit.calls] == [Decimal("0.001200000000")] * 2


def test_span_cost_prices_prompt_positions_by_the_bucket_that_paid_them() -> None:
    from tokenomy.analysis.waste.money import span_cost

    row = {
        "cost_in": Decimal("0.0061"),
        "input_total": 3_000,
        "cache_read": 1_000,
        "cost_cache_read": Decimal("0.0001"),
        "cache_write_5m": 0,
        "cost_cache_write_5m": None,
        "cache_write_1h": 0,
        "cost_cache_write_1h": None,
        "input_uncached": 2_000,
        "cost_input_uncached": Decimal("0.006"),
    }
    assert span_cost(row, 500, 1_500) == Decimal("0.001550000000")  # 500 read at $0.10/M + 500 at $3/M
    assert span_cost({**row, "cost_in": None}, 0, 10) is None
    free_reads = {**row, "cost_in": Decimal("0.006"), "cost_cache_read": Decimal(0)}
    assert span_cost(free_reads, 0, 1_000) == Decimal(0)  # paid nothing: not the average rate
