"""Responses API on the wire: the response object and its numbered stream events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.mockllm.support import app, post
from tokenomy.mockllm.config import Lengths

RESPONSES = "/v1/responses"
TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": "Tell me about tokens", **extra}


def test_response_object_carries_text_and_usage() -> None:
    mock = app(output_tokens=Lengths.fixed(5))
    got = post(mock, RESPONSES, body(instructions="Be brief.", metadata={"k": "v"})).json()
    assert got["object"] == "response"
    assert got["status"] == "completed"
    assert got["id"].startswith("resp_")
    (message,) = got["output"]
    assert message["type"] == "message"
    assert message["content"][0] == {
        "type": "output_text",
        "annotations": [],
        "logprobs": [],
        "text": "The of and to in",
    }
    assert got["usage"] == {
        "input_tokens": (4 + 3) + (3 + 3),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 18,
    }
    assert (got["instructions"], got["metadata"]) == ("Be brief.", {"k": "v"})


def test_reasoning_model_adds_a_reasoning_item_and_reasoning_tokens() -> None:
    mock = app(output_tokens=Lengths.fixed(5), reasoning_tokens=Lengths.fixed(40))
    got = post(mock, RESPONSES, body(model="gpt-5", reasoning={"effort": "low"})).json()
    assert [item["type"] for item in got["output"]] == ["reasoning", "message"]
    assert got["usage"]["output_tokens_details"]["reasoning_tokens"] == 40
    assert got["usage"]["output_tokens"] == 45
    assert got["reasoning"]["effort"] == "low"
    off = post(mock, RESPONSES, body(model="gpt-5", reasoning={"effort": "none"})).json()
    assert off["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


def test_max_output_tokens_makes_the_response_incomplete() -> None:
    got = post(app(output_tokens=Lengths.fixed(50)), RESPONSES, body(max_output_tokens=16)).json()
    assert got["status"] == "incomplete"
    assert got["incomplete_details"] == {"reason": "max_output_tokens"}
    assert got["usage"]["output_tokens"] == 16


def test_stream_events_are_numbered_and_in_order() -> None:
    events = post(app(output_tokens=Lengths.fixed(3)), RESPONSES, body(stream=True)).events()
    names = [name for name, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == name for name, data in events)
    assert "".join(d["delta"] for n, d in events if n == "response.output_text.delta") == "The of and"
    assert events[0][1]["response"]["usage"] is None
    assert events[-1][1]["response"]["usage"]["output_tokens"] == 3


def test_streamed_function_call_and_incomplete_stream() -> None:
    mock = app(output_tokens=Lengths.fixed(30))
    events = post(mock, RESPONSES, body(stream=True, tools=TOOLS, tool_choice="required")).events()
    deltas = [d["delta"] for n, d in events if n == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"q":"mock"}'
    done = next(d for n, d in events if n == "response.output_item.done")
    assert done["item"]["type"] == "function_call"
    assert done["item"]["name"] == "lookup"
    cut = post(mock, RESPONSES, body(stream=True, max_output_tokens=16)).events()
    assert cut[-1][0] == "response.incomplete"


def test_input_items_are_counted_and_missing_input_is_rejected() -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "one two"}]},
        {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"},
        {"type": "function_call_output", "call_id": "c", "output": "three"},
    ]
    got = post(app(), RESPONSES, body(input=items)).json()
    assert got["usage"]["input_tokens"] == (2 + 3) + (3 + 3) + (1 + 3)
    bad = post(app(), RESPONSES, {"model": "gpt-4o"})
    assert bad.status == 400
    assert bad.json()["error"]["param"] == "input"


@pytest.mark.realdata
def test_response_has_every_field_of_a_recorded_response() -> None:
    path = real_data_path("provider-responses", "openai-python", "responses_recorded.jsonl")
    recorded = json.loads(path.read_text().splitlines()[0])["response"]
    mine = post(app(), RESPONSES, body()).json()
    assert set(recorded) <= set(mine)
    assert set(recorded["usage"]) <= set(mine["usage"])
    assert set(recorded["output"][0]) <= set(mine["output"][0])
    assert set(recorded["output"][0]["content"][0]) <= set(mine["output"][0]["content"][0])
