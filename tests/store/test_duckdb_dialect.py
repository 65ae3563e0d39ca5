"""The DuckDB dialect and the store's read-only query entry point, used by the analyses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tokenomy.errors import StoreError
from tokenomy.store import open_store
from tokenomy.store.duckdb_dialect import DuckDBDialect

DIALECT = DuckDBDialect()


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("hour", datetime(2026, 10, 7, 14)),
        ("day", datetime(2026, 10, 7)),
        ("week", datetime(2026, 10, 5)),  # a Wednesday's week starts on Monday
        ("month", datetime(2026, 10, 1)),
    ],
)
def test_time_buckets(tmp_path: Path, unit: str, expected: datetime) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        sql = f"SELECT {DIALECT.time_bucket('?::TIMESTAMP', unit)} AS b"  # type: ignore[arg-type]
        assert store.query(sql, [datetime(2026, 10, 7, 14, 35)]).to_pylist() == [{"b": expected}]


def test_maps_quantiles_lists_and_latest_values(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        tags_map = "map(['env'], ['prod'])"
        a, b = DIALECT.map_value(tags_map, "env"), DIALECT.map_value(tags_map, "it's")
        tags = store.query(f"SELECT {a} AS a, {b} AS b").to_pylist()
        assert tags == [{"a": "prod", "b": None}]
        q = store.query(f"SELECT {DIALECT.quantile('x', 0.5)} AS q FROM range(5) t(x)").to_pylist()
        assert q == [{"q": 2.0}]
        listed = DIALECT.unnest("['a', 'b']")
        rows = store.query(f"SELECT {listed} AS v").to_pylist()
        assert [r["v"] for r in rows] == ["a", "b"]
        latest = store.query(
            f"SELECT {DIALECT.arg_max('v', 't')} AS v FROM (VALUES ('old', 1), ('new', 2)) x(v, t)"
        ).to_pylist()
        assert latest == [{"v": "new"}]
        between = DIALECT.seconds_between("TIMESTAMP '2026-01-01'", "TIMESTAMP '2026-01-01 00:01:01.5'")
        assert store.query(f"SELECT {between} AS s").to_pylist() == [{"s": 61.5}]
    with pytest.raises(ValueError, match="hour, day, week, month"):
        DIALECT.time_bucket("x", "fortnight")  # type: ignore[arg-type]


def test_query_is_read_only_and_errors_are_clear(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(StoreError, match="read-only queries"):
            store.query("DELETE FROM calls")
        with pytest.raises(StoreError, match="the analysis query failed"):
            store.query("SELECT nope FROM calls")
        assert store.query("WITH t AS (SELECT 1 AS x) SELECT x FROM t").to_pylist() == [{"x": 1}]


def test_table_columns(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        columns = store.table_columns("charges")
        assert columns[:3] == ("id", "session_id", "at")
        assert store.table_columns("no_such_table") == ()
