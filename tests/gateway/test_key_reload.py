"""Virtual keys and recorded spend read while the gateway's own sink (or a collector) holds the store."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from tests.gateway.support import asgi_call
from tokenomy.errors import ConfigError, StoreError
from tokenomy.gateway import Gateway, GatewaySettings, HandlerTransport, KeyBook, Route
from tokenomy.gateway.key_store import CollectorKeys, SharedDuckDBTarget, create_key, revoke_key
from tokenomy.gateway.setup import gateway_from_config
from tokenomy.gateway.upstream import UpstreamRequest, UpstreamResponse
from tokenomy.listen import bind
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.store import DuckDBStore, open_store

ROUTES = (Route(("*",), "openai", "http://openai.test/v1", api_key="sk-route"),)
SERVER_TOKEN = "collector-token-0123456789"


_IDS = itertools.count()


async def _ok(request: UpstreamRequest) -> UpstreamResponse:
    reply = {
        "id": f"chatcmpl-{next(_IDS)}",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    return UpstreamResponse.of(200, json.dumps(reply).encode(), [(b"content-type", b"application/json")])


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    for name in ("TOKENOMY_DB", "TOKENOMY_SINK", "TOKENOMY_SERVER_TOKEN", "TOKENOMY_GATEWAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "tokenomy.toml"
    path.write_text(
        f'[tokenomy]\ndb = "{tmp_path / "store.duckdb"}"\nflush_interval = 0.02\n'
        f'spool_dir = "{tmp_path / "spool"}"\n{extra}'
    )
    return path


def _chat(app: Gateway, key: str, team: str | None = None, max_tokens: int = 1) -> int:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    headers = {"Authorization": f"Bearer {key}"}
    if team is not None:
        headers["X-Tokenomy-Team"] = team
    return asyncio.run(asgi_call(app, "/v1/chat/completions", body, headers)).status


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_keys_are_read_through_the_store_the_live_sink_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, monkeypatch)
    settings = GatewaySettings(routes=ROUTES, require_keys=True, key_refresh=0.01)
    app = gateway_from_config(config, settings=settings, transport=HandlerTransport(_ok))
    assert app.sink is not None
    assert app.keys is not None
    target = app.sink.target
    assert isinstance(target, SharedDuckDBTarget)
    db = tmp_path / "store.duckdb"
    other = open_store(db)  # another connection, issuing and revoking keys
    try:
        first = create_key(other, Attribution(team="search"))
        assert _chat(app, first.key) == 200
        _wait(lambda: target.shared.writing, "the sink never held the store")
        # the old reload path (a read-only connection beside the sink's) fails here
        with pytest.raises(StoreError):
            open_store(db, read_only=True).close()
        second = create_key(other, Attribution(team="ads"))
        for _ in range(5):  # the sink keeps writing while keys come and go
            assert _chat(app, first.key) == 200
        time.sleep(0.02)
        assert _chat(app, second.key) == 200  # a key issued while the sink writes is accepted
        assert target.shared.writing
        revoke_key(other, first.record.key_id)
        time.sleep(0.02)
        assert _chat(app, first.key) == 401  # and a revocation is seen
        assert app.keys.failures == 0
    finally:
        other.close()
        app.sink.shutdown(5)
    store = open_store(db, read_only=True)
    try:
        rows = store.query("SELECT team, api_key_id FROM calls ORDER BY started_at", []).to_pylist()
    finally:
        store.close()
    assert len(rows) == 7
    assert rows[-1] == {"team": "ads", "api_key_id": second.record.key_id}


BUDGET = '[[budget]]\nname = "t"\nscope = "team"\nmatch = "search"\nlimit_tokens = 60\nwindow = "day"\n'


def test_spend_recorded_by_an_earlier_gateway_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, monkeypatch, BUDGET)
    _restart_is_refused(config, GatewaySettings(routes=ROUTES))


def test_a_named_duckdb_sink_is_where_spend_is_rebuilt_and_keys_and_budgets_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the gateway wrote to duckdb:PATH but read keys, stored budgets and spend from the
    configured db: a hard budget started from zero after a restart, and every valid key was refused."""
    config = _config(tmp_path, monkeypatch, BUDGET)
    sink_file = tmp_path / "gateway-calls.duckdb"
    settings = GatewaySettings(routes=ROUTES, sink=f"duckdb:{sink_file}")
    _restart_is_refused(config, settings)
    assert not (tmp_path / "store.duckdb").exists()  # the configured db was never the store
    with open_store(sink_file) as store:
        issued = create_key(store, Attribution(team="ads"))
    keyed = GatewaySettings(routes=ROUTES, sink=f"duckdb:{sink_file}", require_keys=True)
    app = gateway_from_config(config, settings=keyed, transport=HandlerTransport(_ok))
    assert app.sink is not None
    try:
        assert _chat(app, issued.key) == 200
        assert _chat(app, "tk-unknown-key") == 401
    finally:
        app.sink.shutdown(5)


