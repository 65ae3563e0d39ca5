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
