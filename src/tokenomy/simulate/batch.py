"""One chunk of the simulation, generated whole: its sessions, calls, charges and ids.

:func:`generate` runs the stages in order (plan, steps, attempts, timing, caching), sorts the
calls (sessions in start order, each session's calls in start order), numbers the steps and
derives every id and hash. The result is a set of aligned columns that the writers render and
the truth reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import attempts, caching, ids, plan, segments, steps, timing
from tokenomy.simulate.calendar import Window
from tokenomy.simulate.options import SimulationConfig
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class Calls:
    """The calls of a chunk in output order; hex ids are ``S16`` byte arrays."""

    sess: Array
    row: Array
    attempt: Array
    final: Array
    sub: Array
    corrected: Array
    """A re-ask that carries a correction note as its newest turn."""
    call_id: Array
    span_id: Array
    parent_span_id: Array
    has_parent: Array
    session_id: Array
    trace_hi: Array
    trace_lo: Array
    step: Array
    start_ms: Array
    end_ms: Array
    latency_ms: Array
    ttft_ms: Array
    model: Array
    route: Array
    agent: Array
    feature: Array
    env: Array
    user: Array
    streamed: Array
    batch: Array
    status: Array
    http_status: Array
    error_type: Array
    finish: Array
    usage_known: Array
    input_uncached: Array
    cache_read: Array
    cache_write_5m: Array
    cache_write_1h: Array
    output_visible: Array
    reasoning: Array
    context_window: Array
    max_out: Array
    msgs: Array
    system: Array
    tool_defs: Array
    user_tokens: Array
    hist: Array
    filler: Array
    prefix: Array
    """(calls, 4) hashes: system prompt, plus tool definitions, plus history, whole prompt."""
    t1: Array
    t2: Array
    h1: Array
    h2: Array
    outcome: Array
    success: Array
    score: Array
    resent_within_ttl: Array

    @property
    def input_total(self) -> Array:
        """All input tokens of each call (meaningless where ``usage_known`` is False)."""
        return np.asarray(self.input_uncached + self.cache_read + self.cache_write_5m + self.cache_write_1h)

    def __len__(self) -> int:
        return len(self.sess)


@dataclass(frozen=True, slots=True)
class Charges:
    """Non-LLM charges of a chunk: one per use of a tool that costs money."""

    charge_id: Array
    call: Array
    """Index of the call that used the tool (its session and attribution apply)."""
    slot: Array
    """Which of the call's tool uses (0 or 1) it pays for."""
    tool: Array
    kind: Array
    at_ms: Array
    quantity: Array
    amount_e8: Array
    """Amount in units of 1e-8 USD."""

    def __len__(self) -> int:
        return len(self.call)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Everything generated for one chunk."""

    index: int
    sessions: plan.Sessions
    steps: steps.Steps
    calls: Calls
    charges: Charges


def generate(tables: Tables, config: SimulationConfig, windows: list[Window], index: int) -> Chunk:
    """Generate the chunk ``index`` of a run (its randomness depends only on the seed and ``index``)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, index])))
    sessions = plan.plan_chunk(rng, tables, config, windows)
    rows = steps.build_steps(rng, tables, config, sessions, index)
    raw = attempts.expand(rng, tables, sessions, rows)
    raw.update(timing.schedule(rng, tables, sessions, rows, raw))
    raw.update(caching.split(tables, sessions, rows, raw))
    order = np.lexsort((np.arange(len(raw["row"])), raw["start_ms"], raw["sess"]))
    ordered = {name: values[order] for name, values in raw.items()}
    calls = _calls(tables, config, sessions, rows, raw=ordered, index=index)
    return Chunk(index, sessions, rows, calls, _charges(tables, config, rows, calls, index))


