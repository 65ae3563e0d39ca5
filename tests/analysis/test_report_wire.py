"""The report's results through JSON and back (what the collector answers and ``report --server``
reads): the same objects, amounts with the same digits, on hand-made and simulated stores; the
cost drivers, intent baselines and metrics of ``--compare`` and the metric options too."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.builders import call, cost, hand_store
from tests.analysis.conftest import SimStore
from tests.analysis.test_report import fill
from tokenomy.analysis.attribution import AttributionTable
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import BETTER, spend_report
from tokenomy.analysis.report import daily_totals
from tokenomy.analysis.report_analyses import Analyses, AnalysisReport, analysis_report
from tokenomy.analysis.report_wire import (
    analysis_from_json,
    analysis_json,
    grouped_from_json,
    grouped_json,
    report_from_json,
    report_row_json,
    summary_from_json,
    summary_json,
)
from tokenomy.analysis.results import MetricResult, jsonable
from tokenomy.analysis.summary import summary
from tokenomy.analysis.wire_values import money_from_json
from tokenomy.schema import BUCKETS, Usage
from tokenomy.store import CallFilter, DuckDBStore, open_store


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the HTTP answer carries it."""
    found: dict[str, Any] = json.loads(json.dumps(data))
    return found


def _bare(table: AttributionTable) -> AttributionTable:
    """The table without its facets (the KPIs' inputs, which the JSON does not carry)."""
    return dataclasses.replace(table, facet_spec=None, facets=())


