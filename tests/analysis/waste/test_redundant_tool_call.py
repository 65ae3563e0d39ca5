"""Redundant tool calls: the same reading tool with the same arguments, nothing written in between."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.redundant_tool_call import RedundantToolCall
from tokenomy.schema import Call, Charge, ToolUse, WasteEffect, WasteRole
from tokenomy.usage import args_hash

FILE = args_hash({"path": "src/app.py"})


def _steps(*uses: tuple[str, str] | list[tuple[str, str]]) -> list[Call]:
    """One call per step; each step's tool uses are followed by a next step reading their results."""
    chat = Conversation("s1")
    calls = []
    for i, step in enumerate(uses):
        batch = step if isinstance(step, list) else [step]
        tool_uses = [ToolUse(name, args) for name, args in batch]
        calls.append(
            chat.ask(f"c{i}", (f"results-{i}", 600), tool_uses=tool_uses, finish_reason="tool_calls")
        )
    calls.append(chat.ask("last", ("results-last", 900)))
    return calls


def test_reading_the_same_file_twice_with_nothing_between_is_redundant(tmp_path: Path) -> None:
    calls = _steps(("read_file", FILE), ("search_code", args_hash({"q": "x"})), ("read_file", FILE))
    (hit,) = detect(tmp_path, RedundantToolCall(), calls).hits
    assert [(c.call_id, c.role) for c in hit.calls] == [("c0", WasteRole.CONTEXT), ("c2", WasteRole.WASTED)]
    repeat = hit.calls[1]
    # the repeated result is the next call's newest turn (900 tokens), at that call's input rate
    assert repeat.tokens == 900
    assert repeat.cost == Decimal("0.000360000000")  # 900 input tokens of gpt-4.1-mini at $0.40 per million
    assert repeat.effect is WasteEffect.EXTRA


def test_a_re_read_after_an_edit_is_not_redundant(tmp_path: Path) -> None:
    edit = args_hash({"path": "src/app.py", "old": "a", "new": "b"})
    calls = _steps(("read_file", FILE), ("str_replace_editor", edit), ("read_file", FILE))
    assert detect(tmp_path, RedundantToolCall(), calls).hits == []


def test_running_code_or_a_shell_twice_is_never_called_redundant(tmp_path: Path) -> None:
    pytest_cmd = args_hash({"command": "pytest -q"})
    calls = _steps(("bash", pytest_cmd), ("bash", pytest_cmd), ("run_python", FILE), ("run_python", FILE))
    assert detect(tmp_path, RedundantToolCall(), calls).hits == []


def test_a_shell_command_between_two_reads_may_have_changed_the_file(tmp_path: Path) -> None:
    calls = _steps(
        ("read_file", FILE), ("bash", args_hash({"command": "sed -i s/a/b/ src/app.py"})), ("read_file", FILE)
    )
    assert detect(tmp_path, RedundantToolCall(), calls).hits == []


def test_navigation_and_calls_without_arguments_are_not_judged(tmp_path: Path) -> None:
    none = args_hash({})
    calls = _steps(
        ("scroll_down", FILE), ("scroll_down", FILE), ("list_tickets", none), ("list_tickets", none)
    )
    assert detect(tmp_path, RedundantToolCall(), calls).hits == []


def test_different_arguments_or_sessions_are_not_repeats(tmp_path: Path) -> None:
    calls = _steps(("read_file", FILE), ("read_file", args_hash({"path": "src/other.py"})))
    other = Conversation("s2")
    calls.append(other.ask("d0", ("x", 100), tool_uses=[ToolUse("read_file", FILE)]))
    assert detect(tmp_path, RedundantToolCall(), calls).hits == []


def test_a_paid_tool_repeated_adds_its_charge(tmp_path: Path) -> None:
    query = args_hash({"q": "tokenomy pricing"})
    calls = _steps(("web_search", query), ("web_search", query))
    repeat = calls[1]
    assert repeat.started_at is not None
    charges = [
        Charge(
            f"g{i}",
            Decimal("0.005"),
            "search_api",
            at=c.started_at + timedelta(seconds=2),
            session_id="s1",
            description="web_search",
        )
        for i, c in enumerate(calls[:2])
        if c.started_at is not None
    ]
    (hit,) = detect(tmp_path, RedundantToolCall(), calls, charges=charges).hits
    without = detect(tmp_path / "plain", RedundantToolCall(), calls).hits[0]
    assert hit.calls[-1].cost is not None
    assert without.calls[-1].cost is not None
    assert hit.calls[-1].cost - without.calls[-1].cost == Decimal("0.005")


def test_two_identical_uses_in_one_step_are_redundant(tmp_path: Path) -> None:
    calls = _steps([("web_search", FILE), ("web_search", FILE)])
    (hit,) = detect(tmp_path, RedundantToolCall(), calls).hits
    assert [c.role for c in hit.calls] == [WasteRole.WASTED]
    assert hit.calls[0].tokens == 900 // 2  # two results shared the next turn
