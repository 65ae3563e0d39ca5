"""The three sink targets: the local DuckDB store, a tokenomy server, an OTLP/HTTP endpoint.

* ``duckdb:PATH``: a batch is written in one transaction: calls (priced here first, by the
  Pricer: the same Cost the store's SQL pricing gives, without its staging statements per
  batch), charges, outcomes, and agent spans into the ``spans`` table, so the store can show a
  session as a tree. DuckDB lets
  one process write a file at a time: the file is held while batches keep coming and closed
  after a few idle seconds, so that other processes (``tokenomy report``, a forked worker) can
  open it. A file another process holds is a retryable failure (the batch waits in the spool), and
  so is, in a forked child, the file its parent held open at the fork (see :data:`_INHERITED`).
* ``http://host:port``: NDJSON of native records POSTed to ``/v1/events``; the server prices
  and stores them and answers 2xx only once they are durable.
* ``otlp+http://host:port``: calls are priced here and POSTed as GenAI spans (protobuf) to
  ``/v1/traces`` (see :mod:`tokenomy.capture.sink.otlp_spans`).

The price catalog, DuckDB and protobuf are imported the first time a batch needs them, on the
sink's thread, so that configuring capture does not slow the application's start.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import time
import weakref
from collections.abc import Callable, Sequence
from importlib import metadata
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tokenomy.capture.log import RateLimitedLog
from tokenomy.capture.records import AgentSpan, Record, encode, is_native
from tokenomy.capture.sink.poster import Poster, TooLargeError
from tokenomy.capture.sink.target import PartlyRefusedError, paced
from tokenomy.errors import SinkError, StoreError, StoreLockedError
from tokenomy.native import attribution_to_native
from tokenomy.schema import Call, Charge, Cost, OutcomeEvent, new_call

if TYPE_CHECKING:
    from tokenomy.pricing import Pricer
    from tokenomy.store import DuckDBStore
    from tokenomy.store.events import EventBatch


class CallPricer:
    """Prices the calls of a batch that carry no cost yet (the Pricer is built on first use)."""

    def __init__(self, overrides: Path | None) -> None:
        self._overrides = overrides
        self._pricer: Pricer | None = None

    def pricer(self) -> Pricer:
        """The Pricer, built (the catalog loaded, on the sink's thread) on first use."""
        if self._pricer is None:
            from tokenomy.pricing import Pricer  # noqa: PLC0415  (the catalog loads on first use)

            self._pricer = Pricer(self._overrides)
        return self._pricer

    def price(self, records: list[Record]) -> list[Record]:
        """``records`` with every unpriced call priced (an unknown model stays unpriced, never $0)."""
        if not any(isinstance(r, Call) and r.cost is None for r in records):
            return records
        pricer = self.pricer()
        return [
            with_cost(r, pricer.price(r)) if isinstance(r, Call) and r.cost is None else r
            for r in paced(records)
        ]


_CALL_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Call))
_CALL_VALUES: Final = attrgetter(*_CALL_FIELDS)
_COST_AT: Final = _CALL_FIELDS.index("cost")


def with_cost(call: Call, cost: Cost | None) -> Call:
    """``call.replace(cost=cost)``: the same Call, made from its fields in order by
    :data:`tokenomy.schema.new_call` (``dataclasses.replace`` inspects every field of the class for
    each copy and goes through the frozen ``__init__``: several times the cost)."""
    values = list(_CALL_VALUES(call))
    values[_COST_AT] = cost
    return new_call(*values)


_LOG: Final = RateLimitedLog()
os.register_at_fork(after_in_child=_LOG.after_fork)


