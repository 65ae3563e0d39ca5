"""The metrics against the simulator's ground truth: its success flags, injected filler and waste.

Expected values are computed here from the simulator's own records (the JSON lines it wrote), in
Python, independently of the SQL the metrics run.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.builders import mark_wasted
from tests.analysis.conftest import SimStore
from tokenomy.analysis import metrics as m
from tokenomy.analysis.grouped import Selection
from tokenomy.store import open_store

ALL = Selection()


def _expected_efficiency(calls: list[dict[str, Any]], wasted: set[str]) -> tuple[int, int]:
    useful = processed = 0
    for c in calls:
        u = c["usage"]
        if u.get("input_total") is None or u.get("output_total") is None or u.get("output_visible") is None:
            continue
        processed += u["input_total"] + u["output_total"]
        succeeded = c["status"] == "ok" and (c.get("outcome") or {}).get("success") is not False
        if succeeded and c["id"] not in wasted:
            useful += u["output_visible"] - (c.get("filler_tokens") or 0)
    return useful, processed


def test_token_efficiency_matches_the_simulated_records(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        row = m.token_efficiency(store, ALL).total
    useful, processed = _expected_efficiency(sim.calls, set())
    assert (row.numerator, row.denominator) == (useful, processed)
    timeouts = sum(1 for c in sim.calls if c["status"] == "timeout")  # usage unknown on timeouts
    assert row.coverage == pytest.approx(1 - timeouts / len(sim.calls))


def test_injected_filler_is_what_completion_efficiency_removes(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        row = m.completion_efficiency(store, ALL).total
    injected = sum(t["wasted_tokens"] for t in sim.waste("filler"))
    assert injected > 0
    assert row.numerator == injected  # no audit yet: the only unneeded output is the injected filler
    visible = sum(
        c["usage"]["output_visible"] or 0 for c in sim.calls if c["usage"].get("output_visible") is not None
    )
    assert row.value == pytest.approx(1 - injected / visible)


def test_successes_are_the_simulated_success_flags(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        success = m.cost_per_successful_inference(store, ALL).total
        action = m.cost_per_action(store, ALL).total
    flags = [
        c["outcome"]["success"] for c in sim.calls if (c.get("outcome") or {}).get("success") is not None
    ]
    assert success.denominator == sum(flags)
    actions = sum(
        1
        for c in sim.calls
        if (c.get("outcome") or {}).get("action") and c["outcome"]["success"] is not False
    )
    assert action.denominator == actions
    assert isinstance(success.value, Decimal)
    assert success.value > 0


def test_wasted_calls_from_the_truth_leave_useful_output(sim: SimStore, tmp_path: Path) -> None:
    """An audit that found exactly the injected superseded attempts and truncated calls."""
    wasted: set[str] = set()
    for category in ("retry_loop", "truncation_rerun"):
        for instance in sim.waste(category):
            wasted.update(instance["call_ids"][:-1])  # every attempt but the last was superseded
    assert wasted
    db = tmp_path / "audited.duckdb"
    shutil.copy(sim.db, db)
    with open_store(db) as store:
        mark_wasted(store, *sorted(wasted))  # an audit of all calls listing the superseded attempts
        row = m.token_efficiency(store, ALL).total
        utilization = m.token_utilization(store, 10**12, ALL).total
    assert (row.numerator, row.denominator) == _expected_efficiency(sim.calls, wasted)
    assert row.details["wasted_calls"] == len(wasted)
    unwasted, _ = _expected_efficiency(sim.calls, set())
    assert isinstance(row.numerator, int)
    assert row.numerator < unwasted
    productive = sum(
        c["usage"]["input_total"] + c["usage"]["output_total"]
        for c in sim.calls
        if c["usage"].get("input_total") is not None
        and c["status"] == "ok"
        and (c.get("outcome") or {}).get("success") is not False
        and c["id"] not in wasted
    )
    assert utilization.numerator == productive
