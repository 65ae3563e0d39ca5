"""One metered request, from the client's body to the recorded call.

The order on the request path: read the body, check the key, read attribution, find the route,
reserve the budget, rewrite the body when needed (budget changes; the usage chunk an OpenAI
stream needs), send upstream, relay the answer (plain: whole, after checking it is JSON; stream:
chunk by chunk), then hand the exchange to the :class:`LoopBuilder`, which builds the call on the
event loop's thread shortly after and gives it to the sink. Budget settlement, when a budget applies,
runs after the client has its last byte. Every failure reaches the client in the provider's own
error format and is recorded with its status."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from tokenomy.budgets.admission import Rejection
from tokenomy.capture.shapes import ShapeMemo
from tokenomy.capture.sink.core import Sink
from tokenomy.errors import error_object_kind
from tokenomy.gateway.attribution import PREFIX, from_headers
from tokenomy.gateway.budget import MALFORMED, Admitted, GatewayBudget, settled_usage
from tokenomy.gateway.building import LoopBuilder
from tokenomy.gateway.encoding import Decoder, decoded, decoder, encodings
from tokenomy.gateway.formats import Surface, WireFormat, bearer, carries_output
from tokenomy.gateway.keys import PREFIX as VIRTUAL_PREFIX
from tokenomy.gateway.keys import KeyBook
from tokenomy.gateway.metering import (
    CANCELLED,
    ERROR,
    REJECTED,
    TIMEOUT,
    Exchange,
    build_call,
)
from tokenomy.gateway.metrics import GatewayMetrics
from tokenomy.gateway.relay import HOP_BY_HOP, UsageStripper, response_headers
from tokenomy.gateway.settings import GatewaySettings, Route
from tokenomy.gateway.upstream import Headers, Transport, UpstreamError, UpstreamRequest, UpstreamResponse
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution, Call

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY: Final = 32 * 1024 * 1024
_DROP_UPSTREAM: Final = HOP_BY_HOP | {b"authorization", b"x-api-key", b"accept-encoding"}
_JSON: Final = [(b"content-type", b"application/json")]
_UPSTREAM_STATUS: Final = {"timeout": 504, "connect": 502, "protocol": 502}
_NOT_JSON: Final = object()
_PLAIN: Final = (b"accept-encoding", b"identity")
"""Asked of every upstream: without the header any coding is acceptable (RFC 9110), and a stream
compressed in a coding not decoded here could be neither read nor stripped of its usage chunk."""
_NO_RETRY: Final = (b"x-should-retry", b"false")
"""Tells the openai and anthropic SDKs not to retry an answer (both read it before the status)."""
_CACHED: Final = 4096
"""Most models (routes) and client keys (their hashes) remembered; past it the memo starts over."""
_VIRTUAL: Final = VIRTUAL_PREFIX.encode()
"""How a virtual key begins."""


class RefusedError(Exception):
    """The gateway answers this request itself, with an error in the provider's format."""

    def __init__(self, status: int, message: str, error_type: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.extra = extra
        self.headers: Headers = []
        self.exchange: Exchange | None = None


@dataclass(slots=True)
class Prepared:
    """A request ready to go upstream."""

    route: Route
    body: dict[str, Any]
    raw: bytes
    stream: bool
    strip_usage: bool
    admitted: Admitted | None
    exchange: Exchange


class Proxy:
    """Forwards and meters the requests of the metered paths (see the module docstring)."""

    def __init__(
        self,
        settings: GatewaySettings,
        transport: Transport,
        metrics: GatewayMetrics,
        *,
        sink: Sink | None = None,
        budget: GatewayBudget | None = None,
        keys: KeyBook | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.metrics = metrics
        self.sink = sink
        self.builder = None if sink is None else LoopBuilder(sink)
        self.budget = budget
        self.keys = keys
        self.pricer = pricer
        self.shapes = ShapeMemo()
        self._routes: dict[str, Route | None] = {}
        self._key_ids: dict[str, Attribution] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, surface: Surface) -> None:
        """Serve one request of a metered path."""
        t0 = time.perf_counter_ns()
        wire = surface.wire
        try:
            prepared = await self._prepare(scope, receive, surface, t0)
        except RefusedError as refused:
            await reply_error(send, wire, refused)
            self.metrics.request_done(surface_path(scope), refused.status, _since(t0), None)
            if refused.exchange is not None:
                self.metrics.rejected()
                refused.exchange.latency_ns = time.perf_counter_ns() - t0
                if self.builder is not None:
                    self.builder.submit(refused.exchange)
            return
        exchange = prepared.exchange
        upstream_ns = 0
        try:
            upstream_ns = await self._forward(scope, receive, send, prepared)
        finally:
            exchange.latency_ns = time.perf_counter_ns() - t0
            status = exchange.status or 502
            added = (exchange.latency_ns - upstream_ns) / 1e9 if upstream_ns else None
            self.metrics.request_done(surface_path(scope), status, exchange.latency_ns / 1e9, added)
            await self._finish(prepared)

    async def _prepare(self, scope: Scope, receive: Receive, surface: Surface, t0: int) -> Prepared:
        headers: Headers = scope["headers"]
        raw = await read_body(receive)
        attribution, session = self._attribution(headers, surface.wire)  # a bad key: 401 before any 400
        body = _json_body(raw)
        model = body["model"]
        route = self._route(model, surface)
        provider = route.billed_by
        started = time.time_ns() - (time.perf_counter_ns() - t0)
        try:
            admitted = await self._admit(surface, body, provider, attribution, session)
        except RefusedError as refused:  # recorded as rejected_budget, with zero usage
            if refused.status == 400:  # a bad request (an output limit below 1): no budget refusal
                raise
            refused.exchange = Exchange(
                surface, provider, body, attribution, session, started, status=refused.status
            )
            refused.exchange.end, refused.exchange.error_type = REJECTED, refused.error_type
            refused.exchange.on_built = self.metrics.calls.add
            raise
        changed = admitted is not None and bool(admitted.changes)
        if admitted is not None:
            body.update(admitted.changes)
            if body.get("model") != model:  # a soft downgrade: the new model's own route serves it
                route, provider = await self._downgraded_route(body["model"], surface, admitted)
        stream = body.get("stream") is True
        strip = False
        if stream and surface.asks_usage:
            options = body.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                body["stream_options"] = {
                    **(options if isinstance(options, dict) else {}),
                    "include_usage": True,
                }
                strip = changed = True
        # positional: a compiled class's constructor parses keyword arguments the slow way
        exchange = Exchange(surface, provider, body, attribution, session, started, stream)
        if body.get("model") != model:
            exchange.asked_model = model  # a downgrade: the call says what was asked and what served it
        exchange.pricer, exchange.shapes = self.pricer, self.shapes
        exchange.on_built = self.metrics.calls.add
        out = json.dumps(body).encode() if changed else raw
        return Prepared(route, body, out, stream, strip, admitted, exchange)

    async def _downgraded_route(self, model: str, surface: Surface, admitted: Admitted) -> tuple[Route, str]:
        """The route and billing provider of a soft downgrade's model; one no route of this API serves
        is refused (400, naming it; its reservation released), not sent to the asked model's upstream."""
        try:
            route = self._route(model, surface)
        except RefusedError as refused:
            assert self.budget is not None
            await self.budget.settle(admitted, None)
            raise RefusedError(
                400,
                f"a budget downgrades this request to {model!r}, which no route of the {surface.api} "
                f"API serves ({refused.message}); fix the policy's downgrade chain or the routes",
            ) from refused
        return route, route.billed_by

    def gateway_credential(self, value: bytes) -> bool:
        """Whether a client's ``Authorization`` or ``x-api-key`` value is the gateway's own secret (its
        token or a virtual key), which a ``pass_client_key`` route must not forward to the provider."""
        key = bearer(value)
        token = self.settings.token
        if token and hmac.compare_digest(key, token.encode()):
            return True
        return key.startswith(_VIRTUAL)

    def attribution(self, headers: Headers, wire: WireFormat) -> tuple[Attribution, str | None]:
        """The request's attribution and session; RefusedError (401) for a bad or missing virtual key."""
        return self._attribution(headers, wire)

    def _attribution(self, headers: Headers, wire: WireFormat) -> tuple[Attribution, str | None]:
        key = wire.client_key(headers)
        base: Attribution | None = None
        if self.keys is not None and key is not None and self.keys.is_virtual(key):
            found = self.keys.lookup(key)
            if found is None:
                raise RefusedError(
                    401,
                    "the virtual key is unknown, revoked or expired; ask for a new one "
                    "(tokenomy keys create)",
                    "authentication_error",
                )
            base = dataclasses.replace(found.attribution, api_key_id=found.key_id)
        elif self.settings.require_keys:
            raise RefusedError(
                401,
                "this gateway requires a virtual key (tokenomy keys create) as the API key",
                "authentication_error",
            )
        elif key:
            base = self._key_ids.get(key)
            if base is None:
                base = Attribution(api_key_id=hashlib.sha256(key.encode()).hexdigest()[:16])
                if len(self._key_ids) >= _CACHED:
                    self._key_ids.clear()
                self._key_ids[key] = base
        attributed = from_headers(headers, base)
        return attributed.attribution, attributed.session_id

    def _route(self, model: str, surface: Surface) -> Route:
        try:
            route = self._routes[model]
        except KeyError:
            route = self.settings.route_for(model)
            if len(self._routes) >= _CACHED:
                self._routes.clear()
            self._routes[model] = route
        if route is None:
            raise RefusedError(
                404,
                f"no route for model {model!r}: add a [[gateway.route]] whose models match it",
                "model_not_found" if surface.wire.name == "openai" else "not_found_error",
            )
        if route.kind not in surface.wire.kinds:
            raise RefusedError(
                400,
                f"model {model!r} is routed to an {route.kind} upstream, which does not serve "
                f"the {surface.api} API; call it through its own API or change the route",
            )
        return route

    async def _admit(
        self,
        surface: Surface,
        body: dict[str, Any],
        provider: str,
        attribution: Attribution,
        session: str | None,
    ) -> Admitted | None:
        if self.budget is None:
            return None
        answer = await self.budget.admit(
            surface.api, body, provider=provider, attribution=attribution, session_id=session
        )
        if isinstance(answer, Rejection):
            refused = RefusedError(answer.status, answer.message, answer.type, **_extra(answer))
            retry = answer.retry_after()
            if retry is not None:
                refused.headers.append((b"retry-after", str(retry).encode()))
            raise refused
        return answer

    async def _forward(self, scope: Scope, receive: Receive, send: Send, prepared: Prepared) -> int:
        """Send upstream and relay; returns the upstream's own time in ns (0: it did not answer)."""
        route, exchange, wire = prepared.route, prepared.exchange, prepared.exchange.surface.wire
        request = UpstreamRequest(
            "POST",
            wire.upstream_url(route.base_url, scope["path"]),
            upstream_headers(scope["headers"], route, wire, self.gateway_credential),
            prepared.raw,
            route.connect_timeout,
            route.read_timeout,
        )
        sent = time.perf_counter_ns()
        try:
            response = await self.transport.send(request)
        except UpstreamError as exc:
            await self._upstream_failed(send, wire, exchange, exc)
            return 0
        exchange.status = response.status
        if prepared.stream and response.status == 200:
            return await self._relay(receive, send, response, prepared, sent)
        return await self._plain(send, response, exchange, sent)

    async def _upstream_failed(
        self, send: Send, wire: WireFormat, exchange: Exchange, exc: UpstreamError
    ) -> None:
        self.metrics.upstream_error(exc.kind)
        exchange.unsent = not exc.sent
        exchange.end, exchange.error_type = (
            (TIMEOUT if exc.kind == "timeout" else ERROR),
            f"upstream_{exc.kind}",
        )
        status = _UPSTREAM_STATUS.get(exc.kind, 502)
        refused = RefusedError(
            status, f"the gateway's upstream failed: {exc.message}", _upstream_type(wire, exc.kind)
        )
        await reply_error(send, wire, refused)

    async def _plain(self, send: Send, response: UpstreamResponse, exchange: Exchange, sent: int) -> int:
        wire = exchange.surface.wire
        try:
            body = await response.read()
        except UpstreamError as exc:  # a JSON answer had begun (its status kept): billed, usage unknown
            exchange.status = response.status if _says_json(response.headers, b"") else None
            await self._upstream_failed(send, wire, exchange, exc)
            return 0
        upstream_ns = time.perf_counter_ns() - sent
        if response.status >= 400:
            self.metrics.upstream_error("status")
            exchange.error_type = _error_type(body, response.headers) or f"http_{response.status}"
        elif (parsed := _body_json(body, response.headers)) is _NOT_JSON:
            exchange.end, exchange.error_type = ERROR, MALFORMED
            exchange.status = response.status if _says_json(response.headers, body) else None
            self.metrics.upstream_error("malformed")
            message = (
                "the gateway's upstream sent a body that is not JSON; retry, or report it to the provider"
            )
            refused = RefusedError(502, message, _upstream_type(wire, "protocol"))
            refused.headers.append(_NO_RETRY)  # directly, the SDKs raise at once: a retry would not help
            await reply_error(send, wire, refused)
            return upstream_ns
        else:  # decoded once: metering reads it after the answer (None: read as usage unknown)
            exchange.parsed = parsed
        exchange.body = body
        headers = response_headers(response.headers, length=len(body))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return upstream_ns

    async def _relay(
        self, receive: Receive, send: Send, response: UpstreamResponse, prepared: Prepared, sent: int
    ) -> int:
        exchange, surface = prepared.exchange, prepared.exchange.surface
        task = asyncio.current_task()
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch(receive, gone, task))
        stripper = UsageStripper() if prepared.strip_usage else None
        chunks, start, upstream_ns = exchange.chunks, exchange.started_ns, 0
        headers = response_headers(response.headers, length=None)
        unpack = None
        if codings := encodings(headers):  # compressed though not asked to be: see gateway.encoding
            unpack, stripper = _stream_decoding(codings, stripper, headers)
        self.metrics.open_streams += 1
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in response.chunks():
                plain = chunk if unpack is None else _unpacked(unpack, chunk, stripper is not None)
                chunks.append(plain)
                if exchange.ttft_ns is None and carries_output(surface, plain):
                    exchange.ttft_ns = time.time_ns() - start
                out = stripper.feed(plain) if stripper is not None else chunk
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            upstream_ns = time.perf_counter_ns() - sent
            tail = stripper.close() if stripper is not None else b""
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except UpstreamError as exc:
            exchange.end, exchange.error_type = ERROR, f"upstream_{exc.kind}"
            self.metrics.upstream_error(exc.kind)
            raise  # closes the client's connection mid-stream, as the upstream did
        except (asyncio.CancelledError, OSError) as exc:
            if not gone.is_set() and not isinstance(exc, OSError):
                # cancelled by the gateway itself (a shutdown past its drain time): cut short
                exchange.end, exchange.error_type = CANCELLED, "gateway_shutdown"
                raise
            _uncancel(task, gone)
            exchange.end, exchange.error_type = CANCELLED, "client_disconnected"
        finally:
            self.metrics.open_streams -= 1
            watcher.cancel()
            await response.aclose()
        return upstream_ns

    async def _finish(self, prepared: Prepared) -> None:
        exchange = prepared.exchange
        if prepared.admitted is None or self.budget is None:
            if self.builder is not None:
                self.builder.submit(exchange)
            return
        call = build_call(exchange)
        await self.budget.settle(prepared.admitted, settled_usage(exchange, call))
        if self.builder is not None:
            self.builder.submit(_Built(call, exchange))