def test_behind_a_collector_spend_is_rebuilt_through_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, monkeypatch, BUDGET)
    monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", SERVER_TOKEN)
    with _collector(tmp_path / "collector.duckdb") as (url, _collector_app):
        _restart_is_refused(config, GatewaySettings(routes=ROUTES, sink=url))


def _restart_is_refused(config: Path, settings: GatewaySettings) -> None:
    first = gateway_from_config(config, settings=settings, transport=HandlerTransport(_ok))
    assert first.sink is not None
    for _ in range(8):  # 5 tokens each are recorded: 40 of 60
        assert _chat(first, "sk-client", "search") == 200
    assert first.sink.flush(10)
    first.sink.shutdown(5)
    restarted = gateway_from_config(config, settings=settings, transport=HandlerTransport(_ok))
    assert restarted.sink is not None
    try:
        # 40 spent (rebuilt from the store) + ~8 input + 20 output > 60: refused; from zero it would pass
        assert _chat(restarted, "sk-client", "search", max_tokens=20) == 429
        assert _chat(restarted, "sk-client", "search", max_tokens=2) == 200
    finally:
        restarted.sink.shutdown(5)


def test_a_failed_reload_is_logged_once_a_minute_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[object]:
        raise StoreError("store.duckdb: another process holds the file")

    keys = KeyBook(broken, refresh=0.0)  # type: ignore[arg-type]
    app = Gateway(GatewaySettings(routes=ROUTES, require_keys=True), keys=keys)
    with caplog.at_level(logging.WARNING, logger="tokenomy.gateway"):
        for _ in range(3):
            assert _chat(app, "tk-anything") == 401
    warnings = [r for r in caplog.records if "could not reload the virtual keys" in r.getMessage()]
    assert len(warnings) == 1
    assert "another process holds the file" in warnings[0].getMessage()
    metrics = asyncio.run(asgi_call(app, "/metrics", method="GET")).body.decode()
    assert f"tokenomy_gateway_key_reload_failures_total {keys.failures}" in metrics
    assert keys.failures >= 3


