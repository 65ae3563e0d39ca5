from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.errors import RecordError, StoreError
from tokenomy.store import ImportResult, Store, open_store
from tokenomy.store.base import MAX_KEPT_ERRORS


def test_the_duckdb_store_is_a_store(tmp_path: Path) -> None:
    store: Store = open_store(tmp_path / "s.duckdb")  # checked statically by mypy
    with store:
        assert store.count() == 0
        assert store.count("charges") == 0


def test_count_refuses_unknown_tables(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store, pytest.raises(StoreError, match="unknown table"):
        store.count("users")  # type: ignore[arg-type]


def test_import_result_keeps_the_first_errors_and_counts_all() -> None:
    result = ImportResult(path="f.jsonl")
    for line in range(MAX_KEPT_ERRORS + 5):
        result.reject(RecordError("f.jsonl", line + 1, "id", "required"))
    assert result.rejected == MAX_KEPT_ERRORS + 5
    assert len(result.errors) == MAX_KEPT_ERRORS
    assert result.errors[0].record == 1
    assert not result.ok
