"""store/snapshot.py: a read view of the DuckDB store at one moment, which writes never wait for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.factories import priced_call
from tokenomy.errors import StoreError
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.snapshot import SnapshotStore, snapshot


def _calls(view: DuckDBStore) -> tuple[int, int, int]:
    """The calls as three reads count them: ``count``, ``totals`` and ``query``."""
    by_day = sum(row["calls"] for row in view.totals().to_pylist())
    queried = view.query("SELECT count(*) AS n FROM calls").to_pylist()[0]["n"]
    return view.count(), by_day, queried


def test_every_read_of_a_snapshot_sees_the_store_as_it_was(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.insert_calls([priced_call("a"), priced_call("b")])
        with snapshot(store) as view:
            assert isinstance(view, SnapshotStore)
            assert view.count() == 2  # the first read: the snapshot is taken by now
            store.insert_calls([priced_call("c")])  # commits at once: the view holds no lock of the store's
            assert store.count() == 3
            assert _calls(view) == (2, 2, 2)
            assert view.table_columns("calls") == store.table_columns("calls")
        with snapshot(store) as later:
            assert isinstance(later, SnapshotStore)
            assert _calls(later) == (3, 3, 3)
        assert store.count() == 3  # closing the views left the store open


def test_a_snapshot_writes_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path / "w.duckdb") as store, snapshot(store) as view:
        with pytest.raises(StoreError, match="read-only"):
            view.insert_calls([priced_call("x")])
        assert store.count() == 0


def test_the_view_is_closed_at_the_end_of_the_block_even_after_an_error(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        with pytest.raises(RuntimeError), snapshot(store) as view:
            raise RuntimeError("the report failed")
        with pytest.raises(StoreError):  # its cursor is closed
            view.query("SELECT 1 AS one")
        assert store.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]


def test_a_closed_store_gives_no_snapshot_but_a_store_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "c.duckdb")
    store.close()
    with pytest.raises(StoreError, match="the store cannot be read now"), snapshot(store):
        pass


def test_a_store_that_is_not_duckdb_is_read_as_it_is() -> None:
    other = object()
    with snapshot(other) as view:  # type: ignore[arg-type]  # any Store: it answers from its own state
        assert view is other
