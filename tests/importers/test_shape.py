"""Prompt shape: a prompt's parts counted locally, and prefix hashes that follow a growing conversation."""

from __future__ import annotations

from tokenomy import tokens
from tokenomy.importers.shape import prefix_hashes, shape_of
from tokenomy.schema import Kind

SYSTEM = {"role": "system", "content": "You are a careful assistant."}


def _conversation(turns: int) -> list[dict[str, str]]:
    out = [SYSTEM]
    for n in range(turns):
        out += [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"}]
    return [*out, {"role": "user", "content": "last question"}]


def test_parts_are_counted_with_the_models_tokenizer() -> None:
    messages = _conversation(2)
    shape = shape_of(messages, None, "gpt-4o")
    assert shape.n_messages == 6
    assert shape.input_tokens == tokens.count_messages(messages, "gpt-4o").tokens
    assert shape.system_tokens == tokens.count(SYSTEM["content"], "gpt-4o").tokens
    assert shape.user_tokens == tokens.count("last question", "gpt-4o").tokens
    assert shape.history_tokens == tokens.count_messages(messages[1:5], "gpt-4o").tokens
    assert (shape.tool_def_tokens, shape.kind) == (0, Kind.COUNTED)


def test_tool_definitions_make_an_estimate() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "search", "description": "Search the web", "parameters": {}},
        }
    ]
    shape = shape_of(_conversation(0), tools, "gpt-4o")
    assert shape.tool_def_tokens == tokens.count_tools(tools, "gpt-4o").tokens > 0
    assert (
        shape.input_tokens == tokens.count_messages(_conversation(0), "gpt-4o").tokens + shape.tool_def_tokens
    )
    assert shape.kind is Kind.ESTIMATED


def test_prefix_hashes_are_shared_up_to_where_prompts_diverge() -> None:
    short, longer = prefix_hashes(_conversation(2), None), prefix_hashes(_conversation(5), None)
    assert len(short) == 4  # system; +1, +2, +4 messages (the last message is never part of the prefix)
    assert len(longer) == 5  # ...and +8
    assert longer[: len(short)] == short
    other_system = prefix_hashes([{"role": "system", "content": "different"}, *_conversation(2)[1:]], None)
    assert not set(other_system) & set(short)
    with_tools = prefix_hashes(_conversation(2), [{"type": "function", "function": {"name": "x"}}])
    assert with_tools[0] != short[0]
    assert all(len(h) == 16 for h in short)
