"""Query results as Arrow on every supported DuckDB release (2.0 renamed the Arrow methods)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information


def arrow_table(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    """The result of the query ``sql`` as one Arrow table."""
    relation = con.sql(sql, params=params)
    fetch: Any = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def arrow_reader(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None, *, batch_size: int
) -> pa.RecordBatchReader:
    """The result of the query ``sql`` as a reader of Arrow batches of ``batch_size`` rows."""
    relation = con.sql(sql, params=params)
    fetch: Any = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    return fetch(batch_size)
