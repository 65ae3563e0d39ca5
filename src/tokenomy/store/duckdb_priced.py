"""Events whose calls already carry their cost, written in one transaction with no pricing SQL.

:func:`tokenomy.store.duckdb_events.write_events` prices calls as it inserts them: it stages
the batch, loads the rates of its keys and runs one large priced insert, which costs several
statements per transaction whatever its size. The collector prices the calls it can itself
(``tokenomy.server.call_costs``: the same numbers, computed as columns) and hands them here, where
each table takes one plain insert from the Arrow batch, with the same idempotency: a known id is
skipped and the first of repeated ids wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

from tokenomy.errors import StoreError
from tokenomy.store.duckdb_events import insert_keyed
from tokenomy.store.events import EventBatch, EventCounts
from tokenomy.store.session_days import roll_event_batch

if TYPE_CHECKING:
    from tokenomy.store.duckdb import DuckDBStore

_CALLS: Final = "_tokenomy_priced_calls"


def write_priced_events(store: DuckDBStore, batch: EventBatch) -> EventCounts:
    """Store a batch whose calls all carry their cost (``cost_currency`` set), in one transaction.

    Raises:
        StoreError: A call carries no cost, or the database refused the write (nothing is stored).
    """
    unpriced = batch.calls.column("cost_currency").null_count
    if unpriced:
        raise StoreError(f"{unpriced} calls carry no cost; store them with write_events, which prices them")
    con = store.connection
    stamp = store.next_stamp()
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            counts = EventCounts(
                calls=insert_priced_calls(con, batch.calls, stamp),
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


def insert_priced_calls(con: duckdb.DuckDBPyConnection, calls: pa.Table, stamp: datetime) -> int:
    """Insert calls as they are, ``imported_at = stamp``; returns how many were new."""
    if calls.num_rows == 0:
        return 0
    repeats = pc.count_distinct(calls.column("id")).as_py() != calls.num_rows
    if repeats:
        calls = calls.append_column("_ord", pa.array(range(calls.num_rows), type=pa.int64()))
    first = "QUALIFY row_number() OVER (PARTITION BY s.id ORDER BY s._ord) = 1" if repeats else ""
    extra = ", _ord" if repeats else ""
    con.register(_CALLS, calls)
    try:
        # The known ids are found by probing the stored ids against a hash of the batch's ids,
        # rather than by hashing every stored id, which made each transaction's cost grow with
        # the store (docs/server.md, "Throughput").
        rows = con.execute(
            f"""INSERT INTO calls BY NAME
            SELECT s.* EXCLUDE (imported_at{extra}), ?::TIMESTAMP AS imported_at
            FROM {_CALLS} s
            ANTI JOIN (SELECT c.id FROM calls c SEMI JOIN {_CALLS} k ON c.id = k.id) known ON known.id = s.id
            {first}""",
            [stamp],
        ).fetchall()
    finally:
        con.unregister(_CALLS)
    return int(rows[0][0]) if rows else 0
