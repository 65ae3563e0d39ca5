"""Issuing, listing, revoking and reading virtual keys in the store (what ``tokenomy keys`` does).

The key is generated here, returned once to the caller and never stored: only its sha256
(:func:`tokenomy.gateway.keys.hash_key`) is written, with the attribution it stands for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from tokenomy.config import Config
from tokenomy.gateway.keys import VirtualKey, hash_key, new_key
from tokenomy.native import attribution_from_native, attribution_to_native
from tokenomy.schema import Attribution
from tokenomy.store import open_store
from tokenomy.store.duckdb import DuckDBStore
from tokenomy.store.virtual_keys import StoredKey


@dataclass(frozen=True, slots=True)
class Issued:
    """A key just created: the key itself (show it once) and its record."""

    key: str
    record: VirtualKey


def create_key(
    store: DuckDBStore,
    attribution: Attribution,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Issued:
    """Issue a key standing for ``attribution``; only its hash is stored."""
    key = new_key()
    created = now or _utcnow()
    record = VirtualKey(hash_key(key), attribution, name, created, expires_at, None)
    store.add_virtual_key(_row(record))
    return Issued(key, record)


def list_keys(store: DuckDBStore) -> list[VirtualKey]:
    """Every issued key (revoked and expired ones included), oldest first."""
    return [_record(row) for row in store.virtual_keys()]


def revoke_key(store: DuckDBStore, prefix: str) -> list[str]:
    """Revoke keys by key id prefix (at least 8 hex digits) or name; the key ids revoked."""
    return [h[:16] for h in store.revoke_virtual_keys(prefix)]


def read_keys(config: Config) -> list[VirtualKey]:
    """The keys in the configured store (none when the file does not exist yet)."""
    if not config.db.exists():
        return []
    store = open_store(config.db, read_only=True)
    try:
        return list_keys(store)
    except duckdb.Error:  # a store made before 0005_virtual_keys, opened read-only: no keys yet
        return []
    finally:
        store.close()


def _row(record: VirtualKey) -> StoredKey:
    return StoredKey(
        key_hash=record.key_hash,
        name=record.name,
        attribution=json.dumps(attribution_to_native(record.attribution), sort_keys=True),
        created_at=record.created_at or _utcnow(),
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
    )


def _record(row: StoredKey) -> VirtualKey:
    return VirtualKey(
        key_hash=row.key_hash,
        attribution=attribution_from_native(json.loads(row.attribution)),
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