def send_in_parts(post: Callable[[Sequence[Record]], None], records: Sequence[Record]) -> None:
    """``post(records)``; a body over the collector's size limit (413, :class:`TooLargeError`) is posted
    again in halves, in order, down to single records, and a single call still over it is posted
    without its captured content (its metering kept, its text left out, and the log says so).

    Before, the whole batch was refused and set aside (every call of it lost to the store): with
    content capture on, an agent's long prompts make batches of a few megabytes, over a collector's
    limit (``tokenomy serve --max-body``, 16 MiB). A record too large even so is refused alone: the
    others are posted, then :class:`PartlyRefusedError` names it. A part that fails otherwise raises as
    it did, and the sink sends the whole batch again later: ``tokenomy serve`` stores a record sent
    twice once, while another OTLP backend may store the parts sent before the failure twice.

    Raises:
        PartlyRefusedError: Records over the limit even without content (the others were posted).
        SinkError: A part was not taken for another reason.
    """
    refused: list[Record] = []
    _send_parts(post, records, refused)
    if refused:
        raise PartlyRefusedError(
            f"{len(refused)} record(s) over the collector's size limit even without content were refused "
            f"(the other {len(records) - len(refused)} were sent)",
            refused,
        )


def _send_parts(
    post: Callable[[Sequence[Record]], None], records: Sequence[Record], refused: list[Record]
) -> None:
    try:
        post(records)
        return
    except TooLargeError:
        if len(records) > 1:
            half = len(records) // 2
            _send_parts(post, records[:half], refused)
            _send_parts(post, records[half:], refused)
            return
    (record,) = records
    if not isinstance(record, Call) or record.content is None:
        refused.append(record)
        return
    try:
        post([dataclasses.replace(record, content=None)])
    except TooLargeError:
        refused.append(record)
        return
    _LOG.note(
        "too-large",
        f"tokenomy capture: call {record.id} with its captured content is over the collector's size "
        "limit; it was sent without its content",
    )


class EventsTarget:
    """A tokenomy server's native events endpoint (``POST /v1/events``, NDJSON)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self._poster = Poster(base_url, token=token, timeout=timeout)
        self.timeout = timeout
        self.description = f"{self._poster.description}/v1/events"

    def prepare(self, records: list[Record]) -> list[Record]:
        """The server prices calls itself: nothing to do."""
        return records

    def send(self, records: Sequence[Record]) -> None:
        """POST the batch's calls, charges and outcomes (agent spans are OTLP-only), in parts when the
        server finds it too large (:func:`send_in_parts`)."""
        native = [r for r in records if is_native(r)]
        if native:
            send_in_parts(self._post, native)

    def _post(self, records: Sequence[Record]) -> None:
        self._poster.post("/v1/events", encode(records), "application/x-ndjson")

    def close(self) -> None:
        """Close the kept-alive connection."""
        self._poster.close()

    def after_fork(self) -> None:
        """Forget the parent's connection."""
        self._poster.after_fork()


class OtlpTarget:
    """An OTLP/HTTP traces endpoint (``POST /v1/traces``, protobuf)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        overrides: Path | None = None,
        service_name: str = "unknown_service:python",
    ) -> None:
        self._poster = Poster(base_url, token=token, timeout=timeout)
        self.timeout = timeout
        self._pricer = CallPricer(overrides)
        self._service = service_name
        self.description = f"{self._poster.description}/v1/traces"

    def prepare(self, records: list[Record]) -> list[Record]:
        """Price the calls: the cost travels as the ``tokenomy.cost.*`` attributes."""
        return self._pricer.price(records)

    def send(self, records: Sequence[Record]) -> None:
        """POST the batch as one ExportTraceServiceRequest (in parts when the collector finds it too
        large: :func:`send_in_parts`)."""
        if records:
            send_in_parts(self._post, records)

    def _post(self, records: Sequence[Record]) -> None:
        from tokenomy.capture.sink.otlp_spans import export_request  # noqa: PLC0415  (protobuf loads on first use)

        request = export_request(records, service_name=self._service, version=_version())
        answer = self._poster.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
        if answer:
            _note_partial_success(answer, self.description)

    def close(self) -> None:
        """Close the kept-alive connection."""
        self._poster.close()

    def after_fork(self) -> None:
        """Forget the parent's connection."""
        self._poster.after_fork()


