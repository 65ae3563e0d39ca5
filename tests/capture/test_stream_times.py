"""Async streams take arrival times only until an event surely carries output, as synchronous ones do:
the Call built is the same, time to first token included, as when every event's time is taken.

Each stream is read twice by an async client with a clock that counts (0, 1, 2, ...): once as
tokenomy reads it, once with the arrival time of every event taken (the general path). The streams:
synthetic chat streams (output first, late, in a tool call, never, an in-stream error) and, when the
real-data folder is there, the SDKs' recorded chat, Responses and Messages streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from tests.capture.raw_support import kept_calls
from tests.capture.test_raw_streams_real import RECORDED
from tests.conftest import REAL_DATA
from tokenomy import capture
from tokenomy.capture import streams
from tokenomy.capture.captured import Captured
from tokenomy.schema import Call


def _chunk(delta: dict[str, Any] | None = None, **extra: Any) -> str:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": extra.pop("finish", None)}]
    )
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    return json.dumps({**body, "choices": choices, **extra}, separators=(",", ":"))


_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
_TOOL = {
    "tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]
}
SYNTHETIC: dict[str, list[str]] = {
    "output first": [_chunk({"role": "assistant", "content": "Hi"}), _chunk({"content": " there"})],
    "output late": [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": None}),
        _chunk({"content": "late"}),
        _chunk({}, finish="stop"),
        _chunk(None, usage=_USAGE),
    ],
    "spaced json": [
        json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}], "id": "c", "model": "m"})
    ],
    "tool call": [
        _chunk({"role": "assistant", **_TOOL}),
        _chunk({}, finish="tool_calls"),
        _chunk(None, usage=_USAGE),
    ],
    "error after output": [_chunk({"content": "Hi"}), '{"error":{"message":"overloaded"}}'],
    "error first": ['{"error":{"message":"overloaded"}}'],
    "no output": [_chunk({"role": "assistant", "content": ""}), _chunk(None, usage=_USAGE)],
}


def _sse(datas: list[str]) -> str:
    return "".join(f"data: {data}\n\n" for data in [*datas, "[DONE]"])


def _recorded_chats() -> list[tuple[str, str, str]]:
    folder = REAL_DATA / "provider-responses" / "openai-python" / "chat-streams-include-usage"
    found = []
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        datas = [json.dumps(row["data"]) for row in rows if isinstance(row.get("data"), dict)]
        found.append((path.name, "chat", _sse(datas)))
    return found


STREAMS: list[tuple[str, str, str]] = [
    *((name, "chat", _sse(datas)) for name, datas in SYNTHETIC.items()),
    *_recorded_chats(),
    *((r.source, r.api, r.body) for r in RECORDED if not r.beta),
]


def _read(api: str, body: str) -> Callable[[], None]:
    """An async client of the stream's API reading ``body`` whole."""

    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    async def read() -> None:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(serve))
        stream: Any
        if api == "messages":
            anthropic = capture.instrument(
                AsyncAnthropic(base_url="http://recorded.test", api_key="t", max_retries=0, http_client=http)
            )
            stream = await anthropic.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=9,
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
            )
        else:
            openai = capture.instrument(
                AsyncOpenAI(base_url="http://recorded.test/v1", api_key="t", max_retries=0, http_client=http)
            )
            if api == "responses":
                stream = await openai.responses.create(model="gpt-5", input="Hi", stream=True)
            else:
                stream = await openai.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
                )
        with contextlib.suppress(Exception):  # an in-stream error: recorded as failed, the same both ways
            [event async for event in stream]

    return lambda: asyncio.run(read())


class _EveryTime(streams._KeptEvents):
    """The general path: every event's arrival time taken."""

    __slots__ = ()

    def __init__(self, source: Any, keep: Any, stamp: Any, surely: Any = None) -> None:
        super().__init__(source, keep, stamp, None)


def _kept(api: str, body: str, monkeypatch: pytest.MonkeyPatch, *, every: bool) -> Captured:
    with monkeypatch.context() as patch:
        patch.setattr(streams, "_clock", itertools.count().__next__)
        if every:
            patch.setattr(streams, "_KeptEvents", _EveryTime)
        (captured,) = kept_calls(_read(api, body), monkeypatch, objects=False)
    captured.t0 = 0  # the counting clock's origin: the time to first token is the event's index
    return captured


def _untimed(call: Call) -> Call:
    """The call without its ids and wall-clock times (the time to first token is compared apart)."""
    return call.replace(id="", span_id="", trace_id="", latency_ms=None, ended_at=None)


@pytest.mark.parametrize(("source", "api", "body"), STREAMS, ids=[s[0] for s in STREAMS])
def test_an_async_stream_timed_until_output_builds_the_call_timed_throughout(
    source: str, api: str, body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _kept(api, body, monkeypatch, every=False)
    general = _kept(api, body, monkeypatch, every=True)
    assert fast.items == general.items
    assert general.times is not None
    assert fast.times is not None
    assert len(general.times) == len(general.items or ())  # every event timed
    assert fast.times == general.times[: len(fast.times)]  # the same first ones
    fast_call, general_call = fast.build(), general.build()
    assert fast_call.ttft_ms == general_call.ttft_ms
    assert _untimed(fast_call).replace(started_at=general_call.started_at) == _untimed(general_call)


def test_the_times_stop_at_the_first_event_that_surely_carries_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = _kept("chat", _sse(SYNTHETIC["output late"]), monkeypatch, every=False)
    assert captured.times == [0, 1, 2]  # the role, an empty content, then "late": timed no further
    assert len(captured.items or ()) == 6  # every event kept, [DONE] included
    assert captured.build().ttft_ms == 2 / 1e6
    never = _kept("chat", _sse(SYNTHETIC["no output"]), monkeypatch, every=False)
    assert never.times == [0, 1, 2]  # nothing surely output: every event timed
    assert never.build().ttft_ms is None
