"""When the company's traffic happens: daily and weekly seasonality, and exact call budgets.

Times are UTC and the company keeps office hours in UTC. Each feature follows one of three
schedules (office hours, customer-facing extended hours, a nightly batch window). The number of
calls of every hour is drawn once, up front, from a multinomial over all hours of the period, so
that the budgets add up to ``--calls`` exactly; sessions are then drawn inside each hour until its
budget is spent (see :mod:`tokenomy.simulate.plan`).

Hours are cut into *windows* of at most :data:`WINDOW_CALLS` calls, and consecutive windows are
grouped into *chunks* of about :data:`CHUNK_CALLS` calls: a chunk is the unit the engine
generates and writes at once, so memory stays flat whatever the total.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]

HOUR_MS: Final = 3_600_000
DAY_HOURS: Final = 24
WINDOW_CALLS: Final = 8192
CHUNK_CALLS: Final = 32_768
GROWTH_PER_DAY: Final = 0.003
"""Traffic grows by 0.3% a day (about 9% a month), so forecasts have a trend to find."""

# Relative traffic by hour of day (UTC), one row per schedule of tables.SCHEDULES.
HOURLY: Final = np.array(
    [
        [0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.12, 0.35, 0.75, 1.0, 1.0, 0.95,
         0.7, 0.9, 1.0, 1.0, 0.9, 0.65, 0.35, 0.2, 0.14, 0.1, 0.07, 0.05],
        [0.2, 0.15, 0.12, 0.1, 0.1, 0.12, 0.2, 0.4, 0.65, 0.85, 0.95, 1.0,
         1.0, 1.0, 1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.65, 0.5, 0.38, 0.28],
        [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
         0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)  # fmt: skip
# Relative traffic by day of week (Monday first), one row per schedule.
WEEKLY: Final = np.array(
    [
        [1.05, 1.0, 1.0, 0.97, 0.85, 0.12, 0.10],
        [1.0, 1.0, 1.0, 0.98, 0.92, 0.55, 0.50],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    ]
)


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of time with a fixed number of calls to fill.

    Attributes:
        hour: Index of the hour since the start of the period.
        start_ms: Start of the window, epoch milliseconds.
        length_ms: Length of the window.
        budget: Calls that start in this window.
        feature_p: Probability of each feature for a session starting in this window.
    """

    hour: int
    start_ms: int
    length_ms: int
    budget: int
    feature_p: Array


def schedule_weights(start_ms: int, hours: int) -> Array:
    """Relative traffic of each schedule in each hour: an array (hours, schedules)."""
    hour_index = np.arange(hours)
    epoch_hours = start_ms // HOUR_MS + hour_index
    hour_of_day = epoch_hours % DAY_HOURS
    weekday = (epoch_hours // DAY_HOURS + 3) % 7  # 1970-01-01 was a Thursday
    trend = 1.0 + GROWTH_PER_DAY * (hour_index / DAY_HOURS)
    per_schedule = HOURLY[:, hour_of_day] * WEEKLY[:, weekday]
    return np.asarray((per_schedule * trend).T)


def expected_calls(tables: Tables) -> Array:
    """Expected LLM calls in a session of each feature (main agent plus sub-agent)."""
    lo = tables.agent_steps[tables.feature_agent, 0]
    hi = tables.agent_steps[tables.feature_agent, 1]
    main = lo + (hi - lo) / 2.5
    sub = np.where(tables.feature_sub_agent >= 0, tables.feature_sub_share, 0.0)
    sub_steps = tables.agent_steps[np.maximum(tables.feature_sub_agent, 0)].mean(axis=1)
    return np.asarray(main + sub * sub_steps)


def hour_budgets(tables: Tables, start_ms: int, days: int, calls: int, seed: int) -> tuple[Array, Array]:
    """Calls per hour (summing to ``calls``) and each hour's feature probabilities.

    Returns:
        ``(budgets, feature_p)``: budgets has one entry per hour; feature_p is (hours, features).
    """
    hours = days * DAY_HOURS
    by_schedule = schedule_weights(start_ms, hours)
    sessions = by_schedule[:, tables.feature_schedule] * tables.feature_weight
    call_weight = (sessions * expected_calls(tables)).sum(axis=1)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5EA5])))
    budgets = rng.multinomial(calls, call_weight / call_weight.sum()) if calls else np.zeros(hours, np.int64)
    feature_p = sessions / sessions.sum(axis=1, keepdims=True)
    return np.asarray(budgets, dtype=np.int64), feature_p


def windows(budgets: Array, feature_p: Array, start_ms: int) -> Iterator[Window]:
    """The windows of every hour that has calls, in time order."""
    for hour in np.flatnonzero(budgets).tolist():
        budget = int(budgets[hour])
        parts = -(-budget // WINDOW_CALLS)
        shares = [budget // parts + (1 if j < budget % parts else 0) for j in range(parts)]
        for j, share in enumerate(shares):
            begin = HOUR_MS * j // parts
            end = HOUR_MS * (j + 1) // parts
            yield Window(hour, start_ms + hour * HOUR_MS + begin, end - begin, share, feature_p[hour])


def chunks(budgets: Array, feature_p: Array, start_ms: int) -> Iterator[list[Window]]:
    """Consecutive windows grouped into chunks of about :data:`CHUNK_CALLS` calls."""
    chunk: list[Window] = []
    size = 0
    for window in windows(budgets, feature_p, start_ms):
        chunk.append(window)
        size += window.budget
        if size >= CHUNK_CALLS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
