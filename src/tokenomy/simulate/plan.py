"""Session planning: who starts which session when, how long it runs, and what goes wrong.

For each window (see :mod:`tokenomy.simulate.calendar`) sessions are drawn until the window's
call budget is spent. Everything that changes how many calls a session makes is decided here:
the number of steps of the main agent, a delegation to a sub-agent, a natural error or timeout
that ends the session, a retry loop (extra attempts of one step) and a truncation re-run (one
extra attempt). The session that would overflow the budget is replaced by clean, shortened
sessions of the same feature that fill it exactly: they carry no injected waste, no sub-agent
and no error, and are not counted as eligible for any waste category.

Tool-call proliferation changes it too: a proliferating session's main agent keeps calling tools
for :data:`PROLIFERATION_RANGE` times the most steps a normal run of the agent takes (such a run
ends by itself: only sessions drawn without a natural failure are eligible).

Session-level waste that does not change the call count is decided here too: an oversized
model, a bloated system prompt, filler, missed caching, over-planning (the factor applied to the
main agent's reasoning) and a background job sent at interactive prices (not batched).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import segments
from tokenomy.simulate.calendar import Window, expected_calls
from tokenomy.simulate.options import CATEGORIES, SimulationConfig, WasteRates
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]
Rng = np.random.Generator

COL = {name: i for i, name in enumerate(CATEGORIES)}
"""Column of each category in :attr:`Sessions.eligible`."""
ERROR_RETRY_RATE = 0.015
"""Share of eligible sessions whose step is retried after a provider error (back-off, then the same
request). Nothing was billed for the failed attempts, so these are not waste: they are generated as
the tricky negative a retry-loop detector must not flag, and the truth file leaves them out."""
BLOAT_RANGE = (4.0, 8.0)
"""A bloated system prompt is this many times the session's normal one."""
SYSTEM_SPREAD = (0.08, 0.8, 1.25)
"""Sigma of a normal system prompt around the agent's median, and the clip range."""
PROLIFERATION_RANGE = (3.0, 8.0)
"""A proliferating run takes this many times the agent's most steps (uniform): it keeps searching,
reading or querying instead of answering."""
OVERTHINK_RANGE = (5.0, 20.0)
"""An over-planning session reasons this many times the agent's typical reasoning (uniform), up to
what the request's output limit leaves."""
OUTPUT_ROOM = 0.9
"""Share of ``max_output_tokens`` a step's output (visible and reasoning) may fill."""


@dataclass(frozen=True, slots=True)
class Sessions:
    """The planned sessions of a chunk, one entry per session (arrays of equal length)."""

    window: Array
    """Index of the session's window in its chunk."""
    feature: Array
    route: Array
    env: Array
    user: Array
    start_ms: Array
    n_main: Array
    abort: Array
    """0: completes; 1: its last main call fails with a provider error; 2: it times out."""
    sub_at: Array
    """Main step that delegates to the sub-agent, or -1."""
    n_sub: Array
    retry_at: Array
    """Main step re-asked after an unusable answer or an error, or -1."""
    retry_extra: Array
    retry_error: Array
    trunc_at: Array
    """Main step cut at max_output_tokens and re-run with a larger limit, or -1."""
    max_out: Array
    system: Array
    bloated: Array
    oversized: Array
    filler: Array
    missed_cache: Array
    prolific: Array
    """The main agent's tool calls proliferate (its step count is already in ``n_main``)."""
    overthink: Array
    """Factor on the main agent's typical reasoning in an over-planning session, else 0."""
    unbatched: Array
    """A background job's session sent at interactive prices instead of through the batch API."""
    success: Array
    score: Array
    eligible: Array
    """(sessions, categories) booleans: the session could carry that waste (see options.ELIGIBILITY).

    The columns of the categories decided per step (redundant tool calls, unpruned history) are
    filled in by :mod:`tokenomy.simulate.steps`."""
    cut: Array
    """A clean, shortened session that fills the end of a window's budget."""

    @property
    def calls(self) -> Array:
        """LLM calls of each session."""
        return np.asarray(self.n_main + self.retry_extra + (self.trunc_at >= 0) + self.n_sub)

    def __len__(self) -> int:
        return len(self.feature)


