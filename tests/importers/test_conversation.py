"""Conversations without usage: counted turns, and the anchor that names a conversation."""

from __future__ import annotations

from typing import Any

from tests.importers import samples
from tokenomy import tokens
from tokenomy.importers.conversation import anchor, output_count, turns
from tokenomy.importers.messages import normalize
from tokenomy.schema import Kind


def test_turns_answer_everything_before_them() -> None:
    messages = [normalize(m) for m in samples.transcript()]
    found = list(turns(messages, None, "gpt-4o"))
    assert [(t.step, t.index, len(t.prompt)) for t in found] == [(1, 2, 2), (2, 4, 4), (3, 6, 6)]
    assert found[2].usage().input_total == tokens.count_messages(messages[:6], "gpt-4o").tokens
    assert found[2].usage().output_visible == tokens.count("You're welcome.", "gpt-4o").tokens
    assert found[2].usage().reasoning is None  # a transcript does not show hidden reasoning


def test_skipped_replies_are_prompt_only() -> None:
    messages = [normalize(m) for m in samples.transcript()]
    skip = [False] * len(messages)
    skip[2] = True
    assert [t.step for t in turns(messages, None, "gpt-4o", skip=skip)] == [1, 2]


def test_output_count_includes_tool_calls() -> None:
    reply = normalize(samples.transcript()[2])
    counted = output_count(reply, "gpt-4o")
    assert counted.tokens == tokens.count('order_status{"id": 17}', "gpt-4o").tokens
    assert counted.kind is Kind.ESTIMATED


def test_anchor_is_the_same_for_a_turn_logged_in_two_shapes() -> None:
    as_text: list[dict[str, Any]] = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task"},
        {
            "role": "assistant",
            "content": "plan ",
            "tool_calls": [{"id": "t1", "function": {"name": "ls", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "out"},
    ]
    as_parts: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "task"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "plan"}],
            "tool_calls": [{"id": "t1", "function": {"name": "ls", "arguments": "{}"}}],
        },
    ]
    assert anchor([normalize(m) for m in as_text]) == anchor([normalize(m) for m in as_parts])
    assert anchor([normalize(m) for m in as_text]) == [["user", "task", []], ["assistant", "plan", ["t1"]]]
