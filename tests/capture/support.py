"""Targets and records for the capture tests: an in-memory target that can be down, refuse or hang."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tokenomy.capture.records import Record
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.target import Target
from tokenomy.errors import SinkError
from tokenomy.schema import Call, Charge, Usage

T0 = datetime(2026, 3, 2, 9, 30)


def call(number: int, **changes: object) -> Call:
    """A small call with id ``c<number>`` and known usage."""
    base = Call(
        id=f"c{number:05d}",
        provider="openai",
        request_model="gpt-4o-mini",
        started_at=T0,
        usage=Usage.of(
            input_uncached=10, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=5, reasoning=0
        ),
        source="sdk",
    )
    return base.replace(**changes) if changes else base


class MemoryTarget:
    """Keeps every batch it takes; ``down`` makes it fail (retryable), ``refuse`` reject batches."""

    description = "memory"

    def __init__(self) -> None:
        self.batches: list[list[Record]] = []
        self.down = False
        self.refuse = False
        self.gate: threading.Event | None = None
        self.attempts = 0
        self.closed = False
        self.forked = False

    @property
    def records(self) -> list[Record]:
        """Everything taken, in order."""
        return [r for batch in self.batches for r in batch]

    @property
    def ids(self) -> list[str]:
        """The ids of the calls and charges taken, in order."""
        return [r.id for r in self.records if isinstance(r, Call | Charge)]

    def prepare(self, records: list[Record]) -> list[Record]:
        """Nothing to prepare."""
        return records

    def send(self, records: Sequence[Record]) -> None:
        """Take a batch, or fail as told."""
        self.attempts += 1
        if self.gate is not None:
            self.gate.wait()
        if self.down:
            raise SinkError("memory target is down")
        if self.refuse:
            raise SinkError("memory target refuses this batch", retryable=False)
        self.batches.append(list(records))

    def close(self) -> None:
        """Remember it was closed."""
        self.closed = True

    def after_fork(self) -> None:
        """Remember the fork."""
        self.forked = True


class Keeper(Sink):
    """A sink that keeps what the caller's path submits, unbuilt, for the test to read or build."""

    def __init__(self) -> None:
        super().__init__(MemoryTarget())
        self.kept: list[Any] = []

    def submit(self, item: Any) -> bool:
        self.kept.append(item)
        return True


def sink_with(
    target: Target,
    spool_dir: Path | None = None,
    *,
    spool_bytes: int = 1 << 20,
    queue_size: int = 10_000,
    batch_size: int = 64,
    flush_interval: float = 0.05,
) -> Sink:
    """A sink over ``target`` with quick retries (and a spool when a folder is given)."""
    options = SinkSettings(
        queue_size=queue_size,
        batch_size=batch_size,
        flush_interval=flush_interval,
        retry_initial=0.01,
        retry_max=0.05,
    )
    spool = Spool(spool_dir, spool_bytes) if spool_dir is not None else None
    return Sink(target, options, spool=spool)


class Collector:
    """A local HTTP server that keeps every POST (path, headers, body) and answers ``status``.

    It can be stopped and started again on the same port, to play a collector that goes down.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.max_body: int | None = None
        """Bodies longer than this are answered 413 (and not kept), as a collector's size limit does."""
        self.answer = b"{}"
        """The body of a 2xx answer."""
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        """Listen (on the same port as before, after a stop)."""
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with collector._lock:
                    collector._connections.add(self.connection)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                limit = collector.max_body
                status = 413 if limit is not None and length > limit else collector.status
                with collector._lock:
                    if status < 300:
                        collector.received.append((self.path, dict(self.headers.items()), body))
                self.send_response(status)
                answer = collector.answer if status < 300 else b"{}"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (clients then get connection errors)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close the open connections (as a server closes idle keep-alive connections)."""
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def bodies(self, path: str) -> list[bytes]:
        """The bodies POSTed to ``path``, in order."""
        with self._lock:
            return [body for p, _, body in self.received if p == path]


class _QuietServer(ThreadingHTTPServer):
    """Connections dropped on purpose (a stop) are not reported as errors."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet."""


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` run from the project's root (120 s at most), its output as text; the test
    fails when it exits with anything but 0."""
    done = subprocess.run(
        [sys.executable, *args], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done
