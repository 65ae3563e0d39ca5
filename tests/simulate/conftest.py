"""Simulations shared by the simulator's tests: run once per test session, parsed once."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from tokenomy import native
from tokenomy.schema import Call, Charge
from tokenomy.simulate import SimulationConfig, WasteRates, run
from tokenomy.simulate.options import CATEGORIES


@dataclass
class Sim:
    """A simulation's output, parsed."""

    config: SimulationConfig
    raw: bytes
    truth_raw: bytes
    objects: list[dict[str, Any]]
    calls: list[Call]
    charges: list[Charge]
    truth: list[dict[str, Any]]
    header: dict[str, Any]
    summary: dict[str, Any]
    by_id: dict[str, Call] = field(default_factory=dict)
    sessions: dict[str, list[Call]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.calls}
        grouped: dict[str, list[Call]] = defaultdict(list)
        for call in self.calls:
            assert call.session_id is not None
            grouped[call.session_id].append(call)
        self.sessions = {s: sorted(cs, key=lambda c: c.step or 0) for s, cs in grouped.items()}

    def waste(self, category: str) -> list[dict[str, Any]]:
        """The truth entries of one category."""
        return [e for e in self.truth if e["category"] == category]


def simulate(config: SimulationConfig, workers: int = 1) -> Sim:
    """Run a simulation in memory and parse everything it wrote."""
    out, truth_out = io.BytesIO(), io.BytesIO()
    run(config, out, truth_out, workers=workers)
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    calls = [native.call_from_native(o) for o in objects if not native.is_charge(o)]
    charges = [native.charge_from_native(o) for o in objects if native.is_charge(o)]
    truth = [json.loads(line) for line in truth_out.getvalue().splitlines()]
    return Sim(
        config=config,
        raw=out.getvalue(),
        truth_raw=truth_out.getvalue(),
        objects=objects,
        calls=calls,
        charges=charges,
        truth=[t for t in truth if t["type"] == "waste"],
        header=truth[0],
        summary=truth[-1],
    )


DEFAULT = SimulationConfig(calls=10_000, days=14, seed=11)
WASTEFUL = SimulationConfig(
    calls=10_000, days=7, seed=23, waste=WasteRates(**dict.fromkeys(CATEGORIES, 0.25))
)
CLEAN = SimulationConfig(calls=4_000, days=7, seed=5, waste=WasteRates.none())


@pytest.fixture(scope="session")
def default_sim() -> Sim:
    """Default waste rates, two weeks."""
    return simulate(DEFAULT)


@pytest.fixture(scope="session")
def wasteful_sim() -> Sim:
    """Every waste category at 25% of eligible sessions."""
    return simulate(WASTEFUL)


@pytest.fixture(scope="session")
def clean_sim() -> Sim:
    """No injected waste at all."""
    return simulate(CLEAN)
