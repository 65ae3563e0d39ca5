"""A real collector on 127.0.0.1 for the ``--server`` tests, beside a store file written from the
same payloads: the CLI's output through the collector's API and from the file must be the same.

The payloads go to a collector served by uvicorn (read through its API) and to a second collector
in process writing another store file (read from the file, left closed): the same code stores both.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from click.testing import CliRunner

from tests.server.support import call
from tokenomy.cli.main import cli
from tokenomy.listen import bind
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings

Payload = tuple[str, bytes, str]
"""A route, a body and its content type."""


@dataclass
class Served:
    """The collector's URL and the store file written from the same payloads."""

    url: str
    direct: Path


def _post(port: int, payload: Payload, token: str) -> None:
    path, body, kind = payload
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, {"content-type": kind, "authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        conn.close()


def _write_directly(db: Path, payloads: Sequence[Payload]) -> None:
    """The payloads through a collector in process (no network), into a store file left closed."""
    app = Collector(ServerSettings(db=db, spool=db.with_name("direct.spool")))

    async def scenario() -> None:
        await app.startup()
        try:
            for path, body, kind in payloads:
                answer = await call(app, "POST", path, body, {"content-type": kind})
                assert answer.status == 200, answer.body
        finally:
            await app.shutdown()

    asyncio.run(scenario())


@contextmanager
def serve(folder: Path, payloads: Sequence[Payload], *, token: str) -> Iterator[Served]:
    """A collector with ``token`` on a free port of 127.0.0.1 holding ``payloads``, and the store
    file ``folder/direct.duckdb`` written from them; the collector stops on exit."""
    direct = folder / "direct.duckdb"
    _write_directly(direct, payloads)
    settings = ServerSettings(db=folder / "served.duckdb", token=token, spool=folder / "served.spool")
    sock = bind("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(Collector(settings), loop="asyncio", lifespan="on", log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the collector did not start"
    try:
        for payload in payloads:
            _post(port, payload, token)
        yield Served(f"http://127.0.0.1:{port}", direct)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def run_cli(*args: str) -> tuple[int, str]:
    """The exit code and output (stdout and stderr) of ``tokenomy ARGS``."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def both(served: Served, *args: str) -> tuple[str, str]:
    """The output through the collector's API and from the store file, each with exit code 0."""
    code, remote = run_cli(*args, "--server", served.url)
    assert code == 0, remote
    code, local = run_cli(*args, "--db", str(served.direct))
    assert code == 0, local
    return remote, local


@contextmanager
def answering(answers: Sequence[tuple[int, dict[str, Any]]]) -> Iterator[tuple[str, list[str]]]:
    """A stand-in collector on 127.0.0.1 giving ``answers`` (status, JSON body) to its GETs in turn:
    yields its URL and the paths (with their queries) it was asked for, in order."""
    pending, asked = list(answers), []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            status, body = pending.pop(0)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    finally:
        httpd.shutdown()
        httpd.server_close()
