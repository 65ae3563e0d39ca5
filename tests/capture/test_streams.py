"""Streams: ended, cut by an error, or abandoned half way (break, close, garbage collection, helpers)."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import APIError, AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionChunk

from tests.capture.support import Keeper, MemoryTarget
from tokenomy import capture, tokens
from tokenomy.capture.captured import Captured
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.streams import event_reader, stream_items
from tokenomy.config import Config
from tokenomy.mockllm import MockThread
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Kind, Status

pytestmark = pytest.mark.integration

LONG_ANSWER = {"X-Mock-Output-Tokens": "400"}
CHAT: Any = [{"role": "user", "content": "Tell me a long story."}]


def _calls(target: MemoryTarget) -> list[Call]:
    capture.flush(30)
    return [r for r in target.records if isinstance(r, Call)]


def _openai(mock: MockThread) -> OpenAI:
    return capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="test", max_retries=0))


def _anthropic(mock: MockThread) -> Anthropic:
    return capture.instrument(Anthropic(base_url=mock.base_url, api_key="test", max_retries=0))


def _served(mock: MockThread) -> dict[str, Any]:
    totals: dict[str, Any] = mock.stats(with_requests=False)["totals"]
    return totals


def _assert_cancelled_partial(call: Call, received: str) -> None:
    """Cancelled, with the output that arrived counted with the model's tokenizer (an estimate)."""
    assert call.status is Status.CANCELLED
    assert call.streamed is True
    assert call.usage.kind is Kind.ESTIMATED
    assert call.usage.output_total == tokens.count(received, call.request_model).tokens
    assert 0 < call.usage.output_total < 400
    assert call.latency_ms is not None
    assert call.ttft_ms is not None


def _text(chunk: Any) -> str:
    return "".join(choice.delta.content or "" for choice in chunk.choices)


def test_breaking_out_and_dropping_an_openai_stream_records_it_as_cancelled(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=CHAT,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=LONG_ANSWER,
    )
    received = ""
    for read, chunk in enumerate(stream, start=1):
        received += _text(chunk)
        if read == 20:
            break
    del stream
    gc.collect()  # the openai stream and its generator form a cycle: the collector closes it
    (call,) = _calls(recorded)
    _assert_cancelled_partial(call, received)
    served = _served(mock)["input_tokens"]
    assert call.usage.input_total is not None
    assert abs(call.usage.input_total - served) <= 1  # counted locally: the role's token is the difference


def test_closing_a_stream_records_it_at_once(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _openai(mock)
    stream = client.chat.completions.create(
        model="gpt-4o", messages=CHAT, stream=True, extra_headers=LONG_ANSWER
    )
    received = ""
    for read, chunk in enumerate(stream, start=1):
        received += _text(chunk)
        if read == 10:
            break
    stream.close()
    (call,) = _calls(recorded)  # recorded at close: no garbage collection needed
    _assert_cancelled_partial(call, received)
    del stream


def test_leaving_an_anthropic_stream_helper_early_records_what_arrived(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _anthropic(mock)
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1000, messages=CHAT, extra_headers=LONG_ANSWER
    ) as stream:
        received = ""
        for read, text in enumerate(stream.text_stream, start=1):
            received += text
            if read == 15:
                break
    (call,) = _calls(recorded)
    _assert_cancelled_partial(call, received)
    assert call.usage.input_uncached == _served(mock)["input_tokens"]  # message_start reported the input
    assert call.id.startswith("msg_")


def test_a_dropped_anthropic_stream_is_recorded_by_reference_counting(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _anthropic(mock)
    stream = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=1000, messages=CHAT, stream=True, extra_headers=LONG_ANSWER
    )
    for read, _ in enumerate(stream, start=1):
        if read == 8:
            break
    del stream  # no gc.collect(): the SDK avoids reference cycles, and so does the instrumentation
    (call,) = _calls(recorded)
    assert call.status is Status.CANCELLED


def test_async_streams_closed_early_are_recorded(mock: MockThread, recorded: MemoryTarget) -> None:
    openai_client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
    anthropic_client = capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="t", max_retries=0))

    async def run() -> None:
        stream = await openai_client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, extra_headers=LONG_ANSWER
        )
        count = 0
        async for _ in stream:
            count += 1
            if count == 12:
                break
        await stream.close()
        async with anthropic_client.messages.stream(
            model="claude-haiku-4-5", max_tokens=1000, messages=CHAT, extra_headers=LONG_ANSWER
        ) as helper:
            count = 0
            async for _ in helper:
                count += 1
                if count == 12:
                    break

    asyncio.run(run())
    calls = _calls(recorded)
    assert [c.status for c in calls] == [Status.CANCELLED, Status.CANCELLED]
    assert [c.provider for c in calls] == ["openai", "anthropic"]


