"""The ``session_days`` rollup: which sessions had a call or a charge on which UTC day.

Cost per session divides by the number of distinct sessions, and an exact count of 2.4M distinct
session ids costs about 0.7-1 s of CPU however it is written (a hash table of every id), which
alone took the 10M-call report past its 1 s target. The rollup keeps, at write time, each
(session, day) pair of the stored calls and charges once, with ``multi``: whether the session has
pairs on more than one day. A scope of whole UTC days then counts its sessions as the rows of
one-day sessions in its days plus a distinct count of the few multi-day sessions' ids
(:func:`session_units_sql`; :func:`tokenomy.analysis.kpis.session_units` says when it applies).
Rows with no start time have a NULL day: they count only when the scope has no bounds, as the
calls themselves do.

Every write adds its pairs inside its own transaction: an import reads back the rows carrying its
``imported_at`` stamp (:func:`roll_sessions`); a small write of the sink or the collector whose
rows were all new adds the pairs of its own batch (:func:`add_pairs`), skipping those its writer
added lately (:class:`RecentPairs`), since a DuckDB statement costs a millisecond or more and such
writes come many a second. Both look up the rollup's rows of the write's sessions, so a pair is
never held twice and ``multi`` is set on every row of a session that gains a second day. A
migration that rewrites ``calls`` or ``charges`` must rebuild the rollup (:data:`SESSION_DAYS_FILL`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

SESSION_DAYS: Final = "session_days"
SESSION_DAYS_DDL: Final = f"""
CREATE TABLE {SESSION_DAYS} (
    session_id VARCHAR NOT NULL,
    day DATE,
    multi BOOLEAN NOT NULL
)
"""

_PAIRS: Final = """
SELECT DISTINCT session_id, CAST(started_at AS DATE) AS day FROM calls
WHERE session_id IS NOT NULL{and_stamp}
UNION
SELECT DISTINCT session_id, CAST("at" AS DATE) AS day FROM charges
WHERE session_id IS NOT NULL{and_stamp}
"""
SESSION_DAYS_FILL: Final = f"""
INSERT INTO {SESSION_DAYS}
SELECT session_id, day, count(*) OVER (PARTITION BY session_id) > 1 FROM ({_PAIRS.format(and_stamp="")}) p
"""
"""Fill the rollup from every stored call and charge (the migration that creates it)."""


def session_units_sql(condition: str) -> str:
    """The distinct sessions of the rollup's rows where ``condition`` (over ``day``) holds.

    The sessions seen on one day only are counted by their one row; only those seen on several
    days need a distinct count. Two subqueries, not ``FILTER`` clauses: DuckDB would hash every
    id for a filtered ``count(DISTINCT ...)``. The condition's parameters are needed twice.
    """
    return (
        f"SELECT (SELECT count(*) FROM {SESSION_DAYS} WHERE NOT multi AND ({condition})) "
        f"+ (SELECT count(DISTINCT session_id) FROM {SESSION_DAYS} WHERE multi AND ({condition})) AS units"
    )


_SAME_PAIR: Final = "k.session_id = c.session_id AND k.day IS NOT DISTINCT FROM c.day"
_BY_STAMP: Final = (
    f"CREATE OR REPLACE TEMP TABLE _tokenomy_cand AS {_PAIRS.format(and_stamp=' AND imported_at = $stamp')}",
    f"""CREATE OR REPLACE TEMP TABLE _tokenomy_known AS
    SELECT s.session_id, s.day FROM {SESSION_DAYS} s
    SEMI JOIN _tokenomy_cand c ON s.session_id = c.session_id""",
    f"""CREATE OR REPLACE TEMP TABLE _tokenomy_added AS
    SELECT c.session_id, c.day FROM _tokenomy_cand c ANTI JOIN _tokenomy_known k ON {_SAME_PAIR}""",
    f"""INSERT INTO {SESSION_DAYS}
    SELECT a.session_id, a.day, count(*) OVER (PARTITION BY a.session_id) + coalesce(k.n, 0) > 1
    FROM _tokenomy_added a
    LEFT JOIN (SELECT session_id, count(*) AS n FROM _tokenomy_known GROUP BY session_id) k
    USING (session_id)""",
    f"""UPDATE {SESSION_DAYS} SET multi = TRUE WHERE NOT multi AND session_id IN (
        SELECT a.session_id FROM _tokenomy_added a
        SEMI JOIN _tokenomy_known k ON k.session_id = a.session_id)""",
)


def roll_sessions(con: duckdb.DuckDBPyConnection, stamp: datetime) -> None:
    """Add the (session, day) pairs of the calls and charges stored with ``imported_at = stamp``.

    Run it inside the write's transaction, after its last insert or delete. The rollup's rows of
    the stamp's sessions are found by probing it against a hash of those sessions (never the
    other way round); pairs already there are not added again, and a session that gains a
    second day has all its rows marked ``multi``.
    """
    try:
        for statement in _BY_STAMP:
            con.execute(statement, {"stamp": stamp} if "$stamp" in statement else None)
    finally:
        for table in ("_tokenomy_cand", "_tokenomy_known", "_tokenomy_added"):
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

    The same as :func:`roll_sessions` for a few pairs known in Python: one probe for the rows of
    their sessions, one insert, and an update only when a session gains a second day.
    """
    if not pairs:
        return set()
    sessions = pa.table({"session_id": sorted({s for s, _ in pairs})})
    with _registered(con, "_tokenomy_sessions", sessions):
        known = set(
            con.execute(
                f"SELECT s.session_id, s.day FROM {SESSION_DAYS} s "
                "SEMI JOIN _tokenomy_sessions c ON s.session_id = c.session_id"
            ).fetchall()
        )
    added = pairs - known
    if not added:
        return added
    had = Counter(s for s, _ in known)
    total = had + Counter(s for s, _ in added)
    rows = sorted(added, key=lambda p: (p[0], p[1] or date.min))
    table = pa.table(
        {
            "session_id": [s for s, _ in rows],
            "day": pa.array([d for _, d in rows], pa.date32()),
            "multi": [total[s] > 1 for s, _ in rows],
        }
    )
    with _registered(con, "_tokenomy_session_pairs", table):
        con.execute(f"INSERT INTO {SESSION_DAYS} SELECT session_id, day, multi FROM _tokenomy_session_pairs")
    gaining = sorted({s for s, _ in added if had[s] == 1})  # one known day until now
    if gaining:
        with _registered(con, "_tokenomy_sessions", pa.table({"session_id": gaining})):
            con.execute(
                f"UPDATE {SESSION_DAYS} SET multi = TRUE WHERE NOT multi "
                "AND session_id IN (SELECT session_id FROM _tokenomy_sessions)"
            )
    return added


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` registered on the connection as ``name`` for the duration of a ``with`` block."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


class RecentPairs:
    """The pairs one writer has added lately, so that a write of sessions it has seen does nothing.

    Only the store's own writer uses it (DuckDB has one writing process); a pair it does not hold
    (forgotten when the set reaches ``limit``, or added by another process) is looked up in the
    rollup, so the rollup never holds a pair twice.
    """

    def __init__(self, limit: int = 200_000) -> None:
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
    calls: pa.Table,
    charges: pa.Table,
    *,
    all_new: bool,
) -> set[Pair]:
    """The rollup's part of an event write (inside its transaction); returns the pairs to remember.

    ``all_new``: every row of ``calls`` and ``charges`` was stored, so their pairs are exactly
    those of the stored rows. Otherwise the rows stored are read back by ``stamp``.
    """
    if all_new:
        pairs = batch_pairs(((calls, "started_at"), (charges, "at")))
        add_pairs(con, recent.unseen(pairs))
        return pairs  # all in the rollup now
    roll_sessions(con, stamp)
    return set()
