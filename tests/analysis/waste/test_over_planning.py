"""Over-planning: reasoning far out in the tail of its peers, per visible token."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import T0, detect, make_call, score_on_simulation
from tokenomy.analysis.waste.over_planning import OverPlanning
from tokenomy.schema import Attribution, Call, WasteRole

PLAN = Attribution(team="ops", feature="planner", agent="planner", intent="plan")


def _peers(n: int = 40) -> list[Call]:
    """``n`` calls of one task and model with reasoning 100..139 for 100 visible tokens each."""
    return [
        make_call(
            f"p{i}",
            session=f"s{i}",
            started_at=T0 + timedelta(minutes=i),
            model="o4-mini",
            attribution=PLAN,
            visible=100,
            reasoning=100 + i,
        )
        for i in range(n)
    ]


def _odd(reasoning: int, visible: int) -> Call:
    return make_call(
        "odd", session="odd", model="o4-mini", attribution=PLAN, visible=visible, reasoning=reasoning
    )


def test_reasoning_far_beyond_its_peers_for_a_short_answer_is_over_planning(tmp_path: Path) -> None:
    (hit,) = detect(tmp_path, OverPlanning(), [*_peers(), _odd(6_000, 100)]).hits
    (call,) = hit.calls
    assert (call.call_id, call.role) == ("odd", WasteRole.PARTIAL)
    # the peers' 90th percentile, interpolated over 41 calls: the 37th value of 100..139 plus the odd one
    assert call.tokens == 6_000 - 136
    assert (
        call.cost == Decimal(call.tokens) * Decimal("4.4") / 1_000_000
    )  # o4-mini output at $4.40 per million
    assert call.high is not None
    assert call.cost is not None
    assert call.high > call.cost


def test_a_long_answer_that_needed_the_reasoning_is_not_over_planning(tmp_path: Path) -> None:
    assert detect(tmp_path, OverPlanning(), [*_peers(), _odd(6_000, 5_000)]).hits == []


def test_too_few_peers_to_judge(tmp_path: Path) -> None:
    assert detect(tmp_path, OverPlanning(), [*_peers(20), _odd(6_000, 100)]).hits == []


def _run(session: str, reasoning: int, steps: int = 3) -> list[Call]:
    return [
        make_call(
            f"{session}-{k}",
            session=session,
            step=k,
            started_at=T0 + timedelta(hours=2, seconds=k),
            model="o4-mini",
            attribution=PLAN,
            visible=100,
            reasoning=reasoning,
        )
        for k in range(steps)
    ]


def test_a_run_that_over_thinks_on_every_step_is_over_planning(tmp_path: Path) -> None:
    # 600 reasoning tokens a step is 5x the peers' median: under the single-call bar (8x), but three
    # such steps in one run together leave no doubt
    (hit,) = detect(tmp_path, OverPlanning(), [*_peers(), *_run("effort-high", 600)]).hits
    assert hit.session_id == "effort-high"
    assert [c.call_id for c in hit.calls] == ["effort-high-0", "effort-high-1", "effort-high-2"]
    assert all(c.role is WasteRole.PARTIAL and 400 < c.tokens < 600 for c in hit.calls)
    assert "the whole run over-thinks (3 calls" in hit.note


def test_one_such_call_alone_is_not_over_planning(tmp_path: Path) -> None:
    assert detect(tmp_path, OverPlanning(), [*_peers(), *_run("once", 600, steps=1)]).hits == []


def test_a_run_slightly_above_its_peers_is_not_over_planning(tmp_path: Path) -> None:
    # 150 tokens a step: above every peer, but nowhere near three times their median
    assert detect(tmp_path, OverPlanning(), [*_peers(), *_run("busy", 150, steps=6)]).hits == []


def test_simulated_over_planning_is_found_and_nothing_else(tmp_path: Path) -> None:
    scored = score_on_simulation(tmp_path, OverPlanning(), rate=0.05, calls=30_000)
    assert len(scored.truth) >= 30
    assert scored.clean > 1_000
    assert scored.found - scored.truth == set()
    # one-call sessions at the low end of 5-20x cannot be told from the clean spread
    assert len(scored.found & scored.truth) >= 0.8 * len(scored.truth)