def test_a_stream_read_to_its_end_without_usage_is_counted_locally(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True)
    )
    (call,) = _calls(recorded)
    served = _served(mock)
    assert call.status is Status.OK
    assert call.usage.kind is Kind.ESTIMATED
    assert call.usage.output_total == served["output_tokens"] == 16  # the mock's words are one token each
    assert call.usage.input_total is not None
    assert abs(call.usage.input_total - served["input_tokens"]) <= 2
    assert text


def test_an_error_inside_a_stream_is_recorded_with_what_arrived_and_reaches_the_caller(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=CHAT,
        stream=True,
        extra_headers={**LONG_ANSWER, "X-Mock-Error": "stream_error"},
    )
    with pytest.raises(APIError):
        for _ in stream:
            pass
    (call,) = _calls(recorded)
    assert call.status is Status.ERROR
    assert call.error_type == "server_error"  # the error event's own type
    assert call.usage.kind is Kind.ESTIMATED


def test_the_openai_stream_helpers_are_recorded(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _openai(mock)
    with client.chat.completions.stream(
        model="gpt-4o", messages=CHAT, stream_options={"include_usage": True}
    ) as s:
        final = s.get_final_completion()
    with client.responses.stream(model="gpt-4o", input="hello") as r:
        response = r.get_final_response()
    parsed = client.chat.completions.parse(model="gpt-4o", messages=CHAT)
    calls = _calls(recorded)
    assert [c.id for c in calls] == [final.id, response.id, parsed.id]
    assert all(c.status is Status.OK and c.usage.kind is Kind.REPORTED for c in calls)
    assert [c.streamed for c in calls] == [True, True, False]
    served = _served(mock)
    assert sum(c.usage.output_total or 0 for c in calls) == served["output_tokens"]


def _rebuilt_from_objects(captured: Captured) -> Call:
    """The call built again from the SDK chunk objects the kept data text decodes to (as the SDK does)."""
    captured.items = [
        ChatCompletionChunk.construct(**json.loads(data)) for data in captured.items or [] if data != "[DONE]"
    ]
    return captured.build()


def test_an_openai_chat_stream_is_kept_as_its_bytes_and_reads_as_its_chunk_objects(
    mock: MockThread,
) -> None:
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    try:
        client = _openai(mock)
        for usage in (True, False):
            read = list(
                client.chat.completions.create(
                    model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": usage}
                )
            )
            assert len(read) >= 3
        stream = client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, extra_headers=LONG_ANSWER
        )
        for count, _ in enumerate(stream, start=1):
            if count == 5:
                break
        stream.close()
        assert len(keeper.kept) == 3
        for captured, end in zip(keeper.kept, (Status.OK, Status.OK, Status.CANCELLED), strict=True):
            assert captured.chunks is not None
            assert all(type(chunk) is bytes for chunk in captured.chunks[0])  # no SDK objects kept
            stream_items(captured)  # as the sink's thread reads them: the events' data text
            assert captured.items
            assert all(type(data) is str for data in captured.items)
            from_text = captured.build()
            assert from_text.status is end
            assert from_text.streamed
            assert from_text == _rebuilt_from_objects(captured)
        assert len(keeper.kept[2].items) == 5  # what the caller read, no more
        assert keeper.kept[0].build().usage.kind is Kind.REPORTED
        assert keeper.kept[1].build().usage.kind is Kind.ESTIMATED  # no usage asked for: counted here
    finally:
        RUNTIME.shutdown(10)


