"""Native JSONL into DuckDB: checked SQL passes straight into the tables, or line by line for bad files.

The fast path never parses a line in Python (DESIGN sections 9 and 11) and reads the file twice
(a survey, then the calls' insert):

1. a survey reads a few columns of every line (store/duckdb_sql.py, ``keys_survey_sql``): how
   many calls and charges there are, and the distinct price keys of the calls without a cost,
   which :meth:`Pricer.price_table` prices into a small table (store/duckdb_pricing.py). When
   the file may hold charges (the text ``"charge"`` occurs in its first 64 MiB), the survey
   (``lines_select``) keeps the charge lines whole and checked in a narrow temporary table, so
   the file is not read a third time for them (it is when the search missed them), and tells
   whether an id repeats;
2. in one transaction, one statement reads the call lines, checks every value, prices the calls
   and inserts those whose id is new; a second inserts the new charges;
   the few calls SQL cannot price are then priced by :meth:`Pricer.price` in Python;
3. a line the checks cannot vouch for (or malformed JSON, or a container of the wrong kind)
   aborts the statement: the transaction rolls back and the file goes to the Python path
   (store/native_file.py), which reports each bad record with its line and field and stores the
   good ones (or, strict, nothing).

When an id repeats inside the file, the checked rows are staged in a temporary table first, in
file order, so that the first occurrence in the file wins. The narrow survey does not read the
ids: then the calls are inserted directly and, only if an id turns out to repeat among them,
deleted and inserted again through the stage, in the same transaction. Calls that carry a cost
keep it: history is never rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import StoreError
from tokenomy.pricing import PriceKey
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.base import ImportResult, PricerLike, Progress
from tokenomy.store.duckdb_pricing import (
    drop_rates,
    insert_calls_sql,
    insert_charges_sql,
    load_rates,
    price_leftovers,
)
from tokenomy.store.duckdb_progress import Poller, tracked
from tokenomy.store.duckdb_sql import (
    calls_select,
    charges_select,
    keys_survey_sql,
    lines_select,
    pricing_flags,
    survey_sql,
)
from tokenomy.store.native_file import Batch, check_file, may_hold_charges, read_batches
from tokenomy.store.session_days import roll_sessions

if TYPE_CHECKING:
    from tokenomy.store.duckdb import DuckDBStore

STAGE: Final = "_tokenomy_stage"
CHARGE_STAGE: Final = "_tokenomy_charge_stage"
_DISABLED: Final = ("build_side_probe_side", "in_clause")
"""Optimizers off during an import (see :func:`_import_settings`)."""
LINES: Final = "_tokenomy_lines"
_SURVEY_SHARE: Final = 0.25
"""The part of the progress bar the survey takes (it reads few columns, so it is quicker)."""


def import_file(
    store: DuckDBStore,
    path: Path,
    *,
    pricer: PricerLike,
    strict: bool,
    progress: Progress | None,
    keep_content: bool = True,
) -> ImportResult:
    """Import one native JSONL file into ``store`` (see the module docstring); without
    ``keep_content`` no prompt or completion text is stored, on either path.

    Raises:
        ImportFileError: The file is missing, empty, compressed or binary.
    """
    size = check_file(path)
    result = _fast_path(store, path, size, pricer, progress, keep_content)
    if result is None:
        result = import_line_by_line(
            store, path, pricer=pricer, strict=strict, progress=progress, keep_content=keep_content
        )
    if progress is not None:
        progress(size, size)
    return result


# ---------------------------------------------------------------------------------------------
# fast path


@dataclass(frozen=True, slots=True)
class _Survey:
    """What the survey pass found (see :func:`tokenomy.store.duckdb_sql.survey_sql`)."""

    calls: int
    charges: int
    repeats: bool | None
    """Whether an id repeats in the file; None when the survey did not read the ids."""
    keys: list[PriceKey]
    charge_lines: str
    """Where :func:`charges_select` finds the charges: :data:`LINES`, or the file read again."""


@dataclass(frozen=True, slots=True)
class _Meter:
    """Progress over the file's bytes, in shares: each pass reports within its own share."""

    size: int
    progress: Progress | None

    def span(self, con: duckdb.DuckDBPyConnection, start: float, end: float) -> _Polling:
        return _Polling(con, self, start, end)


