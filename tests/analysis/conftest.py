"""A simulated workload imported once per test session, with its ground truth, for the analyses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tokenomy.pricing import Pricer
from tokenomy.simulate import SimulationConfig, run
from tokenomy.store import open_store


@dataclass(frozen=True)
class SimStore:
    """The store file of a simulation, and the simulation's own records and truth (parsed JSON)."""

    db: Path
    calls: list[dict[str, Any]]
    charges: list[dict[str, Any]]
    truth: list[dict[str, Any]]

    def waste(self, category: str) -> list[dict[str, Any]]:
        """The truth's instances of one waste category."""
        return [t for t in self.truth if t.get("type") == "waste" and t["category"] == category]


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimStore:
    """6,000 simulated calls over 14 days (seed 11), priced and imported."""
    folder = tmp_path_factory.mktemp("sim")
    path, truth = folder / "calls.jsonl", folder / "calls.truth.jsonl"
    with path.open("wb") as out, truth.open("wb") as truth_out:
        run(SimulationConfig(calls=6000, days=14, seed=11), out, truth_out)
    db = folder / "sim.duckdb"
    with open_store(db) as store:
        result = store.import_native_jsonl(path, pricer=Pricer())
    assert result.calls == 6000
    objects = [json.loads(line) for line in path.read_text().splitlines()]
    return SimStore(
        db=db,
        calls=[o for o in objects if o.get("type") != "charge"],
        charges=[o for o in objects if o.get("type") == "charge"],
        truth=[json.loads(line) for line in truth.read_text().splitlines()],
    )
