"""Raw responses the caller reads itself (``with_streaming_response``): metered from their bytes.

A web backend that relays a stream's server-sent events to a browser reads the raw bytes, lines or
text and never the SDK's objects; those calls are recorded with their usage, time to first token,
end and error, as parsed streams are. Each test reads the answer itself and compares the call with it.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import httpx2
import pytest
from anthropic import Anthropic
from openai import APIConnectionError, AsyncOpenAI, OpenAI

from tests.capture.support import MemoryTarget
from tokenomy import capture
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call, Kind, Status

pytestmark = pytest.mark.integration

CHAT: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
USAGE: Any = {"include_usage": True}


def _calls(target: MemoryTarget) -> list[Call]:
    capture.flush(30)
    return [r for r in target.records if isinstance(r, Call)]


def _openai(mock: MockThread) -> OpenAI:
    return capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="sk-test-key", max_retries=0))


def _datas(text: str) -> list[Any]:
    """The JSON data of each event in a stream's text (``[DONE]`` as the string)."""
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def _chat_usage(datas: list[Any]) -> dict[str, Any]:
    (usage,) = [d["usage"] for d in datas if isinstance(d, dict) and d.get("usage")]
    return dict(usage)


def _read(response: Any, how: str) -> str:
    if how == "iter_lines":
        return "\n".join(response.iter_lines())
    if how == "iter_text":
        return "".join(response.iter_text())
    if how == "iter_bytes":
        return b"".join(response.iter_bytes()).decode()
    return str(response.text())


@pytest.mark.parametrize("how", ["iter_lines", "iter_text", "iter_bytes", "text"])
def test_a_chat_stream_read_as_bytes_lines_or_text_is_metered(
    mock: MockThread, recorded: MemoryTarget, how: str
) -> None:
    client = _openai(mock)
    create = client.chat.completions.with_streaming_response.create
    with create(model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE) as response:
        datas = _datas(_read(response, how))
        http = response.http_response
    assert datas[-1] == "[DONE]"
    usage = _chat_usage(datas)
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.error_type) == (Status.OK, True, None)
    assert call.usage.kind is Kind.REPORTED
    assert (call.usage.input_total, call.usage.output_total) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert call.id == datas[0]["id"]
    assert call.response_model == datas[0]["model"]
    assert call.finish_reason == "stop"
    assert call.ttft_ms is not None
    assert call.latency_ms is not None
    assert 0 < call.ttft_ms <= call.latency_ms
    assert "iter_bytes" not in vars(http)  # the hook is taken off once the call is recorded


