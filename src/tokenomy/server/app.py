"""The collector as an ASGI application: routing, the token check, ingest and read routes.

:class:`Collector` answers ``lifespan`` (opening the store and the spool at start, writing
what is queued and closing them at stop) and ``http``. Ingest routes read and validate the
body (on the event loop, or on a parser thread for a body of a megabyte or more), then wait for
the writer (:mod:`tokenomy.server.writer`) to make it durable before answering 200. Read routes
run on a reader thread of their own. Errors are answered with a status and a message that says
what was wrong; request bodies, tokens and records are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokenomy import __version__
from tokenomy.errors import PayloadError, TokenomyError
from tokenomy.pricing import Pricer
from tokenomy.server import api, payloads
from tokenomy.server.events_ingest import NDJSON_TYPES
from tokenomy.server.http import (
    JSON,
    PROTOBUF,
    Receive,
    Request,
    Scope,
    Send,
    error_body,
    respond,
    respond_json,
)
from tokenomy.server.openapi import document
from tokenomy.server.otlp_ingest import TraceBatch
from tokenomy.server.otlp_wrapped import WrappedSpans
from tokenomy.server.settings import ServerSettings
from tokenomy.server.spool import Spool
from tokenomy.server.writer import BusyError, NotDurableError, Writer
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.base import PricerLike, Store

log = logging.getLogger("tokenomy.server")

_PROTOBUF_TYPES: Final = frozenset({PROTOBUF, "application/protobuf"})
_ITEM: Final = re.compile(r"^/api/v1/(calls|sessions)/([^/]+)$")
_GRPC_INVALID_ARGUMENT: Final = 3
_GRPC_CODES: Final = {401: 16, 503: 14}
"""google.rpc.Code of an OTLP error by HTTP status: UNAUTHENTICATED, UNAVAILABLE; else INVALID_ARGUMENT."""
_RETRY_AFTER: Final = {"retry-after": "1"}
PARSED_ASIDE: Final = 1 << 20
"""Bodies of this many bytes or more are read on the parser's thread (:meth:`Collector._parsed`)."""
T = TypeVar("T")


