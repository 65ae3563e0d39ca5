"""Unpruned history: a run carrying more history than its route ever does before compacting."""

from __future__ import annotations

from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.unpruned_history import UnprunedHistory
from tokenomy.schema import Call, WasteRole


def _run(session: str, turns: int, *, compact_at: int | None = 4_000, keep: int = 1_500) -> list[Call]:
    """A chat of ``turns`` steps of 700 tokens each way; once the history passes ``compact_at`` the next
    call compacts it down to ``keep``."""
    chat = Conversation(session)
    calls = []
    for i in range(turns):
        if compact_at is not None and sum(n for _, n in chat.history) > compact_at:
            chat.history = [(f"summary-{i}", keep)]
        calls.append(chat.ask(f"{session}-{i}", (f"turn-{i}", 700), answer=700))
    return calls


def test_a_run_that_never_compacts_is_flagged_past_the_routes_threshold(tmp_path: Path) -> None:
    calls = [c for k in range(6) for c in _run(f"ok{k}", 8)] + _run("grow", 6, compact_at=None)
    (hit,) = detect(tmp_path, UnprunedHistory(), calls).hits
    assert hit.session_id == "grow"
    # its histories are 0, 1,400, 2,800, 4,200, 5,600, 7,000. The other runs carry at most 2,900 before
    # a compaction, and every one of them compacted rather than carry 4,200 (2,800 plus a 700-token
    # turn and a 700-token answer): the threshold lies below 4,200. Calls more than 1% above that are
    # unpruned; the waste is what they carry above the 2,900 the route is seen to carry.
    assert [c.call_id for c in hit.calls] == ["grow-4", "grow-5"]
    assert [c.tokens for c in hit.calls] == [5_600 - 2_900, 7_000 - 2_900]
    assert all(c.role is WasteRole.PARTIAL for c in hit.calls)
    assert hit.calls[0].high is not None
    assert hit.calls[0].cost is not None
    assert hit.calls[0].high > hit.calls[0].cost


def test_runs_that_compact_are_never_flagged(tmp_path: Path) -> None:
    calls = [c for k in range(6) for c in _run(f"ok{k}", 10)]
    assert detect(tmp_path, UnprunedHistory(), calls).hits == []


def test_a_route_that_never_compacts_has_no_threshold(tmp_path: Path) -> None:
    calls = [c for k in range(6) for c in _run(f"long{k}", 8, compact_at=None)]
    assert detect(tmp_path, UnprunedHistory(), calls).hits == []
