"""``tokenomy serve --capture-content --redact MODULE:FUNCTION`` as a real process: a native event and an
OTLP span carrying text are stored with the hook's text only, and no byte of the text sent is left in
the store's files or in the spool, which holds the requests while another process has the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server.support import SpanSpec, request_bytes
from tests.server.test_integration import Server, _start, stop
from tokenomy.server import payloads
from tokenomy.server.spool import read_segment
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

SECRET = "SECRET-9d2e"
HOOK = '''
def scrub(text):
    """Keep nothing of the text but its length; refuse a text that says RAISE."""
    if "RAISE" in text:
        raise ValueError("refused")
    return f"<redacted {len(text)}>"
'''
TRACE = "5b8efff798038103d269b633813fc60c"


def _event_body() -> bytes:
    usage = {
        "input_uncached": 100,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 5,
        "reasoning": 0,
    }
    records = [
        {"id": "native-1", "provider": "openai", "request_model": "gpt-4o-mini", "usage": usage,
         "content": {"prompt": f"my card is {SECRET}", "completion": f"noted {SECRET}"}},
        {"id": "native-raises", "provider": "openai", "request_model": "gpt-4o-mini", "usage": usage,
         "content": {"prompt": f"RAISE {SECRET}", "completion": "ok"}},
    ]  # fmt: skip
    return "\n".join(json.dumps(r) for r in records).encode()


def _span_body() -> bytes:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-redact-1",
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": f"otlp asks {SECRET}"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": f"otlp says {SECRET}"}]}]
        ),
    }
    return request_bytes(
        [SpanSpec(TRACE, "e7ad6b7169203334", None, "chat gpt-4o-mini", 3, attributes=attributes)]
    )


def _post(server: Server) -> None:
    status, body = server.request(
        "POST", "/v1/events", _event_body(), {"content-type": "application/x-ndjson"}
    )
    assert status == 200, body
    status, body = server.request(
        "POST", "/v1/traces", _span_body(), {"content-type": "application/x-protobuf"}
    )
    assert status == 200, body


def _hook_env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "privacy_hook.py").write_text(HOOK, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


def _stored(db: Path) -> dict[str, tuple[str | None, str | None]]:
    with open_store(db, read_only=True) as store:
        rows = store.query("SELECT id, prompt_text, completion_text FROM calls").to_pylist()
    return {r["id"]: (r["prompt_text"], r["completion_text"]) for r in rows}


def _files_bytes(*folders: Path) -> bytes:
    return b"".join(p.read_bytes() for folder in folders for p in folder.rglob("*") if p.is_file())


def test_serve_stores_and_spools_only_the_hooks_text(tmp_path: Path) -> None:
    db = tmp_path / "store" / "t.duckdb"
    db.parent.mkdir()
    open_store(db).close()
    spool = tmp_path / "spool"
    hold = f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('x', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(  # another process holds the store: the requests go to the spool first
        [sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    assert holder.stdout.readline().strip() == "x"
    extra = ("--spool", str(spool), "--capture-content", "--redact", "privacy_hook:scrub")
    server = _start(db, *extra, env=_hook_env(tmp_path))
    try:
        try:
            assert json.loads(server.request("GET", "/api/v1/health")[1])["store"] == "unavailable"
            _post(server)
            segments = sorted(spool.glob("*.spool"))
            assert segments
            rows = b"".join(payloads.unpack_group(f.body) for p in segments for f in read_segment(p)[0])
            assert b"<redacted 22>" in rows  # the native prompt, as the hook wrote it
            assert SECRET.encode() not in rows
            assert SECRET.encode() not in _files_bytes(spool)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the writer retries the store and replays the spool
            if json.loads(server.request("GET", "/api/v1/health")[1])["spool"]["segments"] == 0:
                break
            time.sleep(0.2)
        _post(server)  # again, straight to the store this time (the ids are known: kept once)
    finally:
        stop(server)
    assert server.process.returncode == 0
    read = payloads.traces(_span_body(), "protobuf", capture_content=True)[0].batch.calls
    [prompt] = read.column("prompt_text").to_pylist()  # the span's text as the collector reads it
    [completion] = read.column("completion_text").to_pylist()
    assert SECRET in prompt
    assert SECRET in completion
    assert _stored(db) == {
        "native-1": ("<redacted 22>", "<redacted 17>"),
        "native-raises": (None, None),  # the hook raised: the call is kept, its text is not
        "chatcmpl-redact-1": (f"<redacted {len(prompt)}>", f"<redacted {len(completion)}>"),
    }
    assert SECRET.encode() not in _files_bytes(db.parent, spool)


def test_serve_refuses_redact_without_content_capture(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tokenomy.cli.main", "serve", "--db", str(tmp_path / "t.duckdb"),
               "--port", "0", "--redact", "privacy_hook:scrub"]  # fmt: skip
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **_hook_env(tmp_path)},
    )
    assert done.returncode == 2
    assert "add --capture-content" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "t.duckdb").exists()
