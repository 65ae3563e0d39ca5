"""The short default report, on the six calls of tests/analysis/test_report.py and a simulated month."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.conftest import SimStore
from tests.analysis.test_report import fill
from tokenomy.analysis.attribution import attribute, top_rows
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.periods import Period
from tokenomy.analysis.summary import summary, summary_bucket
from tokenomy.store import open_store


def test_the_default_report_of_two_days(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        data = summary(store)
    assert data.period == Period(datetime(2026, 3, 2), datetime(2026, 3, 4))
    assert data.previous is None  # nothing before the first day: no trends
    tiles = {k.name: k for k in data.kpis}
    assert tiles["spend"].value == Decimal("1.503500000001")
    assert tiles["calls"].value == 6
    assert tiles["unpriced"].value == 2
    assert all(k.change is None for k in data.kpis)
    # per day: the untimed call "f" keeps its own row (no time) so the days still add up
    days = {r.bucket: (r.calls, r.cost) for r in data.over_time.rows}
    assert days == {
        datetime(2026, 3, 2): (4, Decimal("0.003500000001")),
        datetime(2026, 3, 3): (1, Decimal(1)),
        None: (1, Decimal("0.5")),
    }
    models = [(r.group["provider"], r.group["model"], r.cost) for r in data.models.rows]
    assert models == [("openai", "gpt-4o", Decimal("1.503500000001")), ("acme", "mystery", None)]
    assert data.folded == 0


def test_a_bounded_period_has_trends(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        data = summary(store, Scope(datetime(2026, 3, 3), datetime(2026, 3, 4)))
    assert data.previous == Period(datetime(2026, 3, 2), datetime(2026, 3, 3))
    spend = next(k for k in data.kpis if k.name == "spend")
    assert (spend.value, spend.previous) == (Decimal(1), Decimal("0.003500000001"))
    assert spend.change == pytest.approx(1 / 0.003500000001 - 1)


def test_the_rows_beyond_the_top_are_added_up(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = summary(store, top=3)
        every = attribute(store, Selection.of(by=("provider", "model")))
    assert data.over_time.bucket == "day"  # 14 simulated days
    assert len(data.over_time.rows) == 14
    assert len(data.models.rows) == 4
    assert data.folded == len(every.rows) - 3
    top = sorted((r.cost or Decimal(0) for r in every.rows), reverse=True)[:3]
    assert [r.cost for r in data.models.rows[:3]] == top
    rest = data.models.rows[3]
    assert rest.group == {"provider": f"({data.folded} more)", "model": ""}
    shown = sum((r.cost or Decimal(0) for r in data.models.rows), Decimal(0))
    assert shown == every.total.cost == data.models.total.cost
    assert sum(r.calls for r in data.models.rows) == every.total.calls
    assert sum(r.unpriced for r in data.models.rows) == every.total.unpriced


def test_top_rows_keeps_a_short_table_as_it_is(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        table = attribute(store, Selection.of(by=("model",)))
    short, folded = top_rows(table, 5)
    assert folded == 0
    assert [r.group["model"] for r in short.rows] == ["gpt-4o", "mystery"]  # priced first
    one, folded = top_rows(table, 1)
    assert folded == 1
    assert one.rows[1].cost is None  # only the unpriced model was folded: still no cost, never $0
    assert one.rows[1].unpriced == 1
    with pytest.raises(ValueError, match="at least 1"):
        top_rows(table, 0)


@pytest.mark.parametrize(
    ("days", "unit"), [(1, "day"), (14, "day"), (15, "week"), (182, "week"), (183, "month")]
)
def test_a_few_rows_over_time_whatever_the_period(days: int, unit: str) -> None:
    since = datetime(2026, 1, 1)
    assert summary_bucket(Period(since, since + timedelta(days=days))) == unit
    assert summary_bucket(None) == "day"
