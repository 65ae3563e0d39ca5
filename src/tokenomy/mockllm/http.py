"""A small HTTP/1.1 request parser and the response framing the mock writes.

Just enough HTTP for API clients, gateways and load generators: request line, headers,
bodies by Content-Length or chunked transfer encoding, pipelining, keep-alive (the HTTP/1.1
default; ``Connection: close`` and HTTP/1.0 close after the response). Responses use
Content-Length, or chunked transfer encoding for streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

MAX_HEAD: Final = 64 * 1024
_CRLF: Final = b"\r\n"
_END_HEAD: Final = b"\r\n\r\n"
_REASONS: Final = {s.value: s.phrase for s in HTTPStatus} | {529: "Overloaded"}
_STATUS_LINES: Final = {code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in _REASONS.items()}
LAST_CHUNK: Final = b"0\r\n\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpError(Exception):
    """A request that cannot be read: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    """One parsed request. Header names are lower-cased; repeated headers are joined with ", "."""

    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after this request's response."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class Parser:
    """Turns the bytes of one connection into :class:`Request` objects, as they complete."""

    def __init__(self, max_body: int) -> None:
        self._buf = bytearray()
        self._max_body = max_body
        self._head: tuple[str, str, str, str, dict[str, str]] | None = None
        self._need = 0
        self._chunked = False
        self.expects_continue = False
        """Set when a request head asked for ``100 Continue`` before sending its body."""

    def feed(self, data: bytes) -> list[Request]:
        """Add received bytes; return the requests they complete.

        Raises:
            HttpError: The bytes are not valid HTTP/1.x, or a limit is exceeded.
        """
        self._buf += data
        done: list[Request] = []
        while True:
            started = self._head or self._read_head()
            if started is None:
                return done
            body = self._read_chunked() if self._chunked else self._read_sized()
            if body is None:
                return done
            method, path, query, version, headers = started
            done.append(Request(method, path, query, version, headers, body))
            self._head = None

    def _read_head(self) -> tuple[str, str, str, str, dict[str, str]] | None:
        end = self._buf.find(_END_HEAD)
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpError(431, "request head larger than 64 KiB")
            return None
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
        headers = _headers(lines[1:])
        path, _, query = parts[1].partition("?")
        self._head = (parts[0], path, query, parts[2], headers)
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._need = 0 if self._chunked else _length(headers, self._max_body)
        if headers.get("expect", "").lower() == "100-continue" and (self._chunked or self._need):
            self.expects_continue = True
        return self._head

    def _read_sized(self) -> bytes | None:
        if len(self._buf) < self._need:
            return None
        body = bytes(self._buf[: self._need])
        del self._buf[: self._need]
        return body

    def _read_chunked(self) -> bytes | None:
        pos, body = 0, bytearray()
        while True:
            eol = self._buf.find(_CRLF, pos)
            if eol < 0:
                return None
            try:
                size = int(bytes(self._buf[pos:eol]).split(b";")[0], 16)
            except ValueError:
                raise HttpError(400, "malformed chunk size in a chunked request body") from None
            if size == 0:
                trailer_end = self._buf.find(_END_HEAD, eol)
                if self._buf[eol : eol + 4] == _END_HEAD:
                    trailer_end = eol
                if trailer_end < 0:
                    return None
                del self._buf[: trailer_end + 4]
                return bytes(body)
            if len(self._buf) < eol + 2 + size + 2:
                return None
            body += self._buf[eol + 2 : eol + 2 + size]
            if len(body) > self._max_body:
                raise HttpError(413, f"request body larger than {self._max_body} bytes")
            pos = eol + 2 + size + 2


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _length(headers: dict[str, str], max_body: int) -> int:
    raw = headers.get("content-length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise HttpError(400, f"content-length must be a whole number, got {raw!r}")
    size = int(raw)
    if size > max_body:
        raise HttpError(413, f"request body of {size} bytes is larger than the limit of {max_body}")
    return size


def lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """Header lines, pre-encoded for :func:`head`."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")


def head(
    status: int,
    headers: bytes,
    *,
    length: int | None,
    chunked: bool = True,
    keep_alive: bool = True,
) -> bytes:
    """A response head around pre-encoded header ``lines``: Content-Length when ``length`` is
    given, else chunked transfer encoding (or, with ``chunked=False``, a body that ends when the
    connection closes)."""
    status_line = _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status
    if length is not None:
        tail = b"content-length: %d\r\n" % length
    else:
        tail = b"transfer-encoding: chunked\r\n" if chunked else b""
    if not keep_alive:
        tail += b"connection: close\r\n"
    return status_line + headers + tail + b"\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)
