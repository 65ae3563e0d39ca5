"""Truncation re-runs: a cut answer thrown away and its prompt sent again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.truncation_rerun import TruncationRerun
from tokenomy.schema import WasteRole


@pytest.mark.parametrize("reason", ["length", "max_tokens", "MAX_TOKENS", "max_output_tokens"])
def test_a_cut_answer_re_run_with_the_same_prompt_is_wasted(tmp_path: Path, reason: str) -> None:
    chat = Conversation("s1", provider="anthropic", model="claude-sonnet-4-5")
    chat.ask("c0", ("hello", 30))
    cut = chat.ask(
        "c1", ("write the report", 80), carry=False, finish_reason=reason, max_output_tokens=512, answer=512
    )
    rerun = chat.ask("c2", ("write the report", 80), max_output_tokens=1024, answer=700)
    found = detect(tmp_path, TruncationRerun(), [cut, rerun])
    (hit,) = found.hits
    assert [(c.call_id, c.role) for c in hit.calls] == [("c1", WasteRole.WASTED), ("c2", WasteRole.CONTEXT)]
    assert hit.calls[0].tokens == (cut.usage.input_total or 0) + 512
    assert hit.calls[0].cost == (cut.cost.total if cut.cost else None)
    assert hit.note == "answer cut at its limit and the prompt re-run (limits: 512, 1,024)"


def test_limits_the_record_does_not_carry_are_said_to_be_missing(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    cut = chat.ask("c1", ("write the report", 80), carry=False, finish_reason="length", answer=512)
    rerun = chat.ask("c2", ("write the report", 80), answer=700)
    (hit,) = detect(tmp_path, TruncationRerun(), [cut, rerun]).hits
    assert hit.note == "answer cut at its limit and the prompt re-run (limits: not recorded, not recorded)"
    assert hit.calls[1].note == "re-run (limit not recorded)"


def test_a_re_run_cut_again_wastes_both_cut_attempts(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    a = chat.ask(
        "c1", ("long answer", 50), carry=False, finish_reason="length", max_output_tokens=100, answer=100
    )
    b = chat.ask(
        "c2", ("long answer", 50), carry=False, finish_reason="length", max_output_tokens=200, answer=200
    )
    c = chat.ask("c3", ("long answer", 50), max_output_tokens=800, answer=420)
    (hit,) = detect(tmp_path, TruncationRerun(), [a, b, c]).hits
    assert [c.call_id for c in hit.calls if c.role is WasteRole.WASTED] == ["c1", "c2"]


def test_a_continuation_of_a_cut_answer_is_not_a_re_run(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    cut = chat.ask("c1", ("long answer", 50), finish_reason="length", max_output_tokens=100, answer=100)
    more = chat.ask(
        "c2", ("continue", 5), max_output_tokens=100, answer=80
    )  # the cut answer is in the history
    assert detect(tmp_path, TruncationRerun(), [cut, more]).hits == []


def test_a_cut_answer_nobody_re_ran_is_not_reported(tmp_path: Path) -> None:
    chat = Conversation("s1")
    cut = chat.ask("c1", ("long answer", 50), finish_reason="length", max_output_tokens=100, answer=100)
    nxt = chat.ask("c2", ("another question", 40))
    assert detect(tmp_path, TruncationRerun(), [cut, nxt]).hits == []
