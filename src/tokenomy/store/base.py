"""The Store protocol every backend implements (DuckDB now, ClickHouse later), and its results.

A store holds calls and charges, keyed by id: writing the same id twice stores it once (the
first one wins; later ones are counted as duplicates). Writes are batches (Arrow tables or
iterables of records); reads return Arrow tables or records. SQL that differs between backends
lives in the backend's own module, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, Self, TypeAlias

from tokenomy.errors import RecordError
from tokenomy.schema import BUCKETS, TOKEN_FIGURES, Call, Charge, Finding, OutcomeEvent

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    from tokenomy.pricing import PriceKey
    from tokenomy.store.events import EventBatch, EventCounts, SessionRecords
    from tokenomy.store.findings import AuditRecord

Progress: TypeAlias = Callable[[int, int], None]
"""Called with (done, total) as an import advances; both count bytes of the input file."""

ExportFormat: TypeAlias = Literal["jsonl", "csv", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "parquet")

TimeUnit: TypeAlias = Literal["hour", "day", "week", "month"]
TIME_UNITS: tuple[TimeUnit, ...] = ("hour", "day", "week", "month")
"""Time buckets the analyses group by (UTC; weeks start on Monday)."""

MAX_KEPT_ERRORS = 1000
"""Record errors kept per import (all of them are counted)."""


def trace_sessions_sql(*, spans: bool) -> str:
    """One session per trace: the one a trace's calls (and its spans, with ``spans``) name, when they
    name one alone. A trace of several sessions (a worker's scope around many) gives its calls that
    name none no session, not the first one's. Columns ``trace_id``, ``session_id``; the rule
    reports, the collector's session list and its OTLP readers share."""
    named = "SELECT trace_id, session_id FROM calls"
    if spans:
        named += " UNION ALL SELECT trace_id, session_id FROM spans"
    return (
        f"SELECT trace_id, min(session_id) AS session_id FROM ({named}) n "
        "WHERE trace_id IS NOT NULL AND session_id IS NOT NULL GROUP BY trace_id "
        "HAVING min(session_id) = max(session_id)"
    )


class PricerLike(Protocol):
    """What the store needs from a pricer (:class:`tokenomy.pricing.Pricer` is one)."""

    def price(self, call: Call, *, at: date | None = None) -> object:
        """Price one call; returns a :class:`tokenomy.schema.Cost`."""
        ...

    def price_table(self, keys: Iterable[PriceKey]) -> pa.Table:
        """Per-token rates for many (provider, model, day, service_tier, batch) keys."""
        ...


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which stored calls to read. Every field is optional; ``until`` is exclusive.

    Dates select by the call's UTC start time: ``since=date(2026, 3, 1)`` starts at midnight UTC.
    Calls with no start time are included only when neither bound is set.
    """

    since: datetime | date | None = None
    until: datetime | date | None = None
    session_id: str | None = None
    provider: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class InsertResult:
    """What a batch insert did: rows stored now, and rows skipped because their id was known."""

    inserted: int
    duplicates: int


@dataclass(slots=True)
class ImportResult:
    """What importing one native JSONL file did.

    Token and cost totals cover the calls stored by this import only. ``rejected`` counts bad
    records; ``errors`` keeps the first :data:`MAX_KEPT_ERRORS` of them, each naming file, line
    and field. ``aborted`` is True when strict mode stopped at a bad record and nothing of the
    file was stored. ``fast_path`` says whether the file went through SQL (True) or was read
    line by line in Python because something in it needed a per-record report.
    """

    path: str
    calls: int = 0
    duplicates: int = 0
    charges: int = 0
    charge_duplicates: int = 0
    outcomes: int = 0
    """Outcome records (``"type": "outcome"``) stored; one already stored is not counted."""
    sessions: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    input_total: int = 0
    output_total: int = 0
    unreported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIGURES, 0))
    """Per token figure (the buckets, ``input_total``, ``output_total``), the stored calls that left it
    unreported (None): the sums above cover only the others."""
    usage_unknown: int = 0
    """Stored calls that left a bucket or a total unreported, as ``tokenomy report`` counts them."""
    charge_cost: Decimal = Decimal(0)
    """The amounts of the charges stored by this import."""
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    aborted: bool = False
    fast_path: bool = True

    def reject(self, error: RecordError) -> None:
        """Count a bad record, keeping the first few."""
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    @property
    def ok(self) -> bool:
        """True when no record was rejected."""
        return self.rejected == 0


class Dialect(Protocol):
    """SQL expressions whose spelling differs between backends (read-only analyses use them).

    Each method returns a SQL fragment; arguments are SQL expressions, except ``key`` and ``q``
    which are values (quoted by the dialect).
    """

    name: str

    def time_bucket(self, column: str, unit: TimeUnit) -> str:
        """The start of the UTC hour, day, week (Monday) or month holding the time ``column``."""
        ...

    def map_value(self, column: str, key: str) -> str:
        """The value under ``key`` in the map ``column`` (NULL when absent)."""
        ...

    def quantile(self, expr: str, q: float) -> str:
        """The interpolated ``q`` quantile (0..1) of ``expr`` over a group."""
        ...

    def unnest(self, expr: str) -> str:
        """One row per element of the list ``expr`` (used in a SELECT list)."""
        ...

    def arg_max(self, value: str, order: str) -> str:
        """The ``value`` of the row with the largest ``order`` in a group (null when that row's is)."""
        ...

    def seconds_between(self, start: str, end: str) -> str:
        """Seconds from ``start`` to ``end`` (times), as a floating-point number."""
        ...


class Store(Protocol):
    """An event store of calls and charges. Use it as a context manager, or call :meth:`close`."""

    def insert_calls(self, calls: Iterable[Call] | pa.Table) -> InsertResult:
        """Store calls in one batch; ids already stored (or repeated in the batch) are skipped."""
        ...

    def insert_charges(self, charges: Iterable[Charge] | pa.Table) -> InsertResult:
        """Store charges in one batch; ids already stored (or repeated) are skipped."""
        ...

    def import_native_jsonl(
        self,
        path: str | Path,
        *,
        pricer: PricerLike,
        strict: bool = False,
        progress: Progress | None = None,
        keep_content: bool = True,
    ) -> ImportResult:
        """Import a native JSONL file (calls and ``"type": "charge"`` lines), pricing unpriced calls;
        without ``keep_content`` no prompt or completion text is stored."""
        ...

    def known_ids(self, ids: Iterable[str], table: Literal["calls", "charges"] = "calls") -> set[str]:
        """The ids among ``ids`` that ``table`` already holds."""
        ...

    def calls_table(self, filters: CallFilter | None = None) -> pa.Table:
        """The selected calls as an Arrow table with the ``calls`` columns, ordered by start time and id."""
        ...

    def iter_calls(self, filters: CallFilter | None = None, *, batch_size: int = 10_000) -> Iterator[Call]:
        """The selected calls as records, streamed in batches, ordered by start time and id."""
        ...

    def charges_table(self, filters: CallFilter | None = None) -> pa.Table:
        """The selected charges (by their time) as an Arrow table with the ``charges`` columns."""
        ...

    def export(
        self,
        out: str | Path | IO[bytes],
        fmt: ExportFormat = "jsonl",
        filters: CallFilter | None = None,
        *,
        progress: Callable[[float], object] | None = None,
    ) -> int:
        """Write the selected calls in the native schema; returns how many were written (``progress``,
        when given, is told how far the export is, 0 to 100, while it runs)."""
        ...

    def totals(self, filters: CallFilter | None = None) -> pa.Table:
        """Totals by UTC day, provider and model (the columns are listed in docs/store.md)."""
        ...

    def count(self, table: Literal["calls", "charges"] = "calls") -> int:
        """How many rows a table holds."""
        ...

    @property
    def dialect(self) -> Dialect:
        """The backend's spelling of the SQL expressions analyses need."""
        ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one read-only SQL query (``?`` placeholders) and return its result as Arrow.

        For analyses: the SQL reads the store's tables and uses :attr:`dialect` for what differs.
        """
        ...

    def table_columns(self, table: str) -> tuple[str, ...]:
        """The column names of ``table``, in order; empty when the store has no such table."""
        ...

    def save_findings(self, findings: Sequence[Finding], audit: AuditRecord) -> int:
        """Store an audit's findings (``findings`` and ``finding_calls`` tables), replacing the
        earlier audits of the same scope whose period it covers; returns how many it replaced."""
        ...

    def load_findings(self, audit_id: str | None = None) -> list[Finding]:
        """The findings of ``audit_id`` (the latest audit when None), ranked by wasted cost."""
        ...

    def write_events(self, batch: EventBatch, *, pricer: PricerLike) -> EventCounts:
        """Store calls (priced when they carry no cost), charges, outcomes and spans in one transaction,
        each idempotent; returns the rows stored now (docs/server.md)."""
        ...

    def write_priced_events(self, batch: EventBatch) -> EventCounts:
        """Like :meth:`write_events`, for calls that all carry their cost already (nothing is priced)."""
        ...

    def insert_outcomes(
        self, outcomes: Iterable[OutcomeEvent] | pa.Table, *, source: str | None = None
    ) -> InsertResult:
        """Store outcome events; one already stored (same target, id and time) is skipped."""
        ...

    def insert_spans(self, spans: pa.Table) -> InsertResult:
        """Store trace spans (``spans`` columns); one already stored (same trace and span id) is skipped."""
        ...

    def calls_page(self, filters: CallFilter | None = None, *, limit: int = 100, offset: int = 0) -> pa.Table:
        """Up to ``limit`` selected calls after the first ``offset``, newest first."""
        ...

    def call_by_id(self, call_id: str) -> pa.Table:
        """The stored call with this id, as a table of zero or one row."""
        ...

    def sessions_page(
        self, filters: CallFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> pa.Table:
        """Sessions with their totals, most recently active first."""
        ...

    def session_records(self, session_id: str) -> SessionRecords:
        """A session's calls, charges, outcomes and spans."""
        ...

    def outcomes_table(self, target: Literal["call", "session"], ids: Sequence[str]) -> pa.Table:
        """The outcomes recorded for these calls or sessions, oldest first."""
        ...

    def events_count(self, table: Literal["outcomes", "spans"]) -> int:
        """How many rows the ``outcomes`` or ``spans`` table holds."""
        ...

    def close(self) -> None:
        """Release the database (and its write lock)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
