"""A read view of the DuckDB store at one moment, for analyses that run several queries.

The store's own reads take its lock one query at a time, and a write may commit between two of
them: an analysis that counts the calls in one query and adds up their cost by model in another
could show two numbers from two moments on one screen. :func:`snapshot` opens a cursor of its own
(a second connection to the same database) and begins a transaction on it; DuckDB's MVCC then
shows every query of the view the database as it was when the first one ran, whatever commits
meanwhile. The view takes none of the store's locks, so the writer never waits for it, and it
writes nothing (it is opened read-only); closing it ends the transaction and the cursor.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from tokenomy.errors import StoreError
from tokenomy.store.base import Store
from tokenomy.store.duckdb import DuckDBStore


class SnapshotStore(DuckDBStore):
    """A :class:`DuckDBStore` reading one transaction on its own cursor of ``store``'s database.

    The reads that run on the store's connection (``query``, ``totals``, ``table_columns``,
    ``calls_table``, ``charges_table``, ``count``...: what the analyses use) see the same snapshot;
    those that open a cursor of their own (``iter_calls`` and the collector's pages in
    store/duckdb_events.py) see what is committed when they run. Every write is refused
    (:class:`~tokenomy.errors.StoreError`, as on a store opened read-only). Use it from one thread
    at a time, and close it (or use :func:`snapshot`).
    """

    def __init__(self, store: DuckDBStore) -> None:  # not DuckDBStore.__init__: the file is open already
        cursor = None
        try:
            cursor = store.connection.cursor()
            cursor.begin()
        except BaseException as exc:
            if cursor is not None:
                cursor.close()
            if isinstance(exc, duckdb.Error):  # the store was closed meanwhile
                raise StoreError(f"{store.path}: the store cannot be read now: {exc}") from exc
            raise
        # its own lock: the store's serializes the store's connection; the view never stamps a write
        self._set_up(store.path, True, store._shared, threading.RLock(), cursor)

    def close(self) -> None:
        """End the transaction (it wrote nothing) and close the cursor; the store stays open."""
        with contextlib.suppress(duckdb.Error):  # a failed query or a closed store ended it already
            self._con.rollback()
        self._con.close()


@contextmanager
def snapshot(store: Store) -> Iterator[Store]:
    """``store`` seen at one moment for the duration of the ``with`` block.

    A :class:`DuckDBStore` gives a :class:`SnapshotStore` on it, closed when the block ends; any other
    store is given as it is (it answers each query from its own state).
    """
    if not isinstance(store, DuckDBStore):
        yield store
        return
    view = SnapshotStore(store)
    try:
        yield view
    finally:
        view.close()
