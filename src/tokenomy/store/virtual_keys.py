"""Virtual keys in the embedded store: the ``virtual_keys`` table (migration ``0005_virtual_keys``).

Rows hold the sha256 of a key, never the key. ``attribution`` is the native JSON form of an
Attribution. The gateway package decides what a key means; this module only stores rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import duckdb

MIN_ID_PREFIX: Final = 8
"""The fewest characters of a key's hash that name it when revoking (fewer: a name only)."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of ``virtual_keys``."""

    key_hash: str
    name: str | None
    attribution: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def insert(con: duckdb.DuckDBPyConnection, key: StoredKey) -> None:
    """Add one key."""
    con.execute(
        "INSERT INTO virtual_keys VALUES (?, ?, ?, ?, ?, ?)",
        [key.key_hash, key.name, key.attribution, key.created_at, key.expires_at, key.revoked_at],
    )


def revoke(con: duckdb.DuckDBPyConnection, key_hashes: Sequence[str], now: datetime) -> list[str]:
    """Revoke the keys of these exact hashes not revoked yet; their hashes. Which keys a name or an
    id prefix means is the caller's to decide (:func:`tokenomy.gateway.key_store.matching_keys`):
    a name is no key's identity, several keys may share it."""
    if not key_hashes:
        return []
    marks = ", ".join("?" for _ in key_hashes)
    rows = con.execute(
        f"UPDATE virtual_keys SET revoked_at = ? WHERE revoked_at IS NULL AND key_hash IN ({marks}) "
        "RETURNING key_hash",
        [now, *key_hashes],
    ).fetchall()
    return [str(r[0]) for r in rows]


def load(con: duckdb.DuckDBPyConnection) -> list[StoredKey]:
    """Every key, oldest first."""
    rows = con.execute(
        "SELECT key_hash, name, attribution, created_at, expires_at, revoked_at FROM virtual_keys "
        "ORDER BY created_at, key_hash"
    ).fetchall()
    return [StoredKey(str(r[0]), r[1], str(r[2]), r[3], r[4], r[5]) for r in rows]