def plan_chunk(rng: Rng, tables: Tables, config: SimulationConfig, windows: list[Window]) -> Sessions:
    """Plan the sessions of a chunk of windows, in time order, filling every budget exactly."""
    live = [w for w in windows if w.budget > 0]
    budget = np.array([w.budget for w in live], dtype=np.int64)
    feature_p = np.stack([w.feature_p for w in live])
    drawn = _draw_until(rng, tables, config, feature_p, budget)
    first = np.concatenate(([True], drawn.window[1:] != drawn.window[:-1]))
    within = segments.exclusive_cumsum(drawn.calls, first) + drawn.calls
    keep = within <= budget[drawn.window]
    used = np.bincount(drawn.window[keep], weights=drawn.calls[keep], minlength=len(live)).astype(np.int64)
    rejected_windows, first_rejected = np.unique(drawn.window[~keep], return_index=True)
    next_feature = np.zeros(len(live), dtype=np.int64)
    next_feature[rejected_windows] = drawn.feature[~keep][first_rejected]
    fill = _fill(rng, tables, config, budget - used, next_feature)
    merged = _concat([_take(drawn, np.flatnonzero(keep)), fill])
    sessions = _take(merged, np.argsort(merged.window, kind="stable"))
    return _with_starts(rng, sessions, live, budget)


def _draw_until(
    rng: Rng, tables: Tables, config: SimulationConfig, feature_p: Array, budget: Array
) -> Sessions:
    """Draw sessions per window until each window holds at least its budget of calls."""
    expected = expected_calls(tables)
    need = budget.copy()
    parts: list[Sessions] = []
    while (need > 0).any():
        short = np.flatnonzero(need > 0)
        count = (need[short] / (feature_p[short] @ expected) * 1.1).astype(np.int64) + 4
        window = np.repeat(short, count)
        cdf = np.cumsum(feature_p[window], axis=1)
        feature = np.minimum((rng.random(len(window))[:, None] >= cdf).sum(axis=1), feature_p.shape[1] - 1)
        part = _draw(rng, tables, config, feature, window)
        parts.append(part)
        need = need - np.bincount(window, weights=part.calls, minlength=len(budget)).astype(np.int64)
    drawn = _concat(parts)
    return _take(drawn, np.argsort(drawn.window, kind="stable"))


def _draw(rng: Rng, tables: Tables, config: SimulationConfig, feature: Array, window: Array) -> Sessions:
    n = len(feature)
    agent = tables.feature_agent[feature]
    route = _pick(rng, tables.feature_route_cdf[feature], tables.feature_route_ids[feature])
    oversized = tables.feature_simple[feature] & (rng.random(n) < config.waste.oversized_model)
    route = np.where(oversized, tables.feature_oversized_route[feature], route)
    lo, hi = tables.agent_steps[agent, 0], tables.agent_steps[agent, 1]
    n_main = np.minimum(lo + np.floor((hi - lo + 1) * rng.random(n) ** 1.5).astype(np.int64), hi)
    n_main, abort = _aborts(rng, config, n_main)
    has_tools = tables.agent_tool_ids[agent, 0] >= 0
    n_main, prolific = _proliferation(rng, config, has_tools, n_main=n_main, abort=abort, most=hi)
    sub_at, n_sub = _sub_agents(rng, tables, feature, n_main)
    retry_at, retry_extra, retry_error, retry_ok = _retries(rng, config, n_main, abort)
    trunc_at, trunc_ok = _truncations(
        rng, tables, config, route, agent, n_main=n_main, abort=abort, retry_at=retry_at
    )
    system, bloated = _system_prompts(rng, config, tables.agent_system[agent])
    main_calls = n_main + retry_extra + (trunc_at >= 0)
    eligible = _eligibility(
        tables, feature, route, agent, abort=abort, retry_ok=retry_ok, trunc_ok=trunc_ok, system=system
    )
    eligible[:, COL["missed_caching"]] &= main_calls >= 2
    eligible[:, COL["tool_call_proliferation"]] &= has_tools
    filler = eligible[:, COL["filler"]] & (rng.random(n) < config.waste.filler)
    missed = eligible[:, COL["missed_caching"]] & (rng.random(n) < config.waste.missed_caching)
    overthink = eligible[:, COL["over_planning"]] & (rng.random(n) < config.waste.over_planning)
    unbatched = eligible[:, COL["missed_batch"]] & (rng.random(n) < config.waste.missed_batch)
    success = (abort == 0) & (rng.random(n) < tables.feature_success[feature])
    return Sessions(
        window=window,
        feature=feature,
        route=route,
        env=(rng.random(n)[:, None] >= tables.feature_env_cdf[feature]).sum(axis=1),
        user=np.floor(tables.feature_user_count[feature] * rng.random(n) ** 1.8).astype(np.int64),
        start_ms=np.zeros(n, dtype=np.int64),
        n_main=n_main,
        abort=abort,
        sub_at=sub_at,
        n_sub=n_sub,
        retry_at=retry_at,
        retry_extra=retry_extra,
        retry_error=retry_error,
        trunc_at=trunc_at,
        max_out=_max_out(tables, route, agent),
        system=system,
        bloated=bloated,
        oversized=oversized,
        filler=filler,
        missed_cache=missed,
        prolific=prolific,
        overthink=np.where(overthink, rng.uniform(*OVERTHINK_RANGE, size=n), 0.0),
        unbatched=unbatched,
        success=success,
        score=_scores(rng, success),
        eligible=eligible,
        cut=np.zeros(n, dtype=bool),
    )


