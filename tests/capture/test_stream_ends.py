"""How an OpenAI chat stream kept as its server-sent events ends, read where the SDK closes the response.

Canned bodies (no socket) exercise the ends a mock server does not send: events that run out
without ``[DONE]``, an event the SDK cannot decode, a stream read while the caller handles another
exception; the mock upstream exercises cut connections and async streams.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from typing import Any

import httpx2
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import APIConnectionError, APIError, AsyncOpenAI, OpenAI
from openai._streaming import Stream
from openai.types.chat import ChatCompletionChunk

from tests.capture.support import Keeper, MemoryTarget
from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.streams import stream_items
from tokenomy.config import Config
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call, Kind, Status

pytestmark = pytest.mark.integration

CHAT: Any = [{"role": "user", "content": "Hello"}]
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
USAGE = {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **more: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {**HEAD, "choices": choices, **more}


ROLE = _chunk({"role": "assistant", "content": ""})
WORDS = [_chunk({"content": word}) for word in ("One", " two", " three")]
END = [_chunk({}, "stop"), _chunk(None, usage=USAGE)]
TOOL = _chunk(
    {"tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}]}
)


def _body(chunks: list[dict[str, Any]], *, done: bool = True, compact: bool = True, tail: str = "") -> bytes:
    separators = (",", ":") if compact else (", ", ": ")
    frames = [f"data: {json.dumps(c, separators=separators)}\n\n" for c in chunks]
    return ("".join(frames) + tail + ("data: [DONE]\n\n" if done else "")).encode()


def _canned(body: bytes, kind: Any = None, *, per_event: bool = False) -> OpenAI:
    """An instrumented client whose streamed chat answers are ``body`` (the SDK decodes it as a
    socket's), read by the stream class ``kind`` (None: the SDK's own). The body arrives in two
    pieces (``per_event``: a piece an event) through the HTTP client's own reader, which closes the
    response when it ends."""
    client = OpenAI(base_url="http://127.0.0.1:9/v1", api_key="t", max_retries=0)
    sent = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    pieces = [frame + b"\n\n" for frame in body.split(b"\n\n")[:-1]] if per_event else [body[:40], body[40:]]

    def canned(cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        response = httpx2.Response(200, content=iter(pieces), request=sent)
        make = kind or stream_cls
        return make(cast_to=ChatCompletionChunk, response=response, client=client, options=options)

    client.request = canned  # type: ignore[method-assign]
    return capture.instrument(client)


def _stream(client: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )


def _calls(target: MemoryTarget) -> list[Call]:
    capture.flush(30)
    return [r for r in target.records if isinstance(r, Call)]


def test_a_stream_whose_events_run_out_without_done_ends_as_reported(recorded: MemoryTarget) -> None:
    for done in (True, False):
        chunks = list(_stream(_canned(_body([ROLE, *WORDS, *END], done=done))))
        assert len(chunks) == 6
    calls = _calls(recorded)
    assert [c.status for c in calls] == [Status.OK, Status.OK]
    assert [c.usage.kind for c in calls] == [Kind.REPORTED, Kind.REPORTED]
    assert [c.usage.output_total for c in calls] == [3, 3]
    assert calls[0].finish_reason == calls[1].finish_reason == "stop"
    assert all(
        c.ttft_ms is not None and c.latency_ms is not None and c.ttft_ms <= c.latency_ms for c in calls
    )


def test_a_stream_read_while_the_caller_handles_an_exception_is_not_an_error(recorded: MemoryTarget) -> None:
    for done in (True, False):
        try:
            raise KeyError("the caller's own")
        except KeyError:
            assert len(list(_stream(_canned(_body([ROLE, *WORDS, *END], done=done))))) == 6
    assert [(c.status, c.error_type) for c in _calls(recorded)] == [(Status.OK, None), (Status.OK, None)]


def _drain(stream: Any, into: list[Any]) -> None:
    for chunk in stream:
        into.append(chunk)


class _LeaveError(Exception):
    """The caller's own exception, raised inside its loop over a stream."""


def _leave_early(stream: Any) -> None:
    with stream:
        for read, _ in enumerate(stream, start=1):
            if read == 2:
                raise _LeaveError


