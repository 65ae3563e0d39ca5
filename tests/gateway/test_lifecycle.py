"""Client disconnects, graceful shutdown, health and metrics."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from typing import Any

from tests.gateway.scripted import Asked, scripted, sized
from tests.gateway.support import (
    ListTarget,
    Running,
    asgi_call,
    calls_of,
    chat_completion,
    memory_sink,
    mock_routes,
    post,
    running,
)
from tokenomy.capture.sink.core import Sink
from tokenomy.gateway import Gateway, GatewaySettings, Route, combine
from tokenomy.mockllm import MockThread
from tokenomy.schema import Kind, Status

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}


def _raw_stream(port: int, headers: dict[str, str]) -> socket.socket:
    data = json.dumps(BODY).encode()
    head = [
        "POST /v1/chat/completions HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    return sock


def _wait_for(predicate: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_a_client_that_leaves_cancels_upstream_and_is_recorded(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    sock = _raw_stream(gateway.port, {"X-Mock-Output-Tokens": "200", "X-Mock-Chunk-Delay-Ms": "20"})
    received = b""
    while received.count(b"data: ") < 5:
        received += sock.recv(65536)
    sock.close()
    _wait_for(lambda: mock.stats(with_requests=False)["totals"]["requests"] == 1)
    [served] = mock.stats()["requests"].values()
    assert served["complete"] is False
    assert served["output_tokens"] < 200
    _wait_for(lambda: len(calls_of(*recorded)) == 1)
    [call] = calls_of(*recorded)
    assert call.status is Status.CANCELLED
    assert call.error_type == "client_disconnected"
    assert call.usage.kind is Kind.ESTIMATED
    assert 4 <= (call.usage.output_total or 0) <= served["output_tokens"]


def test_shutdown_drains_open_streams(mock: MockThread) -> None:
    sink, target = memory_sink()
    got: list[bytes] = []
    with running(Gateway(mock_routes(mock.base_url, mock.openai_base_url), sink=sink), drain=10) as gateway:
        reader = threading.Thread(
            target=lambda: got.append(
                post(f"{gateway.openai_base_url}/chat/completions", BODY, {"X-Mock-Chunk-Delay-Ms": "40"})[2]
            )
        )
        reader.start()
        _wait_for(lambda: gateway.gateway.metrics.open_streams == 1)
        gateway.server.should_exit = True  # like SIGTERM
        reader.join(15)
    assert got
    assert got[0].rstrip().endswith(b"data: [DONE]")
    assert got[0].count(b'"content":"') == 17  # the role chunk's empty content + 16 tokens
    [call] = calls_of(sink, target)
    assert call.status is Status.OK
    assert call.usage.output_total == 16
    assert gateway.gateway.ready is False
    sink.shutdown(5)


def test_a_stream_cut_by_a_shutdown_past_its_drain_time_is_recorded_as_cancelled(mock: MockThread) -> None:
    sink, target = memory_sink()
    got: list[str] = []

    def read(url: str) -> None:
        try:
            post(url, BODY, {"X-Mock-Chunk-Delay-Ms": "400"})
            got.append("whole")
        except Exception as exc:  # the client sees its stream cut
            got.append(type(exc).__name__)

    with running(Gateway(mock_routes(mock.base_url, mock.openai_base_url), sink=sink), drain=1) as gateway:
        reader = threading.Thread(target=read, args=(f"{gateway.openai_base_url}/chat/completions",))
        reader.start()
        _wait_for(lambda: gateway.gateway.metrics.open_streams == 1)
        gateway.server.should_exit = True  # like SIGTERM; the stream needs about 7 s, the drain gives 1
        reader.join(15)
    assert got == ["IncompleteRead"]
    [call] = calls_of(sink, target)
    assert (call.status, call.error_type) == (Status.CANCELLED, "gateway_shutdown")  # before: ok
    assert call.streamed is True
    sink.shutdown(5)


def test_health_ready_and_metrics(gateway: Running, recorded: tuple[Sink, ListTarget]) -> None:
    post(f"{gateway.openai_base_url}/chat/completions", {**BODY, "stream": False})
    post(f"{gateway.openai_base_url}/chat/completions", BODY)
    post(f"{gateway.openai_base_url}/chat/completions", {**BODY, "stream": False}, {"X-Mock-Error": "503"})
    calls_of(*recorded, expect=3)  # the sink has built them: token counters are up to date
    app = gateway.gateway
    assert asyncio.run(asgi_call(app, "/healthz", method="GET")).json() == {"status": "ok"}
    assert asyncio.run(asgi_call(app, "/readyz", method="GET")).json() == {"ready": True}
    metrics = asyncio.run(asgi_call(app, "/metrics", method="GET"))
    text = metrics.body.decode()
    assert metrics.headers[b"content-type"].startswith(b"text/plain; version=0.0.4")
    assert 'tokenomy_gateway_requests_total{path="/v1/chat/completions",status="200"} 2' in text
    assert 'tokenomy_gateway_requests_total{path="/v1/chat/completions",status="503"} 1' in text
    assert 'tokenomy_gateway_tokens_total{bucket="output_visible"} 32' in text
    assert 'tokenomy_gateway_upstream_errors_total{kind="status"} 1' in text
    assert 'tokenomy_gateway_request_duration_seconds_count{path="/v1/chat/completions"} 3' in text
    assert 'tokenomy_gateway_added_latency_seconds_bucket{le="+Inf"} 3' in text
    assert "tokenomy_gateway_sink_queue_depth 0" in text
    assert "tokenomy_gateway_sink_dropped_total 0" in text


def test_not_ready_after_shutdown_starts() -> None:
    app = Gateway(GatewaySettings())
    app.ready = True
    asyncio.run(app.aclose())
    answer = asyncio.run(asgi_call(app, "/readyz", method="GET"))
    assert answer.status == 503


def test_other_paths_pass_or_are_refused(mock: MockThread) -> None:
    settings = mock_routes(mock.base_url, mock.openai_base_url)
    sink, _ = memory_sink()
    with running(Gateway(settings, sink=sink)) as gateway:
        conn_status, _, body = _get(f"{gateway.openai_base_url}/models")
    assert conn_status == 200
    assert "gpt-4o" in body.decode()
    refusing = GatewaySettings(routes=settings.routes, other_paths="refuse")
    answer = asyncio.run(asgi_call(Gateway(refusing), "/v1/models", method="GET"))
    assert answer.status == 404
    assert "forwards only the metered APIs" in answer.json()["error"]["message"]
    sink.shutdown(1)


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
    conn.request("GET", parts.path)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_combine_mounts_the_gateway_in_front_of_another_app() -> None:
    seen: list[str] = []

    async def collector(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app = combine(Gateway(GatewaySettings()), collector)
    traces = asyncio.run(asgi_call(app, "/v1/traces", {}))
    health = asyncio.run(asgi_call(app, "/healthz", method="GET"))
    assert traces.status == 204
    assert seen == ["/v1/traces"]
    assert health.json() == {"status": "ok"}


def test_a_combined_gateway_follows_the_other_apps_lifespan() -> None:
    told: list[str] = []
    gateway = Gateway(GatewaySettings())

    async def collector(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            told.append(f"{message['type']} ready={gateway.ready} draining={gateway.draining}")
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def run() -> tuple[list[str], int, int]:
        app = combine(gateway, collector)
        inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        replies: list[str] = []

        async def send(message: Any) -> None:
            replies.append(message["type"])

        async def lifespan() -> None:
            await app({"type": "lifespan"}, inbox.get, send)

        task = asyncio.create_task(lifespan())
        await inbox.put({"type": "lifespan.startup"})
        while not replies:
            await asyncio.sleep(0)
        ready = (await asgi_call(app, "/readyz", method="GET")).status
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 10)
        draining = (await asgi_call(app, "/readyz", method="GET")).status
        return replies, ready, draining

    replies, ready, draining = asyncio.run(run())
    assert replies == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert told == [
        "lifespan.startup ready=True draining=False",
        "lifespan.shutdown ready=False draining=True",  # the gateway drained before the collector stops
    ]
    assert (ready, draining) == (200, 503)


def test_the_start_up_line_says_what_none_and_off_mean() -> None:
    from tokenomy.capture.budget import DiscardTarget

    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://openai.test/v1"),))
    discard = Sink(DiscardTarget())
    assert Gateway(settings, sink=discard).sink_description == (
        "none (calls built for the metrics and budgets, kept nowhere)"
    )
    assert Gateway(settings).sink_description == "off (not metered)"
    discard.shutdown(1)


def test_a_head_whose_upstream_answers_with_a_body_does_not_break_the_next_request() -> None:
    """An upstream that sends a body on a HEAD (as the mock once did) must not leave it on a pooled
    connection for the next request to read as its answer (it was a 502); the HEAD's answer gives
    the length the upstream gave, and no body."""
    refusal = json.dumps({"error": {"message": "HEAD is not allowed", "type": "invalid_request_error"}})

    def answer(asked: Asked) -> list[bytes]:
        if asked.method == "HEAD":  # a body where HTTP says there is none
            return sized(405, refusal.encode(), [("content-type", "application/json")])
        return sized(200, json.dumps(chat_completion("chatcmpl-afterhead00000001", "gpt-4o")).encode())

    with scripted(answer) as upstream:
        settings = GatewaySettings(
            routes=(Route(("*",), "openai", upstream.base_url + "/v1", api_key="sk-up"),)
        )
        with running(Gateway(settings)) as gateway:
            conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            conn.request("HEAD", "/v1/chat/completions")
            head = conn.getresponse()
            head_body = head.read()
            conn.close()
            statuses = [post(f"{gateway.openai_base_url}/chat/completions", BODY | {"stream": False})[0]]
            statuses.append(post(f"{gateway.openai_base_url}/chat/completions", BODY | {"stream": False})[0])
    assert statuses == [200, 200]
    assert (head.status, head.getheader("content-length"), head_body) == (405, str(len(refusal)), b"")


def test_health_and_readiness_answer_a_head_as_a_get_without_the_body() -> None:
    with running(Gateway(GatewaySettings())) as gateway:
        answers = {}
        for method, path in (
            ("GET", "/healthz"),
            ("HEAD", "/healthz"),
            ("GET", "/readyz"),
            ("HEAD", "/readyz"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            conn.request(method, path)
            response = conn.getresponse()
            answers[method, path] = (response.status, response.getheader("content-length"), response.read())
            conn.close()
    for path in ("/healthz", "/readyz"):
        status, length, body = answers["GET", path]
        assert (status, length) == (200, str(len(body)))
        assert answers["HEAD", path] == (200, length, b"")
