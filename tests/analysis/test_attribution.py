"""Showback: cost and tokens by dimensions and time buckets, adding up exactly to the grand total."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.builders import T0, call, cost, hand_store, usage
from tests.analysis.conftest import SimStore
from tests.conftest import real_data_path
from tests.importers.support import otlp_of_case
from tokenomy import native
from tokenomy.analysis.attribution import UNATTRIBUTED, AttributionTable, attribute, top_rows
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.errors import ConfigError
from tokenomy.importers import import_paths
from tokenomy.pricing import Pricer
from tokenomy.schema import Cost, Kind, Usage
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.base import TimeUnit


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with hand_store(tmp_path / "s.duckdb") as s:
        yield s


def _by(table: AttributionTable) -> dict[str, Decimal | None]:
    return {"/".join(r.group.values()): r.cost for r in table.rows}


def assert_adds_up(table: AttributionTable) -> None:
    """Rows' costs, tokens, calls and charges add up exactly to the total."""
    total = table.total
    assert sum((r.llm_cost or Decimal(0) for r in table.rows), Decimal(0)) == (total.llm_cost or Decimal(0))
    assert sum((r.charge_cost or Decimal(0) for r in table.rows), Decimal(0)) == (
        total.charge_cost or Decimal(0)
    )
    assert sum(r.calls for r in table.rows) == total.calls
    assert sum(r.charges for r in table.rows) == total.charges
    assert sum(r.unpriced for r in table.rows) == total.unpriced
    assert sum(r.input_total or 0 for r in table.rows) == (total.input_total or 0)
    assert sum(r.tokens["cache_read"] or 0 for r in table.rows) == (total.tokens["cache_read"] or 0)
    assert sum(r.usage_unknown for r in table.rows) == total.usage_unknown
    if total.cost:
        assert sum(r.cost_share or 0 for r in table.rows) == pytest.approx(1.0)


def _engine_total(store: DuckDBStore) -> Decimal:
    """The grand total summed directly in SQL, independently of the analysis code."""
    rows = store.query(
        "SELECT (SELECT coalesce(sum(cost_total), 0) FROM calls)"
        " + (SELECT coalesce(sum(amount), 0) FROM charges) AS t"
    ).to_pylist()
    return Decimal(rows[0]["t"])


def test_by_team_with_charges_unpriced_and_unattributed(store: DuckDBStore) -> None:
    table = attribute(store, Selection.of(by=["team"]))
    rows = {r.group["team"]: r for r in table.rows}
    assert rows["a"].llm_cost == Decimal("0.03")
    assert rows["a"].charge_cost == Decimal("0.005")
    assert rows["a"].cost == Decimal("0.035")
    assert rows["b"].llm_cost == Decimal(0)  # c3 failed and cost nothing; c4 is unpriced, not $0
    assert rows["b"].unpriced == 1
    assert rows["b"].cost == Decimal("0.002")
    assert rows[UNATTRIBUTED].cost == Decimal("0.001")
    assert rows[UNATTRIBUTED].charges == 0
    assert table.total.cost == Decimal("0.038") == _engine_total(store)
    assert rows["a"].cost_share == pytest.approx(0.035 / 0.038)
    assert rows["a"].token_share == pytest.approx((1600 + 150 + 2000 + 200) / (4200 + 470))
    assert rows["b"].usage_unknown == 1  # c4 reported its totals only
    assert rows["b"].tokens["cache_read"] == 0  # c3's, the only call of b that reported it
    assert table.total.usage_unknown == 1
    assert table.notes[0] == "1 unpriced call(s): counted, not in the cost (never shown as $0)"
    assert table.notes[1].startswith("1 call(s) did not report all of their usage")
    assert_adds_up(table)


def test_charges_have_no_model(store: DuckDBStore) -> None:
    table = attribute(store, Selection.of(by=["model"]))
    assert _by(table) == {
        UNATTRIBUTED: Decimal("0.007"),
        "m1": Decimal("0.01"),
        "m2": Decimal("0.02"),
        "m3": Decimal("0.001"),
    }
    assert_adds_up(table)


def test_tags_buckets_and_filters(store: DuckDBStore) -> None:
    assert _by(attribute(store, Selection.of(by=["tag:env"]))) == {
        UNATTRIBUTED: Decimal("0.037"),
        "dev": Decimal("0.001"),
    }
    hourly = attribute(store, Selection.of(by=["team"], bucket="hour"))
    assert {r.bucket for r in hourly.rows} == {T0}
    only_a = attribute(store, Selection.of(by=["intent"], where=[("team", ("a",))]))
    assert _by(only_a) == {"x": Decimal("0.035")}
    nobody = attribute(store, Selection.of(where=[("team", (UNATTRIBUTED,))]))
    assert nobody.total.cost == Decimal("0.001")
    later = attribute(store, Selection.of(since=T0 + timedelta(minutes=1)))
    assert later.total.calls == 2  # c2 and c4 start a minute or two later
    assert later.total.charges == 0


