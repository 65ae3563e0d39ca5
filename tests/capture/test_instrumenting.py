"""instrument(): the same client back, errors passed through untouched, attribution and content."""

from __future__ import annotations

import asyncio
import gc
import json
import traceback
from pathlib import Path
from typing import Any, NoReturn

import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import APIConnectionError, APITimeoutError, AsyncOpenAI, OpenAI, RateLimitError

from tests.capture.support import MemoryTarget, sink_with
from tokenomy import capture
from tokenomy.capture.instrumenting import MARK
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.core import Sink
from tokenomy.errors import BudgetExceeded, ConfigError
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call, Kind, Status
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

CHAT: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def _calls(target: MemoryTarget) -> list[Call]:
    capture.flush(30)
    return [r for r in target.records if isinstance(r, Call)]


def _openai(mock: MockThread, **options: Any) -> OpenAI:
    return OpenAI(base_url=mock.openai_base_url, api_key="sk-test-key", max_retries=0, **options)


def test_instrument_returns_the_same_client_and_a_second_time_changes_nothing(mock: MockThread) -> None:
    client = _openai(mock)
    assert capture.instrument(client) is client
    assert isinstance(client, OpenAI)
    wrapper = client.request
    assert capture.instrument(client) is client
    assert client.request is wrapper
    assert "request" in vars(client)  # patched on the object, never on the class
    assert "request" not in vars(OpenAI)
    assert isinstance(vars(client)[MARK].api_key_id, str)


def test_a_second_instrument_with_other_settings_is_refused_not_ignored(mock: MockThread) -> None:
    """A budget or content setting given the second time would be silently ignored (not enforced,
    not kept): refused, naming it; the same settings again, or none, change nothing."""
    own = Sink(MemoryTarget())
    client = capture.instrument(_openai(mock), sink=own, capture_content=True)
    assert capture.instrument(client, sink=own, capture_content=True) is client
    assert capture.instrument(client) is client
    with pytest.raises(ConfigError, match="already instrumented, with other capture_content"):
        capture.instrument(client, capture_content=False)
    with pytest.raises(ConfigError, match="already instrumented, with other sink, redact"):
        capture.instrument(client, sink="duckdb:x.duckdb", redact=str.upper)
    assert vars(client)[MARK].capture_content is True
    own.shutdown(1)


def test_unsupported_clients_are_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigError, match="official SDK clients"):
        capture.instrument(object())


