"""The ``session_days`` rollup: which sessions had a call or a charge on which UTC day.

Cost per session divides by the number of distinct sessions, and counting 2.87M distinct session
ids among 10M calls costs a report about 1 s of CPU: an exact hash of every id. The rollup keeps
what that count needs at write time: each write adds the (session, day) pairs of the rows it
stored, taken from the rows carrying its ``imported_at`` stamp, before its transaction commits,
so the rollup holds exactly the pairs of the stored rows (a pair may appear more than once; the
count is distinct). A report whose scope is whole UTC days and whose sessions are the calls' own
(no ``where`` filter, no session taken from a trace) counts the distinct sessions of the rollup's
rows in its days instead of those of the calls: the same number, over about one row per session
instead of one per call (see :func:`tokenomy.analysis.kpis.session_units`).

Rows with no start time have a NULL day: they count only when the scope has no bounds, as the
calls themselves do. Every path that stores calls or charges calls :func:`roll_sessions` with its
stamp, or, for the small writes of the sink and the collector, :class:`RecentPairs`: a write
whose rows were all new adds the pairs of its own batch that its writer has not added lately (no
query at all when there are none), since a DuckDB statement costs a millisecond or more and such
writes come many a second. A migration that rewrites ``calls`` or ``charges`` must rebuild the
rollup (:data:`SESSION_DAYS_FILL`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

SESSION_DAYS: Final = "session_days"
SESSION_DAYS_DDL: Final = f"""
CREATE TABLE {SESSION_DAYS} (
    session_id VARCHAR NOT NULL,
    day DATE
)
"""

_PAIRS: Final = """
SELECT DISTINCT session_id, CAST(started_at AS DATE) AS day FROM calls
WHERE session_id IS NOT NULL{and_stamp}
UNION
SELECT DISTINCT session_id, CAST("at" AS DATE) AS day FROM charges
WHERE session_id IS NOT NULL{and_stamp}
"""
SESSION_DAYS_FILL: Final = f"INSERT INTO {SESSION_DAYS} {_PAIRS.format(and_stamp='')}"
"""Fill the rollup from every stored call and charge (the migration that creates it)."""

_ROLL: Final = f"""
WITH n AS ({_PAIRS.format(and_stamp=" AND imported_at = $stamp")})
INSERT INTO {SESSION_DAYS}
SELECT n.session_id, n.day FROM n
ANTI JOIN (
    SELECT s.session_id, s.day FROM {SESSION_DAYS} s
    SEMI JOIN n ON s.session_id = n.session_id AND s.day IS NOT DISTINCT FROM n.day
) known ON known.session_id = n.session_id AND known.day IS NOT DISTINCT FROM n.day
"""


def roll_sessions(con: duckdb.DuckDBPyConnection, stamp: datetime) -> None:
    """Add the (session, day) pairs of the calls and charges stored with ``imported_at = stamp``.

    Run it inside the write's transaction, after its last insert or delete. Pairs already in the
    rollup are not added again: the rollup's rows are probed against a hash of the new pairs
    (never the other way round), so a write costs a scan of the rollup's two columns at most.
    """
    con.execute(_ROLL, {"stamp": stamp})


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


class RecentPairs:
    """The pairs one writer has added lately, so that a write of sessions it has seen adds nothing.

    Only the store's own writer uses it (DuckDB has one writing process). A pair forgotten (the
    set is cleared when it reaches ``limit``) or added by another process may be added again: the
    rollup then holds it twice, which the distinct count does not see.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._known: set[Pair] = set()
        self._limit = limit

    def add(self, con: duckdb.DuckDBPyConnection, pairs: set[Pair]) -> set[Pair]:
        """Insert the pairs not added lately (inside the write's transaction); returns them.

        Call :meth:`remember` with the result once the transaction has committed.
        """
        new = pairs - self._known
        if new:
            rows = sorted(new, key=lambda p: (p[0], p[1] or date.min))
            table = pa.table(
                {"session_id": [p[0] for p in rows], "day": pa.array([p[1] for p in rows], pa.date32())}
            )
            con.register("_tokenomy_session_pairs", table)
            try:
                con.execute(f"INSERT INTO {SESSION_DAYS} SELECT session_id, day FROM _tokenomy_session_pairs")
            finally:
                con.unregister("_tokenomy_session_pairs")
        return new

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
        return recent.add(con, batch_pairs(((calls, "started_at"), (charges, "at"))))
    roll_sessions(con, stamp)
    return set()
