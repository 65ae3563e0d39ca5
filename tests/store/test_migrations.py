from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.errors import StoreError
from tokenomy.store import open_store
from tokenomy.store.arrow import CALLS_SCHEMA, CHARGES_SCHEMA
from tokenomy.store.migrations import MIGRATIONS


def test_migrations_are_recorded_in_order(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        applied = store.applied_migrations()
    assert [name for name, _ in applied] == [m.name for m in MIGRATIONS]
    assert all(when is not None for _, when in applied)


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        first = store.applied_migrations()
    with open_store(path) as store:
        assert store.applied_migrations() == first
        count = store.connection.execute("SELECT count(*) FROM _migrations").fetchone()
    assert count == (len(MIGRATIONS),)


def test_a_store_migrated_by_a_newer_tokenomy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        store.connection.execute("INSERT INTO _migrations VALUES ('9999_from_the_future', now())")
    with pytest.raises(StoreError, match="newer tokenomy") as info:
        open_store(path)
    assert "9999_from_the_future" in str(info.value)
    assert "upgrade tokenomy" in str(info.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(StoreError, match="not a DuckDB database"):
        open_store(path)


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here yet"):
        open_store(tmp_path / "missing.duckdb", read_only=True)


def test_read_only_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    with open_store(path, read_only=True) as store, pytest.raises(StoreError, match="read-only"):
        store.insert_calls([])


def test_config_resolves_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENOMY_DB", str(tmp_path / "from-env.duckdb"))
    with open_store() as store:
        assert store.path == tmp_path / "from-env.duckdb"
    assert (tmp_path / "from-env.duckdb").exists()


@pytest.mark.parametrize(("table", "schema"), [("calls", CALLS_SCHEMA), ("charges", CHARGES_SCHEMA)])
def test_table_layout_matches_the_arrow_layout(tmp_path: Path, table: str, schema: object) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        columns = store.connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            [table],
        ).fetchall()
    assert [c[0] for c in columns] == schema.names  # type: ignore[attr-defined]