def _calls(
    tables: Tables,
    config: SimulationConfig,
    sessions: plan.Sessions,
    rows: steps.Steps,
    *,
    raw: dict[str, Array],
    index: int,
) -> Calls:
    row, sess = raw["row"], raw["sess"]
    return Calls(
        sess=sess,
        row=row,
        attempt=raw["attempt"],
        final=raw["final"],
        sub=rows.sub[row],
        corrected=raw["note"] > 0,
        **_identity(config, sessions, rows, raw, index),
        start_ms=raw["start_ms"],
        end_ms=raw["start_ms"] + np.round(raw["latency_ms"]).astype(np.int64),
        latency_ms=raw["latency_ms"],
        ttft_ms=raw["ttft_ms"],
        model=rows.model[row],
        route=rows.route[row],
        agent=rows.agent[row],
        feature=sessions.feature[sess],
        env=sessions.env[sess],
        user=sessions.user[sess],
        streamed=tables.agent_streamed[rows.agent[row]],
        batch=tables.route_batch[rows.route[row]] & ~sessions.unbatched[sess],
        status=raw["status"],
        http_status=raw["http_status"],
        error_type=raw["error_type"],
        finish=raw["finish"],
        **_usage(raw),
        **_shape(tables, rows, raw),
        prefix=_prefix_hashes(config, rows, raw, index),
        **_tool_uses(config, rows, raw),
        outcome=raw["final"] & rows.last[row] & ~rows.sub[row],
        success=sessions.success[sess],
        score=sessions.score[sess],
        resent_within_ttl=raw["resent_within_ttl"],
    )


def _shape(tables: Tables, rows: steps.Steps, raw: dict[str, Array]) -> dict[str, Array]:
    """The request's shape; a re-ask with a correction note has the earlier prompt as history."""
    row, noted = raw["row"], raw["note"] > 0
    return {
        "context_window": tables.model_ctx[rows.model[row]],
        "max_out": raw["max_out"],
        "msgs": raw["msgs"],
        "system": rows.system[row],
        "tool_defs": rows.tool_defs[row],
        "user_tokens": np.where(noted, raw["note"], rows.user[row]),
        "hist": rows.hist[row] + np.where(noted, rows.user[row], 0),
        "filler": raw["filler"],
    }


def _usage(raw: dict[str, Array]) -> dict[str, Array]:
    ok = raw["status"] == attempts.OK
    return {
        "usage_known": raw["status"] != attempts.TIMEOUT,
        "input_uncached": np.where(ok, raw["input_uncached"], 0),
        "cache_read": raw["cache_read"],
        "cache_write_5m": raw["cache_write_5m"],
        "cache_write_1h": raw["cache_write_1h"],
        "output_visible": raw["out"],
        "reasoning": raw["reasoning"],
    }


def _identity(
    config: SimulationConfig, sessions: plan.Sessions, rows: steps.Steps, raw: dict[str, Array], index: int
) -> dict[str, Array]:
    """Call, span, session and trace ids, the parent span of sub-agent calls, and step numbers."""
    n = len(raw["row"])
    chunk_bits = np.uint64(index) << np.uint64(32)
    call_keys = chunk_bits | np.arange(n, dtype=np.uint64)
    session_keys = chunk_bits | np.arange(len(sessions), dtype=np.uint64)
    span = ids.hex16(ids.salted(config.seed, ids.SPAN, call_keys))
    spawn = rows.spawn[raw["row"]] & raw["final"]
    spawn_call = np.full(len(sessions), -1)
    spawn_call[raw["sess"][spawn]] = np.flatnonzero(spawn)
    sub = rows.sub[raw["row"]]
    parent = np.where(sub, spawn_call[raw["sess"]], -1)
    first = np.concatenate(([True], raw["sess"][1:] != raw["sess"][:-1])) if n else np.zeros(0, bool)
    return {
        "call_id": ids.hex16(ids.salted(config.seed, ids.CALL, call_keys)),
        "span_id": span,
        "parent_span_id": np.where(parent >= 0, span[np.maximum(parent, 0)], b""),
        "has_parent": parent >= 0,
        "session_id": ids.hex16(ids.salted(config.seed, ids.SESSION, session_keys))[raw["sess"]],
        "trace_hi": ids.hex16(ids.salted(config.seed, ids.TRACE_HI, session_keys))[raw["sess"]],
        "trace_lo": ids.hex16(ids.salted(config.seed, ids.TRACE_LO, session_keys))[raw["sess"]],
        "step": np.arange(n) - segments.start_index(first) + 1,
    }