def test_an_unpriced_group_has_no_cost(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        table = attribute(
            store, Selection.of(by=["team"], where=[("team", ("b",))], since=T0.replace(minute=2))
        )
    (row,) = table.rows
    assert row.calls == 1
    assert row.cost is None
    assert row.cost_share is None


def test_calls_without_token_totals_are_named_in_a_note(store: DuckDBStore) -> None:
    # only two buckets reported: the input and output totals are unknown, not 0
    partial = Usage.of(input_uncached=900, output_visible=40)
    store.insert_calls([call("c6", team="b", usage=partial, cost=cost("0.004"))])
    table = attribute(store, Selection.of(by=["team"]))
    b = {r.group["team"]: r for r in table.rows}["b"]
    assert (b.calls, b.input_total, b.output_total) == (3, 500, 100)  # c4's totals; c6's are not known
    assert b.tokens["input_uncached"] == 900
    assert b.usage_unknown == 2  # c4 (totals only) and c6
    assert table.notes == (
        "1 unpriced call(s): counted, not in the cost (never shown as $0)",
        "2 call(s) did not report all of their usage: a token figure is the sum over the calls that"
        ' reported it, "—" (null) where none did, and the token shares are shares of the reported tokens',
    )
    assert_adds_up(table)


def test_estimated_figures_and_calls_no_period_holds_are_named_in_notes(store: DuckDBStore) -> None:
    """A call whose tokens were counted locally, or whose cost rests on an assumed price, is an
    estimate and the report says how many there are. A period (--since) leaves out the calls with
    no start time, and says so with their cost, as the import did."""
    counted = Usage(input_total=500, output_total=20, kind=Kind.ESTIMATED)
    assumed = Cost(total=Decimal("0.01"), parts={}, source="hand", estimated=True, reason="peak rate")
    store.insert_calls(
        [
            call("e1", team="b", usage=counted, cost=cost("0.002")),
            call("e2", team="b", usage=usage(100, 0, 0, 0, 10, 0), cost=assumed),
            call("u1", team="b", started_at=None, usage=usage(100, 0, 0, 0, 10, 0), cost=cost("0.3")),
            call("u2", team="b", started_at=None, usage=usage(100, 0, 0, 0, 10, 0), cost=cost(None)),
        ]
    )
    whole = attribute(store, Selection.of(by=["team"]))
    estimated = [n for n in whole.notes if "estimated figures" in n]
    assert estimated == [
        "2 call(s) have estimated figures: tokens counted locally rather than reported, or a cost whose"
        " price was assumed (a missing rate, a peak rate, no start time); each call's cost_reason says"
        " which (tokenomy export)"
    ]
    assert not [n for n in whole.notes if "no start time left out" in n]  # no period: they are in
    bounded = attribute(store, Selection.of(by=["team"], since=T0 - timedelta(days=1)))
    assert bounded.total.calls == whole.total.calls - 2
    assert bounded.notes[-1] == (
        "2 call(s) with no start time left out ($0.3000 of cost): no period holds them; a report"
        " without --since and --until counts them"
    )
    team_a = attribute(
        store, Selection.of(by=["team"], where=[("team", ("a",))], since=T0 - timedelta(days=1))
    )
    assert not [n for n in team_a.notes if "no start time" in n]  # the filters apply to them too


def test_a_group_whose_calls_reported_no_usage_has_unknown_tokens_not_zero(store: DuckDBStore) -> None:
    # team c's only call reported nothing; team d's only call left its cache read unknown
    store.insert_calls(
        [
            call("c7", team="c", usage=Usage()),
            call("c8", team="d", usage=Usage.of(input_uncached=300, output_visible=30, reasoning=0)),
        ]
    )
    table = attribute(store, Selection.of(by=["team"], bucket="day"))
    rows = {r.group["team"]: r for r in table.rows}
    c, d = rows["c"], rows["d"]
    assert c.tokens == dict.fromkeys(c.tokens)
    assert (c.input_total, c.output_total, c.tokens_processed, c.token_share) == (None, None, None, None)
    assert c.usage_unknown == 1
    assert d.tokens["cache_read"] is None
    assert d.tokens["input_uncached"] == 300
    assert (d.input_total, d.output_total, d.usage_unknown) == (None, 30, 1)
    # shares are of the reported tokens: they still add up to 1 over the rows that reported any
    known = table.total.tokens_processed
    assert known == 4200 + 470 + 30
    assert d.token_share == pytest.approx(30 / known)
    assert sum(r.token_share or 0 for r in table.rows) == pytest.approx(1.0)
    assert table.total.tokens["cache_read"] == 400  # c1's, the known ones: never None over known calls
    assert table.total.usage_unknown == 3  # c4, c7, c8
    assert_adds_up(table)


def test_a_group_of_charges_only_has_no_tokens_rather_than_unknown(store: DuckDBStore) -> None:
    table = attribute(store, Selection.of(by=["model"]))
    (charges,) = [r for r in table.rows if r.calls == 0]  # charges have no model
    assert (charges.group["model"], charges.charges) == (UNATTRIBUTED, 2)
    assert charges.tokens == dict.fromkeys(charges.tokens, 0)
    assert (charges.input_total, charges.output_total, charges.usage_unknown) == (0, 0, 0)
    assert charges.token_share == 0.0


def test_the_folded_rows_keep_unknown_tokens_unknown(store: DuckDBStore) -> None:
    store.insert_calls([call("c7", team="c", usage=Usage()), call("c8", team="d", usage=Usage())])
    table, folded = top_rows(attribute(store, Selection.of(by=["team"])), 3)
    assert folded == 2
    rest = table.rows[-1]
    assert rest.group["team"] == "(2 more)"
    assert (rest.input_total, rest.tokens["cache_read"], rest.token_share, rest.usage_unknown) == (
        None,
        None,
        None,
        2,
    )


def test_unknown_dimension_is_a_clear_error(store: DuckDBStore) -> None:
    with pytest.raises(ConfigError, match="unknown dimension 'colour'"):
        attribute(store, Selection(Scope(where=(("colour", ("red",)),))))


def test_simulated_month_adds_up_exactly(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        groupings: list[tuple[tuple[str, ...], TimeUnit | None]] = [
            (("team", "feature"), "day"),
            (("model",), None),
            (("user",), "week"),
            ((), None),
        ]
        for by, bucket in groupings:
            table = attribute(store, Selection.of(by=by, bucket=bucket))
            assert_adds_up(table)
            assert table.total.cost == _engine_total(store)
        teams = attribute(store, Selection.of(by=["team"]))
    # the simulator writes no cost: price every call again in Python, independently of the SQL import
    pricer = Pricer()
    costs = [pricer.price(native.call_from_native(c)).total for c in sim.calls]
    expected = sum((c for c in costs if c is not None), Decimal(0))
    expected += sum(Decimal(g["amount"]) for g in sim.charges)
    assert teams.total.unpriced == sum(1 for c in costs if c is None)
    assert teams.total.cost == expected
    assert teams.total.calls == len(sim.calls)
    assert teams.total.charges == len(sim.charges)


def _langfuse_cases(folder: Path) -> Path:
    lines = real_data_path("langfuse", "otel-mapping-test-spans.jsonl").read_text().splitlines()
    folder.mkdir()
    for number, line in enumerate(lines):
        (folder / f"case{number:02d}.json").write_text(json.dumps(otlp_of_case(json.loads(line))))
    return folder


@pytest.mark.realdata
def test_real_traces_and_trajectories_add_up(tmp_path: Path) -> None:
    cases = _langfuse_cases(tmp_path / "langfuse")
    trajectories = real_data_path("trajectories")
    with open_store(tmp_path / "real.duckdb") as store:
        summary = import_paths([cases, trajectories], store=store, pricer=Pricer())
        assert summary.calls > 50
        for by in (("session",), ("agent", "model"), ("provider",), ("user",)):
            table = attribute(store, Selection.of(by=by, bucket="day"))
            assert_adds_up(table)
            assert table.total.cost == _engine_total(store)
            assert table.total.calls == summary.calls
            assert table.total.unpriced == summary.unpriced
        sessions = attribute(store, Selection.of(by=["session"]))
    assert sessions.total.unpriced > 0  # SWE-agent runs without a model are counted, not $0
    assert any(r.group["session"] == UNATTRIBUTED for r in sessions.rows)


def test_a_period_with_nothing_has_an_empty_table(store: DuckDBStore) -> None:
    table = attribute(store, Selection.of(by=["team"], since=datetime(2030, 1, 1)))
    assert table.rows == ()
    assert table.total.cost is None
    assert table.total.calls == 0