def _note_partial_success(answer: bytes, description: str) -> None:
    """Log the spans a collector answered 2xx for and still rejected (OTLP's ``partial_success``):
    they are not stored, and the sink, which counts the batch as sent, cannot tell."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    try:
        response.ParseFromString(answer)
    except Exception:  # not a protobuf answer: some collectors answer JSON or text
        return
    partial = response.partial_success
    if partial.rejected_spans or partial.error_message:
        _LOG.note(
            "partial",
            f"tokenomy capture: {description} rejected {partial.rejected_spans} span(s) of a batch it "
            f"took: {partial.error_message[:200] or '(no reason given)'}",
        )


class DuckDBTarget:
    """The embedded store (see the module docstring).

    The file is opened on the first batch and kept open while batches keep coming (opening a
    DuckDB file costs tens of milliseconds); it is closed once the sink has been idle for
    ``keep_open`` seconds, and after an explicit flush, so that other processes (``tokenomy
    report``), or this one read-only, can open it.
    """

    def __init__(self, path: Path, *, overrides: Path | None = None, keep_open: float = 5.0) -> None:
        self.path = path
        self.keep_open = keep_open
        self._pricer = CallPricer(overrides)
        self._store: DuckDBStore | None = None
        self._used = 0.0
        self.description = f"duckdb:{path}"

    def prepare(self, records: list[Record]) -> list[Record]:
        """Price the calls that carry no cost (a few microseconds each for a whole usage, where the
        store's SQL pricing costs several statements per batch; the numbers are the same)."""
        return self._pricer.price(records)

    def send(self, records: Sequence[Record]) -> None:
        """Write the batch in one transaction; what is already stored is skipped (replays are safe)."""
        batch = _event_batch(records)
        try:
            store = self._open()
            if batch.calls.column("cost_currency").null_count:  # e.g. a batch spooled by an older version
                store.write_events(batch, pricer=self._pricer.pricer())
            else:
                store.write_priced_events(batch)
        except (StoreError, OSError) as exc:
            self.close()
            raise SinkError(_not_written(self.description, exc)) from exc
        self._used = time.monotonic()

    def _open(self) -> DuckDBStore:
        if self._store is None:
            if _INHERITED and _inherited(self.path):
                raise StoreError(
                    f"{self.path} was open in the process this one was forked from, and DuckDB would give "
                    "this one that copy of it, so the parent (or a later process) stores these batches"
                )
            from tokenomy.store import open_store  # noqa: PLC0415  (DuckDB and Arrow load on first write)

            self._store = open_store(self.path)
            _OPEN.add(self)
        return self._store

    def idle(self, *, now: bool = False) -> None:
        """Close the file once nothing has been written for ``keep_open`` seconds (or ``now``)."""
        if self._store is not None and (now or time.monotonic() - self._used >= self.keep_open):
            self.close()

    def close(self) -> None:
        """Close the file (and release DuckDB's write lock)."""
        store, self._store = self._store, None
        _OPEN.discard(self)
        if store is None:
            return
        if _left_open:
            _keep_for_life(store)  # a child's exit (leave_stores_open): never closed, never freed
            return
        _close_quietly(store)

    def after_fork(self) -> None:
        """Forget the parent's open file, never closing or releasing it (see :data:`_INHERITED`)."""
        store, self._store = self._store, None
        _OPEN.discard(self)
        if store is not None:
            _keep_for_life(store)


def _not_written(description: str, error: Exception) -> str:
    """Why a batch was not written, for an application's log: a file another process holds (a
    sibling worker, a collector, a report) is a wait, not a loss, and the store's advice on reading
    it through a collector's API is for the CLI, not for an application. Where the batch waits (the
    spool, or memory when there is none) is the sink's to say: it adds that to the message."""
    if not isinstance(error, StoreLockedError):
        return f"{description}: {error}"
    doing = "writing this file (DuckDB allows one writing process)"
    if error.reading:
        doing = "reading this file, and DuckDB lets no process write it meanwhile"
    return f"{description}: {error.holder} is {doing}"


_INHERITED: Final[list[DuckDBStore]] = []
"""The stores a forked child found open, kept (never closed, never freed) for the child's lifetime.

DuckDB's database object is not fork-safe: in the child its worker threads are gone, and freeing
it (the last reference dropped, or ``close()``) joins them and checkpoints into the parent's file,
which crashes the child (SIGSEGV) or writes over what the parent writes. So the child keeps every
reference to it, for good: this list is made immortal on first use (:func:`_keep_for_life`), or the
interpreter's own exit would free it when the child ends normally (``sys.exit``, not ``os._exit``).
DuckDB may report those objects as leaked on such an exit ("nanobind: leaked ... instances").

While that object lives, DuckDB answers any connection to the same file in this process with it
(its instance cache knows the file by path), so this process must not open the file again:
:meth:`DuckDBTarget.send` fails, retryably, and batches go to the spool, which the parent (sharing
the spool folder) or a later process replays."""


_left_open = False


def leave_stores_open() -> None:
    """From now on, keep a store that is done with instead of closing it (:func:`_keep_for_life`).

    For a child of ``multiprocessing`` at its exit, which ``os._exit`` ends right after. Every batch
    it wrote is committed already, durable in the file's write-ahead log, which the next process to
    open the file replays; the process's end releases the file's lock. DuckDB's close in such a
    child was not reliable: under load, once in a few hundred runs, it crashed the child by SIGSEGV
    (a forked child of a parent that had imported DuckDB), and once in a while it did not return,
    which left the child, and its parent's ``join()``, waiting for good.
    """
    global _left_open  # noqa: PLW0603  (one flag a process, set once at its end)
    _left_open = True


def _close_quietly(store: DuckDBStore) -> None:
    with contextlib.suppress(StoreError, OSError):
        store.close()


def _keep_for_life(store: DuckDBStore) -> None:
    """Keep ``store`` referenced until the process ends, past the interpreter's own cleanup (in
    :data:`_INHERITED`, which also holds the stores a child leaves open at its exit)."""
    if not _INHERITED:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_INHERITED))  # a reference nothing releases
    _INHERITED.append(store)