def test_an_anthropic_stream_relayed_as_lines_is_metered(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(Anthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    create = client.messages.with_streaming_response.create
    with create(model="claude-sonnet-4-6", max_tokens=200, messages=CHAT[1:], stream=True) as response:
        datas = _datas("\n".join(response.iter_lines()))
    start = next(d for d in datas if d["type"] == "message_start")["message"]
    delta = next(d for d in datas if d["type"] == "message_delta")
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.provider) == (Status.OK, True, "anthropic")
    assert call.usage.kind is Kind.REPORTED
    assert call.usage.output_total == delta["usage"]["output_tokens"]
    assert call.usage.input_uncached == start["usage"]["input_tokens"]
    assert call.id == start["id"]
    assert call.finish_reason == delta["delta"]["stop_reason"]
    assert call.ttft_ms is not None


def test_an_async_chat_stream_relayed_as_lines_is_metered(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(
        AsyncOpenAI(base_url=mock.openai_base_url, api_key="sk-test-key", max_retries=0)
    )

    async def main() -> list[str]:
        create = client.chat.completions.with_streaming_response.create
        async with create(model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE) as response:
            lines = [line async for line in response.iter_lines()]
        await client.close()
        return lines

    usage = _chat_usage(_datas("\n".join(asyncio.run(main()))))
    (call,) = _calls(recorded)
    assert (call.status, call.streamed) == (Status.OK, True)
    assert (call.usage.input_total, call.usage.output_total) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert call.ttft_ms is not None


def test_a_relayed_stream_left_half_way_is_cancelled_with_what_arrived(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    create = client.chat.completions.with_streaming_response.create
    long = {"X-Mock-Output-Tokens": "300"}
    with create(
        model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE, extra_headers=long
    ) as response:
        read = 0
        for line in response.iter_lines():
            read += line.startswith("data: ")
            if read == 6:
                break
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.error_type) == (Status.CANCELLED, True, None)
    assert call.usage.output_total is not None
    assert 0 < call.usage.output_total < 300  # counted from the text that arrived, not the whole answer
    assert call.usage.kind is not Kind.REPORTED


def test_a_relayed_stream_left_after_its_done_event_is_ended(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    create = client.chat.completions.with_streaming_response.create
    lines: list[str] = []
    with create(model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line == "data: [DONE]":
                break
    usage = _chat_usage(_datas("\n".join(lines)))
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.usage.kind) == (Status.OK, True, Kind.REPORTED)
    assert call.usage.output_total == usage["completion_tokens"]


def test_a_connection_cut_under_a_relayed_stream_fails_the_call(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    create = client.chat.completions.with_streaming_response.create
    cut = {"X-Mock-Error": "cut", "X-Mock-Cut-After": "4", "X-Mock-Output-Tokens": "50"}
    lines: list[str] = []
    with (
        pytest.raises((APIConnectionError, httpx2.TransportError)),  # the SDK's, or the HTTP client's own
        create(model="gpt-4o", messages=CHAT, stream=True, extra_headers=cut) as response,
    ):
        lines.extend(response.iter_lines())
    assert any(line.startswith("data: ") for line in lines)
    (call,) = _calls(recorded)
    assert (call.status, call.error_type, call.streamed) == (Status.ERROR, "stream_cut", True)
    assert call.ttft_ms is not None


def test_plain_answers_read_through_with_streaming_response_are_metered(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    create = client.chat.completions.with_streaming_response.create
    with create(model="gpt-4o", messages=CHAT) as response:
        body = response.json()
    with create(model="gpt-4o", messages=CHAT) as response:
        parsed = response.parse()
    with create(model="gpt-4o", messages=CHAT) as response:
        lines = list(response.iter_lines())
    with create(model="gpt-4o", messages=CHAT):
        pass  # never read: recorded with what is known
    gc.collect()
    read, parsed_call, lined, unread = _calls(recorded)
    assert isinstance(body, dict)
    assert (read.id, read.usage.output_total) == (body["id"], body["usage"]["completion_tokens"])
    assert parsed.usage is not None
    assert (parsed_call.id, parsed_call.usage.input_total) == (parsed.id, parsed.usage.prompt_tokens)
    assert lined.id == json.loads("".join(lines))["id"]
    assert lined.usage.output_total is not None
    assert not any(c.streamed for c in (read, parsed_call, lined, unread))
    assert (unread.status, unread.usage.output_total) == (Status.OK, None)


def test_a_plain_answer_read_later_than_the_sink_wakes_keeps_its_usage(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=CHAT) as response:
        assert capture.flush(30)  # the sink delivers everything queued so far: nothing of this call yet
        assert _calls(recorded) == []
        body = response.json()
    assert isinstance(body, dict)
    (call,) = _calls(recorded)
    assert call.usage.output_total == body["usage"]["completion_tokens"]


def test_an_async_relayed_stream_left_half_way_is_cancelled(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(
        AsyncOpenAI(base_url=mock.openai_base_url, api_key="sk-test-key", max_retries=0)
    )
    long = {"X-Mock-Output-Tokens": "300"}

    async def main() -> None:
        create = client.chat.completions.with_streaming_response.create
        async with create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE, extra_headers=long
        ) as response:
            read = 0
            async for line in response.iter_lines():
                read += line.startswith("data: ")
                if read == 6:
                    break
        await client.close()

    asyncio.run(main())
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.error_type) == (Status.CANCELLED, True, None)
    assert call.usage.output_total is not None
    assert 0 < call.usage.output_total < 300


def test_a_legacy_completions_stream_relayed_as_lines_is_metered(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    create = client.completions.with_streaming_response.create
    with create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True, stream_options=USAGE
    ) as response:
        datas = _datas("\n".join(response.iter_lines()))
    usage = _chat_usage(datas)
    (call,) = _calls(recorded)
    assert (call.status, call.streamed, call.api) == (Status.OK, True, "completions")
    assert (call.usage.input_total, call.usage.output_total) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert call.usage.kind is Kind.REPORTED
    assert call.finish_reason == next(
        c["finish_reason"] for d in datas[:-1] for c in d["choices"] if c["finish_reason"]
    )
    assert call.ttft_ms is not None
    assert call.latency_ms is not None
    assert 0 < call.ttft_ms <= call.latency_ms


def test_a_raw_stream_never_read_is_streamed_with_its_prompt_counted_and_its_output_unknown(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """Dropped unparsed, or read past tokenomy through the HTTP response's ``iter_raw``: the call was a
    stream (as asked), and its usage was never seen, so only the prompt is known, counted locally
    (estimated), and the output is unknown (None). It was recorded as not streamed, with a 'reported'
    usage holding nothing; then as ok, with no HTTP status, though the stream was never read."""
    client = _openai(mock)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=CHAT, stream=True)
    del raw
    gc.collect()
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=CHAT, stream=True, stream_options=USAGE
    ) as response:
        assert b"[DONE]" in b"".join(response.http_response.iter_raw())
    del response
    gc.collect()
    list(client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True))  # counted locally too
    unread, undecoded, counted = _calls(recorded)
    # dropped unread: abandoned, as a parsed stream dropped unread is (it was recorded ok); read to its
    # end past tokenomy: ok; both answered 200 (it had no HTTP status)
    assert (unread.status, undecoded.status) == (Status.CANCELLED, Status.OK)
    for call in (unread, undecoded):
        assert (call.http_status, call.streamed, call.usage.kind) == (200, True, Kind.ESTIMATED)
        assert (call.usage.input_total, call.usage.output_total) == (counted.usage.input_total, None)
        assert call.usage.input_uncached is None
    assert counted.usage.input_total is not None
    assert counted.usage.input_total > 0
