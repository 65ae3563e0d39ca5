"""Steps: every LLM step of every agent run of a chunk, with its tools and token counts.

A step is one turn of an agent loop: the model reads the prompt (system prompt, tool
definitions, history, newest turn) and either calls tools or answers. A step becomes one call,
or several when it is retried (see :mod:`tokenomy.simulate.attempts`).

Rows are laid out main agent first (each session's steps in order), then the sub-agents; the
rows of one agent run are contiguous (a *segment*, see :mod:`tokenomy.simulate.segments`).
History grows by each step's newest turn and visible answer (reasoning is not carried over);
agents compact their history when it passes their threshold, except in sessions injected with
unpruned growth. Redundant tool calls are injected here by copying an earlier tool use. In a
proliferating session every step of the main agent but the last calls tools; in an over-planning
session every step of the main agent reasons the session's factor times the agent's typical
reasoning for that kind of step (up to the room the output limit leaves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import segments
from tokenomy.simulate.options import SimulationConfig
from tokenomy.simulate.plan import COL, OUTPUT_ROOM, SYSTEM_SPREAD, Sessions
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]
Rng = np.random.Generator

PARALLEL_SHARE = 0.15
"""Share of plain tool steps that call a second tool in parallel."""
FILLER_OPENING = (6, 15)
FILLER_CLOSING = (5, 13)
"""Token ranges of a filler opening ("Certainly! Here is...") and closing ("I hope this helps")."""
TRUNCATED_NEED = (1.1, 1.7)
"""A truncated step needed this many times its max_output_tokens."""


@dataclass(frozen=True, slots=True)
class Steps:
    """The steps of a chunk, one entry per step (arrays of equal length)."""

    sess: Array
    sub: Array
    k: Array
    first: Array
    last: Array
    agent: Array
    route: Array
    model: Array
    tool: Array
    """The step calls tools (otherwise it answers)."""
    spawn: Array
    """The step delegates to the sub-agent."""
    human_next: Array
    """A human replies to this answer before the next step."""
    t1: Array
    t2: Array
    key1: Array
    key2: Array
    res1: Array
    res2: Array
    exec1: Array
    exec2: Array
    system: Array
    tool_defs: Array
    user: Array
    out: Array
    reasoning: Array
    reasoning_clean: Array
    """Reasoning the step would have used without over-planning."""
    filler: Array
    hist: Array
    hist_clean: Array
    cont: Array
    """The prompt extends the previous step's prompt (so a cache of it can be reused)."""
    msgs: Array
    max_out: Array
    redundant_src: Array
    """For a step that repeats an earlier tool use, that earlier step; else -1."""
    unpruned: Array
    """Per session: history growth left unpruned."""

    @property
    def base_input(self) -> Array:
        """Prompt tokens of the step before any correction note."""
        return np.asarray(self.system + self.tool_defs + self.hist + self.user)

    @property
    def stable_prefix(self) -> Array:
        """Tokens of the system prompt and tool definitions."""
        return np.asarray(self.system + self.tool_defs)

    def __len__(self) -> int:
        return len(self.sess)


@dataclass(slots=True)
class _Build:
    """What the stages of :func:`build_steps` share: the inputs, and the columns built so far."""

    rng: Rng
    tables: Tables
    config: SimulationConfig
    sessions: Sessions
    chunk: int
    cols: dict[str, Array] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Array:
        return self.cols[name]


def build_steps(rng: Rng, tables: Tables, config: SimulationConfig, sessions: Sessions, chunk: int) -> Steps:
    """Lay out, shape and size every step of the chunk's sessions."""
    b = _Build(rng, tables, config, sessions, chunk)
    for stage in (_layout, _kinds, _tools, _redundant, _tokens, _user_turns, _history):
        b.cols.update(stage(b))
    return Steps(**b.cols)


def _layout(b: _Build) -> dict[str, Array]:
    tables, sessions = b.tables, b.sessions
    main_owner, main_k = segments.repeat_index(sessions.n_main)
    sub_owner, sub_k = segments.repeat_index(sessions.n_sub)
    sess = np.concatenate([main_owner, sub_owner])
    sub = np.concatenate([np.zeros(len(main_owner), bool), np.ones(len(sub_owner), bool)])
    k = np.concatenate([main_k, sub_k])
    length = np.where(sub, sessions.n_sub[sess], sessions.n_main[sess])
    feature = sessions.feature[sess]
    agent = np.where(sub, tables.feature_sub_agent[feature], tables.feature_agent[feature])
    route = np.where(sub, tables.feature_sub_route[feature], sessions.route[sess])
    return {
        "sess": sess,
        "sub": sub,
        "k": k,
        "first": k == 0,
        "last": k == length - 1,
        "agent": agent,
        "route": route,
        "model": tables.route_model[route],
    }


