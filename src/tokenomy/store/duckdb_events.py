"""The collector's SQL on the DuckDB store: event writes in one transaction, and the API's reads.

Writes run on the store's own connection, under its lock, in one transaction: calls (priced
in SQL where they carry no cost, as the native import prices them), charges, outcomes and
spans, each idempotent (known keys skipped, the first of repeated keys kept). Reads run on a
cursor of their own (a second connection to the same database), so the REST API reads a
consistent snapshot without waiting for a write in progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import StoreError
from tokenomy.schema import OutcomeEvent
from tokenomy.store.base import InsertResult, PricerLike, trace_sessions_sql
from tokenomy.store.duckdb_compat import arrow_table
from tokenomy.store.duckdb_import import insert_unpriced_calls
from tokenomy.store.events import EventBatch, EventCounts, SessionRecords, outcomes_to_arrow
from tokenomy.store.session_days import roll_event_batch

if TYPE_CHECKING:
    from tokenomy.store.duckdb import DuckDBStore

KEYS: Final = {"outcomes": ("target", "id", "at"), "spans": ("trace_id", "span_id")}
"""The identity of a row of each collector table."""
_ARROW: Final = "_tokenomy_events_arrow"
_NAMED: Final = "_tokenomy_named_ids"
_OF_SESSION: Final = """
    (c.session_id = ? OR (c.session_id IS NULL AND c.trace_id IN (
        SELECT n.trace_id FROM (SELECT trace_id FROM calls WHERE session_id = ?
                                UNION SELECT trace_id FROM spans WHERE session_id = ?) n
        WHERE n.trace_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM calls o WHERE o.trace_id = n.trace_id AND o.session_id <> ?)
          AND NOT EXISTS (SELECT 1 FROM spans o WHERE o.trace_id = n.trace_id AND o.session_id <> ?))))