def _inherited(path: Path) -> bool:
    """Whether this process inherited ``path``'s database open from the process it was forked from."""
    resolved = path.resolve()
    return any(store.path.resolve() == resolved for store in _INHERITED)


_OPEN: Final[weakref.WeakSet[DuckDBTarget]] = weakref.WeakSet()
"""The targets holding their file open now. A forked child keeps their stores at once, whether or not a
sink tells it of the fork (a sink nobody touches in the child would otherwise free its store at exit)."""


def _keep_open_stores() -> None:
    for target in list(_OPEN):
        target.after_fork()


os.register_at_fork(after_in_child=_keep_open_stores)


def _event_batch(records: Sequence[Record]) -> EventBatch:
    from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow  # noqa: PLC0415  (Arrow: first write)
    from tokenomy.store.events import EventBatch, outcomes_to_arrow, spans_to_arrow  # noqa: PLC0415

    return EventBatch(
        calls=calls_to_arrow(r for r in paced(records) if isinstance(r, Call)),
        charges=charges_to_arrow(r for r in records if isinstance(r, Charge)),
        outcomes=outcomes_to_arrow((r for r in records if isinstance(r, OutcomeEvent)), source="sdk"),
        spans=spans_to_arrow(span_row(r) for r in records if isinstance(r, AgentSpan)),
    )


def span_row(span: AgentSpan) -> dict[str, Any]:
    """An agent span as a row of the store's ``spans`` table (the tree of a session)."""
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": span.name}
    attributes.update({f"tokenomy.{k}": v for k, v in attribution_to_native(span.attribution).items()})
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": f"invoke_agent {span.name}",
        "kind": "internal",
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "status": "unset",
        "session_id": span.session_id,
        "agent_name": span.name,
        "attributes": json.dumps(attributes, sort_keys=True, separators=(",", ":")),
        "source": "sdk",
    }


def _version() -> str:
    try:
        return metadata.version("tokenomy")
    except metadata.PackageNotFoundError:
        return "0"
