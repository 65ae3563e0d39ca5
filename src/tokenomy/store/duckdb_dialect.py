"""The few SQL expressions the analyses need that DuckDB spells its own way.

Analyses write portable SQL against the ``calls`` and ``charges`` columns and ask the store's
dialect for the rest: time buckets, map lookups, quantiles, list unnesting, "value at the
latest time". A ClickHouse backend will give the same answers with its own spelling
(``toStartOfWeek``, ``tags['k']``, ``quantileExact``, ``arrayJoin``, ``argMax``).
"""

from __future__ import annotations

from tokenomy.store.base import TIME_UNITS, TimeUnit


def quote(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


class DuckDBDialect:
    """DuckDB's spelling of the expressions in :class:`tokenomy.store.base.Dialect`."""

    name: str = "duckdb"

    def time_bucket(self, column: str, unit: TimeUnit) -> str:
        """The start of the UTC hour, day, ISO week (Monday) or month holding ``column``."""
        if unit not in TIME_UNITS:
            raise ValueError(f"unknown time bucket {unit!r}; use one of {', '.join(TIME_UNITS)}")
        return f"date_trunc('{unit}', {column})"

    def map_value(self, column: str, key: str) -> str:
        """The value stored under ``key`` in the map ``column`` (NULL when absent)."""
        return f"{column}[{quote(key)}]"

    def quantile(self, expr: str, q: float) -> str:
        """The ``q`` quantile of ``expr``, interpolated between neighbouring values."""
        return f"quantile_cont({expr}, {float(q)!r})"

    def unnest(self, expr: str) -> str:
        """One row per element of the list ``expr`` (in a SELECT list)."""
        return f"unnest({expr})"

    def arg_max(self, value: str, order: str) -> str:
        """The ``value`` of the row with the largest ``order`` in each group, null when that row's is
        (DuckDB's ``arg_max`` skips rows whose value is null, and would give an older row's)."""
        return f"arg_max_null({value}, {order})"

    def seconds_between(self, start: str, end: str) -> str:
        """Seconds from ``start`` to ``end`` as a DOUBLE (fractions kept)."""
        return f"(epoch_us({end}) - epoch_us({start})) / 1e6"
