"""The gateway as an ASGI application: routing, health, metrics, pass-through and the lifespan.

``Gateway`` serves the metered paths (``formats.SURFACES``) through :class:`Proxy`, ``GET
/healthz`` (the process is up), ``GET /readyz`` (started and not shutting down: 503 while draining),
``GET /metrics`` (Prometheus text), and other ``/v1/`` paths: forwarded unmetered to the first
route of their wire format, or refused with 404, by ``other_paths``. Other paths check the virtual
key like metered ones, and since they cannot be metered they are refused (403) whenever a hard
budget applies to the request's attribution. With a gateway token, ``/metrics`` asks for it, and
so do the ``/v1/`` paths unless keys are required (a valid virtual key is then what they need).
``/healthz`` and ``/readyz`` stay open for load balancers. It handles ``lifespan``:
at shutdown it stops being ready, and once the server has drained the open streams it closes
the upstream connections and flushes the sink. :func:`combine` mounts it in front of another ASGI
app (the collector), which then gets every path the gateway does not own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

from tokenomy import tokens
from tokenomy.capture.budget import DiscardTarget
from tokenomy.capture.sink.core import Sink
from tokenomy.errors import TokenomyError
from tokenomy.gateway.attribution import PREFIX
from tokenomy.gateway.budget import GatewayBudget
from tokenomy.gateway.formats import SURFACES, WireFormat, bearer, wire_for_path
from tokenomy.gateway.keys import KeyBook
from tokenomy.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from tokenomy.gateway.proxy import (
    Message,
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

_WARM_MODEL: Final = "gpt-4o-mini"
"""A model whose price, resolved at start-up, loads the catalog (any catalog model would do)."""

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
OTHER_PATHS: Final = "other"
"""The ``path`` label of the ``/v1/`` requests the gateway does not meter (one label, so that their
paths, which clients choose, do not grow the metrics without bound)."""
_OWN: Final = frozenset({"/healthz", "/readyz", "/metrics"})
_READS: Final = frozenset({"GET", "HEAD"})
"""The methods the gateway's own paths answer."""
TOKEN_HEADER: Final = PREFIX + b"token"


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
        self.keys = keys
        self.other_paths = settings.other_paths_with(budget is not None)
        self._token = settings.token.encode() if settings.token else None
        self.ready = False
        self.draining = False

    @property
    def sink_description(self) -> str:
        """Where calls go, for messages (never a secret)."""
        if self.sink is None:
            return "off (not metered)"
        if isinstance(self.sink.target, DiscardTarget):
            return "none (calls built for the metrics and budgets, kept nowhere)"
        return str(self.sink.target.description)

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
            if self._admitted(scope, surface.wire):
                await self.proxy.handle(scope, receive, send, surface)  # counts its own answer
            else:
                await self._counted(path, send, lambda out: self._no_token(out, surface.wire))
        elif path in _OWN and scope["method"] in _READS:
            if scope["method"] == "HEAD":  # the head a GET would get: its status and length, no body
                send = _headless(send)
            if path == "/metrics" and not self._has_token(scope):
                await _plain(
                    send, 401, b'{"error": "/metrics needs the gateway token: Authorization: Bearer <token>"}'
                )
            else:
                await self._own(path, send)
        elif path.startswith("/v1/"):
            wire = wire_for_path(path, scope["headers"])
            label = path if surface is not None else OTHER_PATHS
            if self._admitted(scope, wire):
                await self._counted(label, send, lambda out: self._other(scope, receive, out))
            else:
                await self._counted(label, send, lambda out: self._no_token(out, wire))
        else:
            await reply_error(send, wire_for_path(path, scope["headers"]), _not_served(scope))

    async def _counted(self, label: str, send: Send, answer: Callable[[Send], Awaitable[None]]) -> None:
        """Run ``answer`` (a ``/v1/`` request the proxy does not meter) and count it in the metrics
        under ``label``, with the status it answered."""
        started = time.perf_counter()
        status = 0

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await answer(noted)
        finally:
            self.metrics.request_done(label, status or 500, time.perf_counter() - started, None)

    def _has_token(self, scope: Scope) -> bool:
        """True without a token, or when the request carries it (bearer, x-api-key or X-Tokenomy-Token)."""
        if self._token is None:
            return True
        token = self._token
        return any(
            name in (b"authorization", b"x-api-key", TOKEN_HEADER)
            and hmac.compare_digest(bearer(value), token)
            for name, value in scope["headers"]
        )

    def _admitted(self, scope: Scope, wire: WireFormat) -> bool:
        """May a ``/v1/`` request go on? Required keys are checked by the proxy; else the token is needed.

        A request presenting a virtual key goes on (the proxy checks it) even with a token.
        """
        if self._token is None or self.settings.require_keys or self._has_token(scope):
            return True
        key = wire.client_key(scope["headers"])
        return self.keys is not None and key is not None and self.keys.is_virtual(key)

    async def _no_token(self, send: Send, wire: WireFormat) -> None:
        message = (
            "this gateway needs its token (Authorization: Bearer <token>, or X-Tokenomy-Token when "
            "the API key is your own) or a virtual key"
        )
        await reply_error(send, wire, RefusedError(401, message, "authentication_error"))

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

    def warm(self) -> None:
        """Load now what the first metered call would load on the event loop: the tokenizer's ranks
        (about half a second, during which no request would be served) and, with a pricer, the
        price catalog. ``tokenomy gateway`` calls it once started, before it freezes the heap."""
        if self.sink is None and self.budget is None:
            return  # nothing is counted or priced
        with contextlib.suppress(TokenomyError):  # the first call meets it then, as it would have
            tokens.get_encoding(tokens.O200K)
            if self.proxy.pricer is not None:
                self.proxy.pricer.lookup(model=_WARM_MODEL, provider="openai", at=datetime.now(UTC).date())

    async def aclose(self) -> None:
        """Stop being ready, close idle upstream connections, deliver what the sink holds, then
        close the budgets: the settlements a ledger kept while it was unreachable are sent now (else
        they waited for the next reservation, which a stopped gateway never makes), and the renewal
        and alert threads stop."""
        self.ready, self.draining = False, True
        await self.transport.aclose()
        if self.proxy.builder is not None:
            self.proxy.builder.drain()  # the calls not built yet, before the sink delivers
        if self.sink is not None:
            await asyncio.to_thread(self.sink.flush, 10.0)
        if self.budget is not None:
            await asyncio.to_thread(self.budget.guard.close)

    async def _own(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _plain(send, 200, b'{"status": "ok"}')
        elif path == "/readyz":
            ok = self.ready and not self.draining
            await _plain(send, 200 if ok else 503, json.dumps({"ready": ok}).encode())
        else:
            stats = self.sink.stats() if self.sink is not None else None
            body = self.metrics.render(stats)
            if self.keys is not None:
                body += self.keys.render_metrics()
            if self.budget is not None:
                body += self.budget.render_metrics()
            await _plain(send, 200, body, CONTENT_TYPE.encode())

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        wire = wire_for_path(scope["path"], scope["headers"])
        route = self.settings.default_route(wire.name)
        shown = f"{scope['method']} {scope['path']}"
        if self.other_paths == "refuse" or route is None:
            why = (
                'this gateway forwards only the metered APIs (other_paths = "refuse" in [gateway]; '
                '"pass" forwards other paths unmetered, unless a hard budget applies)'
                if route is not None
                else "no route serves it"
            )
            await reply_error(send, wire, RefusedError(404, f"{shown}: {why}"))
            return
        try:
            attribution, session = self.proxy.attribution(scope["headers"], wire)
        except RefusedError as refused:  # an unknown, revoked or missing virtual key
            await reply_error(send, wire, refused)
            return
        if self.budget is not None and self.budget.hard_applies(attribution, session):
            message = (
                f"{shown} cannot be metered, and a hard budget applies to this request: the gateway "
                'refuses unmetered paths under a hard budget (other_paths = "pass" in [gateway] '
                "cannot lift it); call a metered API instead"
            )
            await reply_error(send, wire, RefusedError(403, message, "permission_error"))
            return
        query = scope.get("query_string", b"")
        url = wire.upstream_url(route.base_url, scope["path"]) + (f"?{query.decode()}" if query else "")
        try:
            body = await read_body(receive)
        except RefusedError as refused:  # a body over the limit, or a client gone before sending it
            await reply_error(send, wire, refused)
            return
        request = UpstreamRequest(
            scope["method"],
            url,
            upstream_headers(scope["headers"], route, wire, self.proxy.gateway_credential),
            body,
            route.connect_timeout,
            route.read_timeout,
        )
        try:
            response = await self.transport.send(request)
            body = await response.read()
        except UpstreamError as exc:
            await reply_error(send, wire, RefusedError(502, f"the gateway's upstream failed: {exc.message}"))
            return
        if scope["method"] == "HEAD":  # the length a GET would have, as the upstream said it
            headers = response_headers(response.headers, length=None)
            headers.extend((k, v) for k, v in response.headers if k == b"content-length")
        else:
            headers = response_headers(response.headers, length=len(body))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _not_served(scope: Scope) -> RefusedError:
    """The 404 (405 for a method its own paths do not answer) for a request outside the gateway's
    paths, in the provider's format so that an SDK shows the message; it names the path, and a
    metered path asked without its ``/v1`` (an OpenAI client whose base URL lacks it) is pointed there."""
    method, path = scope["method"], scope["path"]
    if path in _OWN:
        refused = RefusedError(
            405, f"{method} is not allowed on {path}; use GET or HEAD", "invalid_request_error"
        )
        refused.headers = [(b"allow", b"GET, HEAD")]  # as a 405 must say (RFC 9110)
        return refused
    hint = (
        f"; did you mean /v1{path}? (an OpenAI client's base_url ends in /v1)"
        if "/v1" + path in SURFACES
        else ""
    )
    return RefusedError(
        404, f"{method} {path}: this gateway serves /v1/... (the APIs), /healthz, /readyz and /metrics{hint}"
    )


async def _plain(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _headless(send: Send) -> Send:
    """``send`` for an answer to a HEAD: the same head (its Content-Length included), an empty body."""

    async def headless(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return headless


def combine(gateway: Gateway, other: ASGIApp) -> ASGIApp:
    """One ASGI app: the gateway's paths to ``gateway``, everything else to ``other``.

    Use it to serve the gateway and the collector (``tokenomy.server.app.Collector``) on one port.
    The lifespan goes to ``other``, and the gateway follows it: ready once ``other`` is told to
    start; at shutdown it stops being ready, closes its connections and delivers what its sink
    holds before ``other`` is told to stop (the collector may be where those calls go).
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"] in SURFACES or scope["path"] in _OWN):
            await gateway.http(scope, receive, send)
        elif scope["type"] == "lifespan":

            async def followed() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    gateway.ready = True
                elif message["type"] == "lifespan.shutdown":
                    await gateway.aclose()
                return message

            await other(scope, followed, send)
        else:
            await other(scope, receive, send)

    return app
