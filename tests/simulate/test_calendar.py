"""Budgets add up exactly, chunks stay small, and traffic follows office hours and the week."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tests.simulate.conftest import Sim
from tokenomy.schema import Status
from tokenomy.simulate import DEFAULT_START, calendar, tables


def test_hour_budgets_add_up_to_the_total() -> None:
    compiled = tables.build()
    start = int(DEFAULT_START.timestamp() * 1000)
    for calls, days in ((0, 1), (1, 1), (12_345, 9), (2_000_000, 30)):
        budgets, feature_p = calendar.hour_budgets(compiled, start, days, calls, seed=3)
        assert budgets.shape == (days * 24,)
        assert int(budgets.sum()) == calls
        assert np.allclose(feature_p.sum(axis=1), 1.0)


def test_chunks_and_windows_stay_small_whatever_the_total() -> None:
    compiled = tables.build()
    start = int(DEFAULT_START.timestamp() * 1000)
    budgets, feature_p = calendar.hour_budgets(compiled, start, 2, 3_000_000, seed=1)
    chunks = list(calendar.chunks(budgets, feature_p, start))
    sizes = [sum(w.budget for w in chunk) for chunk in chunks]
    assert sum(sizes) == 3_000_000
    assert max(sizes) < calendar.CHUNK_CALLS + calendar.WINDOW_CALLS
    assert all(w.budget <= calendar.WINDOW_CALLS for chunk in chunks for w in chunk)
    starts = [w.start_ms for chunk in chunks for w in chunk]
    assert starts == sorted(starts)


def test_traffic_grows_slowly_day_after_day() -> None:
    weights = calendar.schedule_weights(int(DEFAULT_START.timestamp() * 1000), 24 * 15)
    first_monday, third_monday = weights[10, :2], weights[24 * 14 + 10, :2]
    growth = calendar.GROWTH_PER_DAY
    assert np.allclose(third_monday / first_monday, (1 + growth * (14 + 10 / 24)) / (1 + growth * 10 / 24))


def test_weekdays_are_busier_than_weekends(default_sim: Sim) -> None:
    per_weekday = Counter(c.started_at.weekday() for c in default_sim.calls if c.started_at)
    weekday = np.mean([per_weekday[d] for d in range(5)])
    weekend = np.mean([per_weekday[d] for d in (5, 6)])
    assert weekday > 2 * weekend


def test_office_hours_are_busier_than_evenings(default_sim: Sim) -> None:
    per_hour = Counter(c.started_at.hour for c in default_sim.calls if c.started_at)
    office = np.mean([per_hour[h] for h in range(9, 17)])
    evening = np.mean([per_hour[h] for h in range(20, 24)])
    assert office > 3 * evening


def test_the_nightly_job_runs_at_night_only(default_sim: Sim) -> None:
    hours = {
        c.started_at.hour
        for c in default_sim.calls
        if c.attribution.feature == "nightly_extract" and c.started_at
    }
    assert hours
    assert hours <= {1, 2, 3, 4, 5}
    unbatched = {e["session_id"] for e in default_sim.waste("missed_batch")}
    nightly = [c for c in default_sim.calls if c.attribution.feature == "nightly_extract"]
    assert unbatched
    assert all(c.batch for c in nightly if c.session_id not in unbatched)
    assert not any(c.batch for c in nightly if c.session_id in unbatched and c.status is Status.OK)