def _prefix_hashes(config: SimulationConfig, rows: steps.Steps, raw: dict[str, Array], index: int) -> Array:
    """Hashes of the prompt cut after the system prompt, the tools, the history, and at its end.

    Keys name what the prefix holds: the agent run (its first step) for the first two cuts, the
    step for the history, the step and attempt for the whole prompt. A re-ask with a correction
    note has the earlier prompt as its history.
    """
    row, attempt = raw["row"], raw["attempt"]
    chunk_bits = np.uint64(index) << np.uint64(40)
    run = segments.start_index(rows.first)[row].astype(np.uint64)
    noted = raw["note"] > 0

    def key(owner: Array, code: Array | int) -> Array:
        return chunk_bits | (owner.astype(np.uint64) << np.uint64(4)) | np.asarray(code, dtype=np.uint64)

    runs, where = np.unique(run, return_inverse=True)
    stable = ids.hex16(ids.salted(config.seed, ids.PREFIX, np.concatenate([key(runs, 0), key(runs, 1)])))
    h_sys, h_tools = stable[: len(runs)][where], stable[len(runs) :][where]
    hist_key = np.where(noted, key(row, 3), key(row, 2))
    h_hist = np.where(
        noted | (rows.hist[row] > 0), ids.hex16(ids.salted(config.seed, ids.PREFIX, hist_key)), h_tools
    )
    h_full = ids.hex16(ids.salted(config.seed, ids.PREFIX, key(row, 3 + np.where(noted, attempt, 0))))
    return np.stack([h_sys, h_tools, h_hist, h_full], axis=1)


def _tool_uses(config: SimulationConfig, rows: steps.Steps, raw: dict[str, Array]) -> dict[str, Array]:
    """Tool names and argument hashes of the calls that ran tools (hashes are blank elsewhere)."""
    row, on = raw["row"], raw["tools_on"]
    t1 = np.where(on, rows.t1[row], -1)
    t2 = np.where(on, rows.t2[row], -1)
    return {
        "t1": t1,
        "t2": t2,
        "h1": _args_hashes(config, rows.key1[row], t1 >= 0),
        "h2": _args_hashes(config, rows.key2[row], t2 >= 0),
    }


def _args_hashes(config: SimulationConfig, keys: Array, used: Array) -> Array:
    out = np.zeros(len(keys), dtype="S16")
    out[used] = ids.hex16(ids.salted(config.seed, ids.TOOL_ARGS, keys[used]))
    return out


def _charges(
    tables: Tables, config: SimulationConfig, rows: steps.Steps, calls: Calls, index: int
) -> Charges:
    """A charge for every use of a paid tool, at the end of the call that asked for it."""
    calls_at, slots, tools, kinds, runs = [], [], [], [], []
    for position, (used, run_ms) in enumerate(((calls.t1, rows.exec1), (calls.t2, rows.exec2))):
        paid = np.where(used >= 0, tables.tool_charge[np.maximum(used, 0)], -1)
        at = np.flatnonzero(paid >= 0)
        calls_at.append(at)
        slots.append(np.full(len(at), position))
        tools.append(used[at])
        kinds.append(paid[at])
        runs.append(run_ms[calls.row[at]])
    order = np.lexsort((np.concatenate(slots), np.concatenate(calls_at)))
    call, slot = np.concatenate(calls_at)[order], np.concatenate(slots)[order]
    tool, kind = np.concatenate(tools)[order], np.concatenate(kinds)[order]
    run_ms = np.concatenate(runs)[order]
    per_second = kind == tables.names.charge_kinds.index("code_sandbox")
    quantity = np.where(per_second, np.round(run_ms / 1000.0, 3), 1.0)
    amount = np.where(
        per_second, np.round(quantity * tables.charge_price_e8[kind]), tables.charge_price_e8[kind]
    )
    keys = (
        (np.uint64(index) << np.uint64(32))
        | (call.astype(np.uint64) << np.uint64(1))
        | slot.astype(np.uint64)
    )
    return Charges(
        charge_id=ids.hex16(ids.salted(config.seed, ids.CHARGE, keys)),
        call=call,
        slot=slot,
        tool=tool,
        kind=kind,
        at_ms=calls.end_ms[call],
        quantity=quantity,
        amount_e8=np.maximum(amount, 1).astype(np.int64),
    )
