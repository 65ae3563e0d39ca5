"""One client connection: parse requests as bytes arrive, answer them in order, pace streams.

An :class:`asyncio.Protocol` rather than streams, for speed: an answer that needs no waiting
(the common case in benchmarks) is written straight from ``data_received`` without creating a
task. Answers that wait (latency, pacing, stalls) run as one task at a time per connection, so
pipelined requests are answered in order. When the client goes away mid-answer the task is
cancelled and the answer's callback still reports exactly what was written.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import cast

from tokenomy.mockllm import http
from tokenomy.mockllm.http import HttpError, Parser, Request
from tokenomy.mockllm.reply import Action, Drop, Reply, Stream


class Connection(asyncio.Protocol):
    """Serves the requests of one connection with ``handle``."""

    def __init__(self, handle: Callable[[Request], Action], max_body: int, live: set[Connection]) -> None:
        self._handle = handle
        self._parser = Parser(max_body)
        self._live = live
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._live.discard(self)
        self._writable.set()
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        try:
            self._pending.extend(self._parser.feed(data))
            if self._parser.expects_continue:  # curl waits for this before sending a large body
                self._parser.expects_continue = False
                self._write(http.CONTINUE)
        except HttpError as exc:
            self._pending.clear()
            body = json.dumps({"error": {"message": exc.message, "type": "invalid_request_error"}}).encode()
            head = http.head(
                exc.status, b"content-type: application/json\r\n", length=len(body), keep_alive=False
            )
            self._write(head + body)
            self.close()
            return
        self._pump()

    def close(self) -> None:
        """Close the connection (pending answers are dropped)."""
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _pump(self) -> None:
        while self._pending and self._task is None and not self._closed:
            req = self._pending.popleft()
            action = self._handle(req)
            keep = req.keep_alive
            if isinstance(action, Reply) and action.delay_s <= 0 and action.cut_at is None:
                self._write(_whole(action, keep, req.method))
                action.done(not self._closed)
                if not keep:
                    self.close()
            elif isinstance(action, Stream) and action.instant and action.cut_after is None:
                self._write(_stream_now(action, req.version, keep))
                action.done(len(action.frames), not self._closed)
                if not keep or req.version == "HTTP/1.0":
                    self.close()
            else:
                self._task = asyncio.get_running_loop().create_task(self._run(action, req))

    async def _run(self, action: Action, req: Request) -> None:
        try:
            if isinstance(action, Reply):
                await self._reply(action, req)
            elif isinstance(action, Stream):
                await self._stream(action, req)
            else:
                await self._drop(action)
        finally:
            self._task = None
        if not self._closed:
            self._pump()

    async def _reply(self, reply: Reply, req: Request) -> None:
        complete, keep = False, req.keep_alive
        try:
            if reply.delay_s > 0:
                await asyncio.sleep(reply.delay_s)
            if reply.cut_at is None:
                self._write(_whole(reply, keep, req.method))
                complete = not self._closed
            else:
                head = http.head(reply.status, reply.headers, length=len(reply.body))
                self._write(head + reply.body[: reply.cut_at])
        finally:
            reply.done(complete)
        if not complete or not keep:
            self.close()

    async def _stream(self, stream: Stream, req: Request) -> None:
        sent, complete, chunked = 0, False, req.version != "HTTP/1.0"
        try:
            self._write(http.head(200, stream.headers, length=None, chunked=chunked, keep_alive=chunked))
            delay = stream.ttft_s
            for frame in stream.frames:
                if stream.cut_after is not None and sent >= stream.cut_after:
                    break
                if frame.tokens:
                    if delay > 0:
                        await asyncio.sleep(delay)
                    delay = stream.gap_s
                if not self._writable.is_set():
                    await self._writable.wait()
                if self._closed:
                    break
                self._write(http.chunk(frame.data) if chunked else frame.data)
                sent += 1
            else:
                self._write(http.LAST_CHUNK if chunked else b"")
                complete = not self._closed
        finally:
            stream.done(sent, complete)
        if not complete or not req.keep_alive or not chunked:
            self.close()

    async def _drop(self, drop: Drop) -> None:
        try:
            if drop.after_s > 0:
                await asyncio.sleep(drop.after_s)
        finally:
            drop.done()
            self.close()


def _whole(reply: Reply, keep: bool, method: str) -> bytes:
    """The reply as written: to a HEAD, its head alone (the headers a GET would get, no body)."""
    if reply.chunked:
        head = http.head(reply.status, reply.headers, length=None, keep_alive=keep)
        return head if method == "HEAD" else head + http.chunk(reply.body) + http.LAST_CHUNK
    head = http.head(reply.status, reply.headers, length=len(reply.body), keep_alive=keep)
    return head if method == "HEAD" else head + reply.body


def _stream_now(stream: Stream, version: str, keep: bool) -> bytes:
    if version == "HTTP/1.0":
        head = http.head(200, stream.headers, length=None, chunked=False, keep_alive=False)
        return head + b"".join(f.data for f in stream.frames)
    # Nothing waits between the events, so they travel as one chunk: SSE does not care where chunks end.
    head = http.head(200, stream.headers, length=None, keep_alive=keep)
    return head + http.chunk(b"".join([f.data for f in stream.frames])) + http.LAST_CHUNK
