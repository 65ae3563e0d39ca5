"""The embedded store: one DuckDB file, migrated on open, written in Arrow batches, idempotent by id.

:class:`DuckDBStore` is the backend's public face; opening the file (and DuckDB's refusals, such
as a file another process holds: :class:`~tokenomy.errors.StoreLockedError`) is in
store/duckdb_open.py, the migrations an open applies in store/duckdb_migrate.py. Idempotency is
an anti-join on ``id`` at insert time rather than a PRIMARY KEY: at 10M rows the index doubled
the bulk-load time and quadrupled the file (docs/store.md has the figures).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Self

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy import config as config_module
from tokenomy.errors import StoreError
from tokenomy.schema import BUCKETS, TOKEN_FIGURES, Call, Charge, Finding, OutcomeEvent, utc_now
from tokenomy.store import budgets as store_budgets
from tokenomy.store import duckdb_events, duckdb_export, duckdb_import, duckdb_migrate, duckdb_priced
from tokenomy.store import findings as store_findings
from tokenomy.store import virtual_keys as store_keys
from tokenomy.store.arrow import calls_from_arrow, calls_to_arrow, charges_to_arrow
from tokenomy.store.base import CallFilter, ExportFormat, ImportResult, InsertResult, PricerLike, Progress
from tokenomy.store.duckdb_compat import arrow_reader, arrow_table
from tokenomy.store.duckdb_dialect import DuckDBDialect
from tokenomy.store.duckdb_filter import filter_sql
from tokenomy.store.duckdb_open import connect
from tokenomy.store.duckdb_shared import Shared, shared_state
from tokenomy.store.events import EventBatch, EventCounts, SessionRecords
from tokenomy.store.findings import AuditRecord
from tokenomy.store.session_days import RecentPairs, roll_sessions

_TABLES: Final = ("calls", "charges")
_DIALECT: Final = DuckDBDialect()


def open_store(
    path: str | Path | None = None,
    *,
    read_only: bool = False,
    config: config_module.Config | None = None,
    memory_limit: str | None = None,
) -> DuckDBStore:
    """Open (creating and migrating when needed) the embedded store.

    Args:
        path: The database file; when None, ``config.db`` (``--db`` > tokenomy.toml >
            ``TOKENOMY_DB`` > ``./tokenomy.duckdb``).
        read_only: Open for reading only (several processes may read at once).
        config: The resolved configuration; loaded with :func:`tokenomy.config.load` when None.
        memory_limit: DuckDB's memory limit (``"4GB"``); past it, large imports and sorts spill
            to a temporary folder next to the file. None keeps DuckDB's default (80% of RAM).

    Raises:
        StoreLockedError: Another process holds the file (its ``pid`` and ``process`` say which).
        StoreError: The file is not a DuckDB database, it was migrated by a newer tokenomy, or
            (read-only) it does not exist.
    """
    if path is None:
        path = (config or config_module.load()).db
    return DuckDBStore(Path(path), read_only=read_only, memory_limit=memory_limit)


class DuckDBStore:
    """The DuckDB backend of :class:`tokenomy.store.Store`."""

    def __init__(self, path: Path, *, read_only: bool = False, memory_limit: str | None = None) -> None:
        shared = shared_state(path)
        self._set_up(path, read_only, shared, shared.lock, connect(path, read_only))
        try:
            if memory_limit is not None:
                self._con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")
            duckdb_migrate.migrate(self._con, path, read_only=read_only)
        except BaseException:
            self._con.close()
            raise

    def _set_up(
        self,
        path: Path,
        read_only: bool,
        shared: Shared,
        lock: threading.RLock,
        con: duckdb.DuckDBPyConnection,
    ) -> None:
        """The state every store object holds (a snapshot view, store/snapshot.py, sets it too)."""
        self.path = path
        self.read_only = read_only
        self._shared = shared  # the file's state in this process: the write lock, the stamp clock
        self._lock = lock
        self.session_pairs = RecentPairs()
        """The rollup's pairs this writer added lately (store/session_days.py)."""
        self._con = con

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for analyses that run their own SQL (do not close it)."""
        return self._con

    def close(self) -> None:
        """Close the database and release its lock."""
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def applied_migrations(self) -> list[tuple[str, datetime]]:
        """The migrations recorded in the database, in the order they were applied."""
        return duckdb_migrate.applied(self._con)

    # -- writing -----------------------------------------------------------------------------

    def insert_calls(self, calls: Iterable[Call] | pa.Table) -> InsertResult:
        """Store calls in one batch; ids already stored, or repeated in the batch, are skipped.

        Args:
            calls: Calls, or an Arrow table with the ``calls`` columns (see store/arrow.py).

        Returns:
            How many calls were stored and how many were duplicates.
        """
        with self._lock:
            stamp = self.next_stamp()
            table = calls if isinstance(calls, pa.Table) else calls_to_arrow(calls, imported_at=stamp)
            return self._insert_rolled("calls", table, stamp)

    def insert_charges(self, charges: Iterable[Charge] | pa.Table) -> InsertResult:
        """Store charges in one batch; ids already stored, or repeated in the batch, are skipped."""
        with self._lock:
            stamp = self.next_stamp()
            table = charges if isinstance(charges, pa.Table) else charges_to_arrow(charges, imported_at=stamp)
            return self._insert_rolled("charges", table, stamp)

    def _insert_rolled(
        self, table_name: Literal["calls", "charges"], batch: pa.Table, stamp: datetime
    ) -> InsertResult:
        """:meth:`insert_arrow` and the session rollup's pairs of the new rows, in one transaction."""
        self._check_writable()
        self._con.execute("BEGIN TRANSACTION")
        try:
            result = self.insert_arrow(table_name, batch, stamp)
            roll_sessions(self._con, stamp)
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        return result

    def insert_arrow(
        self, table_name: Literal["calls", "charges"], batch: pa.Table, stamp: datetime
    ) -> InsertResult:
        """Insert an Arrow batch into ``table_name`` by column name, skipping known and repeated ids.

        The first row of each id wins. Every row gets ``imported_at = stamp`` (the write's rows
        are found by it: the import's totals, the session rollup). Callers outside a write of the
        store's own add the rollup's pairs with :func:`~tokenomy.store.session_days.roll_sessions`.
        """
        self._check_writable()
        if batch.num_rows == 0:
            return InsertResult(0, 0)
        ordinal = pa.array(range(batch.num_rows), type=pa.int64())
        with self._lock:
            self._con.register("_tokenomy_batch_arrow", batch.append_column("_ord", ordinal))
            try:
                self._con.execute(
                    "CREATE OR REPLACE TEMP TABLE _tokenomy_batch AS FROM _tokenomy_batch_arrow"
                )
            finally:
                self._con.unregister("_tokenomy_batch_arrow")
            try:
                row = self._con.execute(
                    _insert_batch_sql(table_name, self._has_repeats()), [stamp]
                ).fetchone()
            finally:
                self._con.execute("DROP TABLE IF EXISTS _tokenomy_batch")
        inserted = int(row[0]) if row else 0
        return InsertResult(inserted, batch.num_rows - inserted)

    def _has_repeats(self) -> bool:
        row = self._con.execute("SELECT count(*) > count(DISTINCT id) FROM _tokenomy_batch").fetchone()
        return bool(row and row[0])

    def import_native_jsonl(
        self,
        path: str | Path,
        *,
        pricer: PricerLike,
        strict: bool = False,
        progress: Progress | None = None,
        keep_content: bool = True,
    ) -> ImportResult:
        """Import a native JSONL file: SQL fast path, or line by line when a record is bad.

        Args:
            path: The file (calls, and charges as ``"type": "charge"`` lines).
            pricer: Prices the calls that carry no cost (calls with a cost keep it).
            strict: Stop at the first bad record and store nothing from the file.
            progress: Called with (bytes done, bytes total) as the import advances.
            keep_content: False stores no prompt or completion text, on either path.

        Returns:
            What was stored, skipped and rejected (each bad record with its line and field).

        Raises:
            ImportFileError: The file cannot be read, is empty, or is binary.
        """
        self._check_writable()
        with self._lock:
            return duckdb_import.import_file(
                self, Path(path), pricer=pricer, strict=strict, progress=progress, keep_content=keep_content
            )

    def next_stamp(self) -> datetime:
        """A fresh ``imported_at`` value: now in UTC, strictly after every stamp given before."""
        with self._lock:
            stamp = max(utc_now(), self._shared.last_stamp + timedelta(microseconds=1))
            self._shared.last_stamp = stamp
            return stamp

    def import_stats(self, stamp: datetime, result: ImportResult) -> ImportResult:
        """Fill ``result``'s totals from the calls and charges stored with ``imported_at = stamp``."""
        buckets = ", ".join(f"coalesce(sum({b}), 0)::BIGINT" for b in BUCKETS)
        missing = ", ".join(f"count(*) FILTER (WHERE {f} IS NULL)" for f in TOKEN_FIGURES)
        any_missing = " OR ".join(f"{f} IS NULL" for f in TOKEN_FIGURES)
        row = self._con.execute(
            f"""
            SELECT {buckets}, coalesce(sum(input_total), 0)::BIGINT, coalesce(sum(output_total), 0)::BIGINT,
                   coalesce(sum(cost_total), 0), count(*) FILTER (WHERE cost_total IS NULL),
                   count(DISTINCT session_id), {missing}, count(*) FILTER (WHERE {any_missing})
            FROM calls WHERE imported_at = ?
            """,
            [stamp],
        ).fetchall()[0]  # fetchall: a half-read result would block the connection's next register()
        result.tokens = {b: int(v) for b, v in zip(BUCKETS, row[: len(BUCKETS)], strict=True)}
        result.input_total, result.output_total = int(row[6]), int(row[7])
        result.cost = row[8]
        result.unpriced = int(row[9])
        result.sessions = int(row[10])
        counts = row[11 : 11 + len(TOKEN_FIGURES)]
        result.unreported = {f: int(n) for f, n in zip(TOKEN_FIGURES, counts, strict=True)}
        result.usage_unknown = int(row[11 + len(TOKEN_FIGURES)])
        charges = self._con.execute(
            "SELECT coalesce(sum(amount), 0) FROM charges WHERE imported_at = ?", [stamp]
        ).fetchall()[0]
        result.charge_cost = charges[0]
        return result

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(
                f"{self.path}: the store was opened read-only; open it without read_only to write"
            )

    # -- reading -----------------------------------------------------------------------------

    def known_ids(self, ids: Iterable[str], table: Literal["calls", "charges"] = "calls") -> set[str]:
        """The ids among ``ids`` that ``table`` already holds (importers use it to report what is new)."""
        if table not in _TABLES:
            raise StoreError(f"unknown table {table!r}; expected one of {', '.join(_TABLES)}")
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        keys = pa.table({"id": pa.array(wanted, type=pa.string())})
        with self._lock:
            self._con.register("_tokenomy_known", keys)
            try:
                rows = self._con.execute(
                    f"SELECT k.id FROM _tokenomy_known k SEMI JOIN {table} t ON t.id = k.id"
                ).fetchall()
            finally:
                self._con.unregister("_tokenomy_known")
        return {str(row[0]) for row in rows}

    def calls_table(self, filters: CallFilter | None = None) -> pa.Table:
        """The selected calls as an Arrow table with the ``calls`` columns, by start time and id."""
        where, params = filter_sql(filters)
        sql = f"SELECT * FROM calls WHERE {where} ORDER BY started_at NULLS FIRST, id"
        with self._lock:
            return arrow_table(self._con, sql, params)

    def iter_calls(self, filters: CallFilter | None = None, *, batch_size: int = 10_000) -> Iterator[Call]:
        """The selected calls as records, streamed ``batch_size`` rows at a time."""
        where, params = filter_sql(filters)
        sql = f"SELECT * FROM calls WHERE {where} ORDER BY started_at NULLS FIRST, id"
        cursor = self._con.cursor()
        try:
            reader = arrow_reader(cursor, sql, params, batch_size=batch_size)
            for batch in reader:
                yield from calls_from_arrow(batch)
        finally:
            cursor.close()

    def charges_table(self, filters: CallFilter | None = None) -> pa.Table:
        """The selected charges (by their time ``at``) as an Arrow table, by time and id."""
        where, params = filter_sql(filters, time_column='"at"', with_model=False)
        with self._lock:
            return arrow_table(self._con, f'SELECT * FROM charges WHERE {where} ORDER BY "at", id', params)

    def export(
        self,
        out: str | Path | IO[bytes],
        fmt: ExportFormat = "jsonl",
        filters: CallFilter | None = None,
        *,
        progress: Callable[[float], object] | None = None,
    ) -> int:
        """Write the selected calls in the native schema (see docs/store.md); returns the count.

        ``progress`` is told how far the export is (0 to 100) while it runs
        (:func:`tokenomy.store.duckdb_export.export`)."""
        where, params = filter_sql(filters)
        with self._lock:
            return duckdb_export.export(self._con, out, fmt, where, params, progress=progress)

    def totals(self, filters: CallFilter | None = None) -> pa.Table:
        """Totals by UTC day, provider and model over the selected calls.

        Columns: ``day`` (date, null when the call has no start time), ``provider``, ``model``,
        ``calls``, the six buckets, ``input_total``, ``output_total`` (sums of known values),
        ``cost`` (decimal, sum over priced calls; null when none is priced), ``unpriced``
        (calls with no cost total) and ``usage_unknown`` (calls that left a bucket or a total
        unreported). Ordered by day, provider, model.
        """
        where, params = filter_sql(filters)
        figures = (*BUCKETS, "input_total", "output_total")
        sums = ", ".join(f"sum({name})::BIGINT AS {name}" for name in figures)
        unknown = " OR ".join(f"{name} IS NULL" for name in figures)
        sql = f"""
            SELECT started_at::DATE AS day, provider,
                   coalesce(nullif(response_model, ''), request_model) AS model,
                   count(*) AS calls, {sums},
                   sum(cost_total) AS cost,
                   count(*) FILTER (WHERE cost_total IS NULL) AS unpriced,
                   count(*) FILTER (WHERE {unknown}) AS usage_unknown
            FROM calls WHERE {where}
            GROUP BY ALL
            ORDER BY day NULLS FIRST, provider NULLS FIRST, model NULLS FIRST
        """
        return self.query(sql, params)

    @property
    def dialect(self) -> DuckDBDialect:
        """DuckDB's spelling of the SQL expressions analyses need (store/duckdb_dialect.py)."""
        return _DIALECT

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one read-only SQL query (``?`` placeholders) and return its result as an Arrow table.

        Raises:
            StoreError: The statement is not a query (SELECT, WITH or FROM), or DuckDB rejected it.
        """
        if not sql.lstrip().upper().startswith(("SELECT", "WITH", "FROM")):
            raise StoreError("Store.query runs read-only queries: start the SQL with SELECT, WITH or FROM")
        try:
            with self._lock:
                return arrow_table(self._con, sql, list(params or ()))
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: the analysis query failed: {exc}") from exc

    def table_columns(self, table: str) -> tuple[str, ...]:
        """The column names of ``table`` in order; empty when there is no such table."""
        with self._lock:
            rows = self._con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = 'main' ORDER BY ordinal_position",
                [table],
            ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def count(self, table: Literal["calls", "charges"] = "calls") -> int:
        """How many rows ``table`` holds."""
        if table not in _TABLES:
            raise StoreError(f"unknown table {table!r}; expected one of {', '.join(_TABLES)}")
        with self._lock:
            rows = self._con.execute(f"SELECT count(*) FROM {table}").fetchall()
        return int(rows[0][0]) if rows else 0

    # -- findings (store/findings.py) ---------------------------------------------------------

    def save_findings(self, findings: Sequence[Finding], audit: AuditRecord) -> int:
        """Store an audit's findings, replacing the earlier audits of the same scope it covers.

        Returns:
            How many earlier audits were replaced.
        """
        self._check_writable()
        with self._lock:
            return store_findings.save(self._con, findings, audit)

    def load_findings(self, audit_id: str | None = None) -> list[Finding]:
        """The findings of ``audit_id`` (the latest audit when None), ranked by wasted cost."""
        with self._lock:
            return store_findings.load(self._con, audit_id)

    # -- budget policies (store/budgets.py) ---------------------------------------------------

    def save_budget_policy(self, name: str, definition: str) -> bool:
        """Store (or replace) the budget policy ``name`` (JSON text); True when it replaced one."""
        self._check_writable()
        with self._lock:
            return store_budgets.save(self._con, name, definition, utc_now())

    def delete_budget_policy(self, name: str) -> bool:
        """Remove the budget policy ``name``; True when there was one."""
        self._check_writable()
        with self._lock:
            return store_budgets.delete(self._con, name)

    def budget_policies(self) -> list[store_budgets.StoredPolicy]:
        """The stored budget policies, by name."""
        with self._lock:
            return store_budgets.load(self._con)

    # -- virtual keys (store/virtual_keys.py) -------------------------------------------------

    def add_virtual_key(self, key: store_keys.StoredKey) -> None:
        """Store one issued virtual key (its hash only)."""
        self._check_writable()
        with self._lock:
            store_keys.insert(self._con, key)

    def revoke_virtual_keys(self, key_hashes: Sequence[str]) -> list[str]:
        """Revoke the keys of these exact hashes (those not revoked yet); their hashes."""
        self._check_writable()
        with self._lock:
            return store_keys.revoke(self._con, key_hashes, utc_now())

    def virtual_keys(self) -> list[store_keys.StoredKey]:
        """Every issued virtual key, oldest first."""
        with self._lock:
            return store_keys.load(self._con)

    # -- collector events (store/duckdb_events.py) --------------------------------------------

    def write_events(self, batch: EventBatch, *, pricer: PricerLike) -> EventCounts:
        """Store calls (priced when they carry no cost), charges, outcomes and spans in one transaction."""
        self._check_writable()
        with self._lock:
            return duckdb_events.write_events(self, batch, pricer=pricer)

    def write_priced_events(self, batch: EventBatch) -> EventCounts:
        """Like :meth:`write_events`, for calls that all carry their cost: nothing is priced here."""
        self._check_writable()
        with self._lock:
            return duckdb_priced.write_priced_events(self, batch)

    def insert_outcomes(
        self, outcomes: Iterable[OutcomeEvent] | pa.Table, *, source: str | None = None
    ) -> InsertResult:
        """Store outcome events; one already stored (same target, id and time) is skipped."""
        self._check_writable()
        with self._lock:
            table = duckdb_events.outcome_rows(outcomes, source)
            return duckdb_events.insert_keyed(self._con, "outcomes", table, self.next_stamp())

    def insert_spans(self, spans: pa.Table) -> InsertResult:
        """Store trace spans (``spans`` columns); one already stored (same trace and span id) is skipped."""
        self._check_writable()
        with self._lock:
            return duckdb_events.insert_keyed(self._con, "spans", spans, self.next_stamp())

    def calls_page(self, filters: CallFilter | None = None, *, limit: int = 100, offset: int = 0) -> pa.Table:
        """Up to ``limit`` selected calls after the first ``offset``, newest first; a session selects
        its calls as a session's records hold them (their own session, else their trace's)."""
        session = None if filters is None else filters.session_id
        if filters is not None and session is not None:  # matched below on the call's session or its trace's
            filters = dataclasses.replace(filters, session_id=None)
        where, params = filter_sql(filters)
        return duckdb_events.calls_page(self, where, params, session_id=session, limit=limit, offset=offset)

    def call_by_id(self, call_id: str) -> pa.Table:
        """The stored call with this id, as a table of zero or one row."""
        return duckdb_events.call_by_id(self, call_id)

    def sessions_page(
        self, filters: CallFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> pa.Table:
        """Sessions with their totals, most recently active first (columns in store/duckdb_events.py)."""
        charges = filter_sql(filters, time_column='"at"', with_model=False)
        if filters is not None and (filters.provider is not None or filters.model is not None):
            charges = ("FALSE", [])  # charges have no provider or model: none selects a session
        return duckdb_events.sessions_page(self, filter_sql(filters), charges, limit=limit, offset=offset)

    def session_records(self, session_id: str) -> SessionRecords:
        """A session's calls, charges, outcomes and spans."""
        return duckdb_events.session_records(self, session_id)

    def outcomes_table(self, target: Literal["call", "session"], ids: Sequence[str]) -> pa.Table:
        """The outcomes recorded for these calls or sessions, oldest first."""
        return duckdb_events.outcomes_of(self, target, ids)

    def events_count(self, table: Literal["outcomes", "spans"]) -> int:
        """How many rows the ``outcomes`` or ``spans`` table holds."""
        return duckdb_events.table_count(self, table)


def _insert_batch_sql(table_name: str, repeats: bool) -> str:
    """Insert ``_tokenomy_batch`` rows whose id is new; with ``repeats``, only the first of each id."""
    first = "QUALIFY row_number() OVER (PARTITION BY b.id ORDER BY b._ord) = 1" if repeats else ""
    return f"""
        INSERT INTO {table_name} BY NAME
        SELECT b.* EXCLUDE (_ord, imported_at), ?::TIMESTAMP AS imported_at
        FROM _tokenomy_batch b ANTI JOIN {table_name} t ON t.id = b.id
        {first}
    """
