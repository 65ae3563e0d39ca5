"""Bringing an open store file to the current schema: the missing migrations, in order, on open.

Each migration runs in its own transaction with its row in ``_migrations (name, applied_at)``;
a failed one is rolled back and reported. A read-only open never migrates: a file behind the
current schema is refused with advice to open it once for writing. The migrations themselves
are in store/migrations.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb

from tokenomy.errors import StoreError
from tokenomy.schema import utc_now
from tokenomy.store import migrations

_MIGRATIONS_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
)


def migrate(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
    """Apply the migrations ``path`` lacks (read-only: check that it lacks none).

    Raises:
        StoreError: A migration failed (it was rolled back); the file was migrated by a newer
            tokenomy; or, read-only, the file is behind the current schema.
    """
    if read_only:
        applied = applied_names(con)
        if applied is None or migrations.pending(applied):
            raise StoreError(
                f"{path}: the store is not at the current schema and cannot be migrated "
                "read-only; open it once for writing (for example with `tokenomy import`)"
            )
        return
    con.execute(_MIGRATIONS_DDL)
    try:
        missing = migrations.pending(applied_names(con) or set())
    except ValueError as exc:
        raise StoreError(f"{path}: {exc}") from exc
    for migration in missing:
        _apply(con, path, migration)


def applied_names(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    """The names of the migrations the file records; None when it has no ``_migrations`` table."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = '_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    return {str(row[0]) for row in con.execute("SELECT name FROM _migrations").fetchall()}


def applied(con: duckdb.DuckDBPyConnection) -> list[tuple[str, datetime]]:
    """The migrations recorded in the file, in the order they were applied."""
    rows = con.execute("SELECT name, applied_at FROM _migrations ORDER BY applied_at, name")
    return [(str(name), at) for name, at in rows.fetchall()]


def _apply(con: duckdb.DuckDBPyConnection, path: Path, migration: migrations.Migration) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in migration.statements:
            con.execute(statement)
        applied_at = utc_now()
        con.execute("INSERT INTO _migrations VALUES (?, ?)", [migration.name, applied_at])
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise StoreError(f"{path}: migration {migration.name} failed and was rolled back: {exc}") from exc
