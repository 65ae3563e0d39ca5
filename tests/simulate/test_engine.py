"""A run writes exactly the calls asked for, the same bytes for the same seed, and its truth alongside."""

from __future__ import annotations

import io
import json
from datetime import UTC

import pytest

from tests.simulate.conftest import Sim, simulate
from tokenomy.simulate import DEFAULT_START, SimulationConfig, WasteRates, run
from tokenomy.simulate.options import CATEGORIES


def _write(config: SimulationConfig, workers: int = 1) -> tuple[bytes, bytes]:
    out, truth = io.BytesIO(), io.BytesIO()
    run(config, out, truth, workers=workers)
    return out.getvalue(), truth.getvalue()


def _calls_in(raw: bytes) -> int:
    return sum(1 for line in raw.splitlines() if not line.startswith(b'{"type":"charge"'))


def test_same_seed_writes_the_same_bytes() -> None:
    config = SimulationConfig(calls=3000, days=3, seed=42)
    assert _write(config) == _write(config)


def test_another_seed_writes_other_data() -> None:
    a, _ = _write(SimulationConfig(calls=3000, days=3, seed=1))
    b, _ = _write(SimulationConfig(calls=3000, days=3, seed=2))
    assert a != b
    ids_a = {json.loads(line)["id"] for line in a.splitlines()}
    ids_b = {json.loads(line)["id"] for line in b.splitlines()}
    assert not ids_a & ids_b, "two seeds can be imported into one store without id clashes"


def test_worker_processes_do_not_change_the_output() -> None:
    config = SimulationConfig(calls=70_000, days=2, seed=9)
    assert _write(config, workers=3) == _write(config, workers=1)


@pytest.mark.parametrize(("calls", "days"), [(0, 1), (1, 1), (7, 30), (999, 3), (40_001, 1), (5000, 60)])
def test_writes_exactly_the_calls_asked_for(calls: int, days: int) -> None:
    raw, truth = _write(SimulationConfig(calls=calls, days=days, seed=calls))
    assert _calls_in(raw) == calls
    summary = json.loads(truth.splitlines()[-1])
    assert summary["type"] == "summary"
    assert summary["calls"] == calls


def test_every_call_lies_in_the_period(default_sim: Sim) -> None:
    config = default_sim.config
    end = config.start.timestamp() + config.days * 86_400
    for call in default_sim.calls:
        assert call.started_at is not None
        assert call.ended_at is not None
        started = call.started_at.replace(tzinfo=UTC).timestamp()  # records hold naive UTC times
        assert config.start.timestamp() <= started < end + 3600
        assert call.started_at <= call.ended_at


def test_truth_starts_with_the_run_and_ends_with_the_summary(default_sim: Sim) -> None:
    header, summary = default_sim.header, default_sim.summary
    assert header["type"] == "run"
    assert header["seed"] == 11
    assert header["calls"] == 10_000
    assert header["start"] == "2026-10-05T00:00:00.000Z"
    assert DEFAULT_START.weekday() == 0
    assert header["waste_rates"] == WasteRates().as_dict()
    assert set(header["eligibility"]) == set(CATEGORIES)
    assert summary["calls"] == len(default_sim.calls)
    assert summary["charges"] == len(default_sim.charges)
    assert summary["sessions"] == len(default_sim.sessions)


def test_content_is_off_by_default(default_sim: Sim) -> None:
    assert all("content" not in obj for obj in default_sim.objects)
    assert all(c.content is None for c in default_sim.calls)


def test_no_waste_means_an_empty_truth_between_header_and_summary() -> None:
    sim = simulate(SimulationConfig(calls=1500, days=2, seed=4, waste=WasteRates.none()))
    assert sim.truth == []
    assert all(v["instances"] == 0 for v in sim.summary["categories"].values())