def test_async_openai_chat_streams_are_kept_as_their_data_text(mock: MockThread) -> None:
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))

    async def run() -> list[Any]:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
        return [chunk async for chunk in stream]

    try:
        chunks = asyncio.run(run())
        (captured,) = keeper.kept
        stream_items(captured)
        assert len(captured.items) == len(chunks) + 1
        assert all(type(data) is str for data in captured.items)
        call = captured.build()
        assert call.id == chunks[0].id
        assert call.usage.kind is Kind.REPORTED
        assert call == _rebuilt_from_objects(captured)
    finally:
        RUNTIME.shutdown(10)


def test_an_async_stream_read_to_done_leaves_no_generator_of_ours_for_the_loop(mock: MockThread) -> None:
    # The SDK stops reading a chat stream at [DONE]: an async generator keeping its events would be
    # left suspended, for the event loop to finalize with a task of its own after every call.
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
    started: list[str] = []

    async def run() -> int:
        hooks = sys.get_asyncgen_hooks()

        def firstiter(agen: Any) -> None:
            started.append(agen.ag_code.co_filename)
            if hooks.firstiter is not None:
                hooks.firstiter(agen)

        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=hooks.finalizer)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
        return len([chunk async for chunk in stream])

    try:
        chunks = asyncio.run(run())
        (captured,) = keeper.kept
        stream_items(captured)
        assert len(captured.items) == chunks + 1  # every chunk and [DONE], read from the bytes kept
        assert len(captured.times) == len(captured.items)  # each with its chunk's arrival
        assert started  # the SDK's own async generators ran through the hook
        assert not [name for name in started if "tokenomy" in name]
    finally:
        RUNTIME.shutdown(10)


def test_a_stream_object_without_the_sdk_event_reader_keeps_its_events() -> None:
    class Odd:
        pass

    class Reader:
        response: Any = None

        def _iter_events(self) -> Iterator[Any]:
            yield from self.response.iter_bytes()

        def __stream__(self) -> Iterator[Any]:
            try:
                yield from self._iter_events()
            finally:
                self.close()

        def close(self) -> None:
            pass

    class Unclosed(Reader):
        def __stream__(self) -> Iterator[Any]:
            yield from self._iter_events()

    class Slotted:
        __slots__ = ("response",)

        def __init__(self) -> None:
            self.response: Any = None

        def _iter_events(self) -> Iterator[Any]:
            yield from self.response.iter_bytes()

    class RawReader(Reader):
        def _iter_events(self) -> Iterator[Any]:
            yield from self.response.iter_raw()  # the undecoded bytes: not the ones kept

    assert event_reader(Odd()) is None
    assert event_reader(Reader()) is Reader._iter_events
    already = Reader()
    already._iter_events = lambda: iter(())  # type: ignore[method-assign]
    assert event_reader(already) is None  # someone else's hook: left alone
    assert event_reader(Slotted()) is None  # no weak reference to it can be held
    assert event_reader(Unclosed()) is None  # its generator leaves the response open: ends unseen there
    assert event_reader(RawReader()) is None  # it reads past the byte reader the watcher would keep


