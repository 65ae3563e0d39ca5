from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.builders import call, cost, usage
from tests.analysis.conftest import SimStore
from tokenomy.analysis.baselines import intent_baselines
from tokenomy.analysis.periods import Period
from tokenomy.schema import Call
from tokenomy.store import open_store

DAY1, DAY2 = datetime(2026, 10, 5), datetime(2026, 10, 6)
BASELINE, CURRENT = Period(DAY1, DAY2), Period(DAY2, DAY2 + timedelta(days=1))


def _calls(intent: str, day: datetime, n: int, input_tokens: int, output_tokens: int) -> list[Call]:
    return [
        call(
            f"{intent}-{day:%d}-{i}",
            intent=intent,
            started_at=day + timedelta(minutes=i),
            usage=usage(input_tokens, 0, 0, 0, output_tokens, 0),
            cost=cost("0.001"),
        )
        for i in range(n)
    ]


def test_an_intent_whose_output_grows_past_the_threshold_regresses(tmp_path: Path) -> None:
    calls = _calls("summarize", DAY1, 20, 1000, 100) + _calls("summarize", DAY2, 20, 1000, 130)
    calls += _calls("classify", DAY1, 20, 500, 10) + _calls("classify", DAY2, 20, 600, 12)  # +20%: fine
    calls += _calls("plan", DAY1, 3, 100, 10) + _calls("plan", DAY2, 3, 900, 90)  # too few calls to judge
    with open_store(tmp_path / "b.duckdb") as store:
        store.insert_calls(calls)
        items = {b.intent: b for b in intent_baselines(store, CURRENT, BASELINE, min_calls=10)}
    summarize = items["summarize"]
    assert summarize.regression
    assert summarize.output_change == pytest.approx(0.3)
    assert summarize.input_change == 0.0
    assert summarize.reason == "output tokens per call +30% (threshold +25%)"
    assert summarize.baseline.output_per_call == 100
    assert summarize.current.cost_per_call == Decimal("0.001")
    assert not items["classify"].regression
    assert not items["plan"].regression
    assert items["plan"].reason.startswith("too few calls")


def test_a_stricter_threshold_flags_more(tmp_path: Path) -> None:
    calls = _calls("classify", DAY1, 20, 500, 10) + _calls("classify", DAY2, 20, 600, 12)
    with open_store(tmp_path / "b.duckdb") as store:
        store.insert_calls(calls)
        (item,) = intent_baselines(store, CURRENT, BASELINE, threshold=0.1)
    assert item.regression
    assert "input tokens per call +20%" in item.reason
    assert "output tokens per call +20%" in item.reason


def test_simulated_intents_have_baselines(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        items = intent_baselines(
            store,
            Period(datetime(2026, 10, 12), datetime(2026, 10, 19)),
            Period(datetime(2026, 10, 5), datetime(2026, 10, 12)),
        )
    intents = {b.intent for b in items}
    assert {"classify", "summarize", "web_research", "code_review", "chat_support"} <= intents
    for b in items:
        assert b.current.calls > 0
        assert b.baseline.calls > 0
        assert b.regression == (b.reason.startswith(("input", "output")))


def test_cost_per_call_is_money_to_the_stored_twelve_places(tmp_path: Path) -> None:
    """$0.04 over 3 calls is $0.013333333333, not the 28 places a division gives (as the JSON wrote)."""
    calls = _calls("odd", DAY2, 3, 100, 10)
    calls[0] = calls[0].replace(cost=cost("0.02"))
    calls[1] = calls[1].replace(cost=cost("0.01"))
    calls[2] = calls[2].replace(cost=cost("0.01"))
    with open_store(tmp_path / "b.duckdb") as store:
        store.insert_calls(calls)
        (odd,) = intent_baselines(store, CURRENT, BASELINE, min_calls=1)
    assert odd.current.cost_per_call == Decimal("0.013333333333")
    assert str(odd.current.cost_per_call) == "0.013333333333"
