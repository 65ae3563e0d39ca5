"""The prompt-shape memo gives exactly the shape counted in full, and a changed prefix misses it."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tokenomy.capture import shapes
from tokenomy.capture.shapes import Lru, ShapeMemo
from tokenomy.importers.ids import canonical_json
from tokenomy.importers.messages import request_messages
from tokenomy.importers.shape import shape_of

SYSTEM = {"role": "system", "content": "You are a careful coding agent. Use the tools."}
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The path."},
                    "mode": {"type": "string", "enum": ["text", "bytes"]},
                    "range": {"type": "object", "properties": {"start": {"type": "integer"}}},
                },
            },
        },
    },
    {"type": "function", "function": {"name": "run", "description": "Run a command"}},
]
TURNS: list[dict[str, Any]] = [
    {"role": "user", "content": "Fix the failing test."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "run", "arguments": '{"cmd":"pytest"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "1 failed: test_x (assert 1 == 2)"},
    {"role": "assistant", "content": "The assertion is wrong; I will fix it.", "name": "coder"},
    {
        "role": "user",
        "content": [{"type": "text", "text": "Go ahead."}, {"type": "image_url", "image_url": {}}],
    },
    {"role": "assistant", "content": "Done. ✓ «ünïcode»"},
    {"role": "user", "content": "Thanks, now run it again."},
]
PROMPTS: list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None]] = [
    ([SYSTEM, *TURNS], TOOLS),
    ([SYSTEM, *TURNS], None),
    ([SYSTEM, {"role": "developer", "content": "Be brief."}, *TURNS[:3]], TOOLS),
    (TURNS[:1], None),
    (TURNS, TOOLS),
    ([SYSTEM], TOOLS),
    ([], TOOLS),
    ([SYSTEM, *TURNS[:2], {"role": "system", "content": "A late system note."}, *TURNS[2:]], TOOLS),
    ([{"role": "assistant", "content": "Hello"}], None),
]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "claude-sonnet-4-5", None])
def test_the_memo_gives_the_full_count_first_and_every_time_after(model: str | None) -> None:
    memo = ShapeMemo()
    for _ in range(3):  # a miss, then hits on the prefix and the earlier messages
        for messages, tools in PROMPTS:
            normalized = request_messages({"messages": messages})
            assert memo.shape(normalized, tools, model) == shape_of(normalized, tools, model)
    assert memo.prefixes.hits > 0
    assert memo.messages.hits > 0


def test_a_growing_conversation_counts_only_its_new_messages() -> None:
    memo = ShapeMemo()
    for end in range(1, len(TURNS) + 1):
        messages = request_messages({"messages": [SYSTEM, *TURNS[:end]]})
        assert memo.shape(messages, TOOLS, "gpt-4o") == shape_of(messages, TOOLS, "gpt-4o")
    assert (memo.prefixes.misses, memo.prefixes.hits) == (1, len(TURNS) - 1)
    # each message counted once: by the memo, or as a known history's new last message
    assert memo.messages.misses == len(TURNS) - 1
    assert memo.chains.hits == len(TURNS) - 2  # from the third message on, the run before is found


def test_a_changed_prefix_misses_and_is_counted_afresh() -> None:
    memo = ShapeMemo()
    messages = request_messages({"messages": [SYSTEM, *TURNS[:1]]})
    first = memo.shape(messages, TOOLS, "gpt-4o")
    changed_tools = [
        TOOLS[0],
        {"type": "function", "function": {"name": "run", "description": "Run a shell command"}},
    ]
    changed_system = request_messages(
        {"messages": [{"role": "system", "content": "You are terse."}, *TURNS[:1]]}
    )
    cases = [
        (messages, changed_tools, "gpt-4o"),
        (changed_system, TOOLS, "gpt-4o"),
        (messages, TOOLS, "gpt-4"),
    ]
    for prompt, tools, model in cases:
        shape = memo.shape(prompt, tools, model)
        assert shape == shape_of(prompt, tools, model)
        assert shape != first
    assert (memo.prefixes.misses, memo.prefixes.hits) == (4, 0)


def test_the_memos_are_bounded() -> None:
    memo = ShapeMemo(prefixes=2, messages=3)
    for n in range(6):
        messages = request_messages({"messages": [{"role": "system", "content": f"v{n}"}, *TURNS[:4]]})
        assert memo.shape(messages, None, "gpt-4o") == shape_of(messages, None, "gpt-4o")
    assert (len(memo.prefixes), len(memo.messages)) == (2, 3)


def test_the_prefix_and_message_memos_keep_digests_never_prompt_text() -> None:
    memo = ShapeMemo()
    image = "data:image/png;base64," + "A" * 200_000
    big = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}
    for n in range(3):
        raw = [SYSTEM, big, {"role": "assistant", "content": "A cat."}, {"role": "user", "content": f"q{n}"}]
        messages = request_messages({"messages": raw})
        assert memo.shape(messages, TOOLS, "gpt-4o") == shape_of(messages, TOOLS, "gpt-4o")
    keys = [*memo.prefixes._entries, *memo.messages._entries]
    assert len(keys) == 4  # one prefix, the first prompt's three messages
    assert {model for model, _ in keys} == {"gpt-4o"}
    assert all(isinstance(digest, bytes) and len(digest) == 32 for _, digest in keys)
    assert (memo.messages.misses, memo.messages.hits) == (3, 0)  # the image and the answer counted once
    assert memo.chains.hits == 2  # the two later prompts find the history before their new turn
    history = sum(len(canonical_json(m).encode("utf-8")) for m in messages[1:3])
    assert len(memo.chains) == 2  # that history, and the first prompt's whole run
    assert memo.chains.chars == 2 * history + len(canonical_json(messages[3]).encode("utf-8"))


def test_lru_forgets_the_least_recently_used() -> None:
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert (lru.get("b"), lru.get("a"), lru.get("c")) == (None, 1, 3)


def test_canonical_json_is_the_importers_text() -> None:
    values = [[], {"b": [1, 2.5, None, True], "a": "é\u2028"}, {"when": datetime.date(2025, 1, 2)}, "x"]
    assert [shapes.canonical_json(v) for v in values] == [canonical_json(v) for v in values]


PLAIN_TURNS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "Say hello in one line."}],
    [SYSTEM, {"role": "user", "content": "Bonjour, ça va ? 你好"}],
    [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": "named", "name": "ann"}],
    [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "claude-sonnet-4-5", "gemini-2.5-pro", None])
@pytest.mark.parametrize("messages", PLAIN_TURNS)
def test_a_plain_last_turn_read_once_gives_the_full_count(
    messages: list[dict[str, Any]], model: str | None
) -> None:
    memo = ShapeMemo()
    normalized = request_messages({"messages": messages})
    for _ in range(2):
        assert memo.shape(normalized, None, model) == shape_of(normalized, None, model)
