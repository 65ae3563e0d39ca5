"""The anthropic adapter's readers and tool definitions."""

from __future__ import annotations

from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from tokenomy.capture.sdk.anthropic import ADAPTER, messages_event, messages_is_output
from tokenomy.capture.sdk.base import dump
from tokenomy.tokens import count_tools
from tokenomy.usage import accumulate

_EVENT = TypeAdapter(RawMessageStreamEvent)
RAW = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-6",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "output_tokens": 1,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 0,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    },
    {"type": "message_stop"},
]
EVENTS = [_EVENT.validate_python(e) for e in RAW]


def test_hand_read_text_deltas_accumulate_to_the_same_result_as_dumped_events() -> None:
    fast = accumulate([messages_event(e) for e in EVENTS], kind="anthropic.messages")
    full = accumulate([dump(e) for e in EVENTS], kind="anthropic.messages")
    assert fast.usage == full.usage
    assert (fast.usage.input_uncached, fast.usage.cache_read, fast.usage.output_total) == (12, 100, 2)
    assert fast.completion_text == full.completion_text == "Hello there"
    assert fast.finish_reason == "end_turn"
    assert [messages_is_output(e) for e in EVENTS] == [False, False, True, True, False, False, False]


def test_tool_definitions_are_read_as_sent_and_their_input_schema_counted() -> None:
    """As the gateway and the importer read them: the same count and prefix hashes on every path."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = ADAPTER.tools(
        {
            "tools": [
                {"name": "weather", "description": "Forecast", "input_schema": schema},
                {"type": "web_search_20250305", "name": "web_search"},
                "junk",
            ]
        }
    )
    assert tools == [
        {"name": "weather", "description": "Forecast", "input_schema": schema},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    renamed: list[dict[str, object]] = [
        {"name": "weather", "description": "Forecast", "parameters": schema},
        {"name": "web_search"},
    ]
    assert count_tools(tools).tokens == count_tools(renamed).tokens == 41
    assert sorted(ADAPTER.routes) == ["/v1/messages", "/v1/messages?beta=true"]
