"""Budget policies in the store (migration 0004_budgets): set, replace keeping the creation time, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.errors import StoreError
from tokenomy.store import open_store


def test_policies_are_stored_replaced_and_deleted(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.duckdb") as store:
        assert store.budget_policies() == []
        assert store.save_budget_policy("b", '{"name": "b"}') is False
        assert store.save_budget_policy("a", '{"name": "a", "v": 1}') is False
        first = {p.name: p for p in store.budget_policies()}["a"]
        assert store.save_budget_policy("a", '{"name": "a", "v": 2}') is True
        rows = store.budget_policies()
        assert [r.name for r in rows] == ["a", "b"]
        assert rows[0].definition == '{"name": "a", "v": 2}'
        assert rows[0].created_at == first.created_at
        assert rows[0].updated_at >= first.updated_at
        assert store.delete_budget_policy("a") is True
        assert store.delete_budget_policy("a") is False
        assert [r.name for r in store.budget_policies()] == ["b"]
        assert "0004_budgets" in [name for name, _ in store.applied_migrations()]


def test_a_read_only_store_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    open_store(path).close()
    with open_store(path, read_only=True) as store:
        assert store.budget_policies() == []
        with pytest.raises(StoreError, match="read-only"):
            store.save_budget_policy("a", "{}")
