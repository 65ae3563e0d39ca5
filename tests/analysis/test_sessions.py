"""Session costing: ranking, trees, and totals that equal the sum of their parts."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tests.analysis.builders import T0, call, charge, cost, usage
from tests.analysis.conftest import SimStore
from tests.conftest import real_data_path
from tests.importers.support import otlp_of_case
from tokenomy.analysis import terminal
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.serialize import step_json
from tokenomy.analysis.session_tree import SessionTree, Step, session_tree
from tokenomy.analysis.sessions import top_sessions
from tokenomy.errors import StoreError
from tokenomy.importers import import_paths
from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS, Kind, Outcome, OutcomeEvent, ToolUse, Usage
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.events import spans_to_arrow


def _s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _tree_store(path: Path) -> DuckDBStore:
    """Session S: a main agent delegating to a helper sub-agent, a span above them, two charges.

    a1 main   span p1 under span r0, asks delegate_helper        $0.01   0-1 s
    b1 helper below p1, runs run_tests                          $0.002  1-2 s
    b2 helper below p1, names no session (same trace)           $0.003  3-4 s
    a2 main   under r0, unpriced                                         5-6 s
    g  run_tests charge at 2 s, $0.001; h an early charge at -1 s, $0.001
    Session Q: one call, $0.0005, on another team. One call with neither session nor trace.
    """
    store = open_store(path)

    def main(cid: str, start: float, **kw: object) -> object:
        return call(
            cid,
            agent="main",
            team="t",
            session_id="S",
            trace_id="T",
            started_at=_s(start),
            ended_at=_s(start + 1),
            latency_ms=1000.0,
            usage=usage(100, 0, 0, 0, 10, 0),
            **kw,
        )

    store.insert_calls(
        [
            main(
                "a1",
                0,
                span_id="p1",
                parent_span_id="r0",
                cost=cost("0.01"),
                tool_uses=(ToolUse("delegate_helper", "h1"),),
            ),
            call(
                "b1",
                agent="helper",
                team="t",
                session_id="S",
                trace_id="T",
                span_id="q1",
                parent_span_id="p1",
                started_at=_s(1),
                ended_at=_s(2),
                usage=usage(50, 0, 0, 0, 5, 0),
                cost=cost("0.002"),
                tool_uses=(ToolUse("run_tests", "x"),),
            ),
            call(
                "b2",
                agent="helper",
                team="t",
                trace_id="T",
                span_id="q2",
                parent_span_id="p1",
                started_at=_s(3),
                ended_at=_s(4),
                usage=usage(50, 0, 0, 0, 5, 0),
                cost=cost("0.003"),
                outcome=Outcome(success=True, action="tests_run"),
            ),
            main("a2", 5, span_id="p2", parent_span_id="r0", cost=cost(None)),
            call(
                "q",
                team="u",
                session_id="Q",
                started_at=_s(9),
                usage=usage(5, 0, 0, 0, 1, 0),
                cost=cost("0.0005"),
            ),
            call("loose", team="u", started_at=_s(9), usage=usage(5, 0, 0, 0, 1, 0), cost=cost("0.0001")),
        ]
    )
    store.insert_charges(
        [
            charge(
                "g", "0.001", session_id="S", team="t", at=_s(2), description="run_tests", kind="code_sandbox"
            ),
            charge("h", "0.001", session_id="S", team="t", at=_s(-1)),
        ]
    )
    store.insert_spans(
        spans_to_arrow(
            [
                {
                    "trace_id": "T",
                    "span_id": "r0",
                    "name": "invoke_agent main",
                    "kind": "internal",
                    "started_at": _s(-2),
                    "ended_at": _s(7),
                    "session_id": "S",
                    "agent_name": "main",
                }
            ]
        )
    )
    return store


def test_the_tree_of_a_delegating_session(tmp_path: Path) -> None:
    with _tree_store(tmp_path / "t.duckdb") as store:
        tree = session_tree(store, "S")
    assert (tree.calls, tree.charges, tree.unpriced) == (4, 2, 1)
    assert tree.cost == Decimal("0.017")
    assert sum((r.subtotal or Decimal(0) for r in tree.roots), Decimal(0)) == tree.cost
    shape = [(depth, step.kind, step.label) for depth, step in tree.walk()]
    assert shape == [
        (0, "span", "main"),
        (1, "call", "m1"),
        (2, "tool", "delegate_helper [h1]"),
        (3, "subagent", "helper"),
        (4, "call", "m1"),
        (5, "tool", "run_tests [x]"),
        (6, "charge", "code_sandbox (run_tests)"),
        (4, "call", "m1"),
        (1, "call", "m1"),
        (0, "charge", "search_api"),  # before every call: no call to hang below, so at the top
    ]
    helper = next(s for _, s in tree.walk() if s.kind == "subagent")
    assert helper.subtotal == Decimal("0.006")  # b1 + its charge + b2 (adopted through its trace)
    running = {s.id: s.running_total for _, s in tree.walk() if s.kind in ("call", "charge")}
    assert running == {  # in time order: h, a1, b1, g, b2, a2 (unpriced: adds nothing)
        "h": Decimal("0.001"),
        "a1": Decimal("0.011"),
        "b1": Decimal("0.013"),
        "g": Decimal("0.014"),
        "b2": Decimal("0.017"),
        "a2": Decimal("0.017"),
    }
    assert tree.success is True
    assert tree.action == "tests_run"
    assert tree.attribution == {"team": "t", "agent": "helper, main"}


def test_sessions_ranked_by_cost_with_their_parts(tmp_path: Path) -> None:
    with _tree_store(tmp_path / "t.duckdb") as store:
        listed = top_sessions(store, Selection(), top=10)
        by_team = top_sessions(store, Selection.of(by=["team"]), top=1)
        tree = session_tree(store, "S")
    assert [r.session_id for r in listed.rows] == ["S", "Q"]
    s = listed.rows[0]
    assert (s.calls, s.charges, s.unpriced, s.cost) == (4, 2, 1, tree.cost)
    assert s.duration_s == 7.0  # from the early charge at -1 s to the end of a2 at 6 s
    assert s.outcome == "success"
    assert s.sub_calls == 4
    assert listed.sessions == 2
    assert listed.no_session_calls == 1
    assert [(r.group["team"], r.session_id) for r in by_team.rows] == [("t", "S"), ("u", "Q")]


def test_an_unknown_session_is_a_clear_error(tmp_path: Path) -> None:
    with _tree_store(tmp_path / "t.duckdb") as store, pytest.raises(StoreError, match="tokenomy sessions"):
        session_tree(store, "nope")


def _check_sessions(store: DuckDBStore, sample: int) -> int:
    """Every listed session's cost equals its tree's and its parts' sum; returns the sessions seen."""
    listed = top_sessions(store, Selection(), top=1_000_000)
    whole = store.query(
        "SELECT (SELECT coalesce(sum(cost_total), 0) FROM calls WHERE session_id IS NOT NULL)"
        " + (SELECT coalesce(sum(amount), 0) FROM charges WHERE session_id IS NOT NULL) AS t"
    ).to_pylist()[0]["t"]
    assert sum((r.cost or Decimal(0) for r in listed.rows), Decimal(0)) == whole
    for row in listed.rows[:sample]:
        tree: SessionTree = session_tree(store, row.session_id)
        assert tree.cost == row.cost
        assert tree.calls == row.calls
        if tree.cost is not None:
            assert sum((r.subtotal or Decimal(0) for r in tree.roots), Decimal(0)) == tree.cost
        # the ranking's cost per part is the session view's split, part by part, adding up to its LLM cost
        assert tree.split is not None
        split = {r.part: r.cost for r in tree.split.rows}
        if row.parts is None:
            assert row.llm_cost is None
            assert split == {}
        else:
            assert {part: cost for part, cost in row.parts.items() if cost} == {
                part: cost for part, cost in split.items() if cost
            }
            assert sum(row.parts.values(), Decimal(0)) == row.llm_cost
    return listed.sessions


