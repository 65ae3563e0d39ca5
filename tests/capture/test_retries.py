"""A call the SDK retries is recorded try by try, as the gateway records the requests it relays:
each failed try a call of its own (its error, its own latency, nothing billed), the last try the
call, timed alone (not with the failed tries and the waits before it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Final

import httpx2
import openai
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tests.capture.support import MemoryTarget
from tokenomy import capture
from tokenomy.schema import Call, Status

FAST: Final = {"retry-after-ms": "1"}  # the SDKs wait what the answer asks: a millisecond
CHAT: Final[Any] = [{"role": "user", "content": "Hello"}]
OPENAI_OK: Final = {
    "id": "chatcmpl-RetriedTryAnswered01",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
}
OPENAI_500: Final = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
OPENAI_429: Final = {
    "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
}
ANTHROPIC_529: Final = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
ANTHROPIC_OK: Final = {
    "id": "msg_01RetriedTryAnsweredXYZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 200,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 20,
    },
}


def _answers(*answers: tuple[int, dict[str, Any]]) -> Callable[[httpx2.Request], httpx2.Response]:
    """A transport handler giving ``answers`` in turn (the last one again once they run out)."""
    queue = list(answers)

    def serve(request: httpx2.Request) -> httpx2.Response:
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx2.Response(status, headers=FAST, content=json.dumps(body).encode())

    return serve


def _client(kind: Any, retries: int, *answers: tuple[int, dict[str, Any]]) -> Any:
    """An instrumented SDK client of class ``kind`` answered ``answers`` in turn by a mock transport."""
    is_async = kind in (AsyncOpenAI, AsyncAnthropic)
    http = (httpx2.AsyncClient if is_async else httpx2.Client)(
        transport=httpx2.MockTransport(_answers(*answers))
    )
    base = "http://retry.test/v1" if kind in (OpenAI, AsyncOpenAI) else "http://retry.test"
    return capture.instrument(kind(api_key="t", base_url=base, max_retries=retries, http_client=http))


def _calls(recorded: MemoryTarget) -> list[Call]:
    assert capture.flush(30) is True
    return sorted((r for r in recorded.records if isinstance(r, Call)), key=lambda c: c.started_at or 0)


def test_a_call_that_succeeds_on_its_third_try_is_three_calls(recorded: MemoryTarget) -> None:
    client = _client(OpenAI, 2, (500, OPENAI_500), (429, OPENAI_429), (200, OPENAI_OK))
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert answer.id == "chatcmpl-RetriedTryAnswered01"
    first, second, last = _calls(recorded)
    assert [(c.status, c.error_type, c.http_status) for c in (first, second, last)] == [
        (Status.ERROR, "server_error", 500),
        (Status.ERROR, "requests", 429),
        (Status.OK, None, 200),
    ]
    assert [c.usage.input_total for c in (first, second, last)] == [0, 0, 1000]  # a refused try bills nothing
    assert last.usage.output_total == 100
    assert len({first.id, second.id, last.id}) == 3
    # each try is timed alone: the next one starts after it (and the SDK's wait) ended
    for before, after in ((first, second), (second, last)):
        assert before.started_at is not None
        assert after.started_at is not None
        assert before.latency_ms is not None
        assert (after.started_at - before.started_at).total_seconds() * 1000 >= before.latency_ms


def test_retries_that_all_fail_are_each_a_failed_call(recorded: MemoryTarget) -> None:
    client = _client(Anthropic, 2, (529, ANTHROPIC_529))
    with pytest.raises(Exception, match="Overloaded") as raised:
        client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=CHAT)
    assert getattr(raised.value, "status_code", None) == 529
    calls = _calls(recorded)
    assert [(c.status, c.error_type, c.http_status) for c in calls] == [
        (Status.ERROR, "overloaded_error", 529)
    ] * 3


def test_async_clients_record_each_try_too(recorded: MemoryTarget) -> None:
    async def run() -> None:
        openai = _client(AsyncOpenAI, 1, (500, OPENAI_500), (200, OPENAI_OK))
        anthropic = _client(AsyncAnthropic, 1, (529, ANTHROPIC_529), (200, ANTHROPIC_OK))
        await openai.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
        await anthropic.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=CHAT)

    asyncio.run(run())
    calls = _calls(recorded)
    assert [(c.provider, c.status, c.error_type, c.usage.input_total) for c in calls] == [
        ("openai", Status.ERROR, "server_error", 0),
        ("openai", Status.OK, None, 1000),
        ("anthropic", Status.ERROR, "overloaded_error", 0),
        ("anthropic", Status.OK, None, 200),
    ]


def test_a_copy_made_with_options_records_its_tries(recorded: MemoryTarget) -> None:
    client = _client(OpenAI, 0, (500, OPENAI_500), (200, OPENAI_OK))
    client.with_options(max_retries=1).chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert [(c.status, c.error_type) for c in _calls(recorded)] == [
        (Status.ERROR, "server_error"),
        (Status.OK, None),
    ]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (httpx2.ReadTimeout("read timed out"), (Status.TIMEOUT, "APITimeoutError")),
        (httpx2.RemoteProtocolError("peer closed connection"), (Status.ERROR, "APIConnectionError")),
    ],
)
def test_a_try_that_timed_out_or_lost_its_connection_is_named_as_the_last_try_is(
    recorded: MemoryTarget, fault: Exception, expected: tuple[Status, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK retries on the HTTP client's exception and raises it as its own on the last try: the
    retried tries were an error named ReadTimeout (not a timeout) or RemoteProtocolError, the last one a
    timeout named APITimeoutError, so a count of timeouts by status saw 1 of 3."""

    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.001)  # no answer says how long to wait

    def serve(request: httpx2.Request) -> httpx2.Response:
        raise fault

    http = httpx2.Client(transport=httpx2.MockTransport(serve))
    client = capture.instrument(
        OpenAI(api_key="t", base_url="http://retry.test/v1", max_retries=2, http_client=http)
    )
    with pytest.raises(openai.APIConnectionError) as raised:  # APITimeoutError is one too
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert type(raised.value).__name__ == expected[1]
    assert [(c.status, c.error_type) for c in _calls(recorded)] == [expected] * 3
