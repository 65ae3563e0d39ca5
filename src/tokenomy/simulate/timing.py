"""When each call starts and how long it takes.

Latency is the model's time to first token (noisy), plus prompt processing at the model's
prefill speed, plus generation of reasoning and visible tokens at its output speed. Streamed
calls record time to first token, which comes after the reasoning. A failed call returns
quickly; a timed-out one waits for the client's limit.

Between two calls of an agent run come the agent's own overhead, the tools of the earlier step
(parallel tools take as long as the slowest), a human's reply, a back-off after an error, or a
whole sub-agent run. A sub-agent starts when the call that delegated to it ends, and the main
agent resumes when the sub-agent has answered.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import segments
from tokenomy.simulate.attempts import ERROR, OK, TIMEOUT
from tokenomy.simulate.plan import Sessions
from tokenomy.simulate.steps import Steps
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]
Rng = np.random.Generator

TTFT_SIGMA: Final = 0.25
GENERATION_SIGMA: Final = 0.15
FAILED_MS: Final = (150.0, 1800.0)
TIMEOUT_MS: Final = 60_000.0
"""The client's time limit; doubled on reasoning routes."""
OVERHEAD_MS: Final = (20.0, 150.0)
BACKOFF_MS: Final = (500.0, 4000.0)
UNCLEAR_MS: Final = (270_000.0, 630_000.0)
"""Providers keep automatic caches 5 to 10 minutes; no two calls of a run start this far apart
(such a pause is moved 6 minutes later), so any lifetime in that range tells the same story."""


def schedule(
    rng: Rng, tables: Tables, sessions: Sessions, steps: Steps, calls: dict[str, Array]
) -> dict[str, Array]:
    """Start time (epoch ms), latency and time to first token (NaN when not streamed) of each call."""
    row = calls["row"]
    latency, ttft = _latency(rng, tables, steps, calls)
    gap = _clear(latency, _gaps(rng, tables, steps, calls))
    first = steps.first[row] & (calls["attempt"] == 0)
    offset = segments.exclusive_cumsum(latency + gap, first)
    sub = steps.sub[row]
    n_sessions = len(sessions)
    sub_span = np.zeros(n_sessions)
    np.maximum.at(sub_span, calls["sess"][sub], (offset + latency)[sub])
    spawns = steps.spawn[row] & calls["final"]
    handoff = rng.uniform(*OVERHEAD_MS, size=n_sessions)
    gap = _clear(latency, gap + np.where(spawns, sub_span[calls["sess"]] + 2 * handoff[calls["sess"]], 0.0))
    offset = segments.exclusive_cumsum(latency + gap, first)
    start = sessions.start_ms[calls["sess"]] + offset
    spawn_end = np.zeros(n_sessions)
    spawn_end[calls["sess"][spawns]] = (start + latency)[spawns]
    start = np.where(sub, spawn_end[calls["sess"]] + handoff[calls["sess"]] + offset, start)
    return {
        "start_ms": np.floor(start).astype(np.int64),
        "latency_ms": np.round(latency, 1),
        "ttft_ms": np.round(ttft, 1),
    }


def _clear(latency: Array, gap: Array) -> Array:
    """Gaps moved out of the range where cache lifetimes disagree (see :data:`UNCLEAR_MS`)."""
    between = latency + gap
    unclear = (between > UNCLEAR_MS[0]) & (between <= UNCLEAR_MS[1])
    return np.asarray(gap + np.where(unclear, UNCLEAR_MS[1] - UNCLEAR_MS[0], 0.0))


def _latency(rng: Rng, tables: Tables, steps: Steps, calls: dict[str, Array]) -> tuple[Array, Array]:
    row, status = calls["row"], calls["status"]
    n = len(row)
    model, route = steps.model[row], steps.route[row]
    prompt = steps.base_input[row] + calls["note"]
    first_token = tables.model_ttft[model] * np.exp(TTFT_SIGMA * rng.standard_normal(n))
    prefill = prompt / tables.model_prefill[model] * 1000.0
    pace = np.exp(GENERATION_SIGMA * rng.standard_normal(n)) * 1000.0 / tables.model_tps[model]
    thinking = calls["reasoning"] * pace
    latency = first_token + prefill + thinking + calls["out"] * pace
    failed = rng.uniform(*FAILED_MS, size=n)
    limit = TIMEOUT_MS * np.where(tables.route_reasoning[route], 2.0, 1.0)
    latency = np.where(status == ERROR, failed, np.where(status == TIMEOUT, limit, latency))
    streamed = tables.agent_streamed[steps.agent[row]] & (status == OK)
    ttft = np.where(streamed, first_token + prefill + thinking, np.nan)
    return latency, ttft


def _gaps(rng: Rng, tables: Tables, steps: Steps, calls: dict[str, Array]) -> Array:
    """Time from the end of a call to the start of the next call of the same agent run."""
    row, final = calls["row"], calls["final"]
    n = len(row)
    gap = rng.uniform(*OVERHEAD_MS, size=n)
    tools = np.maximum(steps.exec1[row], steps.exec2[row]) * ~steps.spawn[row]
    gap = gap + np.where(calls["tools_on"], tools, 0)
    human = np.exp(
        tables.agent_human_gap[steps.agent[row], 0]
        + tables.agent_human_gap[steps.agent[row], 1] * rng.standard_normal(n)
    )
    gap = gap + np.where(final & steps.human_next[row], human, 0.0)
    backoff = rng.uniform(*BACKOFF_MS, size=n)
    return np.asarray(gap + np.where(~final & (calls["status"] == ERROR), backoff, 0.0))
