"""The gateway as an ASGI application: routing, health, metrics, pass-through and the lifespan.

``Gateway`` serves the metered paths (``formats.SURFACES``) through :class:`Proxy`, ``GET
/healthz`` (the process is up), ``GET /readyz`` (started and not shutting down: 503 while draining),
``GET /metrics`` (Prometheus text), and other ``/v1/`` paths: forwarded unmetered to the first
route of their wire format, or refused with 404, by ``other_paths``. It handles ``lifespan``:
at shutdown it stops being ready, and once the server has drained the open streams it closes
the upstream connections and flushes the sink. :func:`combine` mounts it in front of another ASGI
app (the collector), which then gets every path the gateway does not own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Final

from tokenomy.capture.sink.core import Sink
from tokenomy.gateway.budget import GatewayBudget
from tokenomy.gateway.formats import SURFACES, wire_for_path
from tokenomy.gateway.keys import KeyBook
from tokenomy.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from tokenomy.gateway.proxy import (
    Proxy,
    Receive,
    RefusedError,
    Scope,
    Send,
    read_body,
    reply_error,
    upstream_headers,
)
from tokenomy.gateway.relay import response_headers
from tokenomy.gateway.settings import GatewaySettings
from tokenomy.gateway.upstream import PoolTransport, Transport, UpstreamError, UpstreamRequest
from tokenomy.pricing import Pricer

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_OWN: Final = frozenset({"/healthz", "/readyz", "/metrics"})


class Gateway:
    """The gateway's ASGI app (see the module docstring).

    Args:
        settings: Routes and policies.
        transport: How requests go upstream (default: a keep-alive pool; tests pass a
            ``HandlerTransport``).
        sink: Where finished calls go (None: nowhere; metrics still count requests).
        budget: Budget admission (None: no budgets).
        keys: Issued virtual keys (None: virtual keys are not checked).
        pricer: Prices calls for the cost metric (None: no cost metric; the store still prices).
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        transport: Transport | None = None,
        sink: Sink | None = None,
        budget: GatewayBudget | None = None,
        keys: KeyBook | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        self.settings = settings
        self.transport: Transport = transport or PoolTransport()
        self.metrics = GatewayMetrics()
        self.sink = sink
        self.budget = budget
        self.proxy = Proxy(
            settings, self.transport, self.metrics, sink=sink, budget=budget, keys=keys, pricer=pricer
        )
        self.ready = False
        self.draining = False

    @property
    def sink_description(self) -> str:
        """Where calls go, for messages (never a secret)."""
        return "none" if self.sink is None else str(self.sink.target.description)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""
        path = scope["path"]
        surface = SURFACES.get(path)
        if surface is not None and scope["method"] == "POST":
            await self.proxy.handle(scope, receive, send, surface)
        elif path in _OWN and scope["method"] == "GET":
            await self._own(path, send)
        elif path.startswith("/v1/"):
            await self._other(scope, receive, send)
        else:
            await _plain(
                send, 404, b'{"error": "not found: the gateway serves /v1/... , /healthz, /readyz, /metrics"}'
            )

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Start, then at shutdown stop being ready, close connections and flush the sink."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Stop being ready, close idle upstream connections, deliver what the sink holds."""
        self.ready, self.draining = False, True
        await self.transport.aclose()
        if self.sink is not None:
            await asyncio.to_thread(self.sink.flush, 10.0)

    async def _own(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _plain(send, 200, b'{"status": "ok"}')
        elif path == "/readyz":
            ok = self.ready and not self.draining
            await _plain(send, 200 if ok else 503, json.dumps({"ready": ok}).encode())
        else:
            stats = self.sink.stats() if self.sink is not None else None
            body = self.metrics.render(stats)
            await _plain(send, 200, body, CONTENT_TYPE.encode())

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        wire = wire_for_path(scope["path"])
        route = self.settings.default_route(wire.name)
        if self.settings.other_paths == "refuse" or route is None:
            why = "this gateway forwards only the metered APIs" if route is not None else "no route serves it"
            await reply_error(send, wire, RefusedError(404, f"{scope['method']} {scope['path']}: {why}"))
            return
        query = scope.get("query_string", b"")
        url = wire.upstream_url(route.base_url, scope["path"]) + (f"?{query.decode()}" if query else "")
        request = UpstreamRequest(
            scope["method"],
            url,
            upstream_headers(scope["headers"], route, wire),
            await read_body(receive),
            route.connect_timeout,
            route.read_timeout,
        )
        try:
            response = await self.transport.send(request)
            body = await response.read()
        except UpstreamError as exc:
            await reply_error(send, wire, RefusedError(502, f"the gateway's upstream failed: {exc.message}"))
            return
        headers = response_headers(response.headers, length=len(body))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _plain(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def combine(gateway: Gateway, other: ASGIApp) -> ASGIApp:
    """One ASGI app: the gateway's paths to ``gateway``, everything else (and lifespan) to ``other``.

    Use it to serve the gateway and the collector (``tokenomy.server.app.Collector``) on one port.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"] in SURFACES or scope["path"] in _OWN):
            await gateway.http(scope, receive, send)
        else:
            await other(scope, receive, send)

    return app
