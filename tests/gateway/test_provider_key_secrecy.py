"""A route's provider key never shows: not in logs, stored rows, /metrics nor any answer to the client."""

from __future__ import annotations

import http.client
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from tests.gateway.support import post, running
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.gateway import Gateway, GatewaySettings, Route
from tokenomy.mockllm import MockThread

SECRET = "sk-DISTINCTIVE-provider-key-7f3a9c21e5"
MESSAGES = [{"role": "user", "content": "Hello"}]


def _get(url: str) -> bytes:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        conn.request("GET", parts.path)
        return conn.getresponse().read()
    finally:
        conn.close()


def _stored_text(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def test_the_provider_key_appears_nowhere(
    mock: MockThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mock.reset()
    db = tmp_path / "store.duckdb"
    sink = Sink(DuckDBTarget(db), SinkSettings(flush_interval=0.02, spool_dir=tmp_path / "spool"))
    routes = (
        Route(("claude-*",), "anthropic", mock.base_url, api_key=SECRET, read_timeout=0.5),
        Route(("*",), "openai", mock.openai_base_url, api_key=SECRET, read_timeout=0.5),
    )
    gateway = Gateway(GatewaySettings(routes=routes), sink=sink)
    answers: list[bytes] = []
    chat: dict[str, object] = {"model": "gpt-4o", "messages": MESSAGES}
    claude: dict[str, object] = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": MESSAGES}
    cases: list[tuple[str, dict[str, object], dict[str, str]]] = [
        ("/v1/chat/completions", chat, {}),  # ok
        ("/v1/chat/completions", {**chat, "stream": True}, {}),  # ok, streamed
        ("/v1/messages", claude, {"anthropic-version": "2023-06-01"}),  # ok, Anthropic
        ("/v1/chat/completions", chat, {"X-Mock-Error": "401"}),  # upstream refuses the key
        ("/v1/chat/completions", chat, {"X-Mock-Error": "500"}),  # upstream error
        ("/v1/messages", claude, {"X-Mock-Error": "529"}),
        ("/v1/chat/completions", chat, {"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "2000"}),  # timeout
        ("/v1/chat/completions", {**chat, "stream": True}, {"X-Mock-Error": "cut"}),  # stream cut
        ("/v1/chat/completions", chat, {"X-Mock-Error": "malformed"}),
        ("/v1/chat/completions", chat, {"X-Mock-Error": "hangup"}),
    ]
    with caplog.at_level(logging.DEBUG), running(gateway) as served:
        statuses = []
        for path, body, headers in cases:
            try:
                status, response_headers, raw = post(served.base_url + path, body, headers)
            except (http.client.HTTPException, OSError):  # a cut stream may end the connection
                continue
            statuses.append(status)
            answers.append(raw + json.dumps(response_headers).encode())
        metrics = _get(served.base_url + "/metrics")
        assert sink.flush(10)
    sink.shutdown(5)
    assert statuses[:3] == [200, 200, 200]
    assert {401, 500, 529, 504, 502} <= set(statuses)  # the failures really happened
    assert mock.stats(with_requests=False)["totals"]["requests"] >= len(cases) - 1
    secret = SECRET.encode()
    assert not [a for a in answers if secret in a]
    assert secret not in metrics
    assert b"tokenomy_gateway_requests_total" in metrics
    stored = _stored_text(db)
    assert "gpt-4o" in stored  # the calls are there...
    assert SECRET not in stored  # ...but not the key
    assert SECRET[3:] not in stored
    spooled = b"".join(p.read_bytes() for p in (tmp_path / "spool").rglob("*") if p.is_file())
    assert secret not in spooled
    logged = [r for r in caplog.records if SECRET in r.getMessage() or SECRET in str(r.args)]
    assert logged == []
    assert SECRET not in caplog.text  # messages and tracebacks as formatted
