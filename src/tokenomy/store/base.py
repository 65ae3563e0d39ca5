"""The Store protocol every backend implements (DuckDB now, ClickHouse later), and its results.

A store holds calls and charges, keyed by id: writing the same id twice stores it once (the
first one wins; later ones are counted as duplicates). Writes are batches (Arrow tables or
iterables of records); reads return Arrow tables or records. SQL that differs between backends
lives in the backend's own module, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal, Protocol, Self, TypeAlias

from tokenomy.errors import RecordError
from tokenomy.schema import BUCKETS, Call, Charge

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    from tokenomy.pricing import PriceKey

Progress: TypeAlias = Callable[[int, int], None]
"""Called with (done, total) as an import advances; both count bytes of the input file."""

ExportFormat: TypeAlias = Literal["jsonl", "csv", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "parquet")

MAX_KEPT_ERRORS = 1000
"""Record errors kept per import (all of them are counted)."""


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
    sessions: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    input_total: int = 0
    output_total: int = 0
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
    ) -> ImportResult:
        """Import a native JSONL file (calls and ``"type": "charge"`` lines), pricing unpriced calls."""
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
    ) -> int:
        """Write the selected calls in the native schema; returns how many were written."""
        ...

    def totals(self, filters: CallFilter | None = None) -> pa.Table:
        """Totals by UTC day, provider and model (the columns are listed in docs/store.md)."""
        ...

    def count(self, table: Literal["calls", "charges"] = "calls") -> int:
        """How many rows a table holds."""
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
