"""The ``session_days`` rollup: which sessions had a call or a charge on which UTC day.

Cost per session divides by the number of distinct sessions, and an exact count of 2.4M distinct
session ids costs about 0.7-1 s of CPU however it is written (a hash table of every id), which
alone took the 10M-call report past its 1 s target. The rollup keeps, at write time, each
(session, day) pair of the stored calls and charges, told apart by ``multi``: a session seen on
one day has one row of weight 1; a session seen on several days has one ``multi`` row per day.
A scope of whole UTC days then counts its sessions as the weights of its days' one-day rows plus
a distinct count of the few multi-day sessions' ids (:func:`session_units_sql`;
:func:`tokenomy.analysis.kpis.session_units` says when it applies). Rows with no start time have
a NULL day: they count only when the scope has no bounds, as the calls themselves do.

The table is only ever appended to (an UPDATE would scan all of it): when a one-day session gains
a day, its old row gets a twin of weight -1, which cancels it, and a ``multi`` twin. Every write
adds its pairs inside its own transaction: an import reads back the rows carrying its
``imported_at`` stamp (:func:`roll_sessions`); a small write of the sink or the collector whose
rows were all new adds the pairs of its own batch (:func:`add_pairs`), skipping those its writer
added lately (:class:`RecentPairs`), since a DuckDB statement costs a millisecond or more and such
writes come many a second. Both first look up the rollup's rows of the write's sessions through
the index on ``session_id``, so a pair never counts twice. The store serializes writes to one
file (store/duckdb.py), which the look-up-then-append needs. A migration that rewrites ``calls``
or ``charges`` must rebuild the rollup (:data:`SESSION_DAYS_FILL`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

from tokenomy.store.events import EventBatch, EventCounts

SESSION_DAYS: Final = "session_days"
SESSION_DAYS_DDL: Final = f"""
CREATE TABLE {SESSION_DAYS} (
    session_id VARCHAR NOT NULL,
    day DATE,
    multi BOOLEAN NOT NULL,
    weight TINYINT NOT NULL
)
"""
SESSION_DAYS_INDEX: Final = f"CREATE INDEX session_days_session ON {SESSION_DAYS} (session_id)"
"""The ids' index: a write looks up the rollup's rows of its few sessions through it instead of
scanning every row (100 ms and more a write on a store of millions of sessions; 5 ms with it)."""

_PAIRS: Final = """
SELECT DISTINCT session_id, CAST(started_at AS DATE) AS day FROM calls
WHERE session_id IS NOT NULL{and_stamp}
UNION
SELECT DISTINCT session_id, CAST("at" AS DATE) AS day FROM charges
WHERE session_id IS NOT NULL{and_stamp}
"""
SESSION_DAYS_FILL: Final = f"""
INSERT INTO {SESSION_DAYS}
SELECT session_id, day, count(*) OVER (PARTITION BY session_id) > 1, 1 FROM ({_PAIRS.format(and_stamp="")}) p
"""
"""Fill the rollup from every stored call and charge (the migration that creates it)."""


def session_units_sql(condition: str) -> str:
    """The distinct sessions of the rollup's rows where ``condition`` (over ``day``) holds.

    The sessions seen on one day only are counted by the weights of their rows (one row of +1, or
    for a session that has since gained a day, that row and its -1); only those seen on several
    days need a distinct count. Two subqueries, not ``FILTER`` clauses: DuckDB would hash every
    id for a filtered ``count(DISTINCT ...)``. The condition's parameters are needed twice.
    """
    return (
        f"SELECT (SELECT coalesce(sum(weight), 0) FROM {SESSION_DAYS} WHERE NOT multi AND ({condition})) "
        f"+ (SELECT count(DISTINCT session_id) FROM {SESSION_DAYS} WHERE multi AND ({condition})) AS units"
    )


_SAME_PAIR: Final = "k.session_id = c.session_id AND k.day IS NOT DISTINCT FROM c.day"
_BY_STAMP: Final = (
    "CREATE OR REPLACE TEMP TABLE _tokenomy_session_cand AS "
    + _PAIRS.format(and_stamp=" AND imported_at = $stamp"),
    f"""CREATE OR REPLACE TEMP TABLE _tokenomy_session_known AS
    SELECT s.session_id, s.day, s.multi FROM {SESSION_DAYS} s
    SEMI JOIN _tokenomy_session_cand c ON s.session_id = c.session_id""",
    f"""INSERT INTO {SESSION_DAYS}
    WITH k AS (
        SELECT session_id, count(DISTINCT coalesce(day, DATE '0001-01-01')) AS days,
               bool_or(multi) AS was_multi, any_value(day) AS only_day
        FROM _tokenomy_session_known GROUP BY session_id
    ),
    a AS (
        SELECT c.session_id, c.day, count(*) OVER (PARTITION BY c.session_id) AS n
        FROM _tokenomy_session_cand c ANTI JOIN _tokenomy_session_known k ON {_SAME_PAIR}
    ),
    t AS (
        SELECT a.session_id, a.day, a.n + coalesce(k.days, 0) > 1 AS multi,
               a.n > 0 AND k.days = 1 AND NOT k.was_multi AS corrects, k.only_day
        FROM a LEFT JOIN k USING (session_id)
    )
    SELECT session_id, day, multi, 1 FROM t
    UNION ALL SELECT DISTINCT session_id, only_day, FALSE, -1 FROM t WHERE corrects
    UNION ALL SELECT DISTINCT session_id, only_day, TRUE, 1 FROM t WHERE corrects""",
)


def roll_sessions(con: duckdb.DuckDBPyConnection, stamp: datetime) -> None:
    """Add the (session, day) pairs of the calls and charges stored with ``imported_at = stamp``.

    Run it inside the write's transaction, after its last insert or delete. The rollup's rows of
    the stamp's sessions are found through its index; pairs already there are not added again.
    A session seen on one day that gains a second is corrected without an update (an update
    scans the whole table): its old row gets a -1 twin that cancels it, and a multi-day twin.
    """
    try:
        con.execute(_BY_STAMP[0], {"stamp": stamp})
        row = con.execute("SELECT count(*) FROM _tokenomy_session_cand").fetchone()
        if row and row[0]:  # nothing to look up after a write that stored no session's row
            for statement in _BY_STAMP[1:]:
                con.execute(statement)
    finally:
        for table in ("_tokenomy_session_cand", "_tokenomy_session_known"):
            with suppress(
                duckdb.Error
            ):  # a failed write's transaction refuses even this; rollback drops them
                con.execute(f"DROP TABLE IF EXISTS {table}")


Pair = tuple[str, date | None]


def batch_pairs(tables: Iterable[tuple[pa.Table, str]]) -> set[Pair]:
    """The (session, day) pairs of Arrow tables of calls or charges, each with its time column."""
    out: set[Pair] = set()
    for table, time_column in tables:
        sessions = table.column("session_id")
        if sessions.null_count == table.num_rows:  # no rows, or none in a session
            continue
        days = pc.cast(table.column(time_column), pa.date32()).to_pylist()
        out.update((s, d) for s, d in zip(sessions.to_pylist(), days, strict=True) if s is not None)
    return out


def add_pairs(con: duckdb.DuckDBPyConnection, pairs: set[Pair]) -> set[Pair]:
    """Add the pairs the rollup lacks (inside the write's transaction); returns those added.

    The same as :func:`roll_sessions` for a few pairs known in Python: one lookup of the rows of
    their sessions, then one insert.
    """
    if not pairs:
        return set()
    sessions = pa.table({"session_id": sorted({s for s, _ in pairs})})
    with _registered(con, "_tokenomy_sessions", sessions):
        known = con.execute(
            f"SELECT s.session_id, s.day, s.multi FROM {SESSION_DAYS} s "
            "SEMI JOIN _tokenomy_sessions c ON s.session_id = c.session_id"
        ).fetchall()
    days: dict[str, set[date | None]] = defaultdict(set)
    was_multi: set[str] = set()
    for session, day, multi in known:
        days[session].add(day)
        if multi:
            was_multi.add(session)
    added = {p for p in pairs if p[1] not in days.get(p[0], ())}
    if not added:
        return added
    new_days: dict[str, set[date | None]] = defaultdict(set)
    for session, day in added:
        new_days[session].add(day)
    rows: list[tuple[str, date | None, bool, int]] = []
    for session, day in sorted(added, key=lambda p: (p[0], p[1] or date.min)):
        rows.append((session, day, len(days[session] | new_days[session]) > 1, 1))
    for session in sorted(new_days):
        if len(days[session]) == 1 and session not in was_multi:  # a one-day session gains a day
            (old,) = days[session]
            rows += [(session, old, False, -1), (session, old, True, 1)]
    table = pa.table(
        {
            "session_id": [r[0] for r in rows],
            "day": pa.array([r[1] for r in rows], pa.date32()),
            "multi": [r[2] for r in rows],
            "weight": pa.array([r[3] for r in rows], pa.int8()),
        }
    )
    with _registered(con, "_tokenomy_session_pairs", table):
        con.execute(
            f"INSERT INTO {SESSION_DAYS} SELECT session_id, day, multi, weight FROM _tokenomy_session_pairs"
        )
    return added


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` registered on the connection as ``name`` for the duration of a ``with`` block."""
    con.register(name, table)
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # a failed write's transaction refuses even this; rollback drops it
            con.unregister(name)


class RecentPairs:
    """The pairs one writer has added lately, so that a write of sessions it has seen does nothing.

    Only the store's own writer uses it (DuckDB has one writing process); a pair it does not hold
    (forgotten when the set reaches ``limit``, or added by another process) is looked up in the
    rollup, so the rollup never holds a pair twice.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._known: set[Pair] = set()
        self._limit = limit

    def unseen(self, pairs: set[Pair]) -> set[Pair]:
        """The pairs not added lately."""
        return pairs - self._known

    def remember(self, pairs: set[Pair]) -> None:
        """Note pairs a committed write added."""
        if len(self._known) + len(pairs) > self._limit:
            self._known.clear()
        self._known |= pairs


def roll_event_batch(
    con: duckdb.DuckDBPyConnection,
    stamp: datetime,
    recent: RecentPairs,
    batch: EventBatch,
    counts: EventCounts,
) -> set[Pair]:
    """The rollup's part of an event write (inside its transaction); returns the pairs to remember.

    When every call and charge of ``batch`` was stored (``counts``), their pairs are exactly those
    of the stored rows and are taken from the batch; otherwise the rows stored are read back by
    ``stamp``.
    """
    if (counts.calls, counts.charges) == (batch.calls.num_rows, batch.charges.num_rows):
        pairs = batch_pairs(((batch.calls, "started_at"), (batch.charges, "at")))
        add_pairs(con, recent.unseen(pairs))
        return pairs  # all in the rollup now
    roll_sessions(con, stamp)
    return set()