def test_copies_made_with_with_options_are_instrumented_too(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(_openai(mock))
    faster = client.with_options(timeout=5)
    assert faster is not client
    faster.chat.completions.create(model="gpt-4o", messages=CHAT)
    client.copy(max_retries=1).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert len(_calls(recorded)) == 2


def test_raw_responses_are_read_from_their_body(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(_openai(mock))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=CHAT)
    reply = raw.parse()
    (call,) = _calls(recorded)
    assert call.id == reply.id
    assert call.usage.output_total == 16
    assert reply.usage is not None
    assert call.usage.input_total == reply.usage.prompt_tokens


def test_without_a_sink_calls_go_straight_through_and_nothing_is_recorded(mock: MockThread) -> None:
    assert RUNTIME.sink is None
    before = capture.sink_stats()  # zeros, or those of a sink an earlier shutdown stopped
    client = capture.instrument(_openai(mock))
    reply = client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 16
    assert capture.sink_stats() == before


def test_an_sdk_exception_reaches_the_caller_as_the_same_object_with_its_traceback(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = _openai(mock)
    boom = RuntimeError("raised inside the SDK")

    def failing(*args: Any, **kwargs: Any) -> NoReturn:
        raise boom

    client.request = failing  # type: ignore[method-assign]
    capture.instrument(client)
    with pytest.raises(RuntimeError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert caught.value is boom
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "failing"  # the raising frame is still the last one
    (call,) = _calls(recorded)
    assert (call.status, call.error_type, call.http_status) == (Status.ERROR, "RuntimeError", None)
    assert call.usage.input_total is None  # no answer: the usage is unknown, not 0


def test_http_errors_are_recorded_with_status_and_zero_usage(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(_openai(mock))
    with pytest.raises(RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers={"X-Mock-Error": "429"})
    anthropic = capture.instrument(Anthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    with pytest.raises(Exception, match="529"):
        anthropic.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=CHAT[1:], extra_headers={"X-Mock-Error": "529"}
        )
    calls = _calls(recorded)
    assert [(c.status, c.http_status) for c in calls] == [(Status.ERROR, 429), (Status.ERROR, 529)]
    assert [c.error_type for c in calls] == [
        "requests",
        "overloaded_error",
    ]  # the bodies' types, as the gateway
    assert all(c.usage.total == 0 for c in calls)  # refused: nothing billed, as the mock served nothing
    assert mock.stats(with_requests=False)["totals"]["input_tokens"] == 0


def test_async_clients_pass_exceptions_through_unchanged_and_record_them(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    broken = AsyncOpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0)
    boom = RuntimeError("raised inside the async SDK")

    async def failing(*args: Any, **kwargs: Any) -> NoReturn:
        raise boom

    broken.request = failing  # type: ignore[method-assign]
    capture.instrument(broken)
    limited = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    claude = capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    stalled = {"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "5000"}

    async def run() -> tuple[BaseException | None, ...]:
        raised: list[BaseException | None] = []
        for make in (
            lambda: broken.chat.completions.create(model="gpt-4o", messages=CHAT),
            lambda: limited.chat.completions.create(
                model="gpt-4o", messages=CHAT, extra_headers={"X-Mock-Error": "429"}
            ),
            lambda: claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=10,
                messages=CHAT[1:],
                extra_headers={"X-Mock-Error": "529"},
            ),
        ):
            try:
                await make()
                raised.append(None)
            except Exception as exc:
                raised.append(exc)
        task = asyncio.create_task(
            limited.chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers=stalled)
        )
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return tuple(raised)

    first, second, third = asyncio.run(run())
    assert first is boom
    assert first.__traceback__ is not None
    assert traceback.extract_tb(first.__traceback__)[-1].name == "failing"
    assert isinstance(second, RateLimitError)
    assert third is not None
    assert getattr(third, "status_code", None) == 529
    calls = _calls(recorded)
    assert [(c.status, c.error_type, c.http_status) for c in calls] == [
        (Status.ERROR, "RuntimeError", None),
        (Status.ERROR, "requests", 429),
        (Status.ERROR, "overloaded_error", 529),
        (Status.CANCELLED, "CancelledError", None),
    ]
    assert [c.usage.total for c in calls] == [None, 0, 0, None]


def test_an_answer_the_sdk_cannot_read_keeps_its_status_and_the_error(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """A 200 whose body is not JSON: the SDK raises a JSONDecodeError, which carries no status. The
    call is recorded with the status the server answered (it was None) and the error; its usage was
    never read, so the prompt is counted locally and the output unknown (not 0: it was answered)."""
    malformed: Any = {"X-Mock-Error": "malformed"}
    openai = capture.instrument(_openai(mock))
    claude = capture.instrument(Anthropic(base_url=mock.base_url, api_key="test", max_retries=0))
    with pytest.raises(json.JSONDecodeError):
        openai.chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers=malformed)
    with pytest.raises(json.JSONDecodeError):
        claude.messages.create(
            model="claude-sonnet-4-6", max_tokens=50, messages=CHAT[1:], extra_headers=malformed
        )
    openai.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True).close()  # prompt counted
    *unreadable, counted = _calls(recorded)
    assert [(c.status, c.error_type, c.http_status) for c in unreadable] == [
        (Status.ERROR, "JSONDecodeError", 200)
    ] * 2
    assert [(c.usage.kind, c.usage.output_total) for c in unreadable] == [(Kind.ESTIMATED, None)] * 2
    assert unreadable[0].usage.input_total == counted.usage.input_total
    assert unreadable[1].usage.input_total is not None
    assert unreadable[1].usage.input_total > 0


def test_connection_failures_and_timeouts_have_unknown_usage(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(_openai(mock, timeout=0.3))
    with pytest.raises(APIConnectionError):
        client.chat.completions.create(
            model="gpt-4o", messages=CHAT, extra_headers={"X-Mock-Error": "hangup"}
        )
    with pytest.raises(APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o", messages=CHAT, extra_headers={"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "2000"}
        )
    calls = _calls(recorded)
    assert [c.status for c in calls] == [Status.ERROR, Status.TIMEOUT]
    assert [c.error_type for c in calls] == ["APIConnectionError", "APITimeoutError"]
    assert all(c.usage.total is None and c.http_status is None for c in calls)


def test_a_sink_whose_target_raises_never_reaches_user_code(mock: MockThread) -> None:
    class Exploding(MemoryTarget):
        def prepare(self, records: list[Any]) -> list[Any]:
            raise RuntimeError("prepare exploded")

        def send(self, records: object) -> None:
            raise RuntimeError("send exploded")

    sink = sink_with(Exploding())
    client = capture.instrument(_openai(mock), sink=sink)
    try:
        for _ in range(3):
            assert client.chat.completions.create(model="gpt-4o", messages=CHAT).usage is not None
        assert sink.flush(10) is False
        stats = sink.stats()
        assert (stats.enqueued, stats.sent, stats.rejected) == (3, 0, 3)
        assert stats.errors >= 2
    finally:
        sink.shutdown(5)


def test_a_sink_that_raises_on_submit_never_reaches_user_code_plain_or_streamed(mock: MockThread) -> None:
    class Raising(Sink):
        def submit(self, item: object) -> bool:
            raise RuntimeError("submit exploded")

    sink = Raising(MemoryTarget())
    client = capture.instrument(_openai(mock), sink=sink)
    try:
        reply = client.chat.completions.create(model="gpt-4o", messages=CHAT)
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True))
        stream = client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True)
        next(iter(stream))
        stream.close()  # abandoned: recorded (and failing) at close, inside the caller's code
    finally:
        sink.shutdown(5)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 16
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == reply.choices[0].message.content
    )


