from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tests.analysis.builders import hand_store
from tests.analysis.conftest import SimStore
from tokenomy.analysis import metrics as m
from tokenomy.analysis import terminal
from tokenomy.analysis.attribution import attribute
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection, grouped_calls, spend_sql
from tokenomy.analysis.kpis import KPI_FACETS, Kpi, call_sums, figures, kpis, session_units
from tokenomy.analysis.sources import detect
from tokenomy.store import open_store


def test_kpis_reuse_the_metric_definitions(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        table = attribute(store, Selection.of(by=["team"]))
        values = {k.name: k for k in kpis(figures(store, Scope(), table=table))}
        efficiency = m.token_efficiency(store).total.value
        hit = m.cache_hit_ratio(store).total.value
    assert values["spend"].value == Decimal("0.038")
    assert values["calls"].value == 5
    assert values["unpriced"].value == 1
    assert values["cost_per_session"].value == Decimal("0.035") / 2
    assert values["token_efficiency"].value == pytest.approx(efficiency)
    assert values["cache_hit_ratio"].value == pytest.approx(hit)
    assert values["spend"].previous is None
    assert values["spend"].change is None


def test_the_cost_per_session_tile_leaves_out_sessions_with_no_known_cost(tmp_path: Path) -> None:
    from tests.analysis.builders import call, cost
    from tokenomy.schema import Usage

    with hand_store(tmp_path / "s.duckdb") as store:
        unknown = call("c6", session_id="s3", usage=Usage(input_total=900, output_total=90), cost=cost(None))
        before = {k.name: k for k in kpis(figures(store, Scope()))}
        store.insert_calls([unknown])
        values = {k.name: k for k in kpis(figures(store, Scope()))}
        metric = m.cost_per_session(store).total.value
    assert values["cost_per_session"].value == metric == Decimal("0.035") / 2  # s3 is not a $0 session
    # and the tile says so, as the metric's note does (none while every session is priced)
    loose = "1 call(s) and 1 charge(s) with no session left out ($0.0030)"  # c5 ($0.001), g2 ($0.002)
    assert values["cost_per_session"].note == f"1 of 3 sessions unpriced, left out; {loose}"
    assert before["cost_per_session"].note == loose


def test_the_cost_per_session_tile_says_it_leaves_out_charges_with_no_session(tmp_path: Path) -> None:
    """A finance reader divided the spend by the sessions and did not get the tile's figure."""
    from tests.analysis.builders import charge

    with hand_store(tmp_path / "s.duckdb") as store:
        before = {k.name: k for k in kpis(figures(store, Scope()))}
        store.insert_charges([charge("loose", "1.25"), charge("held", "0.5", session_id="s1")])
        values = {k.name: k for k in kpis(figures(store, Scope()))}
    assert before["cost_per_session"].value == Decimal("0.035") / 2
    assert values["cost_per_session"].value == Decimal("0.035") / 2 + Decimal("0.5") / 2  # s1's charge counts
    assert values["cost_per_session"].note == "1 call(s) and 2 charge(s) with no session left out ($1.2530)"


def test_unpriced_spend_with_no_session_is_never_shown_as_0(tmp_path: Path) -> None:
    from tests.analysis.builders import call, cost, usage

    loose = call("c7", usage=usage(100, 0, 0, 0, 10, 0), cost=cost(None))  # no session, unpriced
    with hand_store(tmp_path / "s.duckdb") as store:
        store.insert_calls([loose])
        values = {k.name: k for k in kpis(figures(store, Scope()))}
    assert values["cost_per_session"].note == (
        "2 call(s) and 1 charge(s) with no session left out ($0.0030, 1 unpriced call(s) not in it)"
    )
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls([call("s", session_id="s1", cost=cost("0.01")), loose])
        alone = {k.name: k for k in kpis(figures(store, Scope()))}
    assert alone["cost_per_session"].note == "1 call(s) with no session left out (cost unknown)"  # not $0


def test_kpi_reasons_say_what_is_missing_as_the_metrics_do(tmp_path: Path) -> None:
    from tests.analysis.builders import call, charge, usage
    from tokenomy.schema import Status

    with open_store(tmp_path / "s.duckdb") as store:
        # an empty selection: nothing was priced because there is nothing at all
        empty = {k.name: k for k in kpis(figures(store, Scope()))}
        assert empty["spend"].reason == "no calls or charges"
        assert empty["cache_hit_ratio"].reason == "no calls"
        assert empty["token_efficiency"].reason == "no calls"
        # one failed call that reported its (zero) tokens, unpriced: its buckets are known, not missing
        store.insert_calls([call("e1", status=Status.ERROR, usage=usage(0, 0, 0, 0, 0, 0))])
        failed = {k.name: k for k in kpis(figures(store, Scope()))}
        assert failed["spend"].reason == "no call is priced"
        assert failed["cache_hit_ratio"].reason == m.cache_hit_ratio(store).total.reason == "no input tokens"
        assert failed["token_efficiency"].reason == m.token_efficiency(store).total.reason == "no tokens"
        # a charge alone is spend, with no call to read a ratio from
        store.insert_charges([charge("g1", "0.5", at=datetime(2026, 10, 6))])
        charged = {k.name: k for k in kpis(figures(store, Scope(since=datetime(2026, 10, 6))))}
        assert (charged["spend"].value, charged["spend"].reason) == (Decimal("0.5"), None)
        assert (charged["calls"].value, charged["cache_hit_ratio"].reason) == (0, "no calls")


def test_trends_say_which_way_is_better() -> None:
    cheaper = Kpi("spend", "Spend", "USD", Decimal(90), Decimal(100), better="down")
    assert cheaper.change == pytest.approx(-0.1)
    assert cheaper.improved is True
    worse = Kpi("token_efficiency", "Token efficiency", "ratio", 0.02, 0.04, better="up")
    assert worse.improved is False
    assert Kpi("calls", "Calls", "count", 10, 5, better="neither").improved is None
    assert Kpi("spend", "Spend", "USD", None, Decimal(1), reason="no call is priced").change is None


def test_weeks_of_a_simulation_have_trends(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        now = figures(store, Scope(datetime(2026, 10, 12), datetime(2026, 10, 19)))
        before = figures(store, Scope(datetime(2026, 10, 5), datetime(2026, 10, 12)))
    items = {k.name: k for k in kpis(now, before)}
    assert all(k.previous is not None for k in items.values())
    assert items["spend"].change == pytest.approx(float(now.spend) / float(before.spend) - 1)  # type: ignore[arg-type]


def test_the_facets_give_the_same_sums_as_filtered_aggregates(sim: SimStore) -> None:
    week = Scope(datetime(2026, 10, 12), datetime(2026, 10, 19))
    with open_store(sim.db, read_only=True) as store:
        src = detect(store)
        filtered = grouped_calls(store, src, Selection(week), {**m.CACHE_SUMS, **m.EFFICIENCY_SUMS}).total
        in_session = grouped_calls(
            store,
            src,
            Selection(week),
            {
                "calls": "count(*) FILTER (WHERE c._session IS NOT NULL)",
                "known": "count(*) FILTER (WHERE c._session IS NOT NULL AND c.cost_total IS NOT NULL)",
                "cost": "sum(c.cost_total) FILTER (WHERE c._session IS NOT NULL)",
            },
        ).total
        split = attribute(store, Selection(week, Grouping(("team", "model"))), sources=src, facets=KPI_FACETS)
        plain = attribute(store, Selection(week, Grouping(("team", "model"))), sources=src)
    sums = call_sums(split.facets)
    for name in (*m.CACHE_SUMS, *m.EFFICIENCY_SUMS):
        assert sums[name] == filtered[name], name
    assert (sums["calls"], sums["known"], sums["cost"]) == (
        in_session["calls"],
        in_session["known"],
        in_session["cost"],
    )
    assert sums["cache_known"] > 0
    assert sums["efficiency_known"] > 0
    assert sums["useful"] > 0
    assert split.rows == plain.rows
    assert split.total == plain.total
    assert sum(f["calls"] for f in split.facets) == plain.total.calls


def test_figures_from_a_split_table_equal_those_computed_alone(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        src = detect(store)
        table = attribute(store, Selection(Scope(), Grouping(("team",))), sources=src, facets=KPI_FACETS)
        shared = figures(store, Scope(), table=table, sources=src)
        alone = figures(store, Scope(), sources=src)
        unsplit = figures(store, Scope(), table=attribute(store, Selection.of(by=["team"])), sources=src)
    assert shared == alone == unsplit
    assert shared.session_cost is not None
    assert shared.calls == 6000


def test_facets_need_an_additive_grouping(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store, pytest.raises(ValueError, match="additive"):
        grouped_calls(store, detect(store), Selection(), {"n": "count(*)"}, facets=KPI_FACETS)


EXACT = "SELECT count(DISTINCT session_id) AS n FROM ({spend}) s"
SCOPES = [
    Scope(),
    Scope(datetime(2026, 10, 12), datetime(2026, 10, 19)),
    Scope(since=datetime(2026, 10, 15)),
    Scope(until=datetime(2026, 10, 9)),
    Scope(datetime(2026, 10, 12, 6), datetime(2026, 10, 19, 18, 30)),
    Scope(datetime(2026, 10, 12), datetime(2026, 10, 19), where=(("team", ("search",)),)),
]


@pytest.mark.parametrize("scope", SCOPES, ids=["all", "week", "since", "until", "hours", "team"])
def test_session_units_equal_the_distinct_sessions_of_the_scope(sim: SimStore, scope: Scope) -> None:
    with open_store(sim.db, read_only=True) as store:
        src = detect(store)
        spend, params = spend_sql(store, src, Selection(scope), {})
        exact = store.query(EXACT.format(spend=spend), params).to_pylist()[0]["n"]
        assert not src.trace_sessions  # the simulator names every call's session
        assert session_units(store, src, scope) == exact
    assert exact > 10


def test_whole_days_are_counted_from_the_rollup_and_the_rest_from_the_calls(
    sim: SimStore, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(sim.db, db)
    week, hours = SCOPES[1], SCOPES[4]
    with open_store(db) as store:
        src = detect(store)
        before = {s: session_units(store, src, s) for s in (week, hours)}
        # A pair no call has: only a count read from the rollup can see it.
        planted = "INSERT INTO session_days VALUES ('sess_planted', DATE '2026-10-14', FALSE, 1)"
        store.connection.execute(planted)
        assert session_units(store, src, week) == before[week] + 1
        assert session_units(store, src, hours) == before[hours]
        plus_two = timezone(
            timedelta(hours=2)
        )  # the same instants written at UTC+2, whatever the host's zone
        aware = Scope(week.since.replace(tzinfo=UTC), week.until.replace(tzinfo=UTC).astimezone(plus_two))  # type: ignore[union-attr]
        assert session_units(store, src, aware) == before[week] + 1


def test_the_token_efficiency_tile_says_when_waste_is_not_or_only_partly_assessed(tmp_path: Path) -> None:
    from tests.analysis.builders import mark_wasted
    from tokenomy.analysis.overview import kpi_json
    from tokenomy.analysis.report_wire import kpis_from_json
    from tokenomy.store.findings import AuditRecord

    with hand_store(tmp_path / "s.duckdb") as store:
        before = {k.name: k for k in kpis(figures(store, Scope()))}
        mark_wasted(store, "c2", audit=AuditRecord("a1", datetime(2026, 10, 6), "team=a", None, None))
        partly = {k.name: k for k in kpis(figures(store, Scope()))}
        covered = {k.name: k for k in kpis(figures(store, Scope(where=(("team", ("a",)),))))}
    assert (before["token_efficiency"].note, before["spend"].note) == ("waste not assessed", None)
    assert partly["token_efficiency"].note == "waste assessed in part"  # an audit of team a alone
    assert covered["token_efficiency"].note is None
    text = io.StringIO()
    Console(file=text, width=200).print(terminal.kpi_tiles(tuple(partly.values())))
    assert "waste assessed in part" in text.getvalue()
    assert kpis_from_json(kpi_json(tuple(partly.values())))[4].note == "waste assessed in part"
