"""Async streams kept as their bytes: each event takes the arrival of the chunk that completed it, and
the time to first token is that of the first event carrying output.

Each stream is served an event a chunk and read by an async client with a clock that counts (0, 1,
2, ...), so an event's arrival is its index. The streams: synthetic chat streams (output first, late,
in a tool call, never, an in-stream error) and, when the real-data folder is there, the SDKs'
recorded chat, Responses and Messages streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
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
    """An async client of the stream's API reading ``body`` whole, served an event a chunk."""

    async def pieces() -> AsyncIterator[bytes]:
        for frame in body.split("\n\n")[:-1]:  # an event a chunk
            yield f"{frame}\n\n".encode()

    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())

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


def _kept(api: str, body: str, monkeypatch: pytest.MonkeyPatch) -> Captured:
    with monkeypatch.context() as patch:
        patch.setattr(streams, "_clock", itertools.count().__next__)
        (captured,) = kept_calls(_read(api, body), monkeypatch, objects=False)
    captured.t0 = 0  # the counting clock's origin: the time to first token is the event's index
    return captured


FIRST_OUTPUT = {
    "output first": 0,
    "output late": 2,
    "spaced json": 0,
    "tool call": 0,
    "error after output": 0,
    "error first": None,
    "no output": None,
}
"""The index of each synthetic stream's first event carrying output (None: none does)."""


@pytest.mark.parametrize(("source", "api", "body"), STREAMS, ids=[s[0] for s in STREAMS])
def test_an_async_stream_times_each_event_and_its_first_token(
    source: str, api: str, body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _kept(api, body, monkeypatch)
    items = captured.items or []
    sent = [frame for frame in body.split("\n\n")[:-1] if "data:" in frame]
    assert len(items) <= len(sent)  # an in-stream error stops the SDK: what it read, no more
    assert captured.times == list(range(len(items)))  # an event a chunk: each its own arrival
    if source in FIRST_OUTPUT:
        first = FIRST_OUTPUT[source]
    else:
        is_output = captured.route.is_output
        assert is_output is not None
        first = next((at for at, item in enumerate(items) if is_output(item)), None)
    call = captured.build()
    assert call.ttft_ms == (None if first is None else first / 1e6)
