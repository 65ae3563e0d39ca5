"""Just enough ASGI for the collector: requests, bounded bodies, gzip, responses.

A body is read chunk by chunk and refused with 413 as soon as it passes the limit (a declared
``Content-Length`` over the limit is refused before anything is read), so a large or endless
upload never sits in memory. A gzip body is inflated with the same limit on its output, so a
small compressed body cannot expand into a huge one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from tokenomy.errors import PayloadError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON: Final = "application/json"
PROTOBUF: Final = "application/x-protobuf"
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_CHUNK: Final = 256 * 1024


@dataclass(slots=True)
class Request:
    """One request: method, path, query parameters, headers (lower-case names) and the body stream.

    ``query`` keeps the last value of a parameter given more than once; ``pairs`` keeps every
    parameter in order (for a route whose parameter may repeat). Routes whose parameters do not
    repeat read :meth:`single_query`, which refuses a repeated one.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    receive: Receive
    pairs: list[tuple[str, str]] = field(default_factory=list)
    raw_path: str | None = None
    """The path as sent, still percent-encoded (None when the server does not give it): an id in it
    may hold an encoded ``/`` that the decoded ``path`` cannot tell from a separator."""

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        """The request an ASGI ``http`` scope describes."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers") or ():
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        raw = scope.get("raw_path")
        raw_path = raw.decode("latin-1") if isinstance(raw, bytes) else None
        return cls(scope["method"], scope["path"], dict(pairs), headers, receive, pairs, raw_path)

    def single_query(self) -> dict[str, str]:
        """The query parameters, each given once.

        Raises:
            PayloadError: 400 naming the first parameter given more than once.
        """
        if len(self.pairs) != len(self.query):
            seen: set[str] = set()
            for name, _ in self.pairs:
                if name in seen:
                    raise PayloadError(400, f"query parameter {name} is given more than once; give it once")
                seen.add(name)
        return self.query

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower-case (empty when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    async def body(self, limit: int) -> bytes:
        """The whole body, inflated when gzip-encoded; at most ``limit`` bytes either way.

        Raises:
            PayloadError: 413 past the limit, 415 for an encoding other than gzip or identity,
                400 for a gzip stream that is corrupt or cut short.
        """
        declared = self.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise PayloadError(413, _too_large(limit, f"Content-Length says {int(declared)} bytes"))
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            raise PayloadError(
                415, f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding"
            )
        raw = await self._read(limit)
        return inflate(raw, limit) if encoding == "gzip" else raw

    async def _read(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise PayloadError(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadError(413, _too_large(limit, "the body is larger"))
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


def inflate(raw: bytes, limit: int) -> bytes:
    """A gzip body inflated, every member of it (as ``gzip -dc`` reads several concatenated), refusing
    to produce more than ``limit`` bytes.

    Raises:
        PayloadError: 413 when the output would pass ``limit``, 400 when the stream is not gzip
            or is cut short.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    parts: list[bytes] = []
    size = 0
    data = raw
    try:
        while data:
            chunk = inflater.decompress(data, _CHUNK)
            size += len(chunk)
            if size > limit:
                raise PayloadError(413, _too_large(limit, "the body inflates past it"))
            parts.append(chunk)
            data = inflater.unconsumed_tail
            if inflater.eof:  # a member ends: the next one, if any, continues the body (as gzip -dc reads it)
                data = inflater.unused_data
                if data:
                    inflater = zlib.decompressobj(_GZIP_WBITS)
    except zlib.error as exc:
        raise PayloadError(
            400, f"the body is not valid gzip ({exc}); send it uncompressed or fix the encoder"
        ) from exc
    if not inflater.eof:
        raise PayloadError(400, "the gzip body is cut short (no end of stream); send the whole body")
    return b"".join(parts)


def _too_large(limit: int, what: str) -> str:
    return f"the body is over the server's limit of {limit} bytes ({what}); send smaller batches"


async def respond(
    send: Send, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
) -> None:
    """Send a complete response."""
    raw_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
    """Send ``value`` as a JSON response."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    await respond(send, status, body, JSON, headers)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error response: ``{"error": {"status": ..., "message": ...}}``."""
    return {"error": {"status": status, "message": message}}