def test_required_keys_in_a_store_another_process_holds_refuse_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, monkeypatch)
    db = tmp_path / "store.duckdb"
    open_store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({str(db)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"1"
        settings = GatewaySettings(routes=ROUTES, require_keys=True)
        with pytest.raises(ConfigError) as caught:
            gateway_from_config(config, settings=settings, transport=HandlerTransport(_ok), sink="none")
    finally:
        holder.kill()
        holder.wait()
    assert "require_keys is on but the virtual keys cannot be read" in str(caught.value)
    assert 'sink = "http://host:port"' in str(caught.value)


@contextmanager
def _collector(db: Path) -> Iterator[tuple[str, Collector]]:
    app = Collector(ServerSettings(db=db, token=SERVER_TOKEN), pricer=Pricer())
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="critical"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    _wait(lambda: server.started, "the collector did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def test_behind_a_collector_keys_are_read_through_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, monkeypatch)
    monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", SERVER_TOKEN)
    with _collector(tmp_path / "collector.duckdb") as (url, collector):
        settings = GatewaySettings(routes=ROUTES, require_keys=True, key_refresh=0.01, sink=url)
        app = gateway_from_config(config, settings=settings, transport=HandlerTransport(_ok))
        assert app.keys is not None
        assert app.sink is not None
        assert isinstance(app.keys._loader, CollectorKeys)
        assert collector.writer is not None
        store = collector.writer.store
        assert isinstance(store, DuckDBStore)
        issued = create_key(store, Attribution(team="search"))
        time.sleep(0.02)
        try:
            assert _chat(app, issued.key) == 200
            revoke_key(store, issued.record.key_id)
            time.sleep(0.02)
            assert _chat(app, issued.key) == 401
            assert app.keys.failures == 0
        finally:
            app.sink.shutdown(5)


def test_required_keys_with_none_issued_start_with_a_warning_naming_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway pointed at the wrong store (an unset TOKENOMY_DB...) used to start in silence and
    answer every request 401; it still starts (keys may be issued later) but says so."""
    config = _config(tmp_path, monkeypatch)
    settings = GatewaySettings(routes=ROUTES, require_keys=True)
    with caplog.at_level(logging.WARNING, logger="tokenomy.gateway"):
        app = gateway_from_config(config, settings=settings, sink="none", transport=HandlerTransport(_ok))
    assert app.keys is not None
    assert app.keys.known == 0
    store_file = (tmp_path / "store.duckdb").resolve()
    assert [r.getMessage() for r in caplog.records] == [
        f"tokenomy gateway: require_keys is on and the store {store_file} holds no "
        "virtual key: every /v1/ request gets 401 until one is issued there (tokenomy keys create, with "
        "--db naming that store)"
    ]
    store = open_store(tmp_path / "store.duckdb")
    made = create_key(store, Attribution(team="t"))
    store.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tokenomy.gateway"):
        issued = gateway_from_config(config, settings=settings, sink="none", transport=HandlerTransport(_ok))
    assert issued.keys is not None
    assert issued.keys.known == 1
    assert caplog.records == []
    # a store whose every key is revoked answers 401 to everything as well: it is said too
    store = open_store(tmp_path / "store.duckdb")
    assert revoke_key(store, made.record.key_hash[:16]) == [made.record.key_hash[:16]]
    store.close()
    with caplog.at_level(logging.WARNING, logger="tokenomy.gateway"):
        gateway_from_config(config, settings=settings, sink="none", transport=HandlerTransport(_ok))
    assert [r.getMessage() for r in caplog.records] == [
        f"tokenomy gateway: require_keys is on and the store {store_file} holds only 1 revoked or expired "
        "virtual key(s): every /v1/ request gets 401 until one is issued there (tokenomy keys create, with "
        "--db naming that store)"
    ]


@pytest.mark.parametrize(
    ("sink", "warned"), [("none", True), ("otlp+http://127.0.0.1:9", True), ("duckdb:", False)]
)
def test_budgets_with_a_sink_whose_calls_are_not_read_back_start_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, sink: str, warned: bool
) -> None:
    """A budget account the ledger loses is rebuilt from the recorded spend; a sink that keeps no
    calls where the gateway reads them leaves nothing to rebuild from: said at start."""
    budget = '[[budget]]\nname = "t"\nscope = "team"\nlimit_usd = 5\nwindow = "day"\n'
    config = _config(tmp_path, monkeypatch, budget)
    with caplog.at_level(logging.WARNING, logger="tokenomy.gateway"):
        app = gateway_from_config(config, settings=GatewaySettings(routes=ROUTES), sink=sink)
    try:
        assert app.budget is not None
        said = [r.getMessage() for r in caplog.records if "budgets on" in r.getMessage()]
        assert said == (
            [
                f"tokenomy gateway: budgets on, but the sink ({sink}) keeps the calls where the gateway"
                " does not read spend back: a budget account the ledger loses (a restart with the in-process"
                " ledger, a Redis key dropped) starts again from 0 spent; use a duckdb: sink or a collector"
                " to keep it"
            ]
            if warned
            else []
        )
    finally:
        if app.sink is not None:
            app.sink.shutdown(5)
