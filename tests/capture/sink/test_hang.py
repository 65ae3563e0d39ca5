"""A collector that takes the connection and never answers: shutdown and exit keep their time, and the
batch it was sent, with everything behind it, goes to the spool and reaches a working target once.

Real sockets on 127.0.0.1: a server that accepts and never answers, and a real ``tokenomy serve``
behind a proxy that holds each request until the test lets it through (a send that delivers after the
shutdown has given up on it).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.capture.sink.test_serve import collector_process
from tests.capture.support import call, run_python
from tokenomy.capture.records import Record, decode
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.targets import DuckDBTarget, EventsTarget
from tokenomy.schema import Call, Charge, OutcomeEvent
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

WAIT_S = 30.0
"""The longest any step of these tests waits for something to happen (every loop is bounded)."""


def _wait_for(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class HangingServer:
    """Accepts connections on 127.0.0.1, reads what arrives, and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._received = bytearray()
        self._connections: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> int:
        """How many POSTs have arrived (none answered)."""
        with self._lock:
            return bytes(self._received).count(b"POST /")

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(0.1)
            with self._lock:
                self._connections.append(connection)
            reader = threading.Thread(target=self._read, args=(connection,), daemon=True)
            self._threads.append(reader)
            reader.start()

    def _read(self, connection: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._received += data

    def close(self) -> None:
        """Stop, and drop every connection (a client still waiting then gets a connection error)."""
        self._stop.set()
        for thread in list(self._threads):
            thread.join(WAIT_S)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._listener.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


class HoldingProxy:
    """Forwards each POST to ``upstream`` once ``release`` is set (at most WAIT_S later), and relays
    the answer: a collector that delivers a batch long after it received it."""

    def __init__(self, upstream: int) -> None:
        self.release = threading.Event()
        self.held = threading.Semaphore(0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                proxy.held.release()
                proxy.release.wait(WAIT_S)
                forward = http.client.HTTPConnection("127.0.0.1", upstream, timeout=WAIT_S)
                try:
                    headers = {"Content-Type": self.headers.get("Content-Type", "")}
                    forward.request("POST", self.path, body=body, headers=headers)
                    answer = forward.getresponse()
                    data = answer.read()
                finally:
                    forward.close()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Let anything held through, and stop."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def _records() -> list[Record]:
    """Three calls, a charge and an outcome: every kind of record a tokenomy server keys."""
    at = datetime(2026, 3, 2, 10)
    return [
        call(1),
        call(2),
        Charge(id="chg1", amount=Decimal("0.25"), kind="search_api", at=at),
        OutcomeEvent(target="call", id="c00001", at=at, success=True),
        call(3),
    ]


def _spooled(spool: Path) -> list[Record]:
    return [r for path in sorted(spool.glob("*.ndjson")) for r in decode(path.read_bytes())]


def _settings() -> SinkSettings:
    return SinkSettings(batch_size=3, flush_interval=0.05, retry_initial=0.01, retry_max=0.05)


def test_a_collector_that_never_answers_keeps_neither_the_shutdown_nor_the_batch(
    hanging: HangingServer, tmp_path: Path
) -> None:
    """The batch being sent and the one queued behind it reach the spool within the shutdown's
    timeout; a later sink replays them into the DuckDB store once, however often the replay runs."""
    spool = tmp_path / "spool"
    sink = Sink(EventsTarget(hanging.url, timeout=WAIT_S), _settings(), spool=Spool(spool, 1 << 20))
    records = _records()
    assert all(sink.submit(r) for r in records[:3])  # a full batch: sent, and never answered
    assert _wait_for(lambda: hanging.requests() == 1)
    assert all(sink.submit(r) for r in records[3:])
    started = time.monotonic()
    sink.shutdown(timeout=1.0)
    assert time.monotonic() - started < 2.0  # 1 s, with room for a loaded machine
    stats = sink.stats()
    assert (stats.enqueued, stats.spooled, stats.sent, stats.dropped, stats.errors) == (5, 5, 0, 0, 0)
    assert _spooled(spool) == records
    kept = {p.name: p.read_bytes() for p in spool.glob("*.ndjson")}

    db = tmp_path / "store.duckdb"
    for _ in range(2):  # the second time as if the hung send had delivered them after all
        for name, data in kept.items():
            (spool / name).write_bytes(data)
        later = Sink(DuckDBTarget(db), _settings(), spool=Spool(spool, 1 << 20))
        assert later.flush(WAIT_S) is True
        assert later.stats().replayed == 5
        later.shutdown(WAIT_S)
    assert _stored(db) == (["c00001", "c00002", "c00003"], 1, 1)


def test_a_batch_delivered_after_the_shutdown_gave_up_on_it_is_stored_once_by_a_real_collector(
    tmp_path: Path,
) -> None:
    """The collector takes the batch only after the shutdown has spooled it: the late delivery counts
    for nothing in the sink (neither sent nor spooled again), and the replay into ``tokenomy serve``
    stores nothing twice, calls, charges and outcomes alike."""
    db = tmp_path / "collector.duckdb"
    spool = tmp_path / "spool"
    records = _records()
    with collector_process(db) as port:
        proxy = HoldingProxy(port)
        try:
            sink = Sink(EventsTarget(proxy.url, timeout=WAIT_S), _settings(), spool=Spool(spool, 1 << 20))
            assert all(sink.submit(r) for r in records[:3])
            assert proxy.held.acquire(timeout=WAIT_S)
            assert all(sink.submit(r) for r in records[3:])
            started = time.monotonic()
            sink.shutdown(timeout=1.0)
            assert time.monotonic() - started < 2.0
            assert _spooled(spool) == records
            proxy.release.set()  # the held batch reaches the collector now, and is answered 200
            assert sink._thread is not None
            sink._thread.join(WAIT_S)
            assert not sink._thread.is_alive()
            stats = sink.stats()
            assert (stats.enqueued, stats.spooled, stats.sent, stats.dropped, stats.errors) == (5, 5, 0, 0, 0)
        finally:
            proxy.close()
        later = Sink(EventsTarget(f"http://127.0.0.1:{port}"), _settings(), spool=Spool(spool, 1 << 20))
        assert later.flush(WAIT_S) is True
        assert later.stats().replayed == 5
        later.shutdown(WAIT_S)
    assert _stored(db) == (["c00001", "c00002", "c00003"], 1, 1)


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from openai import OpenAI
    import tokenomy
    from tokenomy.capture.sink.core import Sink
    from tokenomy.capture.sink.settings import SinkSettings
    from tokenomy.capture.sink.spool import Spool
    from tokenomy.capture.sink.targets import EventsTarget
    from tokenomy.mockllm import run_in_thread

    settings = SinkSettings(flush_interval=0.05, exit_timeout=float(sys.argv[3]))
    spool = Spool(Path(sys.argv[2]), 1 << 20)
    tokenomy.configure(Sink(EventsTarget(sys.argv[1], timeout=60), settings, spool=spool))
    mock = run_in_thread()
    client = tokenomy.instrument(OpenAI(base_url=mock.openai_base_url, api_key="test", max_retries=0))
    ids = [
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]).id
        for _ in range(3)
    ]
    print(" ".join(ids))
    print(time.time(), flush=True)
    """
)


def test_at_exit_a_collector_that_never_answers_costs_the_exit_timeout_and_loses_nothing(
    hanging: HangingServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    exit_timeout = 1.0
    done = run_python("-c", EXIT_SCRIPT, hanging.url, str(spool), str(exit_timeout))
    ended = time.time()
    ids, last_call = done.stdout.split("\n")[:2]
    assert ended - float(last_call) < exit_timeout + 1.5  # the exit, with room for a loaded machine
    spooled = _spooled(spool)
    assert [r.id for r in spooled if isinstance(r, Call)] == ids.split()
    assert all(isinstance(r, Call) and r.usage.output_total == 16 for r in spooled)


def _stored(db: Path) -> tuple[list[str], int, int]:
    """The call ids, and the counts of charges and outcomes, ``db`` holds."""
    with open_store(db, read_only=True) as store:
        ids = store.query("SELECT id FROM calls ORDER BY id").column("id").to_pylist()
        charges = store.query("SELECT count(*) AS n FROM charges").column("n")[0].as_py()
        outcomes = store.query("SELECT count(*) AS n FROM outcomes").column("n")[0].as_py()
    return ids, charges, outcomes