class Collector:
    """The ASGI app. ``open_store`` and ``pricer`` may be injected (tests); by default the store is
    ``settings.db`` and prices come from the catalog plus ``settings.overrides``."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        open_store_fn: Callable[[], Store] | None = None,
        pricer: PricerLike | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_ready = on_ready
        self._open_store = open_store_fn or (lambda: open_collector_store(settings))
        self._pricer = pricer
        self.writer: Writer | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenomy-reader")
        # Large bodies are read off the event loop: a 15 MB batch took 2.8 s to read there, and
        # every small post waited behind it for its answer.
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenomy-parser")
        self._wrapped = WrappedSpans()  # spans with a call below them, from earlier requests
        self._token = settings.token.encode() if settings.token else None

    # -- lifespan ------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Open the spool and the store (the store may come later, see the writer) and start writing."""
        spool = Spool(self.settings.spool_dir)
        pricer = self._pricer or Pricer(self.settings.overrides)
        self.writer = Writer(
            self._open_store,
            spool,
            pricer,
            linger_ms=self.settings.linger_ms,
            batch_rows=self.settings.batch_rows,
            queue=self.settings.queue,
            capture_content=self.settings.capture_content,
            redact=self.settings.redact,
        )
        await self.writer.start()
        if self._on_ready is not None:
            self._on_ready()

    async def shutdown(self) -> None:
        """Write what is queued, then close the store."""
        if self.writer is not None:
            await self.writer.stop()
        self._reader.shutdown(wait=True)
        self._parser.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(Request.from_scope(scope, receive), send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except TokenomyError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- http ----------------------------------------------------------------------------------

    async def _http(self, request: Request, send: Send) -> None:
        try:
            if request.path != "/api/v1/health" and not self._authorized(request):
                message = "missing or wrong token: send 'Authorization: Bearer <token>'"
                await self._error(request, send, 401, message, {"www-authenticate": "Bearer"})
                return
            await self._route(request, send)
        except PayloadError as exc:
            await self._error(request, send, exc.status, exc.message)
        except (BusyError, NotDurableError) as exc:
            await self._error(request, send, 503, str(exc), _RETRY_AFTER)
        except TokenomyError as exc:
            log.warning("tokenomy server: %s %s failed: %s", request.method, request.path, exc)
            await self._error(request, send, 503, str(exc), _RETRY_AFTER)
        except Exception as exc:
            # a defect: the client gets the error body its route speaks, the log the traceback
            log.exception("tokenomy server: %s %s failed unexpectedly", request.method, request.path)
            message = f"internal error ({type(exc).__name__}); the collector's log has the details"
            await self._error(request, send, 500, message)

    def _authorized(self, request: Request) -> bool:
        if self._token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    async def _route(self, request: Request, send: Send) -> None:
        path, method = request.path, request.method
        if path in ("/v1/traces", "/v1/events"):
            if method != "POST":
                raise PayloadError(405, f"{path} takes POST")
            await (self._traces if path == "/v1/traces" else self._events)(request, send)
            return
        if method != "GET":
            raise PayloadError(405, f"{path} takes GET")
        # Only the routes that read parameters look at them: the others answer as if given none.
        if path == "/api/v1/health":
            await respond_json(send, 200, self.health())
        elif path == "/openapi.json":
            await respond_json(send, 200, document())
        elif path in ("/api/v1/report", "/api/v1/sessions"):  # where repeats (they refuse any other repeated)
            await self._read(send, api.report if path == "/api/v1/report" else api.sessions, request.pairs)
        elif path == "/api/v1/calls":
            await self._read(send, api.calls, request.single_query())
        elif path in ("/api/v1/virtual_keys", "/api/v1/spend"):
            if self._token is None:  # before looking at the parameters
                raise PayloadError(403, f"{path} needs a server token: start the server with --token")
            handler = api.virtual_keys if path == "/api/v1/virtual_keys" else api.spend
            await self._read(send, handler, request.single_query())
        elif (item := _item(request)) is not None:
            if request.single_query():
                raise PayloadError(400, f"{path} takes no query parameters")
            kind, item_id = item
            await self._read(send, api.call if kind == "calls" else api.session, item_id)
        else:
            raise PayloadError(404, f"no route {path}; see /openapi.json for the routes")

    async def _read(self, send: Send, handler: Callable[[Store, Any], api.Answer], argument: Any) -> None:
        store = self.writer.store if self.writer is not None else None
        if store is None:
            raise NotDurableError("the store is not open yet (another process may hold it); retry later")
        status, body = await asyncio.get_running_loop().run_in_executor(
            self._reader, handler, store, argument
        )
        await respond_json(send, status, body)

    def health(self) -> dict[str, Any]:
        """The health answer: the store's state, the spool and the writer's queue."""
        writer = self.writer
        if writer is None:
            return {"status": "starting", "store": "closed", "spool": {}, "queue": 0, "version": __version__}
        stats = writer.stats
        return {
            "status": "ok",
            "version": __version__,
            "store": "open" if writer.store is not None else "unavailable",
            "spool": {"segments": len(writer.spool.segments()), "bytes": writer.spool.pending_bytes()},
            "queue": writer.depth,
            "written": {
                "stored": stats.stored_payloads,
                "transactions": stats.stored_batches,
                "spooled": stats.spooled_payloads,
                "replayed": stats.replayed_payloads,
                "failed": stats.failed_payloads,
            },
            "last_error": stats.last_error,
        }

    # -- ingest --------------------------------------------------------------------------------

    async def _traces(self, request: Request, send: Send) -> None:
        media = request.media_type
        if media not in _PROTOBUF_TYPES and media != JSON:
            raise PayloadError(
                415, f"Content-Type {media or '(none)'!r}: send application/x-protobuf or application/json"
            )
        encoding = "protobuf" if media in _PROTOBUF_TYPES else "json"
        body = await request.body(self.settings.max_body)
        payload, read = await self._parsed(
            payloads.traces,
            body,
            encoding,
            capture_content=self.settings.capture_content,
            wrapped=self._wrapped,
        )
        await self._durable(payload)
        await _otlp_ok(send, read, protobuf=encoding == "protobuf")

    async def _events(self, request: Request, send: Send) -> None:
        media = request.media_type
        if media != JSON and media not in NDJSON_TYPES:
            raise PayloadError(
                415, f"Content-Type {media or '(none)'!r}: send application/json or application/x-ndjson"
            )
        body = await request.body(self.settings.max_body)
        payload, counts = await self._parsed(
            payloads.events, body, media in NDJSON_TYPES, capture_content=self.settings.capture_content
        )
        where = await self._durable(payload)
        accepted = {"calls": counts.calls, "charges": counts.charges, "outcomes": counts.outcomes}
        await respond_json(send, 200, {"accepted": accepted, "durable": where})

    async def _parsed(self, parse: Callable[..., T], body: bytes, *args: Any, **kwargs: Any) -> T:
        """``parse(body, ...)``: on the event loop for a small body, on the parser's thread for one
        of :data:`PARSED_ASIDE` bytes or more, so requests that come meanwhile are answered."""
        with _unkeepable():
            if len(body) < PARSED_ASIDE:
                return parse(body, *args, **kwargs)
            work = functools.partial(parse, body, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._parser, work)

    async def _durable(self, payload: payloads.Payload) -> str:
        if self.writer is None:
            raise NotDurableError("the collector is still starting; retry shortly")
        if payload.rows == 0:
            return "store"  # nothing to keep
        return await self.writer.submit(payload)

    async def _error(
        self, request: Request, send: Send, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        if request.path == "/v1/traces":
            await _otlp_error(
                send, status, message, protobuf=request.media_type in _PROTOBUF_TYPES, headers=headers
            )
        else:
            await respond_json(send, status, error_body(status, message), headers)


def _item(request: Request) -> tuple[str, str] | None:
    """``("calls" | "sessions", id)`` for ``/api/v1/calls/{id}`` or ``/api/v1/sessions/{id}``, the id
    read from the path as sent and decoded here, so that an id holding a ``/`` (sent as ``%2F``) is
    read whole; None for any other path."""
    match = _ITEM.match(request.raw_path if request.raw_path is not None else request.path)
    if match is None:
        return None
    return match.group(1), unquote(match.group(2)) if request.raw_path is not None else match.group(2)


def open_collector_store(settings: ServerSettings) -> DuckDBStore:
    """The store at ``settings.db``, with DuckDB limited to ``settings.store_threads`` threads and
    checkpointing past ``settings.checkpoint_mb`` MiB of write-ahead log.

    Raises:
        StoreError: The store cannot be opened (see :func:`tokenomy.store.open_store`).
    """
    store = open_store(settings.db)
    try:
        store.connection.execute(f"SET threads = {int(settings.store_threads)}")
        store.connection.execute(f"SET checkpoint_threshold = '{int(settings.checkpoint_mb)}MiB'")
    except BaseException:
        store.close()
        raise
    return store


async def _otlp_ok(send: Send, read: TraceBatch, *, protobuf: bool) -> None:
    """ExportTraceServiceResponse, with partial_success when spans were rejected or a part of the request
    could not be read (``rejected_spans`` 0 then, when no span was lost that could be counted)."""
    if protobuf:
        response = trace_service_pb2.ExportTraceServiceResponse()
        if read.message:
            response.partial_success.rejected_spans = read.rejected
            response.partial_success.error_message = read.message
        await respond(send, 200, response.SerializeToString(), PROTOBUF)
        return
    body: dict[str, Any] = {}
    if read.message:
        body["partialSuccess"] = {"rejectedSpans": str(read.rejected), "errorMessage": read.message}
    await respond_json(send, 200, body)


async def _otlp_error(
    send: Send, status: int, message: str, *, protobuf: bool, headers: dict[str, str] | None = None
) -> None:
    """A google.rpc.Status body, as OTLP/HTTP answers errors (protobuf or JSON like the request)."""
    code = _GRPC_CODES.get(status, _GRPC_INVALID_ARGUMENT)
    if protobuf:
        await respond(send, status, rpc_status(code, message), PROTOBUF, headers)
    else:
        await respond(send, status, json.dumps({"code": code, "message": message}).encode(), JSON, headers)


def rpc_status(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` message (code = 1, message = 2) in protobuf encoding."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@contextlib.contextmanager
def _unkeepable() -> Iterator[None]:
    """A payload's value the collector cannot keep (a lone UTF-16 surrogate, JSON nested past Python's
    recursion limit, a number or a time past what the store holds) is the payload's fault: a 400
    that names it, not a 500. The log keeps the traceback, in case it was a defect after all."""
    try:
        yield
    except (UnicodeError, RecursionError, OverflowError, ValueError) as exc:
        log.warning("tokenomy server: a payload could not be read", exc_info=True)
        reason = "nested too deep" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
        raise PayloadError(
            400, f"the body holds a value the collector cannot keep ({reason}); fix the sender's value"
        ) from exc