def test_a_finished_openai_chat_stream_is_freed_without_the_garbage_collector(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """Instrumenting adds no reference cycle: a stream read to its end goes when it is dropped, as a
    bare client's does (a cycle would leave every stream, its response and buffers to the collector,
    and make the caller's collections more frequent)."""
    clients = (OpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0), _openai(mock))
    gc.collect()
    gc.disable()
    try:
        for client in clients:
            stream = client.chat.completions.create(
                model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(stream)
            gone = weakref.ref(stream)
            del stream
            assert gone() is None
            assert chunks
    finally:
        gc.enable()
    (call,) = _calls(recorded)
    assert call.status is Status.OK
    assert call.usage.kind is Kind.REPORTED


def test_a_reasoning_stream_cut_before_its_usage_leaves_its_reasoning_unknown(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """An o3 stream abandoned early was stored as 1 output token, priced as all of it, where the
    mock billed 405 (400 of them reasoning, spent before the first visible token); a Claude stream
    with thinking on, abandoned while thinking, as 0."""
    thinking = {**LONG_ANSWER, "X-Mock-Reasoning-Tokens": "400"}
    stream = _openai(mock).chat.completions.create(
        model="o3", messages=CHAT, stream=True, stream_options={"include_usage": True}, extra_headers=thinking
    )
    received = ""
    for read, chunk in enumerate(stream, start=1):
        received += _text(chunk)
        if read == 3:
            break
    stream.close()
    with _anthropic(mock).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=CHAT,
        extra_headers=thinking,
    ) as answer:
        for read, _event in enumerate(answer, start=1):
            if read == 30:
                break
    o3, claude = _calls(recorded)
    assert _served(mock)["output_tokens"] > 800  # what the two calls were billed
    assert o3.usage.output_visible == tokens.count(received, "o3").tokens
    assert claude.usage.output_visible == 0  # it was still thinking
    for call in (o3, claude):
        assert call.status is Status.CANCELLED
        assert (call.usage.kind, call.usage.reasoning, call.usage.output_total) == (
            Kind.ESTIMATED,
            None,
            None,
        )
        cost = Pricer().price_usage(call.usage, model=call.request_model or "", provider=call.provider)
        assert cost.total is not None  # what is known: the input and the visible output
        assert "reasoning unknown: those tokens not priced" in (cost.reason or "")


def test_a_task_cancelled_while_it_reads_a_stream_keeps_the_answers_status(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """Cancelled half way through an answer that had arrived with 200: it was recorded with no HTTP status
    (a stream closed half way by a break records 200)."""
    client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
    reading = asyncio.Event()

    async def read() -> None:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=CHAT,
            stream=True,
            extra_headers={**LONG_ANSWER, "X-Mock-Chunk-Delay-Ms": "5"},
        )
        async for _chunk in stream:
            reading.set()

    async def main() -> None:
        task = asyncio.create_task(read())
        await reading.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (call,) = _calls(recorded)
    assert (call.status, call.http_status, call.error_type) == (Status.CANCELLED, 200, "CancelledError")


def test_a_stream_helper_that_cannot_read_the_answer_records_a_failed_call(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """openai's chat.completions.stream with a response format raises while it reads an answer cut by
    max_tokens: the call was recorded as cancelled with no error, the same failure unstreamed
    (.parse) as an error. An error of the caller's own loop still leaves the stream abandoned."""
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    client = _openai(mock)

    def read_parsed() -> None:
        with client.chat.completions.stream(
            model="gpt-4o", messages=CHAT, response_format=Answer, max_tokens=5
        ) as stream:
            for _event in stream:
                pass

    def stop_reading() -> None:
        with client.chat.completions.stream(model="gpt-4o", messages=CHAT) as plain:
            for _event in plain:
                raise KeyError("the caller's own")

    with pytest.raises(ValueError, match="expected value"):  # the SDK's partial JSON parser
        read_parsed()

    def another_call_fails() -> None:  # an SDK error of another call, raised inside the block
        with client.chat.completions.stream(model="gpt-4o", messages=CHAT) as outer:
            for _event in outer:
                client.chat.completions.create(
                    model="gpt-4o", messages=CHAT, extra_headers={"X-Mock-Error": "429"}
                )

    with pytest.raises(KeyError):
        stop_reading()
    with pytest.raises(openai.RateLimitError):
        another_call_fails()
    failed, mine, refused, left = _calls(recorded)
    assert (failed.status, failed.error_type) == (Status.ERROR, "ValueError")
    assert (mine.status, mine.error_type) == (Status.CANCELLED, None)
    assert (refused.status, refused.http_status) == (Status.ERROR, 429)
    assert (left.status, left.error_type, left.http_status) == (Status.CANCELLED, None, 200)
