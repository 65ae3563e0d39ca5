"""An upstream on 127.0.0.1 whose answers a test writes byte for byte (what the mock never sends).

:class:`ScriptedUpstream` reads each HTTP/1.1 request of a connection (keep-alive) and writes the
pieces its ``answer`` function returns, one write each (a chunked answer's pieces reach the gateway
as separate chunks by their framing, however TCP groups them). It runs in a thread, and keeps every
request it was sent.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Asked:
    """One request the upstream read."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = Callable[[Asked], Sequence[bytes]]


def sized(status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    """A whole answer with a Content-Length, as one piece."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head = f"HTTP/1.1 {status} X\r\n{lines}content-length: {len(body)}\r\n\r\n".encode()
    return [head + body]


def chunked(status: int, pieces: Sequence[bytes], headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    """An answer in chunked transfer encoding: its head, then one chunk a piece, then the last chunk."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head = f"HTTP/1.1 {status} X\r\n{lines}transfer-encoding: chunked\r\n\r\n".encode()
    return [head, *(b"%x\r\n%b\r\n" % (len(piece), piece) for piece in pieces), b"0\r\n\r\n"]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            asked = self._read()
            if asked is None:
                return
            self.server.asked.append(asked)
            for piece in self.server.answer(asked):
                self.wfile.write(piece)
                self.wfile.flush()

    def _read(self) -> Asked | None:
        line = self.rfile.readline(65536)
        if not line.strip():
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", "0")))
        return Asked(method, path, headers, body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.asked: list[Asked] = []


@dataclass
class ScriptedUpstream:
    """The running upstream: its address and what it was asked."""

    server: _Server

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def asked(self) -> list[Asked]:
        return self.server.asked


@contextmanager
def scripted(answer: Answer) -> Iterator[ScriptedUpstream]:
    """Serve ``answer`` on a free port until the block ends."""
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ScriptedUpstream(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def raw_exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` as it is on a new connection, and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        received = []
        while data := conn.recv(65536):
            received.append(data)
    return b"".join(received)
