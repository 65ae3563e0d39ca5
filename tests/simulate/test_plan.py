"""Session planning fills each window's budget exactly, with clean sessions at the end."""

from __future__ import annotations

import numpy as np

from tokenomy.simulate import DEFAULT_START, SimulationConfig, WasteRates, calendar, plan, tables
from tokenomy.simulate.options import CATEGORIES


def _plan(calls: int, days: int, waste: WasteRates) -> list[tuple[list[calendar.Window], plan.Sessions]]:
    compiled = tables.build()
    config = SimulationConfig(calls=calls, days=days, seed=13, waste=waste)
    budgets, feature_p = calendar.hour_budgets(compiled, config.start_ms, days, calls, config.seed)
    out = []
    for index, windows in enumerate(calendar.chunks(budgets, feature_p, config.start_ms)):
        rng = np.random.Generator(np.random.PCG64(index))
        out.append((windows, plan.plan_chunk(rng, compiled, config, windows)))
    return out


def test_each_window_gets_exactly_its_budget() -> None:
    for windows, sessions in _plan(50_000, 3, WasteRates()):
        live = [w for w in windows if w.budget > 0]
        per_window = np.bincount(sessions.window, weights=sessions.calls, minlength=len(live))
        assert per_window.astype(int).tolist() == [w.budget for w in live]
        for i, window in enumerate(live):
            starts = sessions.start_ms[sessions.window == i]
            assert (starts >= window.start_ms).all()
            assert (starts < window.start_ms + window.length_ms).all()
            assert (np.diff(starts) >= 0).all()


def test_fill_sessions_are_clean_and_never_eligible() -> None:
    rates = WasteRates(**dict.fromkeys(CATEGORIES, 0.5))
    cut = 0
    for _, sessions in _plan(20_000, 2, rates):
        fill = sessions.cut
        cut += int(fill.sum())
        assert not sessions.eligible[fill].any()
        for flag in (sessions.bloated, sessions.oversized, sessions.filler, sessions.missed_cache):
            assert not flag[fill].any()
        assert (sessions.retry_at[fill] == -1).all()
        assert (sessions.trunc_at[fill] == -1).all()
        assert (sessions.n_sub[fill] == 0).all()
        assert (sessions.abort[fill] == 0).all()
    assert cut > 0


def test_the_default_start_is_a_monday_at_midnight() -> None:
    assert DEFAULT_START.weekday() == 0
    assert DEFAULT_START.hour == 0
