"""Budget policies in the embedded store: the ``budget_policies`` table (migration ``0004_budgets``).

``tokenomy budgets set`` writes a policy here as its ``[[budget]]`` table in JSON, keyed by name
(setting a name again replaces it, keeping when it was created); ``delete`` removes it. The
budgets package parses and validates the JSON; this module only stores text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """One stored policy: its name, its definition (JSON text) and when it was set."""

    name: str
    definition: str
    created_at: datetime
    updated_at: datetime


def save(con: duckdb.DuckDBPyConnection, name: str, definition: str, now: datetime) -> bool:
    """Insert or replace the policy ``name``; True when it replaced one."""
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute("SELECT min(created_at) FROM budget_policies WHERE name = ?", [name]).fetchone()
        created = row[0] if row and row[0] is not None else None
        con.execute("DELETE FROM budget_policies WHERE name = ?", [name])
        con.execute(
            "INSERT INTO budget_policies VALUES (?, ?, ?, ?)", [name, definition, created or now, now]
        )
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return created is not None


def delete(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Remove the policy ``name``; True when there was one."""
    row = con.execute("DELETE FROM budget_policies WHERE name = ? RETURNING name", [name]).fetchall()
    return bool(row)


def load(con: duckdb.DuckDBPyConnection) -> list[StoredPolicy]:
    """Every stored policy, by name."""
    rows = con.execute(
        "SELECT name, definition, created_at, updated_at FROM budget_policies ORDER BY name"
    ).fetchall()
    return [StoredPolicy(str(r[0]), str(r[1]), r[2], r[3]) for r in rows]
