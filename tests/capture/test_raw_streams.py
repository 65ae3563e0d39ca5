"""Responses and Messages streams kept as their events' data text build the Call their SDK objects do.

Each case runs against the mock upstream twice, from the same state: once kept as the data text
(the raw path), once as the SDK's objects (forced), and the two Calls must match in every field
but ids and times (:mod:`tests.capture.raw_support`). The case also checks the raw Call against
what the caller saw (its response id, the error it got).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tests.capture.raw_support import both_ways, events, same_call
from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME, ContentSettings
from tokenomy.mockllm import MockThread
from tokenomy.schema import Kind, Status

pytestmark = pytest.mark.integration

LONG = {"X-Mock-Output-Tokens": "60"}
PROMPT: Any = [{"role": "user", "content": "Tell me about the weather."}]
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
BROKEN: dict[str, type[BaseException] | tuple[type[BaseException], ...]] = {  # docs/mock-upstream.md
    "cut": (openai.APIConnectionError, httpx2.RemoteProtocolError),  # the openai SDK's; the transport's
    "malformed": json.JSONDecodeError,
    "stream_error": anthropic.APIStatusError,
}
WHY: dict[str, str] = {
    "cut": "stream_cut",
    "malformed": "JSONDecodeError",
    "stream_error": "overloaded_error",
}
"""The error_type each fault is recorded with: the importers' word for a cut, the error event's type."""
LONG_SYSTEM = " ".join(["The assistant answers questions about the weather in plain words."] * 200)


def _openai(mock: MockThread) -> OpenAI:
    return capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))


def _anthropic(mock: MockThread) -> Anthropic:
    return capture.instrument(Anthropic(base_url=mock.base_url, api_key="t", max_retries=0))


# --- Responses -------------------------------------------------------------------------------------


def _responses(mock: MockThread, headers: dict[str, str] | None = None, **request: Any) -> list[Any]:
    stream = _openai(mock).responses.create(
        model=request.pop("model", "gpt-4o"), input="Tell me about the weather.", stream=True,
        extra_headers=headers or {}, **request,
    )  # fmt: skip
    return list(stream)


def _response_id(seen: list[Any]) -> str:
    return str(seen[0].response.id)


RESPONSES: dict[str, Callable[[MockThread], Any]] = {
    "text": _responses,
    "tool call": lambda mock: _responses(mock, tools=[{"type": "function", **TOOL}], tool_choice="required"),
    "reasoning": lambda mock: _responses(mock, model="o3", reasoning={"effort": "low"}),
    "capped": lambda mock: _responses(mock, LONG, max_output_tokens=20),
    "error event": lambda mock: _responses(mock, {**LONG, "X-Mock-Error": "stream_error"}),
    "cached prompt": lambda mock: [_responses(mock, instructions=LONG_SYSTEM) for _ in range(2)][-1],
}


@pytest.mark.parametrize("case", RESPONSES)
def test_a_responses_stream_read_to_its_end_builds_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    seen: list[Any] = []
    pairs = both_ways(lambda: seen.append(RESPONSES[case](mock)), monkeypatch, mock.reset)
    call = same_call(*pairs[-1])
    assert call.id == _response_id(seen[0])
    assert call.streamed
    if case == "error event":  # the SDK yields it: the stream ends as read, its output counted here
        assert seen[0][-1].type == "error"
        assert call.usage.kind is Kind.ESTIMATED
        assert call.status is Status.ERROR  # the call failed, though the SDK raised nothing
        assert call.error_type == "server_error"  # the event's code
        assert call.http_status == 200  # the answer's, as a chat stream failed by an error event keeps it
        return
    assert call.status is Status.OK
    assert call.usage.kind is Kind.REPORTED
    assert call.ttft_ms is not None
    final = seen[0][-1].response
    assert call.usage.output_total == final.usage.output_tokens
    assert call.response_model == final.model
    assert call.finish_reason == {"text": "completed", "capped": "max_output_tokens"}.get(
        case, call.finish_reason
    )
    if case == "tool call":
        assert [use.name for use in call.tool_uses] == ["get_weather"]
    if case == "reasoning":
        assert call.usage.reasoning == final.usage.output_tokens_details.reasoning_tokens > 0
    if case == "cached prompt":
        assert call.usage.cache_read == final.usage.input_tokens_details.cached_tokens > 0


@pytest.mark.parametrize("fault", ["cut", "malformed"])
def test_a_responses_stream_that_breaks_builds_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    def run() -> None:
        with pytest.raises(BROKEN[fault]):
            _responses(mock, {**LONG, "X-Mock-Error": fault, "X-Mock-Cut-After": "8"})

    (pair,) = both_ways(run, monkeypatch, mock.reset)
    call = same_call(*pair)
    assert call.status is Status.ERROR
    assert call.error_type == WHY[fault]
    assert call.usage.kind is Kind.ESTIMATED


def test_responses_streams_abandoned_or_dropped_half_way_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> None:
        client = _openai(mock)
        stream = client.responses.create(model="gpt-4o", input="Hi", stream=True, extra_headers=LONG)
        list(events(stream, 12))
        stream.close()
        stream = client.responses.create(model="gpt-4o", input="Hi", stream=True, extra_headers=LONG)
        list(events(stream, 9))
        del stream
        gc.collect()  # the openai stream and its generator form a cycle: the collector frees it
        client.responses.create(model="gpt-4o", input="Hi", stream=True)  # never read, dropped
        gc.collect()

    pairs = both_ways(run, monkeypatch, mock.reset)
    calls = [same_call(*pair) for pair in pairs]
    assert [c.status for c in calls] == [Status.CANCELLED] * 3
    assert [c.usage.kind for c in calls] == [Kind.ESTIMATED] * 3
    assert calls[0].usage.output_total == 12 - 4  # 4 events before the first text delta, one word each
    assert calls[1].usage.output_total == 9 - 4
    assert calls[2].usage.output_total == 0
    assert calls[2].ttft_ms is None


def test_the_responses_helpers_and_raw_responses_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    finals: list[Any] = []

    def run() -> None:
        client = _openai(mock)
        with client.responses.stream(model="gpt-4o", input="Hi") as helper:
            finals.append(helper.get_final_response())
        with client.responses.stream(model="gpt-4o", input="Hi", extra_headers=LONG) as helper:
            list(events(helper, 10))
        raw = client.responses.with_raw_response.create(model="gpt-4o", input="Hi", stream=True)
        last: Any = list(raw.parse())[-1]  # response.completed
        finals.append(last.response)

    pairs = both_ways(run, monkeypatch, mock.reset)
    done, left, raw = (same_call(*pair) for pair in pairs)
    assert [done.status, left.status, raw.status] == [Status.OK, Status.CANCELLED, Status.OK]
    assert (done.id, raw.id) == (finals[0].id, finals[1].id)
    assert done.usage.output_total == finals[0].usage.output_tokens


def test_async_responses_streams_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def read() -> None:
        client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
        stream = await client.responses.create(model="gpt-4o", input="Hi", stream=True)
        [event async for event in stream]
        stream = await client.responses.create(model="gpt-4o", input="Hi", stream=True, extra_headers=LONG)
        count = 0
        async for _ in stream:
            count += 1
            if count == 10:
                break
        await stream.close()
        async with client.responses.stream(model="o3", input="Hi") as helper:
            await helper.get_final_response()

    pairs = both_ways(lambda: asyncio.run(read()), monkeypatch, mock.reset)
    calls = [same_call(*pair) for pair in pairs]
    assert [c.status for c in calls] == [Status.OK, Status.CANCELLED, Status.OK]
    assert calls[2].usage.reasoning is not None
    assert calls[2].usage.reasoning > 0


def test_a_responses_stream_keeps_the_same_completion_text_when_content_is_captured(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RUNTIME, "content", ContentSettings(capture_content=True))
    seen: list[Any] = []
    (pair,) = both_ways(lambda: seen.append(_responses(mock)), monkeypatch, mock.reset)
    call = same_call(*pair)
    assert call.content is not None
    assert call.content.completion == "".join(
        e.delta for e in seen[0] if e.type == "response.output_text.delta"
    )
    assert call.content.prompt


# --- Messages --------------------------------------------------------------------------------------


def _messages(mock: MockThread, headers: dict[str, str] | None = None, **request: Any) -> list[Any]:
    stream = _anthropic(mock).messages.create(
        model=request.pop("model", "claude-sonnet-4-6"), max_tokens=request.pop("max_tokens", 1000),
        messages=PROMPT, stream=True, extra_headers=headers or {}, **request,
    )  # fmt: skip
    return list(stream)


MESSAGES: dict[str, Callable[[MockThread], Any]] = {
    "text": _messages,
    "tool use": lambda mock: _messages(
        mock,
        tools=[
            {"name": TOOL["name"], "description": TOOL["description"], "input_schema": TOOL["parameters"]}
        ],
        tool_choice={"type": "any"},
    ),
    "thinking": lambda mock: _messages(
        mock, thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2000
    ),
    "capped": lambda mock: _messages(mock, LONG, max_tokens=20),
    "cached prompt": lambda mock: [
        _messages(
            mock, system=[{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
        )
        for _ in range(2)
    ][-1],
}


@pytest.mark.parametrize("case", MESSAGES)
def test_a_messages_stream_read_to_its_end_builds_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    seen: list[Any] = []
    pairs = both_ways(lambda: seen.append(MESSAGES[case](mock)), monkeypatch, mock.reset)
    call = same_call(*pairs[-1])
    start, delta = seen[0][0], next(e for e in seen[0] if e.type == "message_delta")
    assert call.id == start.message.id
    assert (call.status, call.usage.kind) == (Status.OK, Kind.REPORTED)
    assert call.ttft_ms is not None
    assert call.usage.output_total == delta.usage.output_tokens
    assert call.finish_reason == delta.delta.stop_reason
    assert call.service_tier == start.message.usage.service_tier
    if case == "tool use":
        assert [use.name for use in call.tool_uses] == ["get_weather"]
    if case == "cached prompt":
        assert call.usage.cache_read == start.message.usage.cache_read_input_tokens > 0


@pytest.mark.parametrize("fault", ["stream_error", "cut", "malformed"])
def test_a_messages_stream_that_breaks_builds_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    raised: list[BaseException] = []

    def run() -> None:
        with pytest.raises(BROKEN[fault]) as error:
            _messages(mock, {**LONG, "X-Mock-Error": fault, "X-Mock-Cut-After": "8"})
        raised.append(error.value)

    (pair,) = both_ways(run, monkeypatch, mock.reset)
    call = same_call(*pair)
    assert call.status is Status.ERROR
    assert call.error_type == WHY[fault]
    if fault == "stream_error":
        assert isinstance(raised[0], anthropic.APIStatusError)
        assert call.http_status == raised[0].status_code
    assert call.id.startswith("msg_")  # message_start arrived before the break
    assert call.usage.input_uncached is not None


def test_messages_streams_abandoned_or_dropped_half_way_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> None:
        client = _anthropic(mock)
        stream = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, stream=True, extra_headers=LONG
        )
        list(events(stream, 12))
        stream.close()
        stream = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, stream=True, extra_headers=LONG
        )
        list(events(stream, 9))
        del stream  # no collection: reference counting frees it
        client.messages.create(model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, stream=True)
        gc.collect()  # never read: its response and the watcher wait for the collector

    pairs = both_ways(run, monkeypatch, mock.reset)
    calls = [same_call(*pair) for pair in pairs]
    assert [c.status for c in calls] == [Status.CANCELLED] * 3
    received = [call.usage.output_total or 0 for call in calls]  # counted locally: estimates
    assert received[0] > received[1] > received[2] == 0


def test_the_messages_helpers_raw_responses_and_beta_path_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    finals: list[Any] = []

    def run() -> None:
        client = _anthropic(mock)
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT) as helper:
            finals.append(helper.get_final_message())
        with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, extra_headers=LONG
        ) as helper:
            list(events(helper.text_stream, 7))
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, stream=True
        )
        parsed = raw.parse()
        start: Any = next(iter(parsed))  # message_start
        finals.append(start.message)
        del parsed, raw  # one event read, then dropped: freed by reference counting
        beta = client.beta.messages.create(
            model="claude-sonnet-4-6", max_tokens=1000, messages=PROMPT, stream=True
        )
        start, *_ = list(beta)  # read to its end
        finals.append(start.message)

    pairs = both_ways(run, monkeypatch, mock.reset)
    done, left, raw, beta = (same_call(*pair) for pair in pairs)
    assert [c.status for c in (done, left, raw, beta)] == [
        Status.OK,
        Status.CANCELLED,
        Status.CANCELLED,
        Status.OK,
    ]
    assert (done.id, raw.id, beta.id) == (finals[0].id, finals[1].id, finals[2].id)
    assert done.usage.output_total == finals[0].usage.output_tokens


def test_async_messages_streams_build_the_same_call(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def read() -> None:
        client = capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="t", max_retries=0))
        stream = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=1000, messages=PROMPT, stream=True
        )
        [event async for event in stream]
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=1000, messages=PROMPT, extra_headers=LONG
        ) as helper:
            count = 0
            async for _ in helper:
                count += 1
                if count == 10:
                    break
        stream = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=1000, messages=PROMPT, stream=True,
            extra_headers={**LONG, "X-Mock-Error": "stream_error"},
        )  # fmt: skip
        with pytest.raises(anthropic.APIStatusError):
            [event async for event in stream]

    pairs = both_ways(lambda: asyncio.run(read()), monkeypatch, mock.reset)
    calls = [same_call(*pair) for pair in pairs]
    assert [c.status for c in calls] == [Status.OK, Status.CANCELLED, Status.ERROR]


def test_a_messages_stream_keeps_the_same_completion_text_when_content_is_captured(
    mock: MockThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RUNTIME, "content", ContentSettings(capture_content=True))
    seen: list[Any] = []
    (pair,) = both_ways(lambda: seen.append(_messages(mock)), monkeypatch, mock.reset)
    call = same_call(*pair)
    assert call.content is not None
    text = "".join(e.delta.text for e in seen[0] if e.type == "content_block_delta")
    assert call.content.completion == text


def test_an_error_event_is_left_out_as_the_sdk_leaves_it_out() -> None:
    """The data text of the events the SDK raises on (or skips) reads as no event at all."""
    from tokenomy.capture.sdk.anthropic import messages_data, messages_is_output
    from tokenomy.capture.sdk.openai import responses_data, responses_is_output

    error = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert [messages_data(d) for d in (error, '{"type":"ping"}', "", "{not json")] == [None] * 4
    assert messages_data('{"type":"message_stop"}') == {"type": "message_stop"}
    assert not messages_is_output(error)
    assert messages_is_output('{"type": "content_block_delta", "index": 0, "delta": {}}')
    responses_error = '{"type":"error","code":"server_error","message":"m","param":null,"sequence_number":3}'
    assert responses_data(responses_error) == json.loads(responses_error)  # yielded by the SDK
    assert [responses_data(d) for d in ('{"error":{"message":"m"}}', "[DONE]", "", "{no")] == [None] * 4
    assert responses_is_output('{"type": "response.refusal.delta", "delta": "no"}')
    assert not responses_is_output('{"type":"response.output_text.done","text":"x"}')


def test_the_shortcuts_over_data_text_read_as_the_json_decoder_does() -> None:
    """A text delta read by hand is the decoder's dict or None; a Responses stream is read from its
    last terminal event alone only when no event after it could be another one."""
    from tokenomy.capture.sdk.anthropic import _text_delta
    from tokenomy.capture.sdk.base import data_events
    from tokenomy.capture.sdk.openai import TERMINAL, responses_data, responses_event, responses_events
    from tokenomy.usage import openai_responses, stream_accumulator

    assert TERMINAL == openai_responses._TERMINAL
    head = '{"type":"content_block_delta","index":'
    texts = [
        head + '0,"delta":{"type":"text_delta","text":" of"}}',
        head + '12,"delta":{"type":"text_delta","text":"a\\"b\\u00e9\\n}}"}}',
        head + '01,"delta":{"type":"text_delta","text":"x"}}',  # not JSON: a leading zero
        head + '0,"delta":{"type":"text_delta","text":"x"},"more":1}',
        head + '0,"delta":{"type":"text_delta","text":"x\u0001"}}',  # a raw control character
        head + '0,"delta":{"type":"input_json_delta","partial_json":"{"}}',
    ]
    read = [_text_delta(text) for text in texts]
    assert read[0] == json.loads(texts[0])
    assert read[1] == json.loads(texts[1])
    assert read[1] is not None
    assert read[1]["delta"]["text"] == 'a"bé\n}}'
    assert read[2:] == [None] * 4

    def final(tokens: int, spaced: bool = False) -> str:
        event = {"type": "response.completed", "response": {"object": "response", "usage": {"input_tokens": 3,
                 "output_tokens": tokens, "total_tokens": 3 + tokens}, "output": []}}  # fmt: skip
        return json.dumps(event) if spaced else json.dumps(event, separators=(",", ":"))

    created = '{"type":"response.created","response":{"object":"response","output":[]}}'
    for items, tokens in (
        ([created, final(5)], 5),
        ([created, final(5), '{"type":"response.output_text.done","text":"x"}'], 5),
        ([created, final(5), final(7, spaced=True)], 7),  # the last one, not read by hand: all are fed
    ):
        shortcut, each = stream_accumulator(None), stream_accumulator(None)
        responses_events(items, shortcut)
        data_events(responses_data, responses_event)(items, each)
        found, expected = shortcut.result(), each.result()
        assert found is not None
        assert expected is not None
        assert (found.usage, found.usage.output_total) == (expected.usage, tokens)
