"""The memo of conversations so far: a conversation grown step by step has the shape counted from scratch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tokenomy.capture.shapes import ShapeMemo
from tokenomy.importers.ids import canonical_json
from tokenomy.importers.messages import request_messages
from tokenomy.importers.shape import shape_of

SYSTEM = {"role": "system", "content": "You are a coding agent. Use the tools when you need them."}
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "run", "description": "Run a shell command."}},
    {"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}},
]


def _step(n: int) -> list[dict[str, Any]]:
    """The two messages an agent's step ``n`` adds: plain, tool calls and results, parts, nulls."""
    kind = n % 4
    if kind == 0:
        return [
            {"role": "assistant", "content": f"Step {n}: looking at the tests. «ü»"},
            {"role": "user", "content": f"Go on with step {n}."},
        ]
    if kind == 1:
        call = {"id": f"c{n}", "type": "function", "function": {"name": "run", "arguments": '{"cmd":"ls"}'}}
        return [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": f"file_{n}.py\nREADME.md"},
        ]
    if kind == 2:
        return [
            {"role": "assistant", "content": "Reading it.", "name": "coder"},
            {"role": "user", "content": [{"type": "text", "text": f"Here is part {n}."}]},
        ]
    return [
        {"role": "assistant", "content": f"Done with {n}."},
        {"role": "tool", "tool_call_id": f"c{n - 2}", "content": "exit 0"},
    ]


def _conversation(steps: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "Fix the failing test."}]
    for n in range(steps):
        messages.extend(_step(n))
    return messages


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5", None])
@pytest.mark.parametrize("tools", [TOOLS, None])
def test_a_conversation_grown_two_messages_a_step_has_the_shape_counted_from_scratch(
    model: str | None, tools: list[dict[str, Any]] | None
) -> None:
    memo = ShapeMemo()
    for steps in range(20):  # up to 40 messages after the system prompt
        # each request parsed anew, as the gateway gets it: equal values, new objects
        messages = request_messages({"messages": copy.deepcopy(_conversation(steps))})
        assert memo.shape(messages, tools, model) == shape_of(messages, tools, model)
    assert memo.chains.hits == 18  # every step from the third finds the one before
    assert len(memo.chains) == 2  # the runs it extended are forgotten: the latest, and the first history


def test_a_conversation_grown_message_by_message_has_the_shape_counted_from_scratch() -> None:
    memo = ShapeMemo()
    whole = _conversation(12)
    for size in range(len(whole) + 1):
        messages = request_messages({"messages": copy.deepcopy(whole[:size])})
        assert memo.shape(messages, TOOLS, "gpt-4o") == shape_of(messages, TOOLS, "gpt-4o")
    assert memo.chains.hits == len(whole) - 3  # from the third message on (two earlier ones)


def test_a_repeated_prompt_finds_its_whole_run() -> None:
    memo = ShapeMemo()
    messages = request_messages({"messages": _conversation(5)})
    first = memo.shape(messages, TOOLS, "gpt-4o")
    misses = memo.messages.misses
    again = memo.shape(request_messages({"messages": copy.deepcopy(_conversation(5))}), TOOLS, "gpt-4o")
    assert again == first == shape_of(messages, TOOLS, "gpt-4o")
    assert (memo.chains.hits, memo.messages.misses) == (1, misses)  # nothing earlier counted again


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(content=m["content"][:-1] + "?"),  # same length, other text
        lambda m: m.update(role="assistant"),
        lambda m: m.update(name="ann"),  # one more key, equal role and content
        lambda m: m.update(content=None),
    ],
)
def test_a_changed_earlier_message_does_not_reuse_the_stale_run(change: Any) -> None:
    memo = ShapeMemo()
    grown = _conversation(6)
    for steps in (4, 5, 6):
        memo.shape(request_messages({"messages": copy.deepcopy(_conversation(steps))}), TOOLS, "gpt-4o")
    changed = copy.deepcopy(grown)
    change(changed[1])  # the first user turn, long past
    messages = request_messages({"messages": changed})
    shape = memo.shape(messages, TOOLS, "gpt-4o")
    assert shape == shape_of(messages, TOOLS, "gpt-4o")
    assert shape.prefix_hashes[1] != shape_of(grown, TOOLS, "gpt-4o").prefix_hashes[1]


def test_values_equal_in_python_but_not_as_json_are_told_apart() -> None:
    memo = ShapeMemo()
    ending = [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "next"}]
    variants: list[Any] = [1, True, 1.0, "1", None]
    shapes = []
    for value in variants:
        messages = [{"role": "user", "content": "start", "n": value}, *ending]
        shape = memo.shape(messages, None, "gpt-4o")
        assert shape == shape_of(messages, None, "gpt-4o")
        shapes.append(shape.prefix_hashes)
    assert len(set(shapes)) == len(variants)


