"""A generated chunk: ids unique, calls in session and time order, charges tied to their calls."""

from __future__ import annotations

import numpy as np

from tokenomy.simulate import SimulationConfig, calendar, tables
from tokenomy.simulate.batch import Chunk, generate


def _chunks(config: SimulationConfig) -> list[Chunk]:
    compiled = tables.build()
    budgets, feature_p = calendar.hour_budgets(
        compiled, config.start_ms, config.days, config.calls, config.seed
    )
    return [
        generate(compiled, config, w, i)
        for i, w in enumerate(calendar.chunks(budgets, feature_p, config.start_ms))
    ]


def test_ids_are_unique_across_chunks_and_kinds() -> None:
    chunks = _chunks(SimulationConfig(calls=80_000, days=2, seed=2))
    assert len(chunks) > 1
    calls = np.concatenate([c.calls.call_id for c in chunks])
    spans = np.concatenate([c.calls.span_id for c in chunks])
    charges = np.concatenate([c.charges.charge_id for c in chunks])
    sessions = np.concatenate([np.unique(c.calls.session_id) for c in chunks])
    for column in (calls, spans, charges, sessions):
        assert len(np.unique(column)) == len(column)


def test_calls_are_grouped_by_session_in_time_order_and_charges_follow_them() -> None:
    for chunk in _chunks(SimulationConfig(calls=30_000, days=1, seed=12)):
        calls = chunk.calls
        assert (np.diff(calls.sess) >= 0).all()
        same = calls.sess[1:] == calls.sess[:-1]
        assert (np.diff(calls.start_ms)[same] >= 0).all()
        starts = chunk.sessions.start_ms[calls.sess]
        assert (calls.start_ms >= starts).all()
        charged = chunk.charges.call
        assert (np.diff(charged) >= 0).all()
        assert (chunk.charges.at_ms == calls.end_ms[charged]).all()
        used = np.where(chunk.charges.slot == 0, calls.t1[charged], calls.t2[charged])
        assert (used == chunk.charges.tool).all()