class _Built:
    """A call built on the request path (to settle its budget), priced and counted by the builder."""

    __slots__ = ("_call", "_exchange")

    def __init__(self, call: Call, exchange: Exchange) -> None:
        self._call, self._exchange = call, exchange

    def build(self) -> Call:
        call, exchange = self._call, self._exchange
        if exchange.pricer is not None:
            with contextlib.suppress(Exception):  # pricing problems never lose the call
                call = dataclasses.replace(call, cost=exchange.pricer.price(call))
        if exchange.on_built is not None:
            exchange.on_built(call)
        return call


async def _watch(receive: Receive, gone: asyncio.Event, task: asyncio.Task[Any] | None) -> None:
    """Cancel the relay when the client disconnects (uvicorn sends ``http.disconnect``)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            if task is not None:
                task.cancel()
            return


def _uncancel(task: asyncio.Task[Any] | None, gone: asyncio.Event) -> None:
    if task is not None and gone.is_set():
        while task.uncancel():
            pass


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body (413 past ``limit``)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    size = len(body)
    if size > limit:
        raise RefusedError(413, f"the request body is larger than {limit} bytes; send a smaller one")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RefusedError(400, "the client went away before sending its whole body")
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise RefusedError(413, f"the request body is larger than {limit} bytes; send a smaller one")
        parts.append(part)
    return b"".join(parts)


async def reply_error(send: Send, wire: WireFormat, refused: RefusedError) -> None:
    """Answer with ``refused`` in the provider's error format."""
    body = wire.error_body(refused.status, refused.message, refused.error_type, **refused.extra)
    headers = [*_JSON, (b"content-length", b"%d" % len(body)), *refused.headers]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def upstream_headers(
    headers: Headers, route: Route, wire: WireFormat, gateways: Callable[[bytes], bool] | None = None
) -> Headers:
    """The client's headers as sent upstream: no hop-by-hop, no X-Tokenomy-*, no Accept-Encoding
    (``identity`` asked instead), the route's key.

    With ``pass_client_key`` the client's own key goes instead, unless ``gateways`` says it is the
    gateway's (its token or a virtual key: :meth:`Proxy.gateway_credential`), which never leaves."""
    out = [(k, v) for k, v in headers if k not in _DROP_UPSTREAM and not k.startswith(PREFIX)]
    out.append(_PLAIN)
    if route.pass_client_key:
        out.extend(
            (k, v)
            for k, v in headers
            if k in (b"authorization", b"x-api-key") and (gateways is None or not gateways(v))
        )
    elif route.api_key:
        out.extend(wire.auth_headers(route.api_key))
    return out


