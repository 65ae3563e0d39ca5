"""The upstream side: an HTTP/1.1 client with a keep-alive connection pool on asyncio streams.

The gateway sends every request through a :class:`Transport`. :class:`PoolTransport` is the real
one: one pool of idle connections per (scheme, host, port), a request written in one piece, the
response head read in one piece, and the body handed over chunk by chunk as it arrives (a chunked
body's chunks one by one, never merged), so streams pass through without being buffered.
:class:`HandlerTransport` answers from a function instead (like httpx's ``MockTransport``), so
unit tests need no network.

Why not httpx or aiohttp: see docs/gateway.md (the HTTP stack). A connection is reused only
after its response was read to the end, and not once the server has closed it while it was idle,
nor after an answer that has no body (to a HEAD, a 204 or a 304), whose server may have sent one.
A request sent on a reused connection just as the server closed it fails before the first byte of
its answer, within a round trip: such a failure (within :data:`STALE_WINDOW` of the request being
written) is retried once on a new connection. A later one is the upstream's, never retried: the
upstream may have begun on the prompt, and a second request would be billed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

Headers = list[tuple[bytes, bytes]]

_IDLE_PER_HOST: Final = 512
_MAX_HEAD: Final = 64 * 1024
_PREFETCH: Final = 256 * 1024
"""A sized answer up to this many bytes is read with its head (under the same timer)."""
STALE_WINDOW: Final = 0.25
"""Seconds after a request is written on a reused connection within which the connection closing
with nothing answered is taken for the server's idle close (and the request sent again once)."""