def _pick(rng: Rng, cdf: Array, ids: Array) -> Array:
    """One id per row, drawn with the row's cumulative weights."""
    column = (rng.random(len(cdf))[:, None] >= cdf).sum(axis=1)
    return np.asarray(ids[np.arange(len(ids)), column])


def _aborts(rng: Rng, config: SimulationConfig, n_main: Array) -> tuple[Array, Array]:
    """Cut sessions at their first failed call: a per-call chance, so the first failure is geometric."""
    p = config.error_rate + config.timeout_rate
    n = len(n_main)
    if p <= 0.0:
        return n_main, np.zeros(n, dtype=np.int64)
    first = np.floor(np.log1p(-rng.random(n)) / np.log1p(-p)).astype(np.int64)
    fails = first < n_main
    kind = np.where(rng.random(n) * p < config.error_rate, 1, 2)
    return np.where(fails, first + 1, n_main), np.where(fails, kind, 0)


def _proliferation(
    rng: Rng, config: SimulationConfig, has_tools: Array, *, n_main: Array, abort: Array, most: Array
) -> tuple[Array, Array]:
    """Sessions whose agent keeps calling tools, and their longer step counts (no natural failure)."""
    prolific = has_tools & (abort == 0) & (rng.random(len(n_main)) < config.waste.tool_call_proliferation)
    longer = np.round(most * rng.uniform(*PROLIFERATION_RANGE, size=len(n_main))).astype(np.int64)
    return np.where(prolific, longer, n_main), prolific


def _sub_agents(rng: Rng, tables: Tables, feature: Array, n_main: Array) -> tuple[Array, Array]:
    n = len(feature)
    sub = tables.feature_sub_agent[feature]
    has = (sub >= 0) & (n_main >= 3) & (rng.random(n) < tables.feature_sub_share[feature])
    at = np.floor(rng.random(n) * (n_main - 1)).astype(np.int64)
    lo = tables.agent_steps[np.maximum(sub, 0), 0]
    hi = tables.agent_steps[np.maximum(sub, 0), 1]
    n_sub = np.minimum(lo + np.floor((hi - lo + 1) * rng.random(n) ** 1.5).astype(np.int64), hi)
    return np.where(has, at, -1), np.where(has, n_sub, 0)


def _retries(rng: Rng, config: SimulationConfig, n_main: Array, abort: Array) -> tuple[Array, ...]:
    """A retry re-asks one step that is not the failing last step, 1 to 3 extra times: after an
    unusable answer (waste, at the configured rate) or after a provider error (not waste)."""
    n = len(n_main)
    free = n_main - (abort > 0)
    ok = free >= 1
    draw = rng.random(n)
    waste = ok & (draw < config.waste.retry_loop)
    error = ok & ~waste & (draw < config.waste.retry_loop + ERROR_RETRY_RATE * (config.waste.retry_loop > 0))
    on = waste | error
    at = np.floor(rng.random(n) * np.maximum(free, 1)).astype(np.int64)
    extra = 1 + np.floor(3 * rng.random(n) ** 2.5).astype(np.int64)
    return np.where(on, at, -1), np.where(on, extra, 0), error, ok


def _truncations(
    rng: Rng,
    tables: Tables,
    config: SimulationConfig,
    route: Array,
    agent: Array,
    *,
    n_main: Array,
    abort: Array,
    retry_at: Array,
) -> tuple[Array, Array]:
    """A truncation re-run needs a step free of the retry loop and room to double max_output_tokens."""
    n = len(n_main)
    free = n_main - (abort > 0) - (retry_at >= 0)
    room = tables.model_max_output[tables.route_model[route]] >= 2 * _max_out(tables, route, agent)
    ok = (free >= 1) & room
    on = ok & (rng.random(n) < config.waste.truncation_rerun)
    slot = np.floor(rng.random(n) * np.maximum(free, 1)).astype(np.int64)
    at = np.where((retry_at >= 0) & (slot >= retry_at), slot + 1, slot)
    return np.where(on, at, -1), ok


def _max_out(tables: Tables, route: Array, agent: Array) -> Array:
    asked = np.where(
        tables.route_reasoning[route],
        tables.agent_max_output_reasoning[agent],
        tables.agent_max_output[agent],
    )
    return np.asarray(np.minimum(asked, tables.model_max_output[tables.route_model[route]]))


def _system_prompts(rng: Rng, config: SimulationConfig, median: Array) -> tuple[Array, Array]:
    sigma, lo, hi = SYSTEM_SPREAD
    n = len(median)
    normal = median * np.clip(np.exp(sigma * rng.standard_normal(n)), lo, hi)
    bloated = rng.random(n) < config.waste.bloated_system_prompt
    factor = np.where(bloated, rng.uniform(*BLOAT_RANGE, size=n), 1.0)
    return np.round(normal * factor).astype(np.int64), bloated


