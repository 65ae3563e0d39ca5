"""The event store: calls and charges, idempotent by id, written in batches.

:func:`open_store` opens the embedded DuckDB store; every backend implements :class:`Store`.
"""

from __future__ import annotations

from tokenomy.store.base import (
    EXPORT_FORMATS,
    CallFilter,
    ExportFormat,
    ImportResult,
    InsertResult,
    PricerLike,
    Progress,
    Store,
)
from tokenomy.store.duckdb import DuckDBStore, open_store

__all__ = [
    "EXPORT_FORMATS",
    "CallFilter",
    "DuckDBStore",
    "ExportFormat",
    "ImportResult",
    "InsertResult",
    "PricerLike",
    "Progress",
    "Store",
    "open_store",
]
