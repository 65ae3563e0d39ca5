"""The workload simulator: a made-up company's agent traffic, with injected waste and its ground truth.

``run(SimulationConfig(calls=..., days=..., seed=...), out, truth_out)`` writes native JSONL (the
form :mod:`tokenomy.native` reads) and a truth file listing every injected waste instance, so
that waste detectors can be scored. The output is deterministic for a configuration. See
docs/simulate.md for the company, the token profiles, the waste categories and the truth format.
"""

from __future__ import annotations

from tokenomy.simulate.engine import Summary, run
from tokenomy.simulate.options import CATEGORIES, DEFAULT_START, ELIGIBILITY, SimulationConfig, WasteRates
from tokenomy.simulate.records import records

__all__ = [
    "CATEGORIES",
    "DEFAULT_START",
    "ELIGIBILITY",
    "SimulationConfig",
    "Summary",
    "WasteRates",
    "records",
    "run",
]
