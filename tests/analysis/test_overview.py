from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.builders import hand_store
from tests.analysis.conftest import SimStore
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import OTHER, bucket_for, kpi_json, overview, report_period
from tokenomy.analysis.periods import Period
from tokenomy.analysis.report_analyses import Analyses, analysis_report
from tokenomy.store import open_store

WEEK2 = Scope(datetime(2026, 10, 12), datetime(2026, 10, 19))


def test_an_overview_of_a_simulated_week(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = overview(store, WEEK2, by=("team",), top=5)
    assert data.period == Period(datetime(2026, 10, 12), datetime(2026, 10, 19))
    assert data.previous == Period(datetime(2026, 10, 5), datetime(2026, 10, 12))
    spend = next(k for k in data.kpis if k.name == "spend")
    assert spend.value == data.table.total.cost
    assert spend.previous is not None
    for dim in ("team", "model"):
        series = data.over_time[dim]
        assert series.unit == "day"
        assert len(series.labels) == 7
        drawn = sum((v for values in series.values.values() for v in values), Decimal(0))
        assert drawn == data.table.total.cost
    assert len(data.over_time["model"].values) <= 8
    assert OTHER in data.over_time["model"].values  # more than eight models: the rest are added up
    assert data.drivers is not None
    assert data.drivers.total.current_cost == data.table.total.cost
    assert len(data.sessions.rows) == 5
    tiles = kpi_json(data.kpis)
    assert tiles["spend"]["value"] == str(data.table.total.cost)


def test_an_open_period_covers_every_day_with_calls(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        period = report_period(store, Scope())
        data = overview(store)
    assert period == Period(datetime(2026, 10, 5), datetime(2026, 10, 6))
    assert data.over_time["team"].unit == "hour"
    assert len(data.over_time["team"].labels) == 24
    assert any("no calls in the previous period" in note for note in data.notes)
    assert all(k.previous is None for k in data.kpis)


def test_buckets_follow_the_period_length() -> None:
    start = datetime(2026, 1, 1)
    assert bucket_for(Period(start, start + timedelta(days=2))) == "hour"
    assert bucket_for(Period(start, start + timedelta(days=31))) == "day"
    assert bucket_for(Period(start, start + timedelta(days=180))) == "week"
    assert bucket_for(Period(start, start + timedelta(days=800))) == "month"


def test_calls_without_a_start_time_stay_in_the_totals(tmp_path: Path) -> None:
    from tests.analysis.builders import call, cost, usage

    with hand_store(tmp_path / "s.duckdb") as store:
        store.insert_calls([call("untimed", started_at=None, usage=usage(1, 0, 0, 0, 1, 0), cost=cost("1"))])
        data = overview(store)
        bounded = overview(store, Scope(datetime(2026, 10, 5), datetime(2026, 10, 6)))
    assert data.table.total.calls == 6
    assert data.table.total.cost == Decimal("1.038")
    assert any("1 call(s) have no start time" in note for note in data.notes)
    assert bounded.table.total.calls == 5  # an explicit period leaves them out, as any time filter


def test_over_all_the_data_the_drivers_explain_the_last_week(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = overview(store)
        asked = overview(store, compare="previous")
    assert data.period is not None
    assert data.drivers is not None
    assert all(k.previous is None for k in data.kpis)  # nothing before the data: no trends
    last = Period(data.period.until - timedelta(days=7), data.period.until)
    assert (data.drivers.current, data.drivers.baseline) == (
        last,
        Period(last.since - timedelta(days=7), last.since),
    )
    assert "holds no calls: these drivers explain its last 7 days" in data.drivers.notes[0]
    parts = sum(data.drivers.total.parts.values(), Decimal(0))
    assert parts == data.drivers.total.change
    # asked for explicitly, the two periods are those `report --compare previous` compares in its table
    # and JSON: the last 7 days with calls and the 7 before (the whole span against an empty one before)
    assert asked.period == last
    assert asked.previous == Period(last.since - timedelta(days=7), last.since)
    assert asked.drivers is not None
    assert (asked.drivers.current, asked.drivers.baseline) == (asked.period, asked.previous)
    with open_store(sim.db, read_only=True) as store:
        table = analysis_report(store, Selection(), Analyses(compare="previous"))
    assert table.drivers is not None
    assert (table.drivers.current, table.drivers.baseline) == (asked.period, asked.previous)
    assert table.drivers.total == asked.drivers.total


def test_a_single_day_with_nothing_before_has_no_drivers(tmp_path: Path) -> None:
    from tokenomy.analysis import html_report

    with hand_store(tmp_path / "s.duckdb") as store:
        data = overview(store)
    assert data.drivers is None
    assert "No cost drivers: the previous period (2026-10-04..2026-10-05) holds no calls" in (
        html_report.render(data)
    )


def test_charges_are_named_in_the_spend_by_model(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        data = overview(store)
    # g1 and g2 carry no model: by model they are the charges' own series; by team they keep their team
    by_model = {name: sum(v, Decimal(0)) for name, v in data.over_time["model"].values.items()}
    assert by_model["(non-LLM charges)"] == Decimal("0.007")
    assert "(unattributed)" not in by_model
    by_team = {name: sum(v, Decimal(0)) for name, v in data.over_time["team"].values.items()}
    assert by_team == {"a": Decimal("0.035"), "b": Decimal("0.002"), "(unattributed)": Decimal("0.001")}