"""
"""The calls of one session (its parameters: the session id, five times), by the rule of
:func:`tokenomy.store.base.trace_sessions_sql` (its own, or its trace's when the trace names it
alone), found from the session's own traces rather than by reading every call's session (2.9 s
for one session of a 3M-call store, 0.4 s this way)."""


# ---------------------------------------------------------------------------------------------
# writing


def write_events(store: DuckDBStore, batch: EventBatch, *, pricer: PricerLike) -> EventCounts:
    """Store a batch of calls, charges, outcomes and spans in one transaction.

    Raises:
        StoreError: The database refused the write; nothing of the batch is stored.
    """
    con = store.connection
    stamp = store.next_stamp()
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            counts = EventCounts(
                calls=insert_unpriced_calls(store, batch.calls, pricer=pricer, stamp=stamp)
                if batch.calls.num_rows
                else 0,
                charges=store.insert_arrow("charges", batch.charges, stamp).inserted,
                outcomes=insert_keyed(con, "outcomes", batch.outcomes, stamp).inserted,
                spans=insert_keyed(con, "spans", batch.spans, stamp).inserted,
            )
            pairs = roll_event_batch(con, stamp, store.session_pairs, batch, counts)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: the events could not be stored and were rolled back: {exc}") from exc
    store.session_pairs.remember(pairs)
    return counts


def insert_keyed(
    con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table, stamp: datetime
) -> InsertResult:
    """Insert an Arrow batch into ``outcomes`` or ``spans``, skipping known and repeated keys (first wins)."""
    if batch.num_rows == 0:
        return InsertResult(0, 0)
    keys = KEYS[table]
    on = " AND ".join(f'b."{k}" IS NOT DISTINCT FROM t."{k}"' for k in keys)
    partition = ", ".join(f'b."{k}"' for k in keys)
    if table == "outcomes":
        batch = _retargeted(con, batch)
    ordinal = pa.array(range(batch.num_rows), type=pa.int64())
    con.register(_ARROW, batch.append_column("_ord", ordinal))
    try:
        row = con.execute(
            f"""INSERT INTO {table} BY NAME
            SELECT b.* EXCLUDE (_ord, imported_at), coalesce(b.imported_at, ?::TIMESTAMP) AS imported_at
            FROM {_ARROW} b ANTI JOIN {table} t ON {on}
            QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY b._ord) = 1""",
            [stamp],
        ).fetchall()
    finally:
        con.unregister(_ARROW)
    inserted = int(row[0][0]) if row else 0
    return InsertResult(inserted, batch.num_rows - inserted)


def outcome_rows(outcomes: Iterable[OutcomeEvent] | pa.Table, source: str | None = None) -> pa.Table:
    """Outcome events (or an Arrow table of them) as an ``outcomes`` Arrow table, its times naive UTC
    as the table keeps them (a hand-built table's aware times compared unequal in the session's time
    zone, and a replay was stored twice)."""
    if not isinstance(outcomes, pa.Table):
        return outcomes_to_arrow(outcomes, source=source)
    for index, column in enumerate(outcomes.schema):
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            naive = pa.timestamp(column.type.unit)  # Arrow keeps UTC instants: the same values, no zone
            outcomes = outcomes.set_column(index, column.name, outcomes.column(index).cast(naive))
    return outcomes


def _retargeted(con: duckdb.DuckDBPyConnection, batch: pa.Table) -> pa.Table:
    """The outcomes of ``batch``, one named to a call id that no stored call has but a stored session
    has (its calls' or charges') taken for that session's: ``record_outcome("chat-42")`` in a process
    that never opened the session (a feedback worker) names a call, and matched nothing. One already
    stored as a call's (same id and time) stays one, so a replay is stored once. The stored ids are
    probed against the few named ones (no pass that hashes the stored tables)."""
    targets, ids = batch.column("target").to_pylist(), batch.column("id").to_pylist()
    named = {i for t, i in zip(targets, ids, strict=True) if t == "call" and i is not None}
    if not named:
        return batch
    con.register(_NAMED, pa.table({"id": pa.array(sorted(named), type=pa.string())}))
    try:
        sessions = {
            row[0]
            for row in con.execute(
                f"""SELECT n.id FROM {_NAMED} n
                ANTI JOIN (SELECT c.id FROM calls c SEMI JOIN {_NAMED} k ON c.id = k.id) known
                    ON known.id = n.id
                SEMI JOIN (SELECT c.session_id AS id FROM calls c SEMI JOIN {_NAMED} k ON c.session_id = k.id
                           UNION ALL
                           SELECT g.session_id FROM charges g SEMI JOIN {_NAMED} k ON g.session_id = k.id) s
                    ON s.id = n.id"""
            ).fetchall()
        }
    finally:
        con.unregister(_NAMED)
    if not sessions:
        return batch
    kept = {
        (row[0], row[1])
        for row in con.execute(
            "SELECT id, \"at\" FROM outcomes WHERE target = 'call' AND list_contains(?, id)",
            [sorted(sessions)],
        ).fetchall()
    }
    times = batch.column("at").to_pylist()  # naive UTC, as the table keeps them (outcome_rows)
    moved = [
        "session" if t == "call" and i in sessions and (i, at) not in kept else t
        for t, i, at in zip(targets, ids, times, strict=True)
    ]
    return batch.set_column(batch.schema.get_field_index("target"), "target", pa.array(moved, pa.string()))


# ---------------------------------------------------------------------------------------------
# reading


def _read(store: DuckDBStore, sql: str, params: Sequence[Any]) -> pa.Table:
    cursor = store.connection.cursor()
    try:
        return arrow_table(cursor, sql, list(params))
    finally:
        cursor.close()


def calls_page(
    store: DuckDBStore,
    where: str,
    params: Sequence[Any],
    *,
    session_id: str | None = None,
    limit: int,
    offset: int,
) -> pa.Table:
    """Up to ``limit`` calls matching ``where`` (and of session ``session_id``, their own or their
    trace's, as :func:`session_records` reads a session) after the first ``offset``, newest first
    (then by id)."""
    if session_id is not None:
        where, params = f"({where}) AND {_OF_SESSION}", [*params, *[session_id] * _OF_SESSION.count("?")]
    sql = f"SELECT * FROM calls c WHERE {where} ORDER BY started_at DESC NULLS LAST, id LIMIT ? OFFSET ?"
    return _read(store, sql, [*params, limit, offset])


def call_by_id(store: DuckDBStore, call_id: str) -> pa.Table:
    """The call with this id (zero or one row)."""
    return _read(store, "SELECT * FROM calls WHERE id = ? LIMIT 1", [call_id])


def outcomes_of(store: DuckDBStore, target: str, ids: Sequence[str]) -> pa.Table:
    """The outcomes recorded for these calls or sessions, oldest first."""
    keys = pa.table({"id": pa.array(list(dict.fromkeys(ids)), type=pa.string())})
    cursor = store.connection.cursor()
    try:
        cursor.register("_tokenomy_outcome_ids", keys)
        return arrow_table(
            cursor,
            "SELECT o.* FROM outcomes o SEMI JOIN _tokenomy_outcome_ids k ON k.id = o.id"
            ' WHERE o.target = ? ORDER BY o."at", o.id',
            [target],
        )
    finally:
        cursor.close()


def sessions_page(
    store: DuckDBStore,
    where: tuple[str, Sequence[Any]],
    charges_where: tuple[str, Sequence[Any]],
    *,
    limit: int,
    offset: int,
) -> pa.Table:
    """Sessions with their totals, most recently active first.

    Columns: ``session_id``, ``calls``, ``first_at``, ``last_at``, ``input_tokens``,
    ``output_tokens``, ``cost`` (priced calls; null when none is), ``unpriced``, ``charges``
    (sum of the session's charges, null when none), and the session's ``success``, ``score`` and
    ``action``. ``where`` (a condition and its parameters) selects the calls counted;
    ``charges_where`` the charges that list a session with no selected call (0 calls and tokens,
    its times its charges'). The outcome is the one recorded for the session, else its selected
    calls' (a failure wins), and its action the session's, else a call's, as ``tokenomy sessions``
    reads them (:mod:`tokenomy.analysis.sessions`); the score is the session's.
    """
    sql = f"""
        WITH c AS (
            SELECT coalesce(session_id, trace_session) AS sid, id, started_at, ended_at, input_total,
                   output_total, cost_total, success, action
            FROM (SELECT c.*, ts.session_id AS trace_session FROM calls c
                  LEFT JOIN ({trace_sessions_sql(spans=True)}) ts ON ts.trace_id = c.trace_id) c
            WHERE {where[0]}
        ),
        co AS (SELECT id, arg_max_null(success, "at") AS success, arg_max_null(action, "at") AS action
               FROM outcomes WHERE target = 'call' AND id IN (SELECT id FROM c) GROUP BY id),
        totals AS (
            SELECT c.sid AS session_id, count(*) AS calls, min(c.started_at) AS first_at,
                   max(coalesce(c.ended_at, c.started_at)) AS last_at,
                   sum(c.input_total)::BIGINT AS input_tokens, sum(c.output_total)::BIGINT AS output_tokens,
                   sum(c.cost_total) AS cost, count(*) FILTER (WHERE c.cost_total IS NULL) AS unpriced,
                   bool_and(coalesce(co.success, c.success)) AS call_success,
                   max(coalesce(co.action, c.action)) AS call_action
            FROM c LEFT JOIN co ON co.id = c.id WHERE c.sid IS NOT NULL GROUP BY c.sid
        ),
        lone AS (
            SELECT session_id, 0::BIGINT AS calls, min("at") AS first_at, max("at") AS last_at,
                   0::BIGINT AS input_tokens, 0::BIGINT AS output_tokens,
                   CAST(NULL AS DECIMAL(38, 12)) AS cost, 0::BIGINT AS unpriced,
                   CAST(NULL AS BOOLEAN) AS call_success, CAST(NULL AS VARCHAR) AS call_action
            FROM charges
            WHERE session_id IS NOT NULL AND {charges_where[0]}
              AND session_id NOT IN (SELECT session_id FROM totals)
            GROUP BY session_id
        ),
        listed AS (SELECT * FROM totals UNION ALL SELECT * FROM lone),
        ch AS (SELECT session_id, sum(amount) AS charges FROM charges
               WHERE session_id IS NOT NULL GROUP BY session_id),
        o AS (SELECT id AS session_id, arg_max_null(success, "at") AS success,
                     arg_max_null(score, "at") AS score, arg_max_null(action, "at") AS action
              FROM outcomes WHERE target = 'session' GROUP BY id)
        SELECT l.session_id, l.calls, l.first_at, l.last_at, l.input_tokens, l.output_tokens, l.cost,
               l.unpriced, ch.charges, coalesce(o.success, l.call_success) AS success, o.score,
               coalesce(o.action, l.call_action) AS action
        FROM listed l LEFT JOIN ch USING (session_id) LEFT JOIN o USING (session_id)
        ORDER BY l.last_at DESC NULLS LAST, l.session_id LIMIT ? OFFSET ?
    """
    return _read(store, sql, [*where[1], *charges_where[1], limit, offset])


def session_records(store: DuckDBStore, session_id: str) -> SessionRecords:
    """The session's calls (its own, and those of traces that name it alone), charges, outcomes and
    spans (its own, and those of its calls' traces that name no session)."""
    calls = _read(
        store,
        f"SELECT * FROM calls c WHERE {_OF_SESSION} ORDER BY started_at NULLS FIRST, id",
        [session_id] * _OF_SESSION.count("?"),
    )
    traces = [t for t in dict.fromkeys(calls.column("trace_id").to_pylist()) if t is not None]
    spans = _read(
        store,
        """SELECT * FROM spans
           WHERE session_id = ? OR (session_id IS NULL AND list_contains(?::VARCHAR[], trace_id))
           ORDER BY started_at NULLS FIRST, span_id""",
        [session_id, traces],
    )
    charges = _read(store, 'SELECT * FROM charges WHERE session_id = ? ORDER BY "at", id', [session_id])
    call_ids = calls.column("id").to_pylist()
    outcomes = pa.concat_tables(
        [outcomes_of(store, "session", [session_id]), outcomes_of(store, "call", call_ids)]
    )
    return SessionRecords(calls=calls, charges=charges, outcomes=outcomes, spans=spans)


def table_count(store: DuckDBStore, table: str) -> int:
    """Rows in one of the collector's tables (``outcomes`` or ``spans``)."""
    if table not in KEYS:
        raise StoreError(f"unknown table {table!r}; expected one of {', '.join(KEYS)}")
    rows = _read(store, f"SELECT count(*) AS n FROM {table}", [])
    return int(rows.column("n")[0].as_py())