def _kinds(b: _Build) -> dict[str, Array]:
    tables, agent, k = b.tables, b["agent"], b["k"]
    has_tools = tables.agent_tool_ids[agent, 0] >= 0
    spawn = ~b["sub"] & (k == b.sessions.sub_at[b["sess"]])
    answers = b.rng.random(len(agent)) < tables.agent_answer_share[agent]
    answers &= b["sub"] | ~b.sessions.prolific[b["sess"]]
    tool = (~b["last"] & has_tools & ~answers) | spawn
    human_next = ~tool & ~b["last"] & tables.agent_conversation[agent]
    return {"tool": tool, "spawn": spawn, "human_next": human_next}


def _tools(b: _Build) -> dict[str, Array]:
    """Tool uses of each step: read tools, a parallel second one, the final write, the delegation."""
    rng, tables, agent, k = b.rng, b.tables, b["agent"], b["k"]
    tool, spawn = b["tool"], b["spawn"]
    n = len(agent)
    t1 = np.where(tool, _pick_tool(rng, tables, agent), -1)
    t2 = np.where(tool & ~spawn & (rng.random(n) < PARALLEL_SHARE), _pick_tool(rng, tables, agent), -1)
    segment = np.cumsum(b["first"]) - 1
    last_tool = segments.segment_max(np.where(tool, k, -1), segment, int(segment[-1]) + 1 if n else 0)
    writer = tables.agent_write_tool[agent]
    write = ~b["sub"] & tool & ~spawn & (k == last_tool[segment]) & (writer >= 0)
    write &= rng.random(n) < tables.agent_write_share[agent]
    t1 = np.where(spawn, tables.feature_sub_tool[b.sessions.feature[b["sess"]]], np.where(write, writer, t1))
    t2 = np.where(write | spawn, -1, t2)
    row = np.arange(n, dtype=np.uint64)
    base = np.uint64(b.chunk) << np.uint64(32)
    return {
        "t1": t1,
        "t2": t2,
        "key1": base | (row << np.uint64(1)),
        "key2": np.where(t2 >= 0, base | (row << np.uint64(1)) | np.uint64(1), np.uint64(0)),
        "res1": _lognormal_where(rng, tables.tool_result, t1),
        "res2": _lognormal_where(rng, tables.tool_result, t2),
        "exec1": _lognormal_where(rng, tables.tool_exec, t1),
        "exec2": _lognormal_where(rng, tables.tool_exec, t2),
    }


def _pick_tool(rng: Rng, tables: Tables, agent: Array) -> Array:
    column = (rng.random(len(agent))[:, None] >= tables.agent_tool_cdf[agent]).sum(axis=1)
    return np.asarray(tables.agent_tool_ids[agent, column])


def _lognormal(rng: Rng, params: Array) -> Array:
    """Integer draws (at least 1) from per-row (log median, sigma) pairs."""
    values = np.exp(params[:, 0] + params[:, 1] * rng.standard_normal(len(params)))
    return np.maximum(np.round(values), 1).astype(np.int64)


def _lognormal_where(rng: Rng, table: Array, index: Array, mask: Array | None = None) -> Array:
    """Draws from ``table[index]`` on the rows where ``mask`` holds (default: index >= 0), 0 elsewhere."""
    rows = np.flatnonzero(index >= 0 if mask is None else mask)
    out = np.zeros(len(index), dtype=np.int64)
    out[rows] = _lognormal(rng, table[index[rows]])
    return out