def test_an_event_the_sdk_cannot_decode_fails_the_call_with_what_arrived(recorded: MemoryTarget) -> None:
    stream = _stream(_canned(_body([ROLE, WORDS[0]], done=False, tail="data: {not json\n\n")))
    read: list[Any] = []
    with pytest.raises(json.JSONDecodeError):
        _drain(stream, read)
    assert len(read) == 2
    (call,) = _calls(recorded)
    assert (call.status, call.error_type) == (Status.ERROR, "JSONDecodeError")
    assert call.usage.kind is Kind.ESTIMATED  # no usage arrived: the text that did is counted
    assert call.usage.output_total == 1
    assert call.ttft_ms is not None


def test_an_in_stream_error_event_fails_the_call(recorded: MemoryTarget) -> None:
    error = 'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    with pytest.raises(APIError) as raised:
        list(_stream(_canned(_body([ROLE, *WORDS], done=False, tail=error))))
    (call,) = _calls(recorded)
    assert (call.status, call.error_type) == (Status.ERROR, "server_error")  # the event's type
    assert getattr(raised.value, "status_code", None) is None  # the SDK's error names no status...
    assert call.http_status == 200  # ...the stream's answer had one, as Anthropic's in-stream errors carry


def test_leaving_a_with_block_by_an_exception_abandons_the_stream(recorded: MemoryTarget) -> None:
    with pytest.raises(_LeaveError):
        _leave_early(_stream(_canned(_body([ROLE, *WORDS, *END]))))
    (call,) = _calls(recorded)
    assert (call.status, call.error_type) == (Status.CANCELLED, None)
    assert call.usage.output_total == 1  # "One": counted locally, as it arrived


def test_each_event_takes_the_arrival_of_the_chunk_that_completed_it() -> None:
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    try:
        for chunks, compact in (
            ([ROLE, *WORDS, *END], True),
            ([ROLE, TOOL, *END], True),
            ([ROLE, *WORDS, *END], False),
        ):
            list(_stream(_canned(_body(chunks, compact=compact), per_event=True)))
            captured = keeper.kept[-1]
            assert captured.chunks is not None
            kept, arrived = captured.chunks
            assert len(kept) == len(arrived) == len(chunks) + 1  # a chunk an event, [DONE] included
            assert arrived == sorted(arrived)
            stream_items(captured)
            assert captured.times == arrived
            call = captured.build()
            assert call.ttft_ms == (arrived[1] - captured.t0) / 1e6  # the second event: the first output
            assert call.status is Status.OK
        list(_stream(_canned(_body([ROLE, *WORDS, *END]))))  # two pieces: the second completes every event
        captured = keeper.kept[-1]
        assert captured.chunks is not None
        second = captured.chunks[1][1]
        stream_items(captured)
        assert captured.times == [second] * (len(WORDS) + 4)
    finally:
        RUNTIME.shutdown(10)


def test_async_chat_streams_end_as_they_did(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))

    async def run() -> type[BaseException]:
        whole = await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
        assert [chunk async for chunk in whole]
        failing = await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, extra_headers={"X-Mock-Error": "stream_error"}
        )
        try:
            async for _ in failing:
                pass
        except APIError as exc:
            return type(exc)
        raise AssertionError("the in-stream error did not reach the caller")

    raised = asyncio.run(run())
    whole, failed = _calls(recorded)
    assert (whole.status, whole.usage.kind) == (Status.OK, Kind.REPORTED)
    assert whole.ttft_ms is not None
    assert whole.latency_ms is not None
    assert 0 < whole.ttft_ms <= whole.latency_ms
    assert issubclass(raised, APIError)
    assert (failed.status, failed.error_type) == (Status.ERROR, "server_error")


def test_a_connection_cut_mid_stream_fails_the_call(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=CHAT,
        stream=True,
        extra_headers={"X-Mock-Error": "cut", "X-Mock-Cut-After": "4", "X-Mock-Output-Tokens": "50"},
    )
    read: list[Any] = []
    with pytest.raises(APIConnectionError):
        _drain(stream, read)
    assert read
    (call,) = _calls(recorded)
    assert (call.status, call.error_type) == (Status.ERROR, "stream_cut")  # as the importers say
    assert call.ttft_ms is not None


