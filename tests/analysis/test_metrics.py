"""Every metric of DESIGN section 6 on the five hand-built calls of tests/analysis/builders.py.

The expected values are worked out by hand from the calls' numbers (see builders.hand_calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.builders import T0, call, cost, hand_store, mark_wasted, usage
from tokenomy.analysis import metrics as m
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.results import MetricResult, MetricRow, jsonable, per_unit
from tokenomy.analysis.sources import WASTE_NOT_ASSESSED, WASTE_PARTLY_ASSESSED, detect
from tokenomy.schema import Call, Outcome, OutcomeEvent, Usage
from tokenomy.store import DuckDBStore
from tokenomy.store.findings import AuditRecord

ALL = Selection()
BY_TEAM = Selection.of(by=["team"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with hand_store(tmp_path / "s.duckdb") as s:
        yield s


def _rows(result: MetricResult) -> dict[str, MetricRow]:
    return {"/".join(r.group.values()): r for r in result.rows}


def test_token_efficiency_by_hand(store: DuckDBStore) -> None:
    result = m.token_efficiency(store, ALL)
    # useful: c1 100 visible - 10 filler, c2 200 (c3 failed, c5's outcome failed, c4 has no visible split)
    # processed: c1 1,600+150, c2 2,000+200, c3 0, c5 100+20
    assert result.total.value == pytest.approx(290 / 4070)
    assert (result.total.numerator, result.total.denominator) == (290, 4070)
    assert result.total.coverage == pytest.approx(4 / 5)
    assert WASTE_NOT_ASSESSED in result.notes
    teams = _rows(m.token_efficiency(store, BY_TEAM))
    assert teams["a"].value == pytest.approx(290 / 3950)
    assert teams["b"].value is None
    assert teams["b"].reason == "no tokens"  # c3 processed nothing; c4's split is unknown
    assert teams["b"].coverage == pytest.approx(1 / 2)
    assert teams["(unattributed)"].value == 0.0  # c5 worked for nothing: a real zero, its outcome failed


def test_wasted_calls_from_an_audit_are_not_useful(store: DuckDBStore) -> None:
    mark_wasted(store, "c2")
    result = m.token_efficiency(store, ALL)
    assert result.total.value == pytest.approx(90 / 4070)
    assert not result.notes or WASTE_NOT_ASSESSED not in result.notes
    assert result.total.details["wasted_calls"] == 1
    # completion efficiency: 1 - (filler 10 + the wasted call's 200 visible) / 300 visible
    assert m.completion_efficiency(store, ALL).total.value == pytest.approx(1 - 210 / 300)


def test_an_audit_of_one_team_or_one_period_does_not_assess_the_rest(store: DuckDBStore) -> None:
    """An audit run with --where team=a since 09:00:30 says nothing of team b's calls, nor of c1 (09:00):
    only a selection it covers is assessed; any other says so in a note."""
    since = T0 + timedelta(seconds=30)
    mark_wasted(store, "c2", audit=AuditRecord("a2", datetime(2026, 10, 6), "team=a", since, None))
    everything = m.token_efficiency(store, ALL)
    assert everything.total.details["waste_assessed"] is False
    assert WASTE_PARTLY_ASSESSED in everything.notes
    covered = Selection(Scope(since=since, where=(("team", ("a",)),)))
    audited = m.token_efficiency(store, covered)
    assert (audited.total.details["waste_assessed"], audited.notes) == (True, ())
    earlier = Selection(Scope(since=since - timedelta(days=1), where=(("team", ("a",)),)))  # c1 too
    assert WASTE_PARTLY_ASSESSED in m.completion_efficiency(store, earlier).notes
    # by team since 09:00:30: team a's row is assessed, team b's is not, nor the total
    rows = m.token_efficiency(store, Selection(Scope(since=since), Grouping(("team",))))
    assert {"/".join(r.group.values()): r.details["waste_assessed"] for r in rows.rows} == {
        "a": True,
        "b": False,
    }
    assert rows.total.details["waste_assessed"] is False


def test_an_audit_that_found_no_waste_assesses_the_calls_it_covers(store: DuckDBStore) -> None:
    """A clean audit of team a says its calls wasted nothing: team a reads as assessed (no note), with
    the same efficiency as before; team b and the whole store, which it did not cover, in part only."""
    before = m.token_efficiency(store, Selection(Scope(where=(("team", ("a",)),))))
    assert WASTE_NOT_ASSESSED in before.notes
    store.save_findings([], AuditRecord("clean", datetime(2026, 10, 6), "team=a", None, None))
    team_a = m.token_efficiency(store, Selection(Scope(where=(("team", ("a",)),))))
    assert (team_a.total.details["waste_assessed"], team_a.notes) == (True, ())
    assert team_a.total.value == pytest.approx(290 / 3950)
    assert team_a.total.details["wasted_calls"] == 0
    everything = m.token_efficiency(store, ALL)
    assert everything.total.details["waste_assessed"] is False
    assert WASTE_PARTLY_ASSESSED in everything.notes


def test_input_density_counts_a_calls_fixed_tokens_at_most_its_input(store: DuckDBStore) -> None:
    """A call whose locally counted system and tool tokens exceed its reported input (another
    tokenizer's count) counts its whole input as fixed, not more: the density stays in [0, 1]."""
    odd = call("c9", team="z", usage=usage(100, 0, 0, 0, 10, 0), system_tokens=900, tool_def_tokens=300)
    store.insert_calls([odd])
    alone = m.input_token_density(store, Selection(Scope(where=(("team", ("z",)),))))
    assert alone.total.value == 0.0  # 1 − 100 / 100, not 1 − 1,200 / 100
    everything = m.input_token_density(store, ALL)
    assert everything.total.value == pytest.approx(1 - (850 + 100) / (3_700 + 100))


def test_ratios_by_hand(store: DuckDBStore) -> None:
    ratio = m.output_to_input_ratio(store, ALL).total
    assert ratio.value == pytest.approx(470 / 4200)
    assert ratio.coverage == 1.0
    assert (
        m.input_token_density(store, ALL).formula
        == "1 − Σ least(system_tokens + tool_def_tokens, input_total) / Σ input_total"
    )
    density = m.input_token_density(store, ALL).total
    assert density.value == pytest.approx(1 - 850 / 3700)  # c1, c2, c5 report system and tool tokens
    assert density.coverage == pytest.approx(3 / 5)
    bloat = m.prompt_bloat(store, ALL).total
    assert bloat.value == pytest.approx(650 / 1690)
    completion = m.completion_efficiency(store, ALL)
    assert completion.total.value == pytest.approx(1 - 10 / 300)
    assert completion.total.coverage == pytest.approx(3 / 5)


def test_context_window_utilization_percentiles(store: DuckDBStore) -> None:
    row = m.context_window_utilization(store, ALL).total
    # per call: c3 0.0, c1 0.16, c2 0.2, c5 1.0 (interpolated quantiles)
    assert row.value == pytest.approx(0.18)
    assert row.details["p95"] == pytest.approx(0.2 + 0.85 * 0.8)
    assert row.details["share_above_90"] == pytest.approx(1 / 4)
    assert row.details["weighted"] == pytest.approx(3700 / 30100)
    assert row.coverage == pytest.approx(4 / 5)


def test_cache_hit_ratio_overall_and_over_cacheable_prompts(store: DuckDBStore) -> None:
    result = m.cache_hit_ratio(store, ALL)
    row = result.total
    assert row.value == pytest.approx(400 / 3700)
    assert row.coverage == pytest.approx(4 / 5)
    # cacheable: c1 (openai, 1,600 >= 1,024) and c2 (anthropic, 2,000 >= 1,024); c3 is empty, c5 has no rule
    assert row.details["cacheable_hit_ratio"] == pytest.approx(400 / 3600)
    assert row.details["cacheable_input_share"] == pytest.approx(3600 / 3700)
    assert row.details["calls_without_cache_rule"] == 1
    assert any("without a known cache rule" in note for note in result.notes)


def test_tcpr_splits_input_output_and_overhead(store: DuckDBStore) -> None:
    result = m.tcpr(store, ALL)
    row = result.total
    assert row.value == Decimal("0.031") / 4
    assert row.details["input"] == Decimal("0.0166") / 4
    assert row.details["output"] == Decimal("0.0144") / 4
    assert row.details["overhead"] == 0
    assert row.coverage == pytest.approx(4 / 5)
    assert any("1 unpriced" in note for note in result.notes)


def test_cost_per_session_action_and_success(store: DuckDBStore) -> None:
    session = m.cost_per_session(store, ALL).total
    assert session.value == Decimal("0.035") / 2  # s1: c1 + c2 + g1; s2: c3 at $0, c4 unpriced
    assert session.denominator == 2
    assert session.coverage == pytest.approx(3 / 4)
    action = m.cost_per_action(store, ALL).total
    assert action.value == Decimal("0.038")  # everything, over the one completed action (c1 "done")
    success = m.cost_per_successful_inference(store, ALL).total
    assert success.value == Decimal("0.038")
    teams = _rows(m.cost_per_successful_inference(store, BY_TEAM))
    assert teams["a"].value == Decimal("0.035")
    assert teams["b"].value is None
    assert teams["b"].reason == "no successful outcome recorded"


def test_a_session_or_success_whose_cost_is_unknown_is_left_out_of_both_sides(store: DuckDBStore) -> None:
    """A session with no priced call (s3: one unpriced call, which succeeded with an action) is not a
    session at $0: cost per session, per action and per success divide by the units whose cost is known."""
    store.insert_calls(
        [
            call(
                "c6",
                session_id="s3",
                usage=Usage(input_total=900, output_total=90),
                cost=cost(None),
                outcome=Outcome(success=True, action="filed"),
            )
        ]
    )
    session = m.cost_per_session(store, ALL)
    assert (session.total.value, session.total.denominator) == (Decimal("0.035") / 2, 2)  # as before c6
    assert "1 session(s) with no priced call or charge left out (their cost is unknown)" in session.notes
    assert m.cost_per_action(store, ALL).total.value == Decimal("0.038")  # "filed" is c6's: unpriced
    assert m.cost_per_successful_inference(store, ALL).total.value == Decimal("0.038")


def test_money_per_unit_keeps_the_stored_twelve_places() -> None:
    third = per_unit(Decimal("0.01"), 3)
    assert third == Decimal("0.003333333333")
    assert jsonable(third) == "0.003333333333"  # not the 28 digits of a plain Decimal division
    assert per_unit(Decimal("0.000000000001"), 2) == Decimal(0)  # half to even at the last place
    assert per_unit(Decimal("0.000000000003"), 2) == Decimal("0.000000000002")


def test_outcomes_recorded_later_count(store: DuckDBStore) -> None:
    store.insert_outcomes(
        [
            OutcomeEvent("session", "s2", T0, success=True, action="resolved"),
            OutcomeEvent("call", "c2", T0, success=False),
        ]
    )
    assert m.cost_per_successful_inference(store, ALL).total.value == Decimal("0.038") / 2
    assert m.cost_per_action(store, ALL).total.value == Decimal("0.038") / 2
    assert m.token_efficiency(store, ALL).total.value == pytest.approx(90 / 4070)  # c2 failed now


def test_a_later_outcome_without_an_action_takes_the_earlier_ones_away(store: DuckDBStore) -> None:
    before = m.cost_per_action(store, ALL).total.value
    store.insert_outcomes(
        [
            OutcomeEvent("session", "s2", T0, success=True, action="resolved"),
            OutcomeEvent("session", "s2", T0 + timedelta(minutes=1), success=False),  # the latest: no action
        ]
    )
    assert m.cost_per_action(store, ALL).total.value == before  # s2 completed no action


def test_token_utilization_against_a_budget(store: DuckDBStore) -> None:
    row = m.token_utilization(store, 10_000, ALL).total
    assert row.value == pytest.approx(4550 / 10_000)  # c1 1,750 + c2 2,200 + c4 600 (c3 failed, c5 failed)
    assert row.details["consumed"] == 4670
    with pytest.raises(ValueError, match="positive"):
        m.token_utilization(store, 0, ALL)


def test_token_utilization_total_counts_one_budget_per_group(store: DuckDBStore) -> None:
    result = m.token_utilization(store, 10_000, BY_TEAM)
    teams = _rows(result)
    assert teams["a"].value == pytest.approx(3950 / 10_000)  # c1 1,750 + c2 2,200
    assert teams["b"].value == pytest.approx(600 / 10_000)  # c4 (c3 failed)
    assert teams["(unattributed)"].value == 0.0  # c5's outcome failed
    # three teams, three budgets: not 45.5% of one team's budget
    assert (result.total.numerator, result.total.denominator) == (4550, 30_000)
    assert result.total.value == pytest.approx(4550 / 30_000)
    assert result.total.details["consumed_share"] == pytest.approx(4670 / 30_000)
    assert "the total is measured against the 3 rows' budgets: 30,000" in result.notes


def test_cost_to_utility_by_intent(store: DuckDBStore) -> None:
    result = m.cost_to_utility_by_intent(store, ALL)
    intents = _rows(result)
    x = intents["x"]
    assert x.details["cost_share"] == pytest.approx(0.035 / 0.038)
    assert x.details["call_share"] == pytest.approx(2 / 5)
    assert x.details["success_share"] == 1.0
    assert x.value == pytest.approx(0.035 / 0.038)
    assert intents["y"].value is None
    assert intents["y"].details["cost_share"] == pytest.approx(0.002 / 0.038)
    assert result.total.value is None


def test_latency_cost_parity_per_intent(store: DuckDBStore) -> None:
    result = m.latency_cost_parity(store, "m1", "m2", ALL)
    x = _rows(result)["x"]
    # m1 is 1,000 ms faster and $0.01 cheaper a call: -$0.01 per 1,000 ms = -$0.001 per 100 ms
    assert x.value == Decimal("-0.001")
    assert x.details["faster"] == "m1"
    assert _rows(result)["y"].value is None


def test_latency_cost_parity_leaves_out_calls_whose_outcome_failed(store: DuckDBStore) -> None:
    # c2 (m2, status ok) is later recorded as failed: it did not succeed, so m2 has no call to compare
    store.insert_outcomes([OutcomeEvent("call", "c2", T0 + timedelta(hours=1), success=False)])
    x = _rows(m.latency_cost_parity(store, "m1", "m2", ALL))["x"]
    assert x.value is None
    assert x.reason == "no priced successful call with a latency on m2"
    assert x.coverage == pytest.approx(1 / 2)  # c1 counts, c2 does not


def _parity_calls() -> list[Call]:
    """Intent q: m1 three calls (1,000, 2,000, 4,000 ms; $0.00875, $0.015, $0.0035), m2 one
    (3,000 ms, $0.01545)."""
    figures = [
        ("m1", 1000.0, "0.00875"),
        ("m1", 2000.0, "0.015"),
        ("m1", 4000.0, "0.0035"),
        ("m2", 3000.0, "0.01545"),
    ]
    return [
        call(
            f"q{i}",
            intent="q",
            request_model=model,
            latency_ms=ms,
            usage=usage(1, 0, 0, 0, 1, 0),
            cost=cost(c),
        )
        for i, (model, ms, c) in enumerate(figures)
    ]


def test_latency_cost_parity_and_tcpr_are_exact_to_the_stored_places(store: DuckDBStore) -> None:
    store.insert_calls(_parity_calls())
    q = Selection.of(where=[("intent", ("q",))])
    row = _rows(m.latency_cost_parity(store, "m1", "m2", q))["q"]
    # m1: 7,000 / 3 ms and $0.02725 / 3 a call; m2: 3,000 ms and $0.01545. m1 is 666.67 ms faster and
    # $0.00636667 cheaper a call: -$0.00636667 / 6.6667 = -$0.000955 per 100 ms, exactly
    assert row.value == Decimal("-0.000955000000")
    assert row.numerator == Decimal("-0.006366666667")
    assert row.details["cost_per_call"] == {"m1": Decimal("0.009083333333"), "m2": Decimal("0.015450000000")}
    assert jsonable(row.value) == "-0.000955000000"
    by_model = _rows(m.tcpr(store, Selection(q.scope, Selection.of(by=["request_model"]).grouping)))
    assert by_model["m1"].value == Decimal("0.009083333333")  # $0.02725 / 3, at 12 places
    assert jsonable(by_model["m1"].details["output"]) == "0.000000000000"  # no parts given by hand


def test_every_metric_groups_by_time_bucket(store: DuckDBStore) -> None:
    selection = Selection.of(by=["team"], bucket="hour")
    for metric in m.METRICS.values():
        result = metric(store, selection)
        assert result.bucket == "hour"
        assert {r.bucket for r in result.rows} == {T0}, metric.__name__


def test_a_metric_with_no_data_says_why_never_zero(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        empty = Selection.of(since=datetime(2030, 1, 1))
        for metric in m.METRICS.values():
            row = metric(store, empty).total
            assert row.value is None, metric.__name__
            assert row.reason, metric.__name__


def test_sources_detect_optional_tables(store: DuckDBStore) -> None:
    sources = detect(store)
    assert sources.outcomes is None  # the table is there but empty: nothing to join
    assert not sources.waste_assessed
    store.insert_outcomes([OutcomeEvent("call", "c1", T0, success=True)])
    assert detect(store).outcomes is not None
    mark_wasted(store, "c1")
    assert detect(store).waste_assessed


def test_comparison_metrics_accept_their_own_dimension_in_the_grouping(store: DuckDBStore) -> None:
    by_intent = _rows(m.cost_to_utility_by_intent(store, Selection.of(by=["intent"])))
    assert by_intent["x"].value == pytest.approx(0.035 / 0.038)
    parity = m.latency_cost_parity(store, "m1", "m2", Selection.of(by=["model"]))
    assert parity.by == ("intent",)
    assert _rows(parity)["x"].value == Decimal("-0.001")
