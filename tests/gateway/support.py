"""Gateway test helpers: a sink target keeping calls in memory, a gateway on uvicorn in a thread."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from tokenomy.capture.records import Record
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.gateway import Gateway, GatewaySettings, Route
from tokenomy.gateway.app import ASGIApp
from tokenomy.listen import bind
from tokenomy.schema import Call


def chat_completion(
    answer_id: str, model: str, *, content: str = "hi", prompt: int = 9, completion: int = 1
) -> dict[str, Any]:
    """A plain OpenAI ``chat.completion`` body, as an upstream answers one."""
    return {
        "id": answer_id,
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class ListTarget:
    """A sink target keeping every record it gets."""

    description = "memory (tests)"

    def __init__(self) -> None:
        self.records: list[Record] = []

    def prepare(self, records: list[Record]) -> list[Record]:
        return records

    def send(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def close(self) -> None:
        """Nothing to release."""

    def after_fork(self) -> None:
        """Nothing inherited."""


def memory_sink() -> tuple[Sink, ListTarget]:
    """A sink flushing every 20 ms into a list."""
    target = ListTarget()
    return Sink(target, SinkSettings(flush_interval=0.02, spool_dir=None)), target


def calls_of(sink: Sink, target: ListTarget, expect: int = 1) -> list[Call]:
    """Every call delivered so far, waiting (at most 10 s) until there are ``expect``.

    The gateway hands a call to the sink after the client has its last byte, so a test that
    has its answer may look before the call is queued.
    """
    deadline = time.monotonic() + 10
    while True:
        assert sink.flush(10.0)
        calls = [r for r in target.records if isinstance(r, Call)]
        if len(calls) >= expect or time.monotonic() > deadline:
            return calls
        time.sleep(0.02)


def mock_routes(base_url: str, openai_base_url: str) -> GatewaySettings:
    """Routes sending OpenAI models and Claude models to the mock upstream."""
    return GatewaySettings(
        routes=(
            Route(("claude-*",), "anthropic", base_url, api_key="sk-ant-upstream"),
            Route(("*",), "openai", openai_base_url, api_key="sk-upstream-secret"),
        )
    )


@dataclass
class Running:
    """A gateway served on 127.0.0.1 by uvicorn in a thread."""

    gateway: Gateway
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"


@contextmanager
def running(gateway: Gateway, *, drain: int = 5) -> Iterator[Running]:
    """Serve ``gateway`` until the block ends (then shut down gracefully)."""
    sock = bind("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        gateway,
        loop="asyncio",
        http="httptools",
        lifespan="on",
        log_level="critical",
        timeout_graceful_shutdown=drain,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the gateway did not start"
    try:
        yield Running(gateway, server, thread, port)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST JSON with the standard library; the status, headers (lower-case) and raw body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        conn.request(
            "POST", parts.path, json.dumps(body), {"content-type": "application/json", **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@dataclass
class Answer:
    """What an ASGI app sent back."""

    status: int
    headers: dict[bytes, bytes]
    chunks: list[bytes]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_call(
    app: Gateway | ASGIApp,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    """Drive the ASGI app directly (no server): one request (``body`` as JSON, or bytes as they are),
    the whole answer."""
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent = [False]
    answer = Answer(0, {}, [])

    async def receive() -> MutableMapping[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status, answer.headers = message["status"], dict(message["headers"])
        elif message.get("body"):
            answer.chunks.append(message["body"])

    await app(scope, receive, send)
    return answer