def test_a_budget_refusal_reaches_the_caller_even_when_recording_it_fails(mock: MockThread) -> None:
    mock.reset()
    refusal = BudgetExceeded("team budget spent")

    class Refusing:
        def admit(self, request: object) -> None:
            raise refusal

        async def aadmit(self, request: object) -> None:
            raise refusal

    class Raising(Sink):
        def submit(self, item: object) -> bool:
            raise RuntimeError("submit exploded")

    sink = Raising(MemoryTarget())
    client = capture.instrument(_openai(mock), sink=sink, budget=Refusing())
    try:
        with pytest.raises(BudgetExceeded) as caught:
            client.chat.completions.create(model="gpt-4o", messages=CHAT)
    finally:
        sink.shutdown(5)
    assert caught.value is refusal
    assert mock.stats(with_requests=False)["totals"]["requests"] == 0  # refused before it was sent


def test_context_attribution_sessions_steps_and_sub_agents(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(_openai(mock))
    with capture.context(
        session="s-1", user="ana", team="core", agent="planner", tags={"tier": "gold"}
    ) as outer:
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
        with capture.context(agent="researcher", feature="search", tags={"depth": 2}) as inner:
            client.chat.completions.create(model="gpt-4o", messages=CHAT)
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    client.chat.completions.create(model="gpt-4o", messages=CHAT)
    first, sub, third, outside = _calls(recorded)
    assert [c.step for c in (first, sub, third)] == [1, 2, 3]
    assert (outside.step, outside.session_id) == (None, None)
    assert first.attribution.agent == "planner"
    assert sub.attribution.agent == "researcher"
    assert sub.attribution.user == "ana"
    assert sub.attribution.feature == "search"
    assert dict(sub.attribution.tags) == {"tier": "gold", "depth": "2"}
    assert first.parent_span_id == third.parent_span_id == outer.span_id
    assert sub.parent_span_id == inner.span_id != outer.span_id
    assert {first.trace_id, sub.trace_id, third.trace_id} == {outer.trace_id}
    assert outside.trace_id != outer.trace_id


def test_content_is_kept_only_when_asked_and_goes_through_the_redaction_hook(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    quiet = capture.instrument(_openai(mock))
    chatty = capture.instrument(
        _openai(mock), capture_content=True, redact=lambda text: text.replace("Hello", "[x]")
    )
    quiet.chat.completions.create(model="gpt-4o", messages=CHAT)
    reply = chatty.chat.completions.create(model="gpt-4o", messages=CHAT)
    first, second = _calls(recorded)
    assert first.content is None
    assert second.content is not None
    assert second.content.prompt is not None
    assert "[x] there" in second.content.prompt
    assert "Hello" not in second.content.prompt
    assert second.content.completion == reply.choices[0].message.content


def test_a_per_client_sink_url_writes_to_its_own_store(mock: MockThread, tmp_path: Path) -> None:
    db = tmp_path / "client.duckdb"
    client = capture.instrument(_openai(mock), sink=f"duckdb:{db}")
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert capture.flush(30) is True
    with open_store(db, read_only=True) as store:
        (stored,) = list(store.iter_calls())
    assert stored.id == reply.id
    assert stored.cost is not None
    assert stored.cost.total is not None
    assert stored.cost.total > 0
    assert stored.usage.output_total == 16


def _streamed(create: Any) -> Any:
    return create(model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True})


def test_raw_response_streams_are_watched_once_parsed(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(_openai(mock))
    raw = _streamed(client.chat.completions.with_raw_response.create)
    assert capture.flush(30)
    assert _calls(recorded) == []  # nothing read yet: recorded when the stream is
    chunks = list(raw.parse())
    assert raw.parse() is raw.parse()  # the SDK's own cache: one stream, watched once
    with _streamed(client.chat.completions.with_streaming_response.create) as response:
        more = list(response.parse())
    calls = _calls(recorded)
    assert len(calls) == 2
    for call, read in zip(calls, (chunks, more), strict=True):
        assert call.status is Status.OK
        assert call.streamed
        assert call.usage.output_total == 16
        assert read[-1].usage is not None
        assert call.usage.input_total == read[-1].usage.prompt_tokens
        assert call.ttft_ms is not None
        assert call.finish_reason == "stop"


def test_async_raw_response_streams_are_watched_once_parsed(mock: MockThread, recorded: MemoryTarget) -> None:
    client = capture.instrument(
        AsyncOpenAI(base_url=mock.openai_base_url, api_key="sk-test-key", max_retries=0)
    )

    async def main() -> int:
        raw = await _streamed(client.chat.completions.with_raw_response.create)
        read = [chunk async for chunk in raw.parse()]
        async with _streamed(client.chat.completions.with_streaming_response.create) as response:
            read += [chunk async for chunk in await response.parse()]
        return len(read)

    assert asyncio.run(main()) > 2
    calls = _calls(recorded)
    assert [(c.status, c.usage.output_total, c.ttft_ms is not None) for c in calls] == [
        (Status.OK, 16, True)
    ] * 2


def test_a_raw_response_stream_dropped_unparsed_is_still_recorded(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(_openai(mock))
    raw = _streamed(client.chat.completions.with_raw_response.create)
    raw.http_response.close()
    del raw
    gc.collect()
    (call,) = _calls(recorded)
    assert (call.status, call.http_status) == (Status.CANCELLED, 200)  # as a parsed stream dropped unread
    assert call.usage.output_total is None  # nothing was read: unknown, never 0