def _redundant(b: _Build) -> dict[str, Array]:
    """Copy one read-only tool use of a session onto a later read-only tool step (no write between)."""
    sessions, sess, t1 = b.sessions, b["sess"], b["t1"]
    read = ~b["sub"] & b["tool"] & ~b["spawn"] & (t1 >= 0) & ~b.tables.tool_writes[np.maximum(t1, 0)]
    rank = segments.exclusive_cumsum(read.astype(np.int64), b["first"])
    count = np.bincount(sess[read], minlength=len(sessions))
    eligible = (count >= 2) & ~sessions.cut
    sessions.eligible[:, COL["redundant_tool_call"]] = eligible
    on = eligible & (b.rng.random(len(sessions)) < b.config.waste.redundant_tool_call)
    p = np.floor(b.rng.random(len(sessions)) * (count - 1)).astype(np.int64)
    q = p + 1 + np.floor(b.rng.random(len(sessions)) * (count - 1 - p)).astype(np.int64)
    src = read & on[sess] & (rank == p[sess])
    dst = np.flatnonzero(read & on[sess] & (rank == q[sess]))
    src_of = np.full(len(sessions), -1)
    src_of[sess[src]] = np.flatnonzero(src)
    redundant_src = np.full(len(sess), -1)
    redundant_src[dst] = src_of[sess[dst]]
    copied = {name: b[name].copy() for name in ("t1", "key1", "res1")}
    for column in copied.values():
        column[dst] = column[redundant_src[dst]]
    return {**copied, "redundant_src": redundant_src}


def _tokens(b: _Build) -> dict[str, Array]:
    """System prompt, visible output, reasoning and filler of each step; sub-agent answers delegated."""
    rng, tables, sessions = b.rng, b.tables, b.sessions
    agent, sess, sub, tool = b["agent"], b["sess"], b["sub"], b["tool"]
    n = len(agent)
    answer = _lognormal_where(rng, tables.agent_answer_out, agent, ~tool)
    out = answer + _lognormal_where(rng, tables.agent_tool_call_out, agent, tool)
    thinks = np.flatnonzero(tables.route_reasoning[b["route"]])
    noise = np.exp(0.6 * rng.standard_normal(len(thinks))) * np.where(tool[thinks], 0.5, 1.0)
    reasoning = np.zeros(n, dtype=np.int64)
    reasoning[thinks] = np.round(out[thinks] * tables.agent_reasoning_ratio[agent[thinks]] * noise)
    filler = np.where(~sub & ~tool & sessions.filler[sess], _filler(rng, n), 0)
    max_out = np.where(sub, _sub_max_out(tables, b["route"], agent), sessions.max_out[sess])
    cap = np.floor(OUTPUT_ROOM * max_out).astype(np.int64)
    out = np.minimum(out + filler, cap)
    filler = np.minimum(filler, out)
    clean = np.minimum(reasoning, cap - out)
    reasoning = np.minimum(np.where(sub, reasoning, _overthought(b, reasoning)), cap - out)
    out, reasoning = _truncated_needs(b, out, reasoning, max_out)
    sub_answers = sub & ~tool
    delegated = np.bincount(sess[sub_answers], weights=out[sub_answers], minlength=len(sessions))
    return {
        "system": np.where(sub, _sub_system(rng, tables, agent, sess, len(sessions)), sessions.system[sess]),
        "tool_defs": tables.agent_tool_defs[agent],
        "res1": np.where(b["spawn"], np.round(delegated[sess]).astype(np.int64), b["res1"]),
        "out": out,
        "reasoning": reasoning,
        "reasoning_clean": np.minimum(clean, reasoning),
        "filler": filler,
        "max_out": max_out,
    }


def _overthought(b: _Build, reasoning: Array) -> Array:
    """Reasoning of over-planning sessions: their factor times the agent's typical for the step's kind.

    The typical is the median visible output of the kind of step (a tool call or an answer) times
    the agent's reasoning ratio, halved on tool steps as the clean reasoning is.
    """
    tables, agent, tool = b.tables, b["agent"], b["tool"]
    factor = b.sessions.overthink[b["sess"]]
    median = np.exp(np.where(tool, tables.agent_tool_call_out[agent, 0], tables.agent_answer_out[agent, 0]))
    typical = median * tables.agent_reasoning_ratio[agent] * np.where(tool, 0.5, 1.0)
    return np.where(factor > 0, np.round(typical * factor).astype(np.int64), reasoning)


def _filler(rng: Rng, n: int) -> Array:
    return np.asarray(rng.integers(*FILLER_OPENING, size=n) + rng.integers(*FILLER_CLOSING, size=n))


def _sub_max_out(tables: Tables, route: Array, agent: Array) -> Array:
    asked = np.where(
        tables.route_reasoning[route],
        tables.agent_max_output_reasoning[agent],
        tables.agent_max_output[agent],
    )
    return np.asarray(np.minimum(asked, tables.model_max_output[tables.route_model[route]]))


def _sub_system(rng: Rng, tables: Tables, agent: Array, sess: Array, n_sessions: int) -> Array:
    """A sub-agent's system prompt: its agent's median with a jitter drawn once per session."""
    sigma, lo, hi = SYSTEM_SPREAD
    jitter = np.clip(np.exp(sigma * rng.standard_normal(n_sessions)), lo, hi)
    return np.asarray(np.round(tables.agent_system[agent] * jitter[sess]).astype(np.int64))