def _fast_path(  # noqa: PLR0917  (one call site)
    store: DuckDBStore,
    path: Path,
    size: int,
    pricer: PricerLike,
    progress: Progress | None,
    keep_content: bool,
) -> ImportResult | None:
    con = store.connection
    meter = _Meter(size, progress)
    try:
        with _import_settings(con, progress=progress is not None):  # restored after a rollback too
            survey = _survey(con, path, meter)
            load_rates(con, pricer, survey.keys)
            stamp = store.next_stamp()
            con.execute("BEGIN TRANSACTION")
            try:
                calls, charges = _insert_file(
                    con, calls_select(str(path), keep_content=keep_content), survey, pricer, stamp, meter
                )
                try:
                    roll_sessions(con, stamp)
                except duckdb.Error as exc:  # not a line SQL cannot vouch for: no second reading
                    raise StoreError(f"{path}: the session rollup could not be updated: {exc}") from exc
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
    except duckdb.Error:
        return None  # a line SQL cannot vouch for: the Python path says which, and why
    finally:
        _drop_stages(con)
    result = ImportResult(
        path=str(path),
        calls=calls,
        duplicates=survey.calls - calls,
        charges=charges,
        charge_duplicates=survey.charges - charges,
    )
    return store.import_stats(stamp, result)


def _survey(con: duckdb.DuckDBPyConnection, path: Path, meter: _Meter) -> _Survey:
    """Survey the file; its charges are kept in :data:`LINES` unless it cannot hold any.

    Keeping them costs the survey a little on every line, and saves a third read of a file
    that holds charges; a byte search over the file's start tells most files without any.
    Those get the narrowest survey (:func:`keys_survey_sql`), which leaves repeated ids to be
    found after the insert.
    """
    keep = may_hold_charges(path)
    with meter.span(con, 0.0, _SURVEY_SHARE):
        if keep:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {LINES} AS {lines_select(str(path))}")
            rows = con.execute(survey_sql(LINES)).fetchall()  # one row
        else:
            rows = con.execute(keys_survey_sql(str(path))).fetchall()  # one row
    calls, charges, distinct, keys = rows[0]
    return _Survey(
        calls=int(calls),
        charges=int(charges),
        repeats=None if distinct is None else int(distinct) < int(calls) + int(charges),
        keys=[PriceKey(**key) for key in keys or ()],
        charge_lines=LINES if keep else f"({lines_select(str(path))})",
    )


def _insert_file(  # noqa: PLR0917  (one call site)
    con: duckdb.DuckDBPyConnection,
    select: str,
    survey: _Survey,
    pricer: PricerLike,
    stamp: datetime,
    meter: _Meter,
) -> tuple[int, int]:
    """Insert the file's new calls (priced) and charges; returns how many of each were stored.

    Calls go straight from the checked read into their table, unless an id repeats in the file:
    then the checked rows are staged first, in file order, so that the first of each id wins.
    When the survey did not read the ids, repeats are looked for among the rows just inserted;
    if there are any, those rows are deleted and the calls inserted again through the stage
    (a second read, only for such files). Charges are staged unless the survey saw no repeat.
    """
    calls = charges = 0
    if survey.calls:
        with meter.span(con, _SURVEY_SHARE, 1.0):
            if survey.repeats:
                calls = _insert_staged_calls(con, select, stamp)
            else:
                calls = _count(con.execute(insert_calls_sql(select), [stamp]))
                if survey.repeats is None and _repeats_among(con, "calls", stamp):
                    con.execute("DELETE FROM calls WHERE imported_at = ?", [stamp])
                    calls = _insert_staged_calls(con, select, stamp)
        price_leftovers(con, pricer, stamp)
    if survey.charges:  # from the survey's table, when it kept them
        source, skip = charges_select(survey.charge_lines), ""
        if survey.repeats is not False:
            source, skip = _staged(con, CHARGE_STAGE, source)
        charges = _count(con.execute(insert_charges_sql(source, skip=skip), [stamp]))
    return calls, charges