class _OlderStream(Stream[Any]):
    """A stream shaped as openai 1.x wrote ``__stream__``: no ``finally`` that closes the response
    (the HTTP client closes it when the body ends), so an error or an abandoned stream cannot be
    read where the SDK closes it: such streams are watched on the SDK's objects instead."""

    def __stream__(self) -> Any:
        process = self._client._process_response_data
        iterator = self._iter_events()
        for sse in iterator:
            if sse.data.startswith("[DONE]"):
                break
            data = sse.json()
            if isinstance(data, dict) and data.get("error"):
                raise APIError(message="in-stream error", request=self.response.request, body=data["error"])
            yield process(data=data, cast_to=ChatCompletionChunk, response=self.response)
        for _ in iterator:
            pass


def test_a_stream_class_that_does_not_close_its_response_is_still_recorded_however_it_ends(
    recorded: MemoryTarget,
) -> None:
    error = 'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    assert len(list(_stream(_canned(_body([ROLE, *WORDS, *END]), _OlderStream)))) == 6
    with pytest.raises(APIError):
        list(_stream(_canned(_body([ROLE, *WORDS], done=False, tail=error), _OlderStream)))
    abandoned = _stream(_canned(_body([ROLE, *WORDS, *END]), _OlderStream))
    for read, _ in enumerate(abandoned, start=1):
        if read == 2:
            break
    del abandoned
    gc.collect()
    calls = _calls(recorded)
    assert [(c.status, c.usage.output_total) for c in calls] == [
        (Status.OK, 3),
        (Status.ERROR, 3),
        (Status.CANCELLED, 1),
    ]
    assert all(c.ttft_ms is not None for c in calls)


def test_a_finished_stream_lets_go_of_its_bytes() -> None:
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    try:
        stream = _stream(_canned(_body([ROLE, *WORDS, *END])))
        assert len(list(stream)) == 6
        # the hooks are off the response the caller may keep: it holds nothing of tokenomy's
        assert "iter_bytes" not in vars(stream.response)
        assert "close" not in vars(stream.response)
        captured = keeper.kept[-1]
        stream_items(captured)
        assert captured.items is not None
        assert captured.items[-1] == "[DONE]"  # what the sink reads: the events' data text
    finally:
        RUNTIME.shutdown(10)


def test_content_outside_a_chunks_delta_is_not_its_first_token() -> None:
    """An OpenAI-compatible server that also writes a ``message`` with content into a chunk: the SDK's
    chunk object has no output there, and the first token is the first delta with text, as read from
    the SDK's objects."""
    keeper = Keeper()
    RUNTIME.configure(keeper, config=Config())
    try:
        odd = {**_chunk({}), "message": {"content": "One"}}
        list(_stream(_canned(_body([ROLE, odd, *WORDS, *END]), per_event=True)))
        captured = keeper.kept[-1]
        assert captured.chunks is not None
        arrived = captured.chunks[1]
        assert captured.build().ttft_ms == (arrived[2] - captured.t0) / 1e6  # WORDS[0], after the odd one
    finally:
        RUNTIME.shutdown(10)


# A stream the caller abandons without closing it: freed by reference counting (Anthropic) or by the
# garbage collector (OpenAI's stream and its generator form a cycle), its HTTP response is closed by the
# SDK's generator on its way out, and the connection leaves the HTTP client's pool. The instrumented
# client must do the same (its hook on the response used to reach the response only weakly, and the
# collector clears weak references before it runs the generator's ``finally``: the response stayed
# open and the pool kept the request).

SDKS = ("openai chat", "openai responses", "anthropic messages")
LONG: Any = {"X-Mock-Output-Tokens": "400"}
READS = 5  # events read before the stream is abandoned: past the first text in each API
# The pool's (requests in flight, connections) once a half read stream is dropped, before a collection:
# the OpenAI stream waits for the collector, the Anthropic one is gone (the SDK avoids the cycle).
DROPPED = {"openai chat": (1, 1), "openai responses": (1, 1), "anthropic messages": (0, 0)}