def surface_path(scope: Scope) -> str:
    """The path label of a request (metered paths only, so the label set stays small)."""
    return str(scope["path"])


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8-sig"))  # not json.loads(raw): it guesses UTF-16 for bad bytes
    except UnicodeDecodeError as exc:
        raise RefusedError(
            400, f"the request body is not UTF-8 text (byte {exc.start}); send JSON encoded as UTF-8"
        ) from exc
    except ValueError as exc:
        raise RefusedError(400, f"the request body is not valid JSON ({exc}); send a JSON object") from exc
    if not isinstance(body, dict):
        raise RefusedError(400, "the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RefusedError(400, "the request body names no model: set 'model'", param="model")
    return body


def _says_json(headers: Headers, body: bytes) -> bool:
    """Whether an unread answer claims to be an API's JSON (type or first byte): a web page is not billed."""
    kind = next((v for k, v in headers if k == b"content-type"), b"")
    return b"json" in kind.lower() or body.lstrip()[:1] in (b"{", b"[")


def _parsed_json(body: bytes) -> Any:
    """``body`` decoded, or ``_NOT_JSON``."""
    try:
        return json.loads(body)
    except ValueError:
        return _NOT_JSON


def _body_json(body: bytes, headers: Headers) -> Any:
    """An answer's JSON: the body's as it came, else (a Content-Encoding the gateway did not ask
    for) decoded and read; ``_NOT_JSON`` (no encoding, or not JSON once decoded), or None (an
    encoding not decoded here, or bytes not in it: sent on as they came, the call's usage unknown)."""
    parsed = _parsed_json(body)
    if parsed is not _NOT_JSON:
        return parsed
    codings = encodings(headers)
    if not codings:
        return _NOT_JSON
    plain = decoded(body, codings)
    return None if plain is None else _parsed_json(plain)


def _stream_decoding(
    codings: list[bytes], stripper: UsageStripper | None, headers: Headers
) -> tuple[Decoder | None, UsageStripper | None]:
    """How a compressed stream is read: its decoder (None: not decoded here, so neither read nor
    stripped) and its stripper. A stream that must be stripped reaches the client decoded, without
    its ``Content-Encoding`` (removed from ``headers``); any other, as it came."""
    unpack = decoder(codings)
    if unpack is None:
        return None, None
    if stripper is not None:
        headers[:] = [(k, v) for k, v in headers if k != b"content-encoding"]
    return unpack, stripper


def _unpacked(unpack: Decoder, chunk: bytes, forwarded: bool) -> bytes:
    """A compressed stream's chunk decoded; bytes not in the stream's encoding cut the stream when
    its decoded bytes are what the client gets, and are left unread (b"") when not."""
    try:
        return unpack.feed(chunk)
    except ValueError as exc:
        if forwarded:
            raise UpstreamError(
                "protocol", f"the upstream's stream is not in its Content-Encoding: {exc}"
            ) from exc
        return b""


def _error_type(body: bytes, headers: Headers) -> str | None:
    """An upstream error body's ``error.type`` (Gemini's ``error.status``, such as
    ``RESOURCE_EXHAUSTED``) when it is a classification (:func:`tokenomy.errors.error_kind`); free
    text there (some servers put the message, prompt or key included) is not stored, and the call's
    type is then ``http_<status>``."""
    obj = _body_json(body, headers)
    error = obj.get("error") if isinstance(obj, dict) else None
    return error_object_kind(error)


def _upstream_type(wire: WireFormat, kind: str) -> str:
    if wire.name == "openai":
        return "timeout" if kind == "timeout" else "upstream_error"
    return "timeout_error" if kind == "timeout" else "api_error"


def _extra(rejection: Rejection) -> dict[str, Any]:
    return {k: v for k, v in rejection.error_fields().items() if k not in ("type", "message")}


def _since(t0: int) -> float:
    return (time.perf_counter_ns() - t0) / 1e9
