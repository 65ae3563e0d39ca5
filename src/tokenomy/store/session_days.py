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
stamp; a migration that rewrites ``calls`` or ``charges`` must rebuild the rollup
(:data:`SESSION_DAYS_FILL`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import duckdb

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