def _client(mock: MockThread, sdk: str, *, is_async: bool, instrumented: bool) -> Any:
    if sdk.startswith("openai"):
        make: Any = AsyncOpenAI if is_async else OpenAI
        client = make(base_url=mock.openai_base_url, api_key="t", max_retries=0)
    else:
        make = AsyncAnthropic if is_async else Anthropic
        client = make(base_url=mock.base_url, api_key="t", max_retries=0)
    return capture.instrument(client) if instrumented else client


def _create(client: Any, sdk: str) -> Any:
    """A streamed call of a long answer (the stream, or for an async client the awaitable of it)."""
    if sdk == "openai chat":
        return client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True, extra_headers=LONG)
    if sdk == "openai responses":
        return client.responses.create(model="gpt-4o", input="Hello", stream=True, extra_headers=LONG)
    return client.messages.create(
        model="claude-sonnet-4-6", max_tokens=1000, messages=CHAT, stream=True, extra_headers=LONG
    )


def _held(client: Any) -> tuple[int, int]:
    """(requests the connection pool under the SDK's HTTP client counts as in flight, its connections)."""
    pool = client._client._transport._pool
    return len(pool._requests), len(pool.connections)


@pytest.fixture
def response_closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP response closed from open (by ``close`` or ``aclose``), as the response class sees it."""
    closes: list[str] = []
    close, aclose = httpx2.Response.close, httpx2.Response.aclose

    def counted_close(response: httpx2.Response) -> None:
        if not response.is_closed:
            closes.append("close")
        close(response)

    async def counted_aclose(response: httpx2.Response) -> None:
        if not response.is_closed:
            closes.append("aclose")
        await aclose(response)

    monkeypatch.setattr(httpx2.Response, "close", counted_close)
    monkeypatch.setattr(httpx2.Response, "aclose", counted_aclose)
    return closes


def _abandon(mock: MockThread, sdk: str, *, instrumented: bool, reads: int) -> tuple[tuple[int, int], ...]:
    """Read ``reads`` events of a stream and drop it: the pool as reference counting left it, then
    after a collection."""
    client = _client(mock, sdk, is_async=False, instrumented=instrumented)
    stream = _create(client, sdk)
    events = iter(stream)
    for _ in range(reads):
        next(events)
    gone = weakref.ref(stream)
    del stream, events
    dropped = _held(client)
    gc.collect()
    assert gone() is None
    collected = _held(client)
    client.close()
    return dropped, collected


def _abandon_async(mock: MockThread, sdk: str, *, instrumented: bool, reads: int) -> tuple[Any, ...]:
    """As :func:`_abandon`, in an event loop that notes every error it is handed: the pool once it
    settles (the collector's async generators are closed by tasks of the loop; a bounded wait), and
    the loop's errors."""

    async def run() -> tuple[Any, ...]:
        errors: list[str] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: errors.append(f"{context['message']}: {context.get('exception')!r}")
        )
        client = _client(mock, sdk, is_async=True, instrumented=instrumented)
        stream = await _create(client, sdk)
        events = stream.__aiter__()
        for _ in range(reads):
            await events.__anext__()
        gone = weakref.ref(stream)
        del stream, events
        settled = (0, 0) if reads else (1, 1)
        for _ in range(100):  # a task that closes a collected generator can free more for the next
            gc.collect()  # collection: collect and let the loop run, a bounded number of times
            await asyncio.sleep(0.005)
            if gone() is None and _held(client) == settled:
                break
        for _ in range(5):  # the closing tasks' own errors, if any, are reported once they end
            await asyncio.sleep(0)
        assert gone() is None
        held = _held(client)
        await client.close()
        return held, errors

    return asyncio.run(run())


def _assert_cancelled_with_what_arrived(calls: list[Call]) -> None:
    """Cancelled, with the text of the events the caller read: at most a token an event (the
    mock's), not every chunk the HTTP client had received beyond them (which can be the whole
    answer, 400 tokens, and its usage)."""
    (call,) = calls
    assert (call.status, call.error_type) == (Status.CANCELLED, None)
    assert call.usage.kind is Kind.ESTIMATED
    assert call.usage.output_total is not None
    assert 0 < call.usage.output_total < READS


