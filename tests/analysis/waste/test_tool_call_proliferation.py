"""Tool-call proliferation: a run far out in its route's tail of tool calls."""

from __future__ import annotations

from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect, score_on_simulation
from tokenomy.analysis.waste.tool_call_proliferation import ToolCallProliferation
from tokenomy.schema import Call, ToolUse, WasteRole
from tokenomy.usage import args_hash


def _run(session: str, tool_steps: int) -> list[Call]:
    chat = Conversation(session, agent="researcher", feature="research")
    calls = [
        chat.ask(f"{session}-{i}", (f"r{i}", 100), tool_uses=[ToolUse("web_search", args_hash({"q": i}))])
        for i in range(tool_steps)
    ]
    return [*calls, chat.ask(f"{session}-end", ("done", 50))]


def test_a_run_with_many_times_its_peers_tool_calls_proliferates(tmp_path: Path) -> None:
    calls = [c for k in range(24) for c in _run(f"r{k}", 3 + k % 3)] + _run("loop", 30)
    (hit,) = detect(tmp_path, ToolCallProliferation(), calls).hits
    assert hit.session_id == "loop"
    # the peers' 90th percentile of tool calls is 5: the steps after the fifth tool call are the excess
    assert [c.call_id for c in hit.calls][:2] == ["loop-5", "loop-6"]
    assert len(hit.calls) == 26
    assert all(c.role is WasteRole.WASTED for c in hit.calls)


def test_a_somewhat_long_run_is_not_proliferation(tmp_path: Path) -> None:
    calls = [c for k in range(24) for c in _run(f"r{k}", 3 + k % 3)] + _run("long", 12)
    assert detect(tmp_path, ToolCallProliferation(), calls).hits == []


def test_simulated_proliferating_runs_are_found_and_nothing_else(tmp_path: Path) -> None:
    scored = score_on_simulation(tmp_path, ToolCallProliferation(), rate=0.1)
    assert len(scored.truth) >= 15
    assert scored.clean > 1_000
    assert scored.found - scored.truth == set()
    assert len(scored.found & scored.truth) >= 0.9 * len(scored.truth)