def test_another_prefix_or_model_does_not_share_a_run() -> None:
    memo = ShapeMemo()
    messages = request_messages({"messages": _conversation(3)})
    cases = [(TOOLS, "gpt-4o"), (TOOLS[:1], "gpt-4o"), (None, "gpt-4o"), (TOOLS, "gpt-4"), (TOOLS, None)]
    for tools, model in cases:
        assert memo.shape(messages, tools, model) == shape_of(messages, tools, model)
    other_system = [{"role": "system", "content": "Be terse."}, *messages[1:]]
    assert memo.shape(other_system, TOOLS, "gpt-4o") == shape_of(other_system, TOOLS, "gpt-4o")
    assert (memo.chains.hits, len(memo.chains)) == (0, 2 * (len(cases) + 1))  # a history and a run each


def _size(*messages: dict[str, Any]) -> int:
    return sum(len(canonical_json(m).encode("utf-8")) for m in messages)


def test_the_conversations_are_bounded_by_entries_and_characters() -> None:
    memo = ShapeMemo(chains=3)
    answer, turn = _step(0)
    for n in range(5):  # each a history and a whole run: 10 entries
        messages = [{"role": "user", "content": f"task {n}"}, answer, turn]
        assert memo.shape(messages, None, "gpt-4o") == shape_of(messages, None, "gpt-4o")
    assert len(memo.chains) == 3
    task3, task4 = ({"role": "user", "content": f"task {n}"} for n in (3, 4))
    assert memo.chains.chars == _size(task3, answer, turn) + _size(task4, answer) + _size(task4, answer, turn)
    small = ShapeMemo(chain_chars=100)
    messages = [{"role": "user", "content": "x" * 200}, answer, turn]
    for _ in range(2):
        assert small.shape(messages, None, "gpt-4o") == shape_of(messages, None, "gpt-4o")
    assert (len(small.chains), small.chains.chars, small.chains.hits) == (0, 0, 0)
    assert small.messages.hits == 3  # the message memo still spares the tokenizer


def test_a_shared_history_with_other_last_turns_finds_the_history() -> None:
    memo = ShapeMemo()
    examples = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3?"},
        {"role": "assistant", "content": "6"},
    ]
    for question in ("5+5?", "7+7?", "", "9+9?"):
        messages = [SYSTEM, *examples, {"role": "user", "content": question}]
        assert memo.shape(messages, None, "gpt-4o-mini") == shape_of(messages, None, "gpt-4o-mini")
    assert memo.chains.hits == 3
    assert memo.messages.misses == len(examples) + 1  # the first prompt's; the later questions aside


LAST_USERS: list[dict[str, Any]] = [
    {"role": "user", "content": "plain"},
    {"role": "user", "content": ""},
    {"role": "user", "content": "named", "name": "ann"},
    {"role": "user", "content": [{"type": "text", "text": "in parts"}]},
    {"role": "user", "content": None},
]


@pytest.mark.parametrize("model", ["gpt-4o", "gemini-2.5-pro", None])
@pytest.mark.parametrize("user", LAST_USERS)
def test_the_last_user_turn_before_other_messages_is_counted_as_in_full(
    user: dict[str, Any], model: str | None
) -> None:
    memo = ShapeMemo()
    for tail in ([], [{"role": "assistant", "content": "ok"}], _step(1)):
        messages = [{"role": "assistant", "content": "hello"}, user, *tail]
        for _ in range(2):  # counted, then remembered
            assert memo.shape(messages, TOOLS, model) == shape_of(messages, TOOLS, model)


def _outcome(count: Any, *args: Any) -> Any:
    try:
        return count(*args)
    except TypeError as error:  # keys of mixed types cannot be sorted into canonical JSON
        return type(error)


def test_keys_equal_in_python_but_not_as_json_are_told_apart() -> None:
    memo = ShapeMemo()
    ending = [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "next"}]
    outcomes = []
    for key in (1, True, "1", "true", None, "null"):
        messages = [{"role": "user", "content": "start", key: "x"}, *ending]
        outcome = _outcome(memo.shape, messages, None, "gpt-4o")
        assert outcome == _outcome(shape_of, messages, None, "gpt-4o")
        outcomes.append(outcome)
    assert outcomes[0] is outcomes[1] is TypeError
    assert outcomes[2] != outcomes[3]