@pytest.mark.parametrize("sdk", SDKS)
def test_a_half_read_stream_left_to_be_freed_closes_its_response_as_a_bare_one_does(
    mock: MockThread, recorded: MemoryTarget, response_closes: list[str], sdk: str
) -> None:
    bare = _abandon(mock, sdk, instrumented=False, reads=READS)
    assert (bare, response_closes) == ((DROPPED[sdk], (0, 0)), ["close"])  # closed, connection gone
    instrumented = _abandon(mock, sdk, instrumented=True, reads=READS)
    assert (instrumented, response_closes) == ((DROPPED[sdk], (0, 0)), ["close", "close"])
    _assert_cancelled_with_what_arrived(_calls(recorded))


@pytest.mark.parametrize("sdk", SDKS)
def test_a_half_read_async_stream_left_to_be_freed_closes_its_response_as_a_bare_one_does(
    mock: MockThread, recorded: MemoryTarget, response_closes: list[str], sdk: str
) -> None:
    bare, _ = _abandon_async(mock, sdk, instrumented=False, reads=READS)
    assert (bare, response_closes) == ((0, 0), ["aclose"])
    instrumented, errors = _abandon_async(mock, sdk, instrumented=True, reads=READS)
    assert (instrumented, response_closes) == ((0, 0), ["aclose", "aclose"])
    # the two generators' closing tasks no longer collide ("aclose(): asynchronous generator is
    # already running"); the bare openai client itself sometimes reports another error here, left
    # unchecked on both sides
    assert [e for e in errors if "already running" in e] == []
    _assert_cancelled_with_what_arrived(_calls(recorded))


@pytest.mark.parametrize("sdk", SDKS)
def test_a_stream_never_read_is_left_open_as_a_bare_one_is_and_recorded_when_collected(
    mock: MockThread, recorded: MemoryTarget, response_closes: list[str], sdk: str
) -> None:
    """The SDK's generator never started, so nothing closes the response: both clients leave it open
    and its connection checked out of the pool (until the client is closed), sync and async alike.
    tokenomy records the call when the collector frees it: cancelled, its prompt counted locally
    and nothing received (docs/capture.md, "Limitations")."""
    for instrumented in (False, True):
        assert _abandon(mock, sdk, instrumented=instrumented, reads=0) == ((1, 1), (1, 1))
        assert _abandon_async(mock, sdk, instrumented=instrumented, reads=0) == ((1, 1), [])
    assert response_closes == []
    sync, in_loop = _calls(recorded)  # the instrumented client's two streams, in the order dropped
    for call in (sync, in_loop):
        assert (call.status, call.streamed, call.ttft_ms) == (Status.CANCELLED, True, None)
        assert (call.usage.kind, call.usage.output_total) == (Kind.ESTIMATED, 0)
    assert sync.usage.input_total == in_loop.usage.input_total
    assert sync.usage.input_total is not None
    assert sync.usage.input_total > 0


@pytest.mark.parametrize("sdk", SDKS)
def test_the_exit_knows_an_open_stream_only_weakly_and_until_it_is_recorded(
    mock: MockThread, recorded: MemoryTarget, sdk: str
) -> None:
    """The exit records the streams still open (tests/capture/test_exit.py) from the process's list of
    open calls: a stream is on it from its start until it is recorded, and the list never keeps a
    watcher alive (a stream dropped unread is still recorded when the collector frees it)."""
    client = _client(mock, sdk, is_async=False, instrumented=True)
    before = set(RUNTIME.open_calls)
    half = _create(client, sdk)
    next(iter(half))
    assert len(set(RUNTIME.open_calls) - before) == 1
    half.close()
    assert set(RUNTIME.open_calls) - before == set()
    unread = _create(client, sdk)
    watcher = weakref.ref(unread.response.close.__self__)  # the hook set on its response
    (added,) = set(RUNTIME.open_calls) - before
    assert added() is unread
    del unread
    gc.collect()
    assert watcher() is None  # recorded when freed, by its ``__del__`` (no SDK code runs for it)
    assert set(RUNTIME.open_calls) - before == set()
    assert [call.status for call in _calls(recorded)] == [Status.CANCELLED, Status.CANCELLED]
    client.close()