def test_a_grouped_report_reads_back_whole_on_a_small_store(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        selection = Selection(Scope(where=(("provider", ("openai", "acme")),)), Grouping(("model",), "day"))
        table, items = spend_report(store, selection)
    sent = _wire(grouped_json(table, items))
    back_table, back_items = grouped_from_json(sent)
    assert back_table == _bare(table)
    assert back_items == items
    assert grouped_json(back_table, back_items) == sent
    # the untimed call keeps its row without a time; amounts keep their digits
    untimed = [r for r in back_table.rows if r.bucket is None]
    assert [(r.group["model"], r.calls, r.cost) for r in untimed] == [("gpt-4o", 1, Decimal("0.5"))]
    assert str(back_table.total.cost) == str(table.total.cost) == "1.503500000001"
    assert next(k for k in back_items if k.name == "spend").value == Decimal("1.503500000001")


def test_the_summary_reads_back_with_its_trends_and_folded_rows(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        scope = Scope(datetime(2026, 10, 8), datetime(2026, 10, 12))
        data = summary(store, scope, top=2)
        whole = summary(store)
    for found in (data, whole):
        sent = _wire(summary_json(found))
        back = summary_from_json(sent)
        assert back == dataclasses.replace(
            found, over_time=_bare(found.over_time), models=_bare(found.models)
        )
        assert summary_json(back) == sent
    assert data.folded > 0
    assert data.models.rows[-1].group["provider"].endswith("more)")
    assert data.previous is not None
    spend = next(k for k in back.kpis if k.name == "spend")
    assert spend.better == BETTER["spend"] == "down"
    trended = summary_from_json(_wire(summary_json(data)))
    assert [(k.name, k.change, k.improved) for k in trended.kpis] == [
        (k.name, k.change, k.improved) for k in data.kpis
    ]
    assert any(k.change is not None for k in trended.kpis)


@pytest.mark.parametrize(
    ("by", "bucket", "where"),
    [
        (("team", "feature"), None, ()),
        (("tag:env",), "week", ()),
        ((), "hour", (("team", ("search", "(unattributed)")),)),
        (("session",), None, (("model", ("claude-sonnet-4-5-20250929",)),)),
    ],
)
def test_grouped_reports_of_a_simulated_month_read_back(
    sim: SimStore, by: tuple[str, ...], bucket: Any, where: Any
) -> None:
    with open_store(sim.db, read_only=True) as store:
        table, items = spend_report(store, Selection(Scope(where=where), Grouping(by, bucket)))
    sent = _wire(grouped_json(table, items))
    back_table, back_items = grouped_from_json(sent)
    assert (back_table, back_items) == (_bare(table), items)
    assert sum(r.calls for r in back_table.rows) == back_table.total.calls > 0


def test_the_first_report_with_charges_reads_back(sim: SimStore) -> None:
    filters = CallFilter(since=datetime(2026, 10, 8), until=datetime(2026, 10, 12))
    with open_store(sim.db, read_only=True) as store:
        report = daily_totals(store, filters, charges=True)
    sent = _wire(
        {
            "rows": [report_row_json(r, with_keys=True, charges=True) for r in report.rows],
            "total": report_row_json(report.total, with_keys=False, charges=True),
        }
    )
    back = report_from_json(sent, filters)
    # a charges' row has no token counts; read back, it has the six buckets at 0 (printed alike)
    assert back.rows == tuple(
        dataclasses.replace(r, tokens={b: r.tokens.get(b, 0) for b in BUCKETS}) for r in report.rows
    )
    assert back.total.spend == report.total.spend
    charge_rows = [r for r in back.rows if r.provider is None]
    assert charge_rows
    assert all(r.charges > 0 and r.calls == 0 for r in charge_rows)


def test_an_answer_that_does_not_read_is_refused() -> None:
    with pytest.raises(KeyError):
        grouped_from_json({"by": [], "bucket": None, "where": {}, "since": None, "until": None})
    with pytest.raises(TypeError):
        report_from_json({"rows": [], "total": {"calls": "3"}}, CallFilter())


def test_money_reads_back_as_the_api_writes_it() -> None:
    """The one reader of the API's amounts: the report here, the session pages in cli/collector_reads.py."""
    amount = money_from_json("0.000000075000")
    assert (amount, str(amount)) == (Decimal("0.000000075"), "7.5000E-8")  # the digits kept
    assert money_from_json("-1.50") == Decimal("-1.50")
    assert money_from_json(None) is None
    with pytest.raises(TypeError, match=r"an amount should be a decimal string, got 0\.1"):
        money_from_json(0.1)
    with pytest.raises(ArithmeticError):
        money_from_json("ten")


def tiny_store(path: Path) -> DuckDBStore:
    """Two calls of one session, $0.000000075 and $0.00000002 on 2026-03-02 (under a millionth,
    where ``str(Decimal)`` turns to the exponent form), and one of $0.00000004 the day before."""
    store = open_store(path)
    store.insert_calls(
        [
            call(
                "t1", team="a", session_id="s1", started_at=datetime(2026, 3, 2, 9), cost=cost("0.000000075")
            ),
            call(
                "t2", team="a", session_id="s1", started_at=datetime(2026, 3, 2, 10), cost=cost("0.00000002")
            ),
            call(
                "t0", team="b", session_id="s0", started_at=datetime(2026, 3, 1, 9), cost=cost("0.00000004")
            ),
        ]
    )
    return store


def test_tiny_amounts_are_written_fixed_point_and_read_back_with_the_same_digits(tmp_path: Path) -> None:
    with tiny_store(tmp_path / "t.duckdb") as store:
        table, items = spend_report(store, Selection(Scope(datetime(2026, 3, 2), datetime(2026, 3, 3))))
        day = summary(store, Scope(datetime(2026, 3, 2), datetime(2026, 3, 3)))
        first = daily_totals(store, CallFilter(since=datetime(2026, 3, 2)))
    sent = _wire(grouped_json(table, items))
    assert sent["total"]["cost"] == "0.000000095000"
    kpis = sent["kpis"]
    assert (kpis["spend"]["value"], kpis["cost_per_session"]["value"]) == ("0.000000095000", "0.000000095000")
    back_table, back_items = grouped_from_json(sent)
    assert back_items == items
    spend = next(k for k in back_items if k.name == "spend").value
    assert isinstance(spend, Decimal)
    assert spend.as_tuple() == Decimal("0.000000095000").as_tuple()
    assert grouped_json(back_table, back_items) == sent
    shown = _wire(summary_json(day))["kpis"]["spend"]
    assert (shown["value"], shown["previous"]) == ("0.000000095000", "0.000000040000")
    assert summary_from_json(_wire(summary_json(day))).kpis == day.kpis
    row = _wire(report_row_json(first.total, with_keys=False))
    assert row["cost"] == "0.000000095000"
    assert report_from_json({"rows": [], "total": row}, CallFilter()).total.cost == first.total.cost


def _as_sent(result: MetricResult) -> MetricResult:
    """``result`` with its details as their JSON values (what the wire keeps of figures no report draws)."""
    rows = tuple(dataclasses.replace(r, details=_wire(jsonable(dict(r.details)))) for r in result.rows)
    total = dataclasses.replace(result.total, details=_wire(jsonable(dict(result.total.details))))
    return dataclasses.replace(result, rows=rows, total=total)


@pytest.mark.parametrize(
    ("selection", "analyses"),
    [
        (Selection(grouping=Grouping(("team",))), Analyses(compare="previous", parts=True)),
        (
            Selection(Scope(datetime(2026, 10, 8), datetime(2026, 10, 12)), Grouping(("intent",), "day")),
            Analyses(compare="last-week", threshold=0.05, metrics=True, budget_tokens=200_000),
        ),
        (
            Selection(Scope(where=(("team", ("search",)),)), Grouping(("feature",))),
            Analyses(parity=("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")),
        ),
    ],
)
def test_a_comparison_and_metrics_read_back_whole(
    sim: SimStore, selection: Selection, analyses: Analyses
) -> None:
    with open_store(sim.db, read_only=True) as store:
        report = analysis_report(store, selection, analyses)
    sent = _wire(analysis_json(report))
    back = analysis_from_json(sent)
    assert analysis_json(back) == sent  # prints the same JSON, character for character
    metrics = None if report.metrics is None else tuple(_as_sent(m) for m in report.metrics)
    assert back == AnalysisReport(
        _bare(report.table), report.kpis, report.drivers, report.baselines, metrics, report.split
    )
    assert (back.split is not None) == analyses.parts  # where the LLM cost goes, read back whole
    assert back.split is None or back.split.rows
    assert (back.drivers is None) == (analyses.compare is None)
    if back.drivers is not None and report.drivers is not None:
        total = back.drivers.total
        assert sum(total.parts.values()) == total.change  # the parts still add up, to the digit
        dim = selection.grouping.by[0]
        assert [r.dominant for r in back.drivers.groups[dim]] == [
            r.dominant for r in report.drivers.groups[dim]
        ]
        assert back.baselines
    assert (back.metrics is None) == (not analyses.any_metric)


def test_the_drivers_periods_are_utc_times_with_a_z_like_the_reports_own(sim: SimStore) -> None:
    selection = Selection(Scope(datetime(2026, 10, 8), datetime(2026, 10, 12)), Grouping(("team",)))
    with open_store(sim.db, read_only=True) as store:
        report = analysis_report(store, selection, Analyses(compare="last-week"))
    sent = _wire(analysis_json(report))
    assert (sent["since"], sent["until"]) == ("2026-10-08T00:00:00Z", "2026-10-12T00:00:00Z")
    assert sent["drivers"]["current"] == {"since": "2026-10-08T00:00:00Z", "until": "2026-10-12T00:00:00Z"}
    assert sent["drivers"]["baseline"] == {"since": "2026-10-01T00:00:00Z", "until": "2026-10-05T00:00:00Z"}
    back = analysis_from_json(sent).drivers
    assert back is not None
    assert report.drivers is not None
    assert (back.current, back.baseline) == (report.drivers.current, report.drivers.baseline)


def test_a_report_without_analyses_has_neither_drivers_nor_metrics_on_the_wire(tmp_path: Path) -> None:
    with fill(tmp_path / "s.duckdb") as store:
        report = analysis_report(store, Selection(grouping=Grouping(("model",))))
        table, items = spend_report(store, Selection(grouping=Grouping(("model",))))
    sent = _wire(analysis_json(report))
    assert sent == _wire(grouped_json(table, items))
    assert analysis_from_json(sent) == AnalysisReport(_bare(table), items)


def test_drivers_that_do_not_read_are_refused() -> None:
    with pytest.raises(TypeError, match="an amount should be a decimal string, got null"):
        analysis_from_json(
            {
                **_wire(grouped_json(*_empty())),
                "drivers": {
                    "current": {"since": "2026-03-02T00:00:00", "until": "2026-03-03T00:00:00"},
                    "baseline": {"since": "2026-03-01T00:00:00", "until": "2026-03-02T00:00:00"},
                    "total": {"group": {}, "baseline_cost": None},
                    "groups": {},
                    "notes": [],
                },
                "baselines": [],
            }
        )


def _empty() -> tuple[AttributionTable, tuple[Any, ...]]:
    with open_store(":memory:") as store:
        return spend_report(store, Selection())


def test_unknown_tokens_and_their_count_read_back_as_unknown(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        store.insert_calls([call("c7", team="c", usage=Usage())])
        table, items = spend_report(store, Selection(grouping=Grouping(("team",))))
    sent = _wire(grouped_json(table, items))
    c = next(row for row in sent["rows"] if row["team"] == "c")
    assert (c["input_total"], c["cache_read"], c["token_share"], c["usage_unknown"]) == (None, None, None, 1)
    assert sent["total"]["usage_unknown"] == 2  # c4 (totals only) and c7
    back, _ = grouped_from_json(sent)
    assert back == _bare(table)
    assert next(r for r in back.rows if r.group["team"] == "c").tokens["cache_read"] is None


def test_the_first_reports_unknown_usage_reads_back_unknown_with_its_count(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.insert_calls(
            [  # x: no cache read (so no input total); y: nothing reported; both on one row
                call(
                    "x",
                    usage=Usage.of(
                        input_uncached=1000,
                        output_visible=50,
                        cache_write_5m=0,
                        cache_write_1h=0,
                        reasoning=0,
                    ),
                ),
                call("y", usage=Usage()),
                call(
                    "z",
                    request_model="m2",
                    usage=Usage.of(
                        input_uncached=9,
                        cache_read=1,
                        output_visible=2,
                        cache_write_5m=0,
                        cache_write_1h=0,
                        reasoning=0,
                    ),
                ),
            ]
        )
        report = daily_totals(store, charges=True)
    sent = _wire(
        {
            "rows": [report_row_json(r, with_keys=True, charges=True) for r in report.rows],
            "total": report_row_json(report.total, with_keys=False, charges=True),
        }
    )
    m1 = sent["rows"][0]
    assert (m1["model"], m1["cache_read"], m1["input_total"], m1["output_total"]) == ("m1", None, None, 50)
    assert (m1["input_uncached"], m1["usage_unknown"]) == (1000, 2)
    assert (sent["total"]["cache_read"], sent["total"]["input_total"], sent["total"]["usage_unknown"]) == (
        1,
        10,
        2,
    )
    back = report_from_json(sent, CallFilter())
    assert back == report
    assert back.rows[0].tokens["cache_read"] is None
    # the plain form (no charges, GET /api/v1/report's) carries the count too, nulls included
    plain = _wire(report_row_json(report.rows[0], with_keys=True))
    assert plain["usage_unknown"] == 2
    assert plain["cache_read"] is None
