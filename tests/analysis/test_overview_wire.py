"""The HTML report's data through JSON and back (what ``GET /api/v1/report?view=overview`` answers and
``tokenomy report --server --format html`` reads): the same objects, so the same page."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.builders import call, hand_store
from tests.analysis.conftest import SimStore
from tests.analysis.test_report_wire import tiny_store
from tokenomy.analysis import html_report
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.overview import Overview, overview
from tokenomy.analysis.overview_wire import overview_from_json, overview_json
from tokenomy.analysis.sessions_wire import sessions_from_json
from tokenomy.schema import Usage
from tokenomy.store import open_store


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(json.dumps(data))
    return found


def _bare(data: Overview) -> Overview:
    """``data`` without the table's facets (the KPIs' inputs, which the JSON does not carry)."""
    return dataclasses.replace(data, table=dataclasses.replace(data.table, facet_spec=None, facets=()))


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


def test_the_tables_unknown_usage_and_its_count_go_through(tmp_path: Path) -> None:
    with hand_store(tmp_path / "h.duckdb") as store:
        store.insert_calls([call("c7", team="c", usage=Usage())])
        data = overview(store, by=("team",), top=5)
    sent = _wire(overview_json(data))
    rows = {row["team"]: row for row in sent["table"]["rows"]}
    assert (rows["c"]["cache_read"], rows["c"]["input_total"], rows["c"]["usage_unknown"]) == (None, None, 1)
    assert sent["table"]["total"]["usage_unknown"] == data.table.total.usage_unknown == 2  # c4 and c7
    back = overview_from_json(sent)
    assert back == _bare(data)
    assert back.table.total.usage_unknown == 2
    assert html_report.render(back) == html_report.render(data)


def test_the_pages_spend_table_counts_the_calls_with_unknown_usage_only_when_there_are_any(
    tmp_path: Path,
) -> None:
    with hand_store(tmp_path / "h.duckdb") as store:
        store.insert_calls([call("c7", team="c", usage=Usage())])
        data = overview(store, by=("team",), top=5)
    page = html_report.render(data)
    spend = page[page.index('id="spend"') : page.index("</section>", page.index('id="spend"'))]
    assert ">usage unknown<" in spend
    row = spend[spend.index(">c<") :].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in row.split('<td class="num">')[1:]]
    # calls, charges, tokens ("—", never 0), cost and share (unpriced), unpriced, usage unknown
    assert cells == ["1", "0", "—", "—", "—", "1", "1"]
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                call(
                    "k1",
                    team="k",
                    usage=Usage.of(
                        input_uncached=1,
                        output_visible=1,
                        cache_read=0,
                        cache_write_5m=0,
                        cache_write_1h=0,
                        reasoning=0,
                    ),
                )
            ]
        )
        page = html_report.render(overview(store, by=("team",), top=5))
    assert "usage unknown" not in page
