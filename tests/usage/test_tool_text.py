"""The tool calls an answer carried, kept as (name, argument text) for counting the output locally.

Every adapter fills :attr:`Extracted.tool_text`, from bodies and streams alike (a stream's argument
text as it was streamed). On the recorded streams that reported usage and carried tool calls, the
local count of :func:`tokenomy.capture.estimate.fill_missing` is compared with the provider's.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import real_data_path
from tests.usage.recordings import all_recordings
from tokenomy.capture.estimate import fill_missing
from tokenomy.schema import Usage
from tokenomy.usage import accumulate, deepseek, extract, openrouter
from tokenomy.usage.base import Extracted, call_text

ARGS = '{"city": "Paris",\n "units": "c"}'
"""Argument text as a model might stream it: kept as it came, newline and spaces included."""


def _chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice]}


def _chat_stream(*, usage: bool = False) -> list[dict[str, Any]]:
    calls = [
        {"index": 0, "id": "a", "function": {"name": "get_weather", "arguments": ARGS[:9]}},
        {"index": 1, "id": "b", "function": {"name": "get_time", "arguments": ""}},
    ]
    events = [
        _chat_chunk({"role": "assistant", "tool_calls": calls}),
        _chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": ARGS[9:]}}]}),
        _chat_chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, "tool_calls"),
    ]
    if usage:
        events.append(
            {**_chat_chunk({}), "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 30}}
        )
    return events


def test_a_chat_stream_keeps_each_call_s_name_and_its_arguments_as_streamed() -> None:
    found = accumulate(_chat_stream(), kind="openai.chat")
    assert found.tool_text == (("get_weather", ARGS), ("get_time", "{}"))
    assert found.completion_text is None
    assert found.extra["complete"] is False
    assert accumulate(_chat_stream()).tool_text == found.tool_text  # detected kind: the same


def test_a_chat_body_keeps_function_custom_and_legacy_calls() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": ARGS}},
            {"type": "custom", "custom": {"name": "patch", "input": "*** Begin Patch"}},
        ],
        "function_call": {"name": "old_style", "arguments": "{}"},
    }
    body: dict[str, Any] = {"object": "chat.completion", "model": "gpt-4o"}
    body["choices"] = [{"index": 0, "message": message}]
    body["usage"] = {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}
    expected = (("get_weather", ARGS), ("patch", "*** Begin Patch"), ("old_style", "{}"))
    assert extract(body).tool_text == expected
    for reused in (deepseek.extract(body), openrouter.extract_chat(body)):  # the chat reading, reused
        assert reused.tool_text == expected


def test_a_plain_text_answer_has_no_tool_text() -> None:
    message = {"role": "assistant", "content": "Hi"}
    body: dict[str, Any] = {"object": "chat.completion", "model": "gpt-4o"}
    body["choices"] = [{"index": 0, "message": message}]
    body["usage"] = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    assert extract(body).tool_text == ()
    assert Extracted(Usage(), "p", "chat", "a").tool_text == ()


def test_call_text_keeps_the_arguments_as_given_and_counting_writes_an_object_as_json() -> None:
    """An object is written as JSON only when counted (every answer is read, few are counted)."""
    from tokenomy.capture.estimate import tool_call_tokens

    args = {"city": "Zürich", "n": 2}
    assert call_text("f", args) == ("f", args)
    counted = tool_call_tokens("f", args, "gpt-4o")
    assert counted == tool_call_tokens("f", '{"city": "Zürich", "n": 2}', "gpt-4o")
    assert counted > tool_call_tokens("f", "", "gpt-4o")
    assert call_text("f", ARGS) == ("f", ARGS)
    assert call_text("f", None) == ("f", "")
    assert call_text(None, "{}") is None
    assert call_text("", "{}") is None


def _responses_events(*, cut: bool) -> list[dict[str, Any]]:
    response = {"id": "r1", "object": "response", "status": "in_progress", "model": "gpt-4o", "output": []}
    item = {"type": "function_call", "id": "fc", "call_id": "c", "name": "get_weather", "arguments": ""}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": ARGS[:12]},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": ARGS[12:]},
    ]
    if not cut:
        done = {**item, "arguments": ARGS, "status": "completed"}
        search = {"type": "web_search_call", "id": "ws", "status": "completed", "action": {"query": "x"}}
        usage = {"input_tokens": 9, "output_tokens": 25, "total_tokens": 34}
        events += [
            {"type": "response.output_item.done", "output_index": 0, "item": done},
            {
                "type": "response.completed",
                "response": {**response, "status": "completed", "output": [search, done], "usage": usage},
            },
        ]
    return events


def test_responses_keep_function_calls_not_hosted_tool_actions() -> None:
    found = accumulate(_responses_events(cut=False))
    assert found.tool_text == (("get_weather", ARGS),)
    assert [t.name for t in found.tool_uses] == ["web_search", "get_weather"]


def test_a_responses_stream_cut_inside_a_call_keeps_the_fragments_that_arrived() -> None:
    found = accumulate(_responses_events(cut=True)[:3])
    assert found.tool_text == (("get_weather", ARGS[:12]),)
    assert [t.name for t in found.tool_uses] == ["get_weather"]
    assert found.extra["complete"] is False
    assert accumulate(_responses_events(cut=True)).tool_text == (("get_weather", ARGS),)


def _messages_events() -> list[dict[str, Any]]:
    message = {
        "id": "m1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
    }
    block = {"type": "tool_use", "id": "tu", "name": "get_weather", "input": {}}
    return [
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}},
        {"type": "content_block_start", "index": 1, "content_block": block},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ARGS[:5]},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ARGS[5:]},
        },
    ]


def test_a_messages_stream_keeps_the_input_json_as_streamed_and_a_body_writes_it_as_json() -> None:
    found = accumulate(_messages_events())
    assert found.tool_text == (("get_weather", ARGS),)
    assert found.completion_text == "Let me check."
    body = {
        "type": "message",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "tool_use", "id": "tu", "name": "get_weather", "input": json.loads(ARGS)},
            {"type": "server_tool_use", "id": "st", "name": "web_search", "input": {"query": "rain"}},
        ],
        "usage": {"input_tokens": 9, "output_tokens": 30},
    }
    assert extract(body).tool_text == (
        ("get_weather", {"city": "Paris", "units": "c"}),
        ("web_search", {"query": "rain"}),
    )


def test_a_gemini_stream_keeps_each_function_call_part() -> None:
    parts = [{"functionCall": {"name": "get_capital", "args": {"country": "France"}}}]
    chunk = {"candidates": [{"index": 0, "content": {"role": "model", "parts": parts}}], "modelVersion": "g"}
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}  # a server tool: left out
    last = {
        "candidates": [{"index": 0, "content": {"role": "model", "parts": [code]}, "finishReason": "STOP"}]
    }
    found = accumulate([chunk, last], kind="gemini")
    assert found.tool_text == (("get_capital", {"country": "France"}),)
    assert [t.name for t in found.tool_uses] == ["get_capital", "code_execution"]


def test_a_bedrock_stream_keeps_the_tool_input_as_streamed() -> None:
    events: list[dict[str, Any]] = [
        {"messageStart": {"role": "assistant"}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t1", "name": "lookup"}},
                "contentBlockIndex": 0,
            }
        },
        {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"id":'}}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": " 3}"}}, "contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t2", "name": "ping"}},
                "contentBlockIndex": 1,
            }
        },
    ]
    found = accumulate(events, kind="bedrock")
    assert found.tool_text == (("lookup", '{"id": 3}'), ("ping", {}))
    body: dict[str, Any] = {
        "output": {"message": {"content": [{"toolUse": {"name": "lookup", "input": {"id": 3}}}]}}
    }
    body["usage"] = {"inputTokens": 3, "outputTokens": 9}
    assert extract(body).tool_text == (("lookup", {"id": 3}),)


def _reported_visible(found: Extracted) -> int | None:
    usage = found.usage
    return usage.output_visible if usage.output_visible is not None else usage.output_total


def _counted(found: Extracted) -> int | None:
    text, model = found.completion_text, found.response_model
    return fill_missing(
        Usage(), prompt_tokens=None, text=text, model=model, tool_text=found.tool_text
    ).output_total


def _tool_streams() -> list[tuple[str, Extracted]]:
    real_data_path("provider-responses")
    found = []
    for recording in all_recordings():
        if recording.streamed:
            read = accumulate(recording.events)
            if read.tool_text and read.usage.output_total is not None:
                found.append((recording.source, read))
    return found


def test_recorded_openai_single_calls_count_exactly_what_openai_reported() -> None:
    """GPT-4o-family streams answering with one call and no text: the rule gives the reported count."""
    single = [
        (source, read)
        for source, read in _tool_streams()
        if (read.response_model or "").startswith("gpt-4o") and len(read.tool_text) == 1
    ]
    assert len(single) >= 5
    for source, read in single:
        assert not read.completion_text, source
        assert _counted(read) == _reported_visible(read), source


def test_recorded_tool_streams_count_their_calls_once_the_usage_is_dropped() -> None:
    """Every recorded stream with tool calls: what counting without the tool text missed, and the ratio
    of the count with it to the provider's visible output (hand-checked values, pinned)."""
    ratios = {}
    for source, read in _tool_streams():
        reported = _reported_visible(read)
        text_only = fill_missing(
            Usage(), prompt_tokens=None, text=read.completion_text, model=read.response_model
        )
        counted = _counted(read)
        assert counted is not None
        assert text_only.output_total is not None
        assert reported
        assert counted > text_only.output_total, source
        ratios[source] = round(counted / reported, 2)
    assert ratios["test_parse_strict_tools.jsonl#0"] == 1.0
    assert ratios["test_parse_multiple_pydantic_tools.jsonl#0"] == 0.87  # two calls: OpenAI wraps them
    assert ratios["lib__streaming__fixtures__tool_use_response.jsonl#0"] == 0.48  # Claude writes calls as XML
    assert ratios["models__test_google__test_google_model_iter_stream.yaml#1"] == 3.4  # Gemini: terser