def _insert_staged_calls(con: duckdb.DuckDBPyConnection, select: str, stamp: datetime) -> int:
    """Insert the file's calls (``select``: :func:`calls_select`) through a stage in file order, the
    first of each repeated id only."""
    source, skip = _staged(con, STAGE, select)
    return _count(con.execute(insert_calls_sql(source, skip=skip), [stamp]))


def _repeats_among(con: duckdb.DuckDBPyConnection, table: str, stamp: datetime) -> bool:
    """True when an id repeats among the rows ``table`` got at ``stamp``."""
    rows = con.execute(
        f"SELECT count(*) > count(DISTINCT id) FROM {table} WHERE imported_at = ?", [stamp]
    ).fetchall()
    return bool(rows[0][0])


def _staged(con: duckdb.DuckDBPyConnection, table: str, source: str) -> tuple[str, str]:
    """Stage ``source`` in ``table`` in file order; returns (new source, anti-join of repeats).

    The order holds because the checked reads hold no join (see :func:`_import_settings`), so
    DuckDB writes the rows in the order it read them, whatever the number of threads.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {source}")
    return f"SELECT rowid AS _row, * FROM {table}", _skip_repeats(con, table)


@contextmanager
def _import_settings(con: duckdb.DuckDBPyConnection, *, progress: bool) -> Iterator[None]:
    """The connection's settings for one import, set before its transaction and restored after.

    Hash joins are built on their right side, as the inserts are written: the planner cannot
    know how many lines the file has (it guesses a few dozen), so it would build the hash
    tables on the file's side instead, every column of every line held in memory before the
    first row is written; as written, they hold the price table and the stored ids. A long
    ``IN (...)`` list is kept as an expression rather than planned as a join, and insertion
    order is preserved: otherwise the rows of a stage could be written out of file order on
    several threads, and a later repeat of an id could win. With ``progress``, DuckDB tracks
    each statement's progress (see :class:`_Polling`), printing nothing. A statement of an
    aborted transaction cannot change a setting, so these are restored outside it, after the
    rollback.
    """
    names = ("disabled_optimizers", "preserve_insertion_order")
    rows = con.execute(f"SELECT {', '.join(f'current_setting({n!r})' for n in names)}").fetchall()
    before = dict(zip(names, rows[0], strict=True))
    disabled = ",".join(filter(None, (str(before["disabled_optimizers"]), *_DISABLED)))
    con.execute("SET disabled_optimizers = ?", [disabled])
    con.execute("SET preserve_insertion_order = true")
    try:
        with tracked(con) if progress else nullcontext():
            yield
    finally:
        for name, value in before.items():
            con.execute(f"SET {name} = ?", [value])


def _skip_repeats(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """An anti-join that drops every row of ``table`` but the first of each id ('' when none repeat)."""
    rows = con.execute(f"SELECT count(*) > count(DISTINCT id) FROM {table}").fetchall()
    if not rows[0][0]:
        return ""
    repeats = f"{table}_repeats"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {repeats} AS SELECT rowid AS _row FROM {table}"
        " QUALIFY row_number() OVER (PARTITION BY id ORDER BY rowid) > 1"
    )
    return f"ANTI JOIN {repeats} d ON d._row = s._row"


def _drop_stages(con: duckdb.DuckDBPyConnection) -> None:
    for table in (STAGE, CHARGE_STAGE):
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP TABLE IF EXISTS {table}_repeats")
    con.execute(f"DROP TABLE IF EXISTS {LINES}")
    drop_rates(con)


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    rows = cursor.fetchall()  # fetchall: a half-read result blocks the connection's next register()
    return int(rows[0][0]) if rows else 0


class _Polling:
    """Reports the running statement's progress within a share of the file (:class:`Poller`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, meter: _Meter, start: float, end: float) -> None:
        report = meter.progress
        self._poller = (
            None
            if report is None  # DuckDB tracks progress when asked to (see _import_settings)
            else Poller(
                con,
                lambda percent: report(int(meter.size * (start + (end - start) * percent / 100)), meter.size),
            )
        )

    def __enter__(self) -> None:
        if self._poller is not None:
            self._poller.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._poller is not None:
            self._poller.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# Python path, and calls given as records


