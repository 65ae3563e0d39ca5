"""The collector as a real process on 127.0.0.1: kill -9 loses nothing acknowledged, bad input gets a
clear 4xx while the server keeps serving, the documented routes answer, and the token rule holds."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import SpanSpec, genai_attributes, hex_id, request_bytes
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

STARTUP_S = 60.0
TOKEN = "integration-token-0123456789abcdef"


class Server:
    """A ``tokenomy serve`` process; ``port`` is read from its first line."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


def _start(db: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    command = [sys.executable, "-m", "tokenomy.cli.main", "serve", "--db", str(db), "--port", "0", *extra]
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "listening on http://127.0.0.1:" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return Server(process, port)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the server did not start: {process.stderr.read()}")


def stop(server: Server) -> None:
    """Stop ``server`` as an operator would (SIGTERM), killing it only if it does not end in 30 s."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextmanager
def serving(db: Path, *extra: str) -> Iterator[Server]:
    server = _start(db, *extra)
    try:
        yield server
    finally:
        stop(server)


def _events(prefix: str, n: int) -> bytes:
    records = [
        {"id": f"{prefix}-{i}", "provider": "openai", "request_model": "gpt-4o-mini", "session_id": prefix,
         "started_at": "2026-03-01T10:00:00Z", "usage": {"input_uncached": 100, "cache_read": 0,
         "cache_write_5m": 0, "cache_write_1h": 0, "output_visible": 5, "reasoning": 0}}
        for i in range(n)
    ]  # fmt: skip
    return "\n".join(json.dumps(r) for r in records).encode()


def _traces(seed: int, n: int) -> tuple[bytes, list[str]]:
    rng = random.Random(seed)
    trace = hex_id(rng, 16)
    spans = [SpanSpec(trace, hex_id(rng, 8), attributes=genai_attributes(rng, i)) for i in range(n)]
    ids = [str(s.attributes["gen_ai.response.id"]) for s in spans]
    return request_bytes(spans), ids


def _sender(server: Server, worker: int, acked: list[str], stop: threading.Event) -> None:
    """Send until stopped or the server dies; record the ids of acknowledged requests only."""
    batch = 0
    while not stop.is_set() and batch < 10_000:
        batch += 1
        try:
            if worker % 2:
                body, ids = _traces(worker * 100_000 + batch, 20)
                status, _ = server.request(
                    "POST", "/v1/traces", body, {"content-type": "application/x-protobuf"}
                )
            else:
                prefix = f"w{worker}-b{batch}"
                body = _events(prefix, 20)
                ids = [f"{prefix}-{i}" for i in range(20)]
                status, _ = server.request(
                    "POST", "/v1/events", body, {"content-type": "application/x-ndjson"}
                )
        except (OSError, http.client.HTTPException):  # refused, reset, or an answer cut mid-body
            return  # the server was killed: what it had not acknowledged does not count
        if status == 200:
            acked.extend(ids)


def _send_then_kill(server: Server, seconds: float) -> list[str]:
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(server, w, acked, stop)) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return acked


def _assert_all_stored(db: Path, acked: list[str]) -> None:
    with open_store(db, read_only=True) as store:
        assert store.known_ids(acked) == set(acked), "acknowledged events are missing"
        total, distinct = (
            store.query("SELECT count(*), count(DISTINCT id) FROM calls").to_pylist()[0].values()
        )
        assert total == distinct, "a call was stored twice"


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    server = _start(db)
    acked = _send_then_kill(server, 2.0)
    assert len(acked) > 100, "too little traffic was acknowledged to prove anything"
    with serving(db) as again:  # restart: replays the spool, if anything was left there
        status, body = again.request("GET", "/api/v1/health")
        assert status == 200
        assert json.loads(body)["store"] == "open"
    _assert_all_stored(db, acked)


def test_kill_9_while_spooling_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "spooled.duckdb"
    open_store(db).close()  # create it
    hold = f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('x', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(  # another process holds the store's write lock
        [sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "x"
    try:
        server = _start(db)
        _status, body = server.request("GET", "/api/v1/health")
        assert json.loads(body)["store"] == "unavailable"
        acked = _send_then_kill(server, 1.5)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert len(acked) > 50
    assert any((tmp_path / "spooled.duckdb.spool").glob("*.spool"))
    with serving(db) as again:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = json.loads(again.request("GET", "/api/v1/health")[1])
            if health["spool"]["segments"] == 0:
                break
            time.sleep(0.2)
        assert health["spool"]["segments"] == 0
    _assert_all_stored(db, acked)


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(tmp_path: Path) -> None:
    garbage = random.Random(1).randbytes(10 * 1024 * 1024)
    good, ids = _traces(9, 5)
    with serving(tmp_path / "bad.duckdb", "--max-body", str(12 * 1024 * 1024)) as server:
        protobuf = {"content-type": "application/x-protobuf"}
        status, body = server.request("POST", "/v1/traces", garbage, protobuf)
        assert status == 400
        assert b"not a valid OTLP protobuf" in body
        status, body = server.request("POST", "/v1/traces", garbage + garbage, protobuf)
        assert status == 413
        assert b"over the server's limit" in body
        status, body = server.request("POST", "/v1/events", b"{}", {"content-type": "text/csv"})
        assert status == 415
        assert b"application/x-ndjson" in body
        status, body = server.request("POST", "/v1/traces", good[: len(good) // 2], protobuf)
        assert status == 400
        assert b"cut short" in body
        status, body = server.request(
            "POST", "/v1/events", b'[{"id": 5}]', {"content-type": "application/json"}
        )
        assert status == 400
        assert b"record 1, field 'id'" in body
        status, _ = server.request("POST", "/v1/traces", good, protobuf)
        assert status == 200
        status, body = server.request("GET", f"/api/v1/calls/{ids[0]}")
        assert status == 200
        assert json.loads(body)["id"] == ids[0]


def test_documented_routes_answer_over_http(tmp_path: Path) -> None:
    with serving(tmp_path / "doc.duckdb") as server:
        status, body = server.request("GET", "/openapi.json")
        assert status == 200
        doc: dict[str, Any] = json.loads(body)
        assert {
            p for p, item in doc["paths"].items() if "403" in item.get("get", {}).get("responses", {})
        } == {
            "/api/v1/virtual_keys",
            "/api/v1/spend",
        }
        for path, item in doc["paths"].items():
            if "get" in item and "{id}" not in path:  # this server has no token: 403 where one is needed
                needs_token = "403" in item["get"]["responses"]
                assert server.request("GET", path)[0] == (403 if needs_token else 200), path
            elif "{id}" in path:
                assert server.request("GET", path.replace("{id}", "missing"))[0] == 404, path


def test_the_token_rule(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOKENOMY_SERVER_TOKEN"}
    command = ["serve", "--db", str(tmp_path / "x.duckdb"), "--host", "0.0.0.0"]
    refused = subprocess.run(
        [sys.executable, "-m", "tokenomy.cli.main", *command],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert refused.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a token" in refused.stderr
    with serving(tmp_path / "tok.duckdb", "--token", TOKEN) as server:
        assert server.request("GET", "/api/v1/health")[0] == 200
        assert server.request("GET", "/api/v1/calls")[0] == 401
        assert server.request("GET", "/api/v1/calls", headers={"authorization": f"Bearer {TOKEN}"})[0] == 200
        status, _ = server.request(
            "POST", "/v1/events", _events("t", 1), {"content-type": "application/x-ndjson"}
        )
        assert status == 401


def test_sigterm_stores_what_was_acknowledged_and_exits_0(tmp_path: Path) -> None:
    """A service manager's stop: drained, then a clean exit (uvicorn re-raised the signal: 143)."""
    db = tmp_path / "t.duckdb"
    server = _start(db)
    try:
        status, _ = server.request(
            "POST", "/v1/events", _events("term", 3), {"Content-Type": "application/x-ndjson"}
        )
        assert status == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    with open_store(db, read_only=True) as store:
        assert store.count() == 3