def _missed_cache_eligible(tables: Tables, route: Array, agent: Array, system: Array) -> Array:
    model = tables.route_model[route]
    prefix = system + tables.agent_tool_defs[agent]
    return np.asarray(tables.model_explicit_cache[model] & (prefix >= tables.model_min_cache[model]))


def _eligibility(
    tables: Tables,
    feature: Array,
    route: Array,
    agent: Array,
    *,
    abort: Array,
    retry_ok: Array,
    trunc_ok: Array,
    system: Array,
) -> Array:
    """(sessions, categories) booleans of the categories decided when a session is drawn.

    Missed caching also needs two main calls, and proliferation an agent with tools: the caller
    narrows those two columns.
    """
    eligible = np.zeros((len(feature), len(CATEGORIES)), dtype=bool)
    eligible[:, COL["oversized_model"]] = tables.feature_simple[feature]
    eligible[:, COL["bloated_system_prompt"]] = True
    eligible[:, COL["retry_loop"]] = retry_ok
    eligible[:, COL["truncation_rerun"]] = trunc_ok
    eligible[:, COL["filler"]] = tables.feature_prose[feature] & (abort == 0)
    eligible[:, COL["missed_caching"]] = _missed_cache_eligible(tables, route, agent, system)
    eligible[:, COL["tool_call_proliferation"]] = abort == 0
    eligible[:, COL["over_planning"]] = _overthink_eligible(tables, route, agent)
    eligible[:, COL["missed_batch"]] = tables.feature_background[feature]
    return eligible


def _overthink_eligible(tables: Tables, route: Array, agent: Array) -> Array:
    """A reasoning route whose output limit holds an answer and 5x the agent's typical reasoning."""
    answer = np.exp(tables.agent_answer_out[agent, 0])
    need = answer * (1.0 + OVERTHINK_RANGE[0] * tables.agent_reasoning_ratio[agent])
    return np.asarray(tables.route_reasoning[route] & (OUTPUT_ROOM * _max_out(tables, route, agent) >= need))


def _scores(rng: Rng, success: Array) -> Array:
    u = rng.random(len(success))
    return np.round(np.where(success, 0.7 + 0.3 * u, 0.5 * u), 3)


def _fill(rng: Rng, tables: Tables, config: SimulationConfig, remaining: Array, feature: Array) -> Sessions:
    """Clean sessions that make exactly ``remaining[w]`` calls in window ``w``, of its next feature."""
    hi = tables.agent_steps[tables.feature_agent[feature], 1]
    count = remaining // hi + (remaining % hi > 0)
    window, position = segments.repeat_index(count)
    last = position == count[window] - 1
    partial = remaining[window] % hi[window]
    lengths = np.where(last & (partial > 0), partial, hi[window])
    quiet = replace(config, waste=WasteRates.none(), error_rate=0.0, timeout_rate=0.0)
    sessions = _draw(rng, tables, quiet, feature[window], window)
    n = len(window)
    return _replace(
        sessions,
        n_main=lengths.astype(np.int64),
        sub_at=np.full(n, -1),
        n_sub=np.zeros(n, dtype=np.int64),
        eligible=np.zeros((n, len(CATEGORIES)), dtype=bool),
        cut=np.ones(n, dtype=bool),
    )


def _with_starts(rng: Rng, sessions: Sessions, windows: list[Window], budget: Array) -> Sessions:
    """Spread session starts over each window in proportion to the calls made before them."""
    calls = sessions.calls
    first = np.concatenate(([True], sessions.window[1:] != sessions.window[:-1]))
    before = segments.exclusive_cumsum(calls, first)
    where = (before + rng.random(len(calls)) * calls) / budget[sessions.window]
    begin = np.array([w.start_ms for w in windows], dtype=np.int64)[sessions.window]
    length = np.array([w.length_ms for w in windows], dtype=np.int64)[sessions.window]
    return _replace(sessions, start_ms=begin + np.floor(where * length).astype(np.int64))


def _replace(sessions: Sessions, **changes: Array) -> Sessions:
    values = {f.name: changes.get(f.name, getattr(sessions, f.name)) for f in fields(Sessions)}
    return Sessions(**values)


def _take(sessions: Sessions, index: Array) -> Sessions:
    return Sessions(**{f.name: getattr(sessions, f.name)[index] for f in fields(Sessions)})


def _concat(parts: list[Sessions]) -> Sessions:
    if not parts:
        raise ValueError("no sessions to concatenate: a chunk always holds a window with calls")
    return Sessions(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Sessions)})