def _truncated_needs(b: _Build, out: Array, reasoning: Array, max_out: Array) -> tuple[Array, Array]:
    """A step that gets truncated needed more than its limit: its final answer is that long."""
    truncated = ~b["sub"] & (b["k"] == b.sessions.trunc_at[b["sess"]])
    capped = np.minimum(reasoning, np.floor(0.3 * max_out).astype(np.int64))
    need = np.round(max_out * b.rng.uniform(*TRUNCATED_NEED, size=len(out))).astype(np.int64)
    return np.where(truncated, need - capped, out), np.where(truncated, capped, reasoning)


def _user_turns(b: _Build) -> dict[str, Array]:
    """The newest turn: a request, a human's follow-up, or the results of the previous step's tools."""
    tables, agent, first = b.tables, b["agent"], b["first"]
    fresh = first | ~tables.agent_conversation[agent]
    prev = np.maximum(segments.previous(first), 0)
    follow = _lognormal_where(b.rng, tables.agent_followup, agent, ~fresh & b["human_next"][prev])
    turn = b["res1"][prev] + b["res2"][prev] + follow
    user = np.where(fresh, _lognormal_where(b.rng, tables.agent_first_user, agent, fresh), turn)
    room = tables.model_ctx[b["model"]] // 2 - b["system"] - b["tool_defs"]
    return {"user": np.minimum(user, np.maximum(room, 16))}


def _history(b: _Build) -> dict[str, Array]:
    """History before the newest turn: raw growth, the agent's compaction, the context window.

    A history that would not fit the context window stops at the smallest room the step and the
    later steps of its run leave, so it never shrinks without a compaction.
    """
    tables, sessions, sess, sub, first = b.tables, b.sessions, b["sess"], b["sub"], b["first"]
    conversation = tables.agent_conversation[b["agent"]]
    raw = segments.exclusive_cumsum(np.where(conversation, b["user"] + b["out"], 0), first)
    at, keep = tables.agent_prune_at[b["agent"]], tables.agent_prune_keep[b["agent"]]
    clean = np.where(raw <= at, raw, keep + (raw - at) % np.maximum(at - keep, 1))
    eligible = (np.bincount(sess[~sub & (raw > at)], minlength=len(sessions)) > 0) & ~sessions.cut
    sessions.eligible[:, COL["unpruned_history"]] = eligible
    unpruned = eligible & (b.rng.random(len(sessions)) < b.config.waste.unpruned_history)
    hist = np.where(unpruned[sess] & ~sub, raw, clean)
    limit = tables.model_ctx[b["model"]] - b["system"] - b["tool_defs"] - b["user"] - 2 * b["max_out"] - 64
    hist = np.minimum(hist, np.maximum(_room_ahead(limit, b["last"]), 0))
    prev = np.maximum(segments.previous(first), 0)
    cont = ~first & conversation & (hist == hist[prev] + b["user"][prev] + b["out"][prev])
    return {
        "hist": hist,
        "hist_clean": np.minimum(clean, hist),
        "cont": cont,
        "msgs": _messages(b, conversation, raw, hist),
        "unpruned": unpruned,
    }


def _room_ahead(room: Array, last: Array) -> Array:
    """For every row, the smallest ``room`` of that row and the later rows of its segment."""
    if not len(room):
        return room
    reverse = room[::-1].astype(np.int64)
    offset = (np.cumsum(last[::-1]) - 1).astype(np.int64) << np.int64(40)
    return np.asarray((np.minimum.accumulate(reverse - offset) + offset)[::-1])


def _messages(b: _Build, conversation: Array, raw: Array, hist: Array) -> Array:
    """Messages sent: system, the history's messages (scaled down after compaction), the newest turn."""
    first = b["first"]
    newest = (b["t1"] >= 0).astype(np.int64) + (b["t2"] >= 0) + b["human_next"]
    prev = np.maximum(segments.previous(first), 0)
    newest_in = np.where(first, 1, newest[prev])
    total = 2 + segments.exclusive_cumsum(1 + newest, first)
    kept = np.where(raw > 0, hist / np.maximum(raw, 1), 1.0)
    history_msgs = np.round((total - 1 - newest_in) * kept).astype(np.int64)
    return np.asarray(np.where(conversation, 1 + history_msgs + newest_in, 2))