class UpstreamError(Exception):
    """The upstream could not be reached or answered badly.

    Attributes:
        kind: ``connect`` (no connection), ``timeout`` (no answer in time), ``protocol`` (not HTTP,
            or the connection closed mid-answer).
        sent: False when the request never left (no connection: nothing can have been billed).
    """

    def __init__(self, kind: str, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.sent = sent
        self.message = message


@dataclass(slots=True)
class UpstreamRequest:
    """One request to send upstream.

    Attributes:
        method: The HTTP method.
        url: The absolute URL.
        headers: Headers to send (lower-case names); Host and Content-Length are added.
        body: The body.
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds to wait for each read.
    """

    method: str
    url: str
    headers: Headers
    body: bytes
    connect_timeout: float = 5.0
    read_timeout: float = 600.0


class UpstreamResponse:
    """A response whose body is read as it arrives.

    Args:
        status: The HTTP status.
        headers: The response headers (lower-case names).
        body: The body's chunks as they arrive.
        release: Called once with True when the body was read to the end (the connection may be
            reused), False when it was abandoned.
    """

    __slots__ = ("_body", "_done", "_release", "_whole", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: AsyncIterator[bytes] | bytes,
        release: Callable[[bool], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._whole = body if isinstance(body, bytes) else None
        self._body = _one(body) if isinstance(body, bytes) else body
        self._release = release
        self._done = False

    @classmethod
    def of(
        cls, status: int, body: bytes | Iterable[bytes], headers: Headers | None = None
    ) -> UpstreamResponse:
        """A response from bytes, or from a list of chunks (tests and handlers)."""
        chunks = [body] if isinstance(body, bytes) else list(body)

        async def source() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return cls(status, headers or [], source())

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (lower-case name), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; raises UpstreamError when the connection breaks."""
        async for chunk in self._body:
            yield chunk
        self._finish(True)

    async def read(self) -> bytes:
        """The whole body."""
        if self._whole is not None and not self._done:
            self._finish(True)
            return self._whole
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        """Give the connection back (read to the end) or close it (abandoned)."""
        self._finish(False)
        with contextlib.suppress(Exception):
            await self._body.aclose()  # type: ignore[attr-defined]  # async generators have aclose

    def _finish(self, complete: bool) -> None:
        if not self._done:
            self._done = True
            if self._release is not None:
                self._release(complete)


class Transport(Protocol):
    """Sends requests upstream (the gateway's only way out)."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send ``request``; the response's head has arrived when this returns.

        Raises:
            UpstreamError: No connection, no answer in time, or not an HTTP answer.
        """
        ...

    async def aclose(self) -> None:
        """Close idle connections."""
        ...


Handler = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]


class HandlerTransport:
    """A transport answering from a function (tests): ``HandlerTransport(handler)``.

    Attributes:
        requests: Every request sent, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Record the request and return the handler's answer."""
        self.requests.append(request)
        return await self._handler(request)

    async def aclose(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PoolTransport:
    """HTTP/1.1 to any origin, with keep-alive connections reused per origin (see the module docstring)."""

    def __init__(self, *, max_idle: int = _IDLE_PER_HOST, stale_window: float = STALE_WINDOW) -> None:
        self._idle: dict[_Origin, deque[_Conn]] = {}
        self._max_idle = max_idle
        self._stale_window = stale_window
        self._ssl: ssl.SSLContext | None = None
        self._split: dict[str, tuple[_Origin, str]] = {}

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send ``request`` on an idle connection, or a new one (see :class:`Transport`)."""
        split = self._split.get(request.url)
        if split is None:
            split = _split(request.url)
            if len(self._split) >= 1024:
                self._split.clear()
            self._split[request.url] = split
        origin, target = split
        head = _head(request, origin, target)
        idle = self._idle.get(origin)
        stale = False
        while idle:
            conn = idle.pop()
            if conn[1].is_closing() or conn[0].at_eof():  # closed by the server while idle
                conn[1].close()
                continue
            try:
                return await self._exchange(origin, conn, head, request, reused=True)
            except _StaleError:
                conn[1].close()
                stale = True
                break  # sent again once, on a new connection: never through the rest of the pool
        try:
            conn = await self._connect(origin, request)
        except UpstreamError as exc:
            if stale:  # the request was written once: what the upstream did with it is not known
                exc.sent = True
            raise
        return await self._exchange(origin, conn, head, request, reused=False)

    async def aclose(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop()[1].close()
        self._idle.clear()

    async def _connect(self, origin: _Origin, request: UpstreamRequest) -> _Conn:
        context: ssl.SSLContext | None = None
        if origin.scheme == "https":
            context = self._ssl = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(request.connect_timeout):
                return await asyncio.open_connection(origin.host, origin.port, ssl=context, limit=_MAX_HEAD)
        except TimeoutError as exc:
            message = f"connecting to {origin.host}:{origin.port} timed out"
            raise UpstreamError("timeout", message, sent=False) from exc
        except OSError as exc:
            message = f"cannot connect to {origin.host}:{origin.port}: {exc}"
            raise UpstreamError("connect", message, sent=False) from exc

    async def _exchange(
        self, origin: _Origin, conn: _Conn, head: bytes, request: UpstreamRequest, *, reused: bool
    ) -> UpstreamResponse:
        reader, writer = conn
        whole: bytes | None = None
        raw = b""
        loop = asyncio.get_running_loop()
        written = loop.time()
        try:
            writer.write(head + request.body if len(request.body) < 65536 else head)
            if len(request.body) >= 65536:
                writer.write(request.body)
            async with asyncio.timeout(request.read_timeout):
                raw = await reader.readuntil(b"\r\n\r\n")
                status, headers, length, chunked, keep = _parse_head(raw, origin, writer)
                bodiless = request.method == "HEAD" or status in (204, 304)
                if not bodiless and not chunked and length is not None and length <= _PREFETCH:
                    whole = await reader.readexactly(length)  # a small answer: one read, one timer
        except TimeoutError as exc:
            writer.close()
            raise UpstreamError("timeout", f"{origin.host}:{origin.port} sent no answer in time") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            if reused and not raw and _closed_unanswered(exc) and loop.time() - written < self._stale_window:
                raise _StaleError from exc  # the server's idle close crossed this request: sent again
            writer.close()
            raise UpstreamError("protocol", f"{origin.host}:{origin.port} closed the connection") from exc
        # never reused after an answer without a body: a server that sends one anyway (to a HEAD,
        # with a 204) would have the next request on this connection read it as its answer
        released = self._releaser(origin, conn, keep and not bodiless)
        if bodiless:
            body: AsyncIterator[bytes] | bytes = _empty()
        elif whole is not None:
            body = whole
        elif chunked:
            body = _chunked(reader, request.read_timeout)
        elif length is not None:
            body = _sized(reader, length, request.read_timeout)
        else:
            released = self._releaser(origin, conn, False)
            body = _until_eof(reader, request.read_timeout)
        return UpstreamResponse(status, headers, body, released)

    def _releaser(self, origin: _Origin, conn: _Conn, keep: bool) -> Callable[[bool], None]:
        def release(complete: bool) -> None:
            if complete and keep and not conn[1].is_closing():
                idle = self._idle.setdefault(origin, deque())
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
            conn[1].close()

        return release


class _StaleError(Exception):
    """A reused connection was closed by the server while idle."""


def _closed_unanswered(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection closed before any byte of the answer (an end of file with
    nothing read, or a reset or broken pipe)."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, (ConnectionResetError, BrokenPipeError))


def _split(url: str) -> tuple[_Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError("connect", f"upstream URL {url!r} is not an http(s) URL", sent=False)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Origin(parts.scheme, parts.hostname, port), target


def _head(request: UpstreamRequest, origin: _Origin, target: str) -> bytes:
    default = 443 if origin.scheme == "https" else 80
    host = origin.host if origin.port == default else f"{origin.host}:{origin.port}"
    lines = [f"{request.method} {target} HTTP/1.1\r\nhost: {host}\r\n".encode()]
    lines.extend(name + b": " + value + b"\r\n" for name, value in request.headers)
    lines.append(b"content-length: %d\r\n\r\n" % len(request.body))
    return b"".join(lines)


def _parse_head(
    raw: bytes, origin: _Origin, writer: asyncio.StreamWriter
) -> tuple[int, Headers, int | None, bool, bool]:
    lines = raw[:-4].split(b"\r\n")
    try:
        version, code = lines[0].split(b" ", 2)[:2]
        status = int(code)
    except ValueError as exc:
        writer.close()
        raise UpstreamError("protocol", f"{origin.host}:{origin.port} did not answer in HTTP") from exc
    headers: Headers = []
    length: int | None = None
    chunked, keep = False, version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if not value.isdigit():
                writer.close()
                raise UpstreamError("protocol", f"{origin.host}:{origin.port} sent a bad Content-Length")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = value.lower() != b"close" and (keep or value.lower() == b"keep-alive")
        headers.append((name, value))
    return status, headers, length, chunked, keep


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _empty() -> AsyncIterator[bytes]:
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk


async def _sized(reader: asyncio.StreamReader, length: int, timeout: float) -> AsyncIterator[bytes]:
    left = length
    try:
        while left > 0:
            async with asyncio.timeout(timeout):
                data = await reader.read(min(left, 1 << 20))
            if not data:
                raise UpstreamError(
                    "protocol", f"the upstream closed the connection {left} bytes before the end"
                )
            left -= len(data)
            yield data
    except TimeoutError as exc:
        raise UpstreamError("timeout", "the upstream stopped sending its answer") from exc
    except OSError as exc:
        raise UpstreamError("protocol", "the upstream connection failed in the middle of its answer") from exc


async def _chunked(reader: asyncio.StreamReader, timeout: float) -> AsyncIterator[bytes]:
    try:
        while True:
            async with asyncio.timeout(timeout):
                line = await reader.readuntil(b"\r\n")
                size = int(line.split(b";", 1)[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    return
                data = await reader.readexactly(size + 2)
            yield data[:-2]
    except TimeoutError as exc:
        raise UpstreamError("timeout", "the upstream stopped sending its answer") from exc
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise UpstreamError(
            "protocol", "the upstream closed the connection in the middle of its answer"
        ) from exc


async def _until_eof(reader: asyncio.StreamReader, timeout: float) -> AsyncIterator[bytes]:
    try:
        while True:
            async with asyncio.timeout(timeout):
                data = await reader.read(1 << 16)
            if not data:
                return
            yield data
    except TimeoutError as exc:
        raise UpstreamError("timeout", "the upstream stopped sending its answer") from exc
    except OSError as exc:
        raise UpstreamError("protocol", "the upstream connection failed in the middle of its answer") from exc
