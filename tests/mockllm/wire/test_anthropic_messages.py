"""Anthropic Messages on the wire: message bodies, SSE events, thinking, tools, cache fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.mockllm.support import app, post
from tokenomy.mockllm.config import Lengths

MESSAGES = "/v1/messages"
TOOLS = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
    }
]


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-opus-4-7",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


def test_message_body_and_usage_convention() -> None:
    got = post(app(output_tokens=Lengths.fixed(2)), MESSAGES, body(system="Be kind.")).json()
    assert got == {
        "id": got["id"],
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-7",
        "content": [{"type": "text", "text": "The of"}],
        "stop_sequence": None,
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 3 + (1 + 3),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 2,
            "service_tier": "standard",
            "inference_geo": "not_available",
        },
    }
    assert got["id"].startswith("msg_")


def test_max_tokens_stops_with_max_tokens() -> None:
    got = post(app(output_tokens=Lengths.fixed(100)), MESSAGES, body(max_tokens=10)).json()
    assert (got["stop_reason"], got["usage"]["output_tokens"]) == ("max_tokens", 10)


def test_thinking_adds_a_thinking_block_counted_in_output_tokens() -> None:
    mock = app(output_tokens=Lengths.fixed(4), reasoning_tokens=Lengths.fixed(2000))
    got = post(
        mock, MESSAGES, body(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1500})
    ).json()
    assert [b["type"] for b in got["content"]] == ["thinking", "text"]
    assert got["content"][0]["signature"].startswith("mock-signature-")
    assert got["usage"]["output_tokens"] == 1504
    assert mock.stats()["totals"]["reasoning_tokens"] == 1500
    adaptive = post(mock, MESSAGES, body(max_tokens=3000, thinking={"type": "adaptive"})).json()
    assert adaptive["usage"]["output_tokens"] == 2004


def test_stream_events_in_anthropic_order_with_cumulative_usage() -> None:
    mock = app(output_tokens=Lengths.fixed(3))
    events = post(mock, MESSAGES, body(stream=True)).events()
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["output_tokens"]) == ([], None, 1)
    assert start["usage"]["input_tokens"] == 4
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "The of and"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 3,
    }


def test_streamed_thinking_then_text() -> None:
    mock = app(output_tokens=Lengths.fixed(2), reasoning_tokens=Lengths.fixed(3))
    events = post(mock, MESSAGES, body(stream=True, thinking={"type": "adaptive"})).events()
    blocks = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert blocks == ["thinking", "text"]
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == "The of and"
    assert [d["type"] for d in deltas] == ["thinking_delta"] * 3 + ["signature_delta"] + ["text_delta"] * 2
    assert events[-2][1]["usage"]["output_tokens"] == 5


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_tool_use_plain_and_streamed(choice: dict[str, str]) -> None:
    mock = app()
    got = post(mock, MESSAGES, body(tools=TOOLS, tool_choice=choice)).json()
    assert got["stop_reason"] == "tool_use"
    (block,) = got["content"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "get_weather", {"location": "mock"})
    assert block["id"].startswith("call_mock")
    events = post(mock, MESSAGES, body(tools=TOOLS, tool_choice=choice, stream=True)).events()
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert json.loads(partial) == {"location": "mock"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == got["usage"]["output_tokens"]
    assert (
        post(mock, MESSAGES, body(tools=TOOLS, tool_choice={"type": "none"})).json()["stop_reason"]
        == "end_turn"
    )


def test_top_level_cache_control_caches_the_whole_prompt() -> None:
    mock = app()
    request = body(system="rule " * 1200, cache_control={"type": "ephemeral"})
    first = post(mock, MESSAGES, request).json()["usage"]
    assert (first["cache_creation_input_tokens"], first["input_tokens"]) == (1200 + 1 + 3, 0)
    second = post(mock, MESSAGES, request).json()["usage"]
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"]) == (1204, 0)


def test_too_many_breakpoints_and_bad_ttl_are_rejected() -> None:
    control = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"part {i}", "cache_control": control} for i in range(5)]
    got = post(app(), MESSAGES, body(system=system))
    assert got.status == 400
    assert "maximum of 4 blocks" in got.json()["error"]["message"]
    bad = post(app(), MESSAGES, body(cache_control={"type": "ephemeral", "ttl": "2h"}))
    assert "'5m' or '1h'" in bad.json()["error"]["message"]


@pytest.mark.realdata
def test_body_has_every_field_of_a_recorded_message() -> None:
    path = real_data_path(
        "provider-responses",
        "anthropic-sdk-python",
        "recorded-http",
        "test_runners__test_basic_call_sync__b38bbf6c.json",
    )
    recorded = json.loads(path.read_text())[0]["response"]["body"]
    mine = post(app(), MESSAGES, body(tools=TOOLS, tool_choice={"type": "any"})).json()
    assert set(recorded) <= set(mine)
    assert set(recorded["usage"]) <= set(mine["usage"])
    assert set(recorded["content"][0]) <= set(mine["content"][0])


@pytest.mark.realdata
def test_stream_matches_the_recorded_event_sequence() -> None:
    path = real_data_path(
        "provider-responses",
        "anthropic-sdk-python",
        "streams",
        "lib__streaming__fixtures__basic_response.jsonl",
    )
    recorded = [json.loads(line) for line in path.open()]
    mine = post(app(output_tokens=Lengths.fixed(3)), MESSAGES, body(stream=True)).events()
    assert [r["event"] for r in recorded] == [name for name, _ in mine]
    assert set(recorded[0]["data"]["message"]) <= set(mine[0][1]["message"])
    assert set(recorded[0]["data"]["message"]["usage"]) <= set(mine[0][1]["message"]["usage"])
    assert set(recorded[-2]["data"]["usage"]) <= set(mine[-2][1]["usage"])
