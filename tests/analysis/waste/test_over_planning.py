"""Over-planning: reasoning far out in the tail of its peers, per visible token."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import T0, detect, make_call
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