def test_simulated_sessions_equal_the_sum_of_their_parts(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        seen = _check_sessions(store, sample=40)
    assert seen == len({c["session_id"] for c in sim.calls})


def test_a_simulated_sub_agent_hangs_below_its_delegating_call(sim: SimStore) -> None:
    sub = next(c for c in sim.calls if c.get("parent_span_id"))
    with open_store(sim.db, read_only=True) as store:
        tree = session_tree(store, sub["session_id"])
    nodes = {s.id: (depth, s) for depth, s in tree.walk()}
    depth, _ = nodes[sub["id"]]
    assert depth >= 2
    parents = [
        s for _, s in tree.walk() if s.kind == "subagent" and any(c.id == sub["id"] for c in s.children)
    ]
    assert parents
    assert parents[0].label == sub["attribution"]["agent"]


@pytest.mark.realdata
def test_real_sessions_equal_the_sum_of_their_parts(tmp_path: Path) -> None:
    lines = real_data_path("langfuse", "otel-mapping-test-spans.jsonl").read_text().splitlines()
    cases = tmp_path / "langfuse"
    cases.mkdir()
    for number, line in enumerate(lines):
        (cases / f"case{number:02d}.json").write_text(json.dumps(otlp_of_case(json.loads(line))))
    with open_store(tmp_path / "real.duckdb") as store:
        import_paths([cases, real_data_path("trajectories")], store=store, pricer=Pricer())
        seen = _check_sessions(store, sample=100)
    assert seen >= 8


def test_calls_without_any_session_are_counted(tmp_path: Path) -> None:
    with open_store(tmp_path / "n.duckdb") as store:
        store.insert_calls([call("x", usage=usage(1, 0, 0, 0, 1, 0), cost=cost("0.1"))])
        listed = top_sessions(store)
    assert (listed.rows, listed.sessions, listed.no_session_calls) == ((), 0, 1)


def test_each_charge_hangs_below_its_own_tool_use(tmp_path: Path) -> None:
    searches = (ToolUse("web_search", "q1"), ToolUse("web_search", "q2"))
    with open_store(tmp_path / "c.duckdb") as store:
        store.insert_calls(
            [
                call(
                    "a",
                    session_id="S",
                    usage=usage(10, 0, 0, 0, 5, 0),
                    cost=cost("0.01"),
                    ended_at=_s(1),
                    tool_uses=searches,
                )
            ]
        )
        store.insert_charges(
            [
                charge(f"g{i}", "0.005", session_id="S", description="web_search", at=_s(1 + i))
                for i in (1, 2, 3)
            ]
        )
        tree = session_tree(store, "S")
    shape = [(depth, step.kind, step.id) for depth, step in tree.walk()]
    assert shape == [
        (0, "call", "a"),
        (1, "tool", "a#tool0"),
        (2, "charge", "g1"),
        (1, "tool", "a#tool1"),
        (2, "charge", "g2"),
        (2, "charge", "g3"),  # more charges than tool uses: the rest join the last one
    ]
    assert tree.roots[0].subtotal == tree.cost == Decimal("0.025")


def test_a_session_says_how_many_of_its_calls_have_estimated_figures(tmp_path: Path) -> None:
    """Its tokens counted locally (an agent's trajectory without usage), or its cost at an assumed
    price: the session's total is an estimate in part, and the tree says so."""
    counted = Usage(input_total=1_090, output_total=57, kind=Kind.ESTIMATED)
    with open_store(tmp_path / "e.duckdb") as store:
        store.insert_calls(
            [
                call("a", session_id="S", usage=counted, cost=cost("0.0033")),
                call("b", session_id="S", usage=usage(10, 0, 0, 0, 5, 0), cost=cost("0.01")),
                call("c", session_id="T", usage=usage(10, 0, 0, 0, 5, 0), cost=cost("0.01")),
            ]
        )
        estimated, exact = session_tree(store, "S"), session_tree(store, "T")
        listed = {r.session_id: r.estimated for r in top_sessions(store).rows}
    assert listed == {"S": 1, "T": 0}  # the ranking counts them too (its JSON, CSV and a note)
    assert [n for n in estimated.notes if "estimated" in n] == [
        "1 of its 2 call(s) have estimated figures: tokens counted locally rather than reported, or a"
        " cost whose price was assumed; each call's cost_reason says which (tokenomy export)"
    ]
    assert not [n for n in exact.notes if "estimated" in n]


def test_a_steps_json_writes_tiny_amounts_as_plain_decimals() -> None:
    tiny = Step("call", "c1", "m1", cost=Decimal("7.5E-8"), running_total=Decimal("7.5E-8"))
    data = step_json(Step("subagent", "s1", "helper", children=[tiny]))
    assert data["subtotal"] == "0.000000075"  # str(Decimal) writes 7.5E-8, which other tools misread
    assert data["children"][0]["cost"] == data["children"][0]["running_total"] == "0.000000075"
    assert Decimal(data["subtotal"]) == Decimal("7.5E-8")


def _tree_line(step: Step) -> str:
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(terminal.session_tree(_one_call_tree(step)))
    return next(line for line in out.getvalue().splitlines() if "call m1" in line)


def _one_call_tree(step: Step) -> SessionTree:
    return SessionTree(
        "S", (step,), calls=1, charges=0, cost=None, unpriced=1, attribution={}, success=None, action=None
    )


def test_a_call_with_some_buckets_shows_what_is_known_as_a_floor(tmp_path: Path) -> None:
    partial = Usage.of(input_uncached=900, output_visible=40)
    assert (partial.input_total, partial.output_total) == (None, None)
    with open_store(tmp_path / "p.duckdb") as store:
        store.insert_calls([call("p", session_id="S", usage=partial, cost=cost(None))])
        tree = session_tree(store, "S")
    step = tree.roots[0]
    assert "in ≥900 (partial: uncached 900) · out ≥40 (partial: visible 40)" in _tree_line(step)
    data = step_json(step)
    assert (data["input_total"], data["output_total"]) == (None, None)  # never a sum passed off as a total
    assert data["tokens"] == {
        "input_uncached": 900,
        "cache_read": None,
        "cache_write_5m": None,
        "cache_write_1h": None,
        "output_visible": 40,
        "reasoning": None,
    }


def test_the_floor_names_each_known_bucket_and_a_known_total_is_shown_as_before() -> None:
    counts = dict.fromkeys(BUCKETS)
    some = Step(
        "call", "a", "m1", tokens=counts | {"input_uncached": 900, "cache_read": 1_200, "reasoning": 7}
    )
    assert "in ≥2.1K (partial: uncached 900, cache read 1.2K) · out ≥7 (partial: reasoning 7)" in _tree_line(
        some
    )
    none = Step("call", "b", "m1", tokens=counts)
    assert "in — · out —" in _tree_line(none)
    whole = Step(
        "call",
        "c",
        "m1",
        tokens=dict(zip(BUCKETS, (800, 200, 0, 0, 30, 10), strict=True)),
        input_total=1_000,
        output_total=40,
    )
    assert "in 1K (cache read 200) · out 40 (reasoning 10)" in _tree_line(whole)
    totals_only = Step("call", "d", "m1", tokens=counts | {"reasoning": 5}, output_total=50)
    assert "in — · out 50 (reasoning 5)" in _tree_line(totals_only)


def test_a_sessions_group_is_its_calls_value_not_that_of_a_charge_recorded_without_one(
    tmp_path: Path,
) -> None:
    """Session S: two team-t calls and a charge that names no team; session G: a charge alone."""
    with open_store(tmp_path / "g.duckdb") as store:
        store.insert_calls(
            [
                call(f"s{i}", team="t", session_id="S", usage=usage(1, 0, 0, 0, 1, 0), cost=cost("0.01"))
                for i in (1, 2)
            ]
        )
        store.insert_charges(
            [charge("g", "0.5", session_id="S"), charge("h", "0.2", session_id="G", team="u")]
        )
        by_team = top_sessions(store, Selection.of(by=["team"]), top=5)
    assert [(r.group["team"], r.session_id, r.cost) for r in by_team.rows] == [
        ("t", "S", Decimal("0.52")),  # its calls' team, its charge's cost with it
        ("u", "G", Decimal("0.2")),  # no call: its charge's team
    ]


def test_a_sub_agent_hangs_below_its_delegate_tool_use_not_one_whose_name_holds_the_agent(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "d.duckdb") as store:
        store.insert_calls(
            [
                call(
                    "a",
                    agent="main",
                    session_id="S",
                    trace_id="T",
                    span_id="p",
                    usage=usage(1, 0, 0, 0, 1, 0),
                    cost=cost("0.01"),
                    tool_uses=(ToolUse("web_search", "q"), ToolUse("delegate_search", "d")),
                ),
                call(
                    "b",
                    agent="search",
                    session_id="S",
                    trace_id="T",
                    span_id="q",
                    parent_span_id="p",
                    started_at=_s(1),
                    usage=usage(1, 0, 0, 0, 1, 0),
                    cost=cost("0.02"),
                ),
            ]
        )
        tree = session_tree(store, "S")
    assert [(depth, step.kind, step.label) for depth, step in tree.walk()] == [
        (0, "call", "m1"),
        (1, "tool", "web_search [q]"),
        (1, "tool", "delegate_search [d]"),
        (2, "subagent", "search"),
        (3, "call", "m1"),
    ]


def test_each_charge_goes_below_the_call_that_ended_last_before_it(tmp_path: Path) -> None:
    """Calls end at 1, 2, 2 and 4 s (b and c together: the first listed, b, takes the charge)."""
    ends = {"a": 1, "b": 2, "c": 2, "d": 4}
    with open_store(tmp_path / "e.duckdb") as store:
        store.insert_calls(
            [
                call(
                    cid,
                    session_id="S",
                    started_at=_s(0.1 * i),
                    ended_at=_s(end),
                    usage=usage(1, 0, 0, 0, 1, 0),
                    cost=cost("0.01"),
                )
                for i, (cid, end) in enumerate(ends.items())
            ]
        )
        charges = {"early": -1, "at1": 1, "at1.5": 1.5, "at2": 2, "at3": 3, "late": 9}
        store.insert_charges([charge(g, "0.001", session_id="S", at=_s(at)) for g, at in charges.items()])
        tree = session_tree(store, "S")
    below = {
        child.id: step.id for _, step in tree.walk() for child in step.children if child.kind == "charge"
    }
    assert below == {"at1": "a", "at1.5": "a", "at2": "b", "at3": "b", "late": "d"}
    assert [s.id for s in tree.roots if s.kind == "charge"] == ["early"]
    assert tree.cost == Decimal("0.046")


def test_a_call_whose_end_is_unknown_joins_the_running_total_when_it_started(tmp_path: Path) -> None:
    """a runs 0-1 s; b starts at 5 s and its end was not recorded: b is counted after a, not first."""
    with open_store(tmp_path / "r.duckdb") as store:
        store.insert_calls(
            [
                call("a", session_id="S", ended_at=_s(1), usage=usage(1, 0, 0, 0, 1, 0), cost=cost("0.0035")),
                call(
                    "b", session_id="S", started_at=_s(5), usage=usage(1, 0, 0, 0, 1, 0), cost=cost("0.006")
                ),
            ]
        )
        tree = session_tree(store, "S")
    running = [(s.id, s.running_total) for s in tree.roots]
    assert running == [("a", Decimal("0.0035")), ("b", Decimal("0.0095"))]


def test_a_session_of_charges_alone_has_the_outcome_recorded_for_it(tmp_path: Path) -> None:
    """G: a charge, then a failure and later a success recorded for the session (the latest wins)."""
    with open_store(tmp_path / "o.duckdb") as store:
        store.insert_charges([charge("g", "0.25", session_id="G")])
        store.insert_outcomes(
            [
                OutcomeEvent("session", "G", _s(1), success=False, action="retried"),
                OutcomeEvent("session", "G", _s(2), success=True, action="reviewed"),
                OutcomeEvent("session", "other", _s(3), success=False, action="x"),
            ]
        )
        (row,) = top_sessions(store).rows
        tree = session_tree(store, "G")
    assert (row.session_id, row.calls, row.outcome, row.action) == ("G", 0, "success", "reviewed")
    assert (tree.calls, tree.success, tree.action) == (0, True, "reviewed")


def test_calls_whose_parents_loop_are_kept_in_the_tree(tmp_path: Path) -> None:
    """x and y name each other as parent, w names itself: none may drop out of the tree."""
    spans = {
        "x": ("s1", "s2", "0.01"),
        "y": ("s2", "s1", "0.02"),
        "w": ("s4", "s4", "0.08"),
        "z": ("s3", None, "0.04"),
    }
    with open_store(tmp_path / "l.duckdb") as store:
        store.insert_calls(
            [
                call(
                    cid,
                    session_id="S",
                    trace_id="T",
                    span_id=span,
                    parent_span_id=parent,
                    started_at=_s(i),
                    usage=usage(1, 0, 0, 0, 1, 0),
                    cost=cost(amount),
                )
                for i, (cid, (span, parent, amount)) in enumerate(spans.items())
            ]
        )
        tree = session_tree(store, "S")
    assert [(depth, step.id) for depth, step in tree.walk()] == [(0, "x"), (1, "y"), (0, "w"), (0, "z")]
    assert sum((r.subtotal or Decimal(0) for r in tree.roots), Decimal(0)) == tree.cost == Decimal("0.15")


def test_the_running_total_is_unknown_until_a_cost_is_known(tmp_path: Path) -> None:
    with open_store(tmp_path / "r.duckdb") as store:
        store.insert_calls(
            [
                call("u1", session_id="R", started_at=_s(0), ended_at=_s(1), usage=Usage(), cost=cost(None)),
                call(
                    "p1",
                    session_id="R",
                    started_at=_s(2),
                    ended_at=_s(3),
                    usage=usage(10, 0, 0, 0, 1, 0),
                    cost=cost("0.01"),
                ),
                call("u2", session_id="R", started_at=_s(4), ended_at=_s(5), usage=Usage(), cost=cost(None)),
            ]
        )
        tree = session_tree(store, "R")
        (ranked,) = top_sessions(store).rows
    steps = {s.id: s for _, s in tree.walk()}
    # an unpriced call first: nothing known yet (never $0); then the priced call's; an unpriced one adds
    # nothing
    assert [steps[i].running_total for i in ("u1", "p1", "u2")] == [None, Decimal("0.01"), Decimal("0.01")]
    # neither unpriced call reported a token: the ranking's token sums are of the one that did
    assert (ranked.input_total, ranked.output_total, ranked.tokens["cache_read"]) == (10, 1, 0)


def test_a_subtree_of_unpriced_calls_has_an_unknown_subtotal_not_zero(tmp_path: Path) -> None:
    """A sub-agent whose calls are all unpriced: its subtotal is unknown ("—", null), and its parent's
    subtotal says that unpriced calls are left out of it."""
    with open_store(tmp_path / "u.duckdb") as store:
        store.insert_calls(
            [
                call(
                    "p1",
                    session_id="S9",
                    agent="main",
                    span_id="A",
                    usage=usage(10, 0, 0, 0, 1, 0),
                    cost=cost("0.01"),
                ),
                call(
                    "k1",
                    session_id="S9",
                    agent="helper",
                    parent_span_id="A",
                    started_at=_s(1),
                    usage=Usage(),
                    cost=cost(None),
                ),
                call(
                    "k2",
                    session_id="S9",
                    agent="helper",
                    parent_span_id="A",
                    started_at=_s(2),
                    usage=Usage(),
                    cost=cost(None),
                ),
            ]
        )
        tree = session_tree(store, "S9")
    (root,) = tree.roots
    (helper,) = [step for _, step in tree.walk() if step.kind == "subagent"]
    assert (helper.subtotal, helper.partial) == (None, True)
    assert (root.subtotal, root.partial) == (Decimal("0.01"), True)
    data = step_json(helper)
    assert (data["subtotal"], data["subtotal_partial"]) == (None, True)
    assert terminal._step_text(helper).plain == "sub-agent helper  subtotal —"


def test_a_session_whose_last_call_has_no_recorded_end_has_no_end_nor_duration(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        store.insert_calls(
            [
                call("a1", session_id="A", started_at=_s(0), ended_at=_s(4), usage=usage(1, 0, 0, 0, 1, 0)),
                call("b1", session_id="B", started_at=_s(0), ended_at=_s(4), usage=usage(1, 0, 0, 0, 1, 0)),
                call("b2", session_id="B", started_at=_s(9), usage=usage(1, 0, 0, 0, 1, 0)),  # no end
                call("c1", session_id="C", started_at=_s(0), ended_at=_s(5), usage=usage(1, 0, 0, 0, 1, 0)),
                call("c2", session_id="C", started_at=_s(5), usage=usage(1, 0, 0, 0, 1, 0)),  # a tie
            ]
        )
        rows = {r.session_id: r for r in top_sessions(store).rows}
    assert (rows["A"].ended_at, rows["A"].duration_s) == (_s(4), 4.0)
    assert (rows["B"].ended_at, rows["B"].duration_s) == (None, None)  # b2's start is no end
    assert (rows["C"].ended_at, rows["C"].duration_s) == (None, None)  # c2 began as c1 ended: its end?
