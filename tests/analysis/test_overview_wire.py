"""The HTML report's data through JSON and back (what ``GET /api/v1/report?view=overview`` answers and
``tokenomy report --server --format html`` reads): the same objects, so the same page."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.conftest import SimStore
from tests.analysis.test_report_wire import tiny_store
from tokenomy.analysis import html_report
from tokenomy.analysis.attribution import SpendRow
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.overview import Overview, overview
from tokenomy.analysis.overview_wire import overview_from_json, overview_json
from tokenomy.analysis.sessions_wire import sessions_from_json
from tokenomy.store import open_store


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(json.dumps(data))
    return found


def _bare(data: Overview) -> Overview:
    """``data`` without the table's facets (the KPIs' inputs, which the JSON does not carry) and its
    rows' count of calls with unreported usage (which the overview's JSON does not carry yet: the page
    draws the count in its note, and the unknown tokens as "—" from the nulls)."""
    table = data.table

    def bare(row: SpendRow) -> SpendRow:
        return dataclasses.replace(row, usage_unknown=0)

    table = dataclasses.replace(
        table, facet_spec=None, facets=(), rows=tuple(map(bare, table.rows)), total=bare(table.total)
    )
    return dataclasses.replace(data, table=table)


@pytest.mark.parametrize(
    ("scope", "by", "compare"),
    [
        (Scope(datetime(2026, 10, 12), datetime(2026, 10, 19)), ("team",), None),
        (Scope(datetime(2026, 10, 9), datetime(2026, 10, 11)), ("team", "feature"), "last-week"),
        (
            Scope(where=(("model", ("claude-haiku-4-5-20251001",)),)),
            ("agent",),
            None,
        ),  # no trend, last 7 days
        (Scope(datetime(2027, 1, 1), datetime(2027, 1, 8)), ("team",), "previous"),  # nothing in it
    ],
)
def test_the_overview_reads_back_whole_and_draws_the_same_page(
    sim: SimStore, scope: Scope, by: tuple[str, ...], compare: str | None
) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = overview(store, scope, by=by, compare=compare, top=5)
    sent = _wire(overview_json(data))
    back = overview_from_json(sent)
    assert back == _bare(data)
    assert overview_json(back) == sent
    assert html_report.render(back) == html_report.render(data)


def test_sessions_keep_their_outcome_times_and_costs(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = overview(store, top=20)
    rows = sessions_from_json(_wire(overview_json(data))["sessions"]).rows
    assert rows == data.sessions.rows
    assert {r.outcome for r in rows} >= {"success"}
    assert all(r.duration_s is not None for r in rows)


def test_tiny_amounts_draw_the_same_page(tmp_path: Path) -> None:
    with tiny_store(tmp_path / "t.duckdb") as store:
        data = overview(store, Scope(datetime(2026, 3, 2), datetime(2026, 3, 3)))
    sent = _wire(overview_json(data))
    assert sent["over_time"]["team"]["values"]["a"][9] == "0.000000075000"  # the 09:00 bucket, fixed-point
    back = overview_from_json(sent)
    assert html_report.render(back) == html_report.render(data)


def test_an_overview_that_does_not_read_is_refused(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        sent = _wire(overview_json(overview(store, top=1)))
    broken = {**sent, "over_time": {"team": {**sent["over_time"]["team"], "unit": "year"}}}
    with pytest.raises(ValueError, match="a series' unit should be one of hour, day, week, month"):
        overview_from_json(broken)
    row = {**sent["sessions"]["rows"][0], "outcome": "maybe"}
    with pytest.raises(ValueError, match="a session's outcome"):
        overview_from_json({**sent, "sessions": {**sent["sessions"], "rows": [row]}})
    with pytest.raises(KeyError):
        overview_from_json({k: v for k, v in sent.items() if k != "drivers"})
