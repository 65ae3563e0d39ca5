from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.analysis import daily_totals
from tokenomy.schema import BUCKETS, Call, Charge, Cost, Usage
from tokenomy.store import CallFilter, DuckDBStore, open_store
from tokenomy.store.base import Store

DAY1 = datetime(2026, 3, 2, 10)
DAY2 = datetime(2026, 3, 3, 23, 59, 59)


def _call(
    call_id: str,
    when: datetime | None,
    model: str,
    usage: Usage,
    total: str | None,
    *,
    provider: str = "openai",
) -> Call:
    cost = Cost.unpriced("not in the catalog") if total is None else Cost(total=Decimal(total), source="hand")
    return Call(id=call_id, provider=provider, request_model=model, started_at=when, usage=usage, cost=cost)


def fill(path: Path) -> DuckDBStore:
    """Two days, three models; costs given by hand so the totals can be checked by hand."""
    full = Usage.of
    store = open_store(path)
    store.insert_calls(
        [
            _call(
                "a",
                DAY1,
                "gpt-4o",
                full(
                    input_uncached=100,
                    cache_read=50,
                    cache_write_5m=0,
                    cache_write_1h=0,
                    output_visible=20,
                    reasoning=5,
                ),
                "0.001000000001",
            ),
            _call(
                "b",
                DAY1.replace(hour=18),
                "gpt-4o",
                full(
                    input_uncached=300,
                    cache_read=0,
                    cache_write_5m=10,
                    cache_write_1h=0,
                    output_visible=40,
                    reasoning=0,
                ),
                "0.0025",
            ),
            # unknown split: counts what is known, the totals as reported
            _call("c", DAY1, "gpt-4o", Usage(input_total=1000, output_total=70), None),
            _call("d", DAY1, "mystery", full(input_uncached=7, output_visible=3), None, provider="acme"),
            _call(
                "e",
                DAY2,
                "gpt-4o",
                full(
                    input_uncached=1,
                    cache_read=2,
                    cache_write_5m=3,
                    cache_write_1h=4,
                    output_visible=5,
                    reasoning=6,
                ),
                "1",
            ),
            _call("f", None, "gpt-4o", Usage(), "0.5"),
        ]
    )
    return store


def test_totals_by_day_provider_and_model_checked_by_hand(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        report = daily_totals(store)
    keys = [(r.day, r.provider, r.model) for r in report.rows]
    assert keys == [
        (None, "openai", "gpt-4o"),
        (date(2026, 3, 2), "acme", "mystery"),
        (date(2026, 3, 2), "openai", "gpt-4o"),
        (date(2026, 3, 3), "openai", "gpt-4o"),
    ]
    gpt = report.rows[2]
    assert gpt.calls == 3
    assert gpt.unpriced == 1
    assert gpt.priced == 2
    assert dict(gpt.tokens) == {
        "input_uncached": 100 + 300,
        "cache_read": 50,
        "cache_write_5m": 10,
        "cache_write_1h": 0,
        "output_visible": 20 + 40,
        "reasoning": 5,
    }
    assert gpt.input_total == 150 + 310 + 1000
    assert gpt.output_total == 25 + 40 + 70
    assert gpt.cost == Decimal("0.003500000001")
    mystery = report.rows[1]
    assert mystery.cost is None
    assert mystery.unpriced == 1
    # buckets it reported count; its input total and cache buckets are unknown: None, never 0
    assert mystery.tokens["input_uncached"] == 7
    assert (mystery.tokens["cache_read"], mystery.input_total, mystery.usage_unknown) == (None, None, 1)
    assert gpt.usage_unknown == 1  # c: its totals only
    day2 = report.rows[3]
    assert day2.input_total == 10
    assert day2.output_total == 11
    assert day2.cost == Decimal(1)
    total = report.total
    assert total.calls == 6
    assert total.unpriced == 2
    assert total.cost == Decimal("1.503500000001")
    assert total.input_total == 1460 + 10
    assert total.tokens["cache_read"] == 50 + 2  # the known ones: f and mystery reported none
    assert total.usage_unknown == 3  # c, d (mystery) and f
    nothing = report.rows[0]  # f: no usage reported at all
    assert (nothing.tokens, nothing.input_total, nothing.output_total) == (dict.fromkeys(BUCKETS), None, None)
    assert nothing.usage_unknown == 1


def test_since_and_until_select_utc_days(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        report = daily_totals(store, CallFilter(since=date(2026, 3, 3), until=date(2026, 3, 4)))
    assert [(r.day, r.calls) for r in report.rows] == [(date(2026, 3, 3), 1)]
    assert report.total.cost == Decimal(1)


def test_an_empty_store_has_an_empty_report(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        report = daily_totals(store)
    assert report.rows == ()
    assert report.total.calls == 0
    assert report.total.cost is None


def test_a_day_whose_only_call_left_a_bucket_unreported_has_it_unknown_not_zero(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.insert_calls(
            [  # x did not report its cache read (so neither its input total); y reported everything
                _call(
                    "x",
                    DAY1,
                    "gpt-4o",
                    Usage.of(
                        input_uncached=1000,
                        output_visible=50,
                        cache_write_5m=0,
                        cache_write_1h=0,
                        reasoning=0,
                    ),
                    "1",
                ),
                _call(
                    "y",
                    DAY2,
                    "gpt-4o",
                    Usage.of(
                        input_uncached=200,
                        cache_read=100,
                        output_visible=20,
                        cache_write_5m=0,
                        cache_write_1h=0,
                        reasoning=0,
                    ),
                    "1",
                ),
            ]
        )
        report = daily_totals(store, charges=True)
    first, second = report.rows
    assert (first.tokens["cache_read"], first.tokens["input_uncached"], first.input_total) == (
        None,
        1000,
        None,
    )
    assert (first.output_total, first.usage_unknown) == (50, 1)
    assert (second.tokens["cache_read"], second.input_total, second.usage_unknown) == (100, 300, 0)
    total = report.total
    assert (total.tokens["cache_read"], total.input_total, total.output_total) == (100, 300, 70)
    assert total.usage_unknown == 1


def test_a_day_of_charges_only_has_no_tokens_rather_than_unknown(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.insert_charges([Charge(id="g1", at=DAY1, amount=Decimal("0.5"), kind="search_api")])
        report = daily_totals(store, charges=True)
    (row,) = report.rows
    assert (row.calls, row.charges, row.tokens.get("cache_read", 0), row.input_total, row.usage_unknown) == (
        0,
        1,
        0,
        0,
        0,
    )
    assert (report.total.tokens["cache_read"], report.total.input_total, report.total.usage_unknown) == (
        0,
        0,
        0,
    )


class _CountingStore:
    """A store whose :meth:`totals` counts the calls with unreported usage itself (and that refuses
    any other query, so the report must not run its own count)."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store

    def totals(self, filters: CallFilter | None = None) -> pa.Table:
        table = self._store.totals(filters)
        column = pa.array([7] * table.num_rows, pa.int64())
        return table.set_column(table.column_names.index("usage_unknown"), "usage_unknown", column)

    def query(self, sql: str, params: object = None) -> pa.Table:
        raise AssertionError(f"no second query expected: {sql}")


def test_a_store_that_counts_unknown_usage_in_its_totals_is_taken_at_its_word(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        report = daily_totals(cast(Store, _CountingStore(store)))
    assert [r.usage_unknown for r in report.rows] == [7, 7, 7, 7]
    assert report.total.usage_unknown == 28
