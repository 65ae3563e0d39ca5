"""SWE-agent trajectories: per-call counts scaled to the run totals, the recorded cost kept."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json
from tokenomy.importers.swe_agent import NO_TIMES, apportion
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Kind
from tokenomy.store import DuckDBStore, open_store
from tokenomy.usage.base import args_hash


def _ordered(store: DuckDBStore) -> list[Call]:
    return sorted(calls(store).values(), key=lambda c: c.step or 0)


def test_calls_add_up_to_the_run_totals(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_json(tmp_path / "run.traj", samples.swe_trajectory(sent=5000, received=300, cost=0.059))
    summary = run(store, pricer, path, model="gpt-4-1106-preview")
    assert (summary.calls, summary.sessions, summary.rejected) == (3, 1, 0)
    found = _ordered(store)
    assert [c.step for c in found] == [1, 2, 3]
    assert sum(c.usage.input_total or 0 for c in found) == 5000
    assert sum(c.usage.output_total or 0 for c in found) == 300
    assert all(c.usage.kind is Kind.ESTIMATED for c in found)
    inputs = [c.usage.input_total or 0 for c in found]
    assert inputs == sorted(inputs)  # each prompt repeats the one before
    assert sum((c.provider_reported_cost or Decimal(0)) for c in found) == Decimal("0.059")
    # gpt-4-1106-preview: $10/M in, $30/M out: 5000 * 10e-6 + 300 * 30e-6
    assert sum(cost_total(c) or Decimal(0) for c in found) == Decimal("0.059")
    assert [(t.name, t.args_hash) for c in found for t in c.tool_uses] == [
        ("open", args_hash("calc.py")),
        ("edit", args_hash("3:3\nreturn a/b")),
        ("submit", args_hash("")),
    ]
    for call in found:
        assert_adds_up(call)


def test_demonstrations_are_prompt_not_calls(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    traj = samples.swe_trajectory()
    traj["history"].insert(2, {"role": "assistant", "content": "demo reply", "is_demo": True})
    run(store, pricer, write_json(tmp_path / "demo.traj", traj), model="gpt-4o")
    found = _ordered(store)
    assert len(found) == 3
    assert found[0].n_messages == 4  # system, demo user, demo reply, task


def test_missing_model_is_noted_and_unpriced(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    summary = run(store, pricer, write_json(tmp_path / "run.traj", samples.swe_trajectory()))
    assert summary.unpriced == 3
    assert summary.files[0].notes == [
        "no model in the trajectory: counts are estimates and calls are unpriced; pass --model "
        "the first time (importing the same file again skips its calls as duplicates)",
        NO_TIMES,
    ]


def test_a_trajectory_without_times_says_its_calls_fall_outside_periods(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    summary = run(store, pricer, write_json(tmp_path / "run.traj", samples.swe_trajectory()), model="gpt-4o")
    assert all(call.started_at is None for call in calls(store).values())
    assert summary.files[0].notes == [NO_TIMES]
    assert "left out of any --since/--until period" in NO_TIMES


def test_same_trajectory_twice_is_stored_once(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    first = write_json(tmp_path / "a.traj", samples.swe_trajectory())
    (tmp_path / "copy").mkdir()
    second = write_json(tmp_path / "copy" / "b.traj", samples.swe_trajectory())
    assert run(store, pricer, first, model="gpt-4o").calls == 3
    again = run(store, pricer, second, model="gpt-4o")
    assert (again.calls, again.duplicates) == (0, 3)


@pytest.mark.parametrize(
    ("weights", "total", "expected"),
    [
        ([1, 1, 1], 10, [4, 3, 3]),
        ([100, 200, 300], 60, [10, 20, 30]),
        ([3, 3, 4], 7, [2, 2, 3]),
        ([0, 0], 5, [3, 2]),
        ([5], 0, [0]),
        ([], 5, []),
    ],
)
def test_apportion_adds_up_exactly(weights: list[int], total: int, expected: list[int]) -> None:
    parts = apportion(weights, total)
    assert parts == expected
    assert sum(parts) == (total if weights else 0)


# Every sample, with the model each one was run with (from its file name or its recorded cost) and
# SWE-agent's recorded run cost next to tokenomy's price for the same tokens.
SAMPLES = {
    "commit0__97af1e.traj.json": ("claude-3-5-sonnet-20240620", 2, "0.153342", "0.153342"),
    "commit0__portalocker_madeup_cmd__97af1e.traj.json": (
        "claude-3-5-sonnet-20240620",
        3,
        "0.318051",
        "0.318051",
    ),
    "commit0__simpy_madeup_test__97af1e.traj.json": ("claude-3-5-sonnet-20240620", 2, "0.163938", "0.163938"),
    "gpt4__swe-agent__test-repo-i1.traj.json": ("gpt-4-1106-preview", 5, "0.53839", "0.53839"),
    # SWE-agent recorded $0.01952; gpt-4o's list price for 7,141 in / 243 out is $0.0202825 (3.9% more).
    "gpt-4o__sweagenttestrepo-1c2844.traj.json": (None, 5, "0.01952", "0.0202825"),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_trajectories(pricer: Pricer, tmp_path: Path, name: str) -> None:
    model, n_calls, recorded, priced = SAMPLES[name]
    with open_store(tmp_path / "t.duckdb") as store:
        summary = run(store, pricer, real_data_path("trajectories", "swe-agent", name), model=model)
        found = _ordered(store)
    assert (summary.calls, summary.rejected, summary.unpriced) == (n_calls, 0, 0)
    stats = json.loads(real_data_path("trajectories", "swe-agent", name).read_text())["info"]["model_stats"]
    assert sum(c.usage.input_total or 0 for c in found) == stats["tokens_sent"]
    assert sum(c.usage.output_total or 0 for c in found) == stats["tokens_received"]
    assert sum(c.provider_reported_cost or Decimal(0) for c in found) == Decimal(recorded)
    assert summary.cost == Decimal(priced)
    for call in found:
        assert_adds_up(call)


@pytest.mark.realdata
def test_real_demonstration_without_totals(store: DuckDBStore, pricer: Pricer) -> None:
    summary = run(
        store, pricer, real_data_path("trajectories", "swe-agent", "demo_ctf_web_i_got_id_demo.traj.json")
    )
    found = _ordered(store)
    assert summary.calls == len(found) == 21
    assert all(c.provider_reported_cost is None for c in found)  # the run recorded no cost (0 API calls)
    assert all((c.usage.input_total or 0) > 0 for c in found)  # local counts, not scaled to zero