def import_line_by_line(
    store: DuckDBStore,
    path: Path,
    *,
    pricer: PricerLike,
    strict: bool = False,
    progress: Progress | None = None,
    keep_content: bool = True,
) -> ImportResult:
    """The Python path on its own: every line read with :func:`tokenomy.native.call_from_native`
    (its text dropped without ``keep_content``).

    :func:`import_file` takes it when the fast path cannot vouch for a file; tests and
    benchmarks call it directly to compare the two paths.
    """
    size = check_file(path)
    result = ImportResult(path=str(path), fast_path=False)
    stamp = store.next_stamp()
    con = store.connection
    con.execute("BEGIN TRANSACTION")
    try:
        for batch in read_batches(path):
            if strict and batch.errors:
                con.execute("ROLLBACK")
                result.reject(min(batch.errors, key=lambda e: e.record))
                result.aborted = True
                return result
            for error in batch.errors:
                result.reject(error)
            if not keep_content:
                batch.calls = [c.replace(content=None) if c.content is not None else c for c in batch.calls]
            _store_batch(store, stamp, pricer, batch, result)
            if progress is not None:
                progress(min(batch.position, size), size)
        roll_sessions(con, stamp)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return store.import_stats(stamp, result)


def _store_batch(
    store: DuckDBStore, stamp: datetime, pricer: PricerLike, batch: Batch, result: ImportResult
) -> None:
    if batch.calls:
        inserted = insert_unpriced_calls(
            store, calls_to_arrow(batch.calls, imported_at=stamp), pricer=pricer, stamp=stamp
        )
        result.calls += inserted
        result.duplicates += len(batch.calls) - inserted
    if batch.charges:
        stored = store.insert_arrow("charges", charges_to_arrow(batch.charges, imported_at=stamp), stamp)
        result.charges += stored.inserted
        result.charge_duplicates += stored.duplicates
    if batch.outcomes:
        from tokenomy.store import duckdb_events  # noqa: PLC0415  (duckdb_events imports this module)

        rows = duckdb_events.outcome_rows(batch.outcomes, "import:native")
        result.outcomes += duckdb_events.insert_keyed(store.connection, "outcomes", rows, stamp).inserted


def insert_unpriced_calls(store: DuckDBStore, calls: pa.Table, *, pricer: PricerLike, stamp: datetime) -> int:
    """Price the calls of an Arrow table that carry no cost (in SQL where it can), and insert the new ones.

    ``calls`` has the ``calls`` columns; calls with a cost keep it. Runs inside the caller's
    transaction. Returns how many calls were stored (known and repeated ids are skipped; the
    first of repeated ids wins).
    """
    con = store.connection
    con.register("_tokenomy_calls_arrow", calls)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGE} AS"
            f" SELECT *, {pricing_flags('cost_currency IS NOT NULL')} FROM _tokenomy_calls_arrow"
        )
    finally:
        con.unregister("_tokenomy_calls_arrow")
    try:
        keys = con.execute(
            f"SELECT DISTINCT nullif(provider, ''), _model, _day, nullif(service_tier, ''), batch"
            f" FROM {STAGE} WHERE _pricing IN ('flagged', 'empty', 'full')"
        ).fetchall()
        load_rates(con, pricer, [PriceKey(*key) for key in keys])
        source = f"SELECT rowid AS _row, * FROM {STAGE}"
        inserted = _count(con.execute(insert_calls_sql(source, skip=_skip_repeats(con, STAGE)), [stamp]))
        price_leftovers(con, pricer, stamp, among=f"SELECT id FROM {STAGE}")
    finally:
        _drop_stages(con)
    return inserted
