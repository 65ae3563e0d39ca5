"""Native JSONL into DuckDB: the SQL fast path, and the line-by-line fallback when a record is bad.

The fast path never parses a line in Python (DESIGN sections 9 and 11):

1. ``read_json`` with an explicit column spec fills a staging table, every value checked in
   SQL (store/duckdb_sql.py);
2. a file with any bad row, malformed JSON or a container of the wrong kind goes to the Python
   path instead (store/native_file.py), which reports each bad record with its line and field
   and stores the good ones (or, strict, nothing);
3. calls without a cost are priced in SQL: the distinct (provider, model, day, tier, batch)
   keys go to :meth:`Pricer.price_table`, and each call joins the row of its key and
   long-context tier; the few calls SQL cannot price exactly (unknown buckets, quality flags,
   server tools, assumed rates) are priced by :meth:`Pricer.price` in Python;
4. one transaction inserts the calls and charges whose id is new (the first of repeated ids).

Calls that carry a cost keep it: history is never rewritten.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.pricing import PriceKey
from tokenomy.schema import ATTRIBUTION_FIELDS, BUCKETS, COST_PARTS
from tokenomy.store.arrow import CALLS_SCHEMA, calls_from_arrow, calls_to_arrow, charges_to_arrow
from tokenomy.store.base import ImportResult, PricerLike, Progress
from tokenomy.store.duckdb_compat import arrow_reader
from tokenomy.store.duckdb_sql import stage_sql
from tokenomy.store.native_file import Batch, check_file, read_batches

if TYPE_CHECKING:
    from tokenomy.store.duckdb import DuckDBStore

STAGE: Final = "_tokenomy_stage"
RATES: Final = "_tokenomy_rates"
PYCOST: Final = "_tokenomy_pycost"
DUPS: Final = "_tokenomy_dups"
_COST_COLUMNS: Final = (
    "cost_total",
    *(f"cost_{p}" for p in COST_PARTS),
    "cost_currency",
    "cost_source",
    "cost_price_date",
    "cost_estimated",
    "cost_reason",
)
_PYCOST_SCHEMA: Final = pa.schema(
    [("_row", pa.int64()), *[(f"p_{name}", CALLS_SCHEMA.field(name).type) for name in _COST_COLUMNS]]
)
_POLL_SECONDS: Final = 0.2


def import_file(
    store: DuckDBStore, path: Path, *, pricer: PricerLike, strict: bool, progress: Progress | None
) -> ImportResult:
    """Import one native JSONL file into ``store`` (see the module docstring).

    Raises:
        ImportFileError: The file is missing, empty, compressed or binary.
    """
    size = check_file(path)
    result = _fast_path(store, path, size, pricer, progress)
    if result is None:
        result = import_line_by_line(store, path, pricer=pricer, strict=strict, progress=progress)
    if progress is not None:
        progress(size, size)
    return result


# ---------------------------------------------------------------------------------------------
# fast path


def _fast_path(
    store: DuckDBStore, path: Path, size: int, pricer: PricerLike, progress: Progress | None
) -> ImportResult | None:
    con = store.connection
    try:
        try:
            with _polling(con, size, progress):
                con.execute(stage_sql(str(path)))
        except duckdb.Error:
            return None  # malformed JSON or a wrong container: the Python path says where
        counts = con.execute(
            f"SELECT count(*) FILTER (WHERE _bad), count(*) FILTER (WHERE NOT _is_charge),"
            f" count(*) FILTER (WHERE _is_charge) FROM {STAGE}"
        ).fetchone()
        assert counts is not None  # an aggregate always returns one row
        if counts[0]:
            return None
        stamp = store.next_stamp()
        con.execute("BEGIN TRANSACTION")
        try:
            calls, charges = _price_and_insert(con, pricer, stamp, charges=True)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        _drop_work_tables(con)
    result = ImportResult(
        path=str(path),
        calls=calls,
        duplicates=int(counts[1]) - calls,
        charges=charges,
        charge_duplicates=int(counts[2]) - charges,
    )
    return store.import_stats(stamp, result)


def _price_and_insert(
    con: duckdb.DuckDBPyConnection, pricer: PricerLike, stamp: datetime, *, charges: bool
) -> tuple[int, int]:
    """Price the staged calls that carry no cost, then insert the new calls (and charges).

    Both paths end here: the fast path with the staging table read from the file, the Python
    path with one built from the records it read. Returns (calls, charges) inserted.
    """
    _load_rates(con, pricer)
    _load_python_costs(con, pricer)
    con.execute(
        f"""CREATE TEMP TABLE {DUPS} AS SELECT s.rowid AS _row FROM {STAGE} s
        JOIN (SELECT _is_charge, id, min(rowid) AS keep FROM {STAGE} GROUP BY ALL HAVING count(*) > 1) d
          ON d._is_charge = s._is_charge AND d.id = s.id AND d.keep <> s.rowid"""
    )
    calls = _count(con.execute(_insert_calls_sql(), [stamp]))
    stored_charges = _count(con.execute(_insert_charges_sql(), [stamp])) if charges else 0
    return calls, stored_charges


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in (STAGE, RATES, PYCOST, DUPS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _polling(con: duckdb.DuckDBPyConnection, size: int, progress: Progress | None) -> Iterator[None]:
    """Report the running statement's progress (as bytes of the file) from a helper thread."""
    if progress is None:
        yield
        return
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(_POLL_SECONDS):
            percent = con.query_progress()
            if percent >= 0:
                progress(int(size * min(percent, 100.0) / 100), size)

    thread = threading.Thread(target=poll, name="tokenomy-import-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        con.execute("RESET enable_progress_bar")


def _load_rates(con: duckdb.DuckDBPyConnection, pricer: PricerLike) -> None:
    """Price the distinct keys of the SQL-priced calls, and mark calls whose rates need Python."""
    rows = con.execute(
        f"SELECT DISTINCT nullif(provider, ''), _model, _day, nullif(service_tier, ''), batch"
        f" FROM {STAGE} WHERE _regular"
    ).fetchall()
    table = pricer.price_table([PriceKey(*row) for row in rows])
    con.register("_tokenomy_rates_arrow", table)
    try:
        con.execute(
            f"""CREATE TEMP TABLE {RATES} AS SELECT *, coalesce(provider, '') AS _kp,
                coalesce(service_tier, '') AS _kt,
                lead(tier_start) OVER (PARTITION BY provider, model, day, service_tier, batch
                                       ORDER BY tier_start) AS _tier_end
            FROM _tokenomy_rates_arrow"""
        )
    finally:
        con.unregister("_tokenomy_rates_arrow")
    special = con.execute(
        f"SELECT count(*) FROM {RATES} WHERE priced AND (len(assumed_buckets) > 0"
        " OR coalesce(overhead_per_microsecond, 0) <> 0)"
    ).fetchone()
    if special and special[0]:
        assumed = " OR ".join(f"(list_contains(r.assumed_buckets, '{b}') AND s.{b} > 0)" for b in BUCKETS)
        con.execute(
            f"""UPDATE {STAGE} s SET _regular = false FROM {RATES} r
            WHERE s._regular AND {_RATE_JOIN} AND r.priced
              AND ({assumed} OR (coalesce(r.overhead_per_microsecond, 0) <> 0 AND s.latency_ms IS NULL))"""
        )


_RATE_JOIN: Final = (
    "r._kp = coalesce(nullif(s.provider, ''), '') AND r.model = s._model AND r.day = s._day"
    " AND r._kt = coalesce(nullif(s.service_tier, ''), '') AND r.batch = s.batch"
    " AND s.input_total > r.tier_start AND (r._tier_end IS NULL OR s.input_total <= r._tier_end)"
)


def _load_python_costs(con: duckdb.DuckDBPyConnection, pricer: PricerLike, batch_size: int = 50_000) -> None:
    """Price with the Pricer the calls without a cost that SQL does not price, into ``PYCOST``."""
    con.execute(f"CREATE TEMP TABLE {PYCOST} ({_pycost_ddl()})")
    reader = arrow_reader(
        con,
        f"SELECT rowid AS _row, * FROM {STAGE} WHERE NOT _is_charge AND NOT _has_cost AND NOT _regular",
        batch_size=batch_size,
    )
    costs: list[pa.Table] = []
    for batch in reader:  # the statement must finish before the connection runs another
        calls = [call.replace(cost=pricer.price(call)) for call in calls_from_arrow(batch)]
        priced = calls_to_arrow(calls)
        columns = {"_row": batch.column("_row")}
        columns.update({f"p_{name}": priced.column(name) for name in _COST_COLUMNS})
        costs.append(pa.table(columns, schema=_PYCOST_SCHEMA))
    if not costs:
        return
    con.register("_tokenomy_pycost_arrow", pa.concat_tables(costs))
    try:
        con.execute(f"INSERT INTO {PYCOST} SELECT * FROM _tokenomy_pycost_arrow")
    finally:
        con.unregister("_tokenomy_pycost_arrow")


def _pycost_ddl() -> str:
    types = {"cost_currency": "VARCHAR", "cost_source": "VARCHAR", "cost_reason": "VARCHAR"}
    types.update(cost_price_date="DATE", cost_estimated="BOOLEAN")
    return ", ".join(
        ["_row BIGINT"] + [f"p_{name} {types.get(name, 'DECIMAL(38, 12)')}" for name in _COST_COLUMNS]
    )


def _sql_costs() -> list[str]:
    """Cost expressions for SQL-priced calls (``r`` is the joined rate row), named ``_c_<column>``."""
    money = "DECIMAL(38, 12)"
    exprs = [
        f"CASE WHEN r.priced AND s.{b} <> 0 THEN CAST(s.{b} * r.rate_{b} AS {money}) END AS _c_cost_{b}"
        for b in BUCKETS
    ]
    exprs.append(f"CAST(NULL AS {money}) AS _c_cost_server_tools")
    exprs.append(
        f"CASE WHEN r.priced AND r.request_fee <> 0 THEN CAST(r.request_fee AS {money}) END"
        " AS _c_cost_requests"
    )
    overhead = (
        "coalesce(r.overhead_per_request, 0) + coalesce(r.overhead_per_microsecond, 0)"
        " * coalesce(CAST(round(s.latency_ms * 1000) AS BIGINT), 0)"
    )
    exprs.append(f"CASE WHEN r.priced THEN nullif(CAST({overhead} AS {money}), 0) END AS _c_cost_overhead")
    exprs += [
        "CASE WHEN r.model IS NOT NULL THEN 'USD' END AS _c_cost_currency",
        "CASE WHEN r.priced THEN r.source END AS _c_cost_source",
        "r.price_date AS _c_cost_price_date",
        "CASE WHEN r.priced THEN (s.usage_kind <> 'reported' OR r.estimated) ELSE false END"
        " AS _c_cost_estimated",
        "r.reason AS _c_cost_reason",
    ]
    return exprs


def _insert_calls_sql() -> str:
    parts = " + ".join(f"coalesce(_c_cost_{p}, 0)" for p in COST_PARTS)
    chosen = []
    for name in _COST_COLUMNS:
        sql_value = (
            f"CASE WHEN _priced THEN CAST({parts} AS DECIMAL(38, 12)) END"
            if name == "cost_total"
            else f"_c_{name}"
        )
        chosen.append(
            f"CASE WHEN _has_cost THEN {name} WHEN _row_p IS NOT NULL THEN p_{name}"
            f" ELSE {sql_value} END AS {name}"
        )
    plain = [f'"{f.name}"' for f in CALLS_SCHEMA if f.name not in _COST_COLUMNS and f.name != "imported_at"]
    return f"""
    INSERT INTO calls BY NAME
    SELECT {", ".join(plain)}, {", ".join(chosen)}, ?::TIMESTAMP AS imported_at
    FROM (
        SELECT s.*, r.priced AS _priced, p._row AS _row_p, p.* EXCLUDE (_row), {", ".join(_sql_costs())}
        FROM {STAGE} s
        ANTI JOIN calls c ON c.id = s.id
        ANTI JOIN {DUPS} d ON d._row = s.rowid
        LEFT JOIN {RATES} r ON s._regular AND {_RATE_JOIN}
        LEFT JOIN {PYCOST} p ON p._row = s.rowid
        WHERE NOT s._is_charge
    )
    """


def _insert_charges_sql() -> str:
    attribution = ", ".join(f's."{name}"' for name in ATTRIBUTION_FIELDS)
    return f"""
    INSERT INTO charges BY NAME
    SELECT s.id, s.session_id, s."at", s.kind, s.amount, s.currency, s.quantity, s.unit, s.description,
           {attribution}, s.tags, s.source, ?::TIMESTAMP AS imported_at
    FROM {STAGE} s
    ANTI JOIN charges c ON c.id = s.id
    ANTI JOIN {DUPS} d ON d._row = s.rowid
    WHERE s._is_charge
    """


# ---------------------------------------------------------------------------------------------
# Python path


def import_line_by_line(
    store: DuckDBStore,
    path: Path,
    *,
    pricer: PricerLike,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """The Python path on its own: every line read with :func:`tokenomy.native.call_from_native`.

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
            _store_batch(store, stamp, pricer, batch, result)
            if progress is not None:
                progress(min(batch.position, size), size)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return store.import_stats(stamp, result)


def _store_batch(
    store: DuckDBStore, stamp: datetime, pricer: PricerLike, batch: Batch, result: ImportResult
) -> None:
    con = store.connection
    if batch.calls:
        con.register("_tokenomy_calls_arrow", calls_to_arrow(batch.calls, imported_at=stamp))
        try:
            con.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT *, {_STAGED_FLAGS} FROM _tokenomy_calls_arrow")
        finally:
            con.unregister("_tokenomy_calls_arrow")
        try:
            inserted, _ = _price_and_insert(con, pricer, stamp, charges=False)
        finally:
            _drop_work_tables(con)
        result.calls += inserted
        result.duplicates += len(batch.calls) - inserted
    if batch.charges:
        stored = store.insert_arrow("charges", charges_to_arrow(batch.charges, imported_at=stamp), stamp)
        result.charges += stored.inserted
        result.charge_duplicates += stored.duplicates


_STAGED_FLAGS: Final = (
    "false AS _is_charge, cost_currency IS NOT NULL AS _has_cost, "
    "(cost_currency IS NULL AND coalesce(response_model <> '' OR request_model <> '', false)"
    " AND started_at IS NOT NULL AND len(quality) = 0 AND cardinality(server_tools) = 0 AND "
    + " AND ".join(f"{b} IS NOT NULL" for b in BUCKETS)
    + ") AS _regular, CASE WHEN response_model <> '' THEN response_model ELSE request_model END AS _model, "
    "started_at::DATE AS _day"
)
"""The flags the fast path's staging table carries, for a stage built from records."""
