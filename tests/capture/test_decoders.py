"""An async stream's chunks kept by its HTTP response's content decoder (capture/decoders.py): the
same events and arrival times as before, uncompressed or gzipped, the iterator kept for a body read
already, and the bytes an httpx decoder gives out (not httpx2's iterators) given out the same way."""

from __future__ import annotations

import asyncio
import gzip
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import httpx2
import pytest
from openai import AsyncOpenAI

from tests.capture.raw_support import kept_calls
from tokenomy import capture
from tokenomy.capture import streams
from tokenomy.capture.decoders import kept_by_decoder

CHUNKS = (
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n',
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n',
    "data: [DONE]\n\n",
)


def _read(pieces: list[bytes], headers: dict[str, str], *, streamed: bool) -> Callable[[], None]:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    def serve(request: httpx2.Request) -> httpx2.Response:
        content: Any = body() if streamed else b"".join(pieces)
        return httpx2.Response(200, headers={"content-type": "text/event-stream", **headers}, content=content)

    async def read() -> None:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(serve))
        client = capture.instrument(AsyncOpenAI(base_url="http://x.test/v1", api_key="t", http_client=http))
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        [chunk async for chunk in stream]

    return lambda: asyncio.run(read())


@pytest.mark.parametrize(
    ("pieces", "headers", "streamed", "kind"),
    [
        ([c.encode() for c in CHUNKS], {}, True, "KeptIdentity"),
        ([gzip.compress("".join(CHUNKS).encode())], {"content-encoding": "gzip"}, True, "KeptDecoded"),
        ([c.encode() for c in CHUNKS], {}, False, None),  # read already: the iterator keeps the chunks
    ],
    ids=["identity", "gzip", "read already"],
)
def test_an_async_stream_is_kept_by_its_decoder_with_its_events_and_times(
    pieces: list[bytes],
    headers: dict[str, str],
    streamed: bool,
    kind: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_on: list[str | None] = []

    def spy(response: Any, *args: Any) -> bool:
        done = kept_by_decoder(response, *args)
        set_on.append(type(response._decoder).__name__ if done else None)
        return done

    monkeypatch.setattr(streams, "kept_by_decoder", spy)
    monkeypatch.setattr(streams, "_clock", itertools.count(100).__next__)
    (captured,) = kept_calls(_read(pieces, headers, streamed=streamed), monkeypatch, objects=False)
    assert set_on == [kind]
    assert captured.items == [chunk[len("data: ") : -2] for chunk in CHUNKS]
    times = captured.times or []
    assert len(times) == 3
    if kind == "KeptIdentity":  # an event a chunk: each its own arrival, on the watcher's clock
        assert times == [times[0], times[0] + 1, times[0] + 2]
    else:  # one piece held them all: one arrival
        assert len(set(times)) == 1


class _Pieces(httpx.AsyncByteStream):
    """A streamed body given piece by piece, as a socket gives it."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


@pytest.mark.parametrize(
    ("pieces", "headers", "kind"),
    [
        ([c.encode() for c in CHUNKS], {}, "KeptIdentityBytes"),
        ([gzip.compress("".join(CHUNKS).encode())], {"content-encoding": "gzip"}, "KeptDecoded"),
    ],
    ids=["identity", "gzip"],
)
def test_an_httpx_response_gives_out_bytes_through_the_kept_decoder(
    pieces: list[bytes], headers: dict[str, str], kind: str
) -> None:
    """httpx (the HTTP client of openai 1.x and 2.x) has its decoders give out bytes, not iterators:
    the kept decoder must too, or the SDK's event reader gets tuples (it raised AttributeError)."""
    response = httpx.Response(200, headers=headers, stream=_Pieces(pieces))
    kept: list[bytes] = []
    times: list[int] = []
    assert kept_by_decoder(response, kept.append, times.append, itertools.count(7).__next__)
    assert type(response._decoder).__name__ == kind

    async def read() -> list[bytes]:
        return [chunk async for chunk in response.aiter_bytes()]

    given = asyncio.run(read())
    assert all(type(chunk) is bytes for chunk in given)
    assert b"".join(given) == b"".join(kept) == "".join(CHUNKS).encode()
    assert len(kept) == len(times) == len(pieces)  # a piece a read, each with its time
    assert times == list(range(7, 7 + len(pieces)))


def test_an_httpx2_identity_decoder_still_gives_out_an_iterator() -> None:
    response = httpx2.Response(200, content=b"data: x\n\n")
    del response._content  # as a streamed response has none
    kept: list[bytes] = []
    times: list[int] = []
    assert kept_by_decoder(response, kept.append, times.append, itertools.count().__next__)
    assert type(response._decoder).__name__ == "KeptIdentity"
    assert list(response._decoder.decode(b"ab")) == [b"ab"]
    assert (kept, times) == ([b"ab"], [0])
    assert list(response._decoder.flush()) == []
