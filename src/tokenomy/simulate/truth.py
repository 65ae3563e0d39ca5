"""The ground truth: every injected waste instance, found in the generated calls themselves.

Each instance is one session and one category, with the calls involved (in order) and the
tokens wasted; detectors are scored against it. The rules below read the final call columns,
so an instance is recorded exactly when the data shows the pattern:

* ``retry_loop``: every attempt of a step re-asked after an unusable answer; wasted = tokens of
  the superseded attempts. Steps retried after a provider error billed nothing and are left out.
* ``truncation_rerun``: the call cut at ``max_output_tokens`` and its re-run; wasted = the cut call.
* ``redundant_tool_call``: the call that first used the tool and the one that repeated it (same
  name and ``args_hash``); wasted = the repeated result's tokens; ``charge_ids`` lists a paid
  tool's duplicate charge.
* ``filler``: the calls with ``filler_tokens``; wasted = their sum.
* ``bloated_system_prompt``: the main agent's calls; wasted = system tokens above the agent's
  median, summed over the calls that were processed.
* ``missed_caching``: the main agent's calls that re-sent the stable prefix within the cache
  lifetime with no cache read; wasted = that prefix (system prompt and tools), per call.
* ``oversized_model``: the main agent's calls on the top model for a simple intent; wasted = all
  their tokens (the fix is a cheaper model, so the dollar waste is the price difference).
* ``unpruned_history``: the calls whose history exceeds what the agent's compaction would have
  kept (re-asks with a correction note, whose history is the whole earlier prompt, are left out);
  wasted = the excess, summed.
* ``tool_call_proliferation``: the main agent's calls of the steps past the most a normal run of
  the agent takes; wasted = all their tokens.
* ``over_planning``: the main agent's successful calls whose reasoning exceeds what the step would
  have used; wasted = that excess reasoning, summed.
* ``missed_batch``: a background job's successful main calls sent without the batch API; wasted =
  all their tokens (the fix is batch pricing, so the dollar waste is the discount).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import catalog
from tokenomy.simulate.attempts import OK
from tokenomy.simulate.batch import Chunk
from tokenomy.simulate.ids import CALL_PREFIX, CHARGE_PREFIX, SESSION_PREFIX
from tokenomy.simulate.options import CATEGORIES
from tokenomy.simulate.plan import COL
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]


@dataclass(slots=True)
class Tally:
    """Running counts per waste category."""

    eligible: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    instances: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    wasted_tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        for counts, more in (
            (self.eligible, other.eligible),
            (self.instances, other.instances),
            (self.wasted_tokens, other.wasted_tokens),
        ):
            for category, n in more.items():
                counts[category] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Counts by category: eligible sessions, instances and wasted tokens."""
        return {
            c: {
                "eligible": self.eligible[c],
                "instances": self.instances[c],
                "wasted_tokens": self.wasted_tokens[c],
            }
            for c in CATEGORIES
        }


def entries(tables: Tables, chunk: Chunk, tally: Tally) -> Iterator[dict[str, Any]]:
    """The waste instances of a chunk, as truth-file objects; updates ``tally``."""
    for category in CATEGORIES:
        tally.eligible[category] += int(chunk.sessions.eligible[:, COL[category]].sum())
    finders = (
        _retries,
        _truncations,
        _redundant,
        _filler,
        _bloated,
        _missed_caching,
        _oversized,
        _unpruned,
        _proliferation,
        _over_planning,
        _missed_batch,
    )
    for finder in finders:
        for entry in finder(tables, chunk):
            tally.instances[entry["category"]] += 1
            tally.wasted_tokens[entry["category"]] += entry["wasted_tokens"]
            yield entry


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))


def dumps(entry: dict[str, Any]) -> str:
    """One truth line (compact JSON and a newline)."""
    return _ENCODER.encode(entry) + "\n"


def _tokens(chunk: Chunk) -> Array:
    calls = chunk.calls
    total = calls.input_total + calls.output_visible + calls.reasoning
    return np.where(calls.usage_known, total, 0)


def _entry(chunk: Chunk, category: str, group: Array, wasted: int, detail: dict[str, Any]) -> dict[str, Any]:
    calls = chunk.calls
    return {
        "type": "waste",
        "category": category,
        "session_id": SESSION_PREFIX + _text(calls.session_id, int(group[0])),
        "call_ids": [CALL_PREFIX + i for i in calls.call_id[group].astype(str).tolist()],
        "wasted_tokens": int(wasted),
        "detail": detail,
    }


def _text(values: Array, i: int) -> str:
    """Entry ``i`` of a bytes column as text."""
    return bytes(values[i]).decode("ascii")


def _groups(chunk: Chunk, mask: Array) -> list[Array]:
    """Indexes of the masked calls, one array per session (calls are sorted by session)."""
    index = np.flatnonzero(mask)
    if not len(index):
        return []
    sessions = chunk.calls.sess[index]
    bounds = [0, *(np.flatnonzero(sessions[1:] != sessions[:-1]) + 1).tolist(), len(index)]
    return [index[a:b] for a, b in itertools.pairwise(bounds)]


def _main_step_calls(chunk: Chunk, step_of_session: Array) -> Array:
    calls = chunk.calls
    return np.asarray(~calls.sub & (chunk.steps.k[calls.row] == step_of_session[calls.sess]))


def _retries(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    tokens = _tokens(chunk)
    for group in _groups(chunk, _main_step_calls(chunk, chunk.sessions.retry_at)):
        if chunk.sessions.retry_error[chunk.calls.sess[group[0]]]:
            continue  # retried after a provider error: nothing billed, not waste
        detail = {"attempts": len(group), "trigger": "invalid_output"}
        yield _entry(chunk, "retry_loop", group, tokens[group[:-1]].sum(), detail)


def _truncations(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    tokens = _tokens(chunk)
    for group in _groups(chunk, _main_step_calls(chunk, chunk.sessions.trunc_at)):
        detail = {"max_output_tokens": [int(v) for v in chunk.calls.max_out[group]]}
        yield _entry(chunk, "truncation_rerun", group, tokens[group[:-1]].sum(), detail)


def _final_call_of_row(chunk: Chunk) -> Array:
    calls = chunk.calls
    final = np.full(len(chunk.steps), -1)
    final[calls.row[calls.final]] = np.flatnonzero(calls.final)
    return final


def _redundant(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    steps, calls, charges = chunk.steps, chunk.calls, chunk.charges
    final = _final_call_of_row(chunk)
    first_slot = charges.slot == 0
    charge_of_call = dict(
        zip(charges.call[first_slot].tolist(), np.flatnonzero(first_slot).tolist(), strict=True)
    )
    for dst_row in np.flatnonzero(steps.redundant_src >= 0).tolist():
        src, dst = int(final[steps.redundant_src[dst_row]]), int(final[dst_row])
        paid = charge_of_call.get(dst)
        detail = {"tool": tables.names.tools[int(calls.t1[dst])], "args_hash": _text(calls.h1, dst)}
        entry = _entry(chunk, "redundant_tool_call", np.array([src, dst]), int(steps.res1[dst_row]), detail)
        entry["charge_ids"] = [] if paid is None else [CHARGE_PREFIX + _text(charges.charge_id, paid)]
        yield entry


def _filler(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    filler = chunk.calls.filler
    for group in _groups(chunk, filler > 0):
        yield _entry(chunk, "filler", group, filler[group].sum(), {"filler_tokens": int(filler[group].sum())})


def _bloated(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    calls = chunk.calls
    median = tables.agent_system[calls.agent]
    excess = np.where(calls.status == OK, calls.system - median, 0)
    for group in _groups(chunk, ~calls.sub & chunk.sessions.bloated[calls.sess]):
        i = group[0]
        detail = {"system_tokens": int(calls.system[i]), "typical_system_tokens": int(median[i])}
        yield _entry(chunk, "bloated_system_prompt", group, excess[group].sum(), detail)


def _missed_caching(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    calls = chunk.calls
    stable = calls.system + calls.tool_defs
    minimum = tables.model_min_cache[calls.model]
    explicit = tables.model_explicit_cache[calls.model]
    missed = ~calls.sub & (calls.status == OK) & explicit & calls.resent_within_ttl
    missed &= (stable >= minimum) & (calls.cache_read == 0)
    for group in _groups(chunk, missed):
        i = group[0]
        detail = {
            "stable_prefix_tokens": int(stable[i]),
            "min_cacheable_tokens": int(minimum[i]),
            "cache_ttl_ms": int(tables.model_cache_ttl[calls.model[i]]),
        }
        yield _entry(chunk, "missed_caching", group, stable[group].sum(), detail)


def _oversized(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    calls = chunk.calls
    tokens = _tokens(chunk)
    for group in _groups(chunk, ~calls.sub & chunk.sessions.oversized[calls.sess]):
        i = group[0]
        intent = tables.names.intents[int(tables.feature_intent[calls.feature[i]])]
        detail = {"model": catalog.TOP_MODEL, "intent": intent}
        yield _entry(chunk, "oversized_model", group, tokens[group].sum(), detail)


def _unpruned(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    steps, calls = chunk.steps, chunk.calls
    excess = (steps.hist - steps.hist_clean)[calls.row]
    over = ~calls.sub & (excess > 0) & ~calls.corrected
    for group in _groups(chunk, over):
        processed = np.where(calls.status[group] == OK, excess[group], 0)
        detail = {"prune_at_tokens": int(tables.agent_prune_at[calls.agent[group[0]]])}
        yield _entry(chunk, "unpruned_history", group, processed.sum(), detail)


def _proliferation(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    steps, calls = chunk.steps, chunk.calls
    most = tables.agent_steps[calls.agent, 1]
    past = ~calls.sub & chunk.sessions.prolific[calls.sess] & (steps.k[calls.row] >= most)
    tokens = _tokens(chunk)
    for group in _groups(chunk, past):
        sess = int(calls.sess[group[0]])
        detail = {"steps": int(chunk.sessions.n_main[sess]), "typical_most_steps": int(most[group[0]])}
        yield _entry(chunk, "tool_call_proliferation", group, tokens[group].sum(), detail)


def _over_planning(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    calls = chunk.calls
    excess = np.where(calls.status == OK, calls.reasoning - chunk.steps.reasoning_clean[calls.row], 0)
    over = ~calls.sub & (chunk.sessions.overthink[calls.sess] > 0) & (excess > 0)
    for group in _groups(chunk, over):
        factor = float(chunk.sessions.overthink[calls.sess[group[0]]])
        detail = {"factor": round(factor, 2), "reasoning_tokens": int(calls.reasoning[group].sum())}
        yield _entry(chunk, "over_planning", group, excess[group].sum(), detail)


def _missed_batch(tables: Tables, chunk: Chunk) -> Iterator[dict[str, Any]]:
    calls = chunk.calls
    tokens = _tokens(chunk)
    unbatched = ~calls.sub & chunk.sessions.unbatched[calls.sess] & ~calls.batch & (calls.status == OK)
    for group in _groups(chunk, unbatched):
        detail = {"model": tables.names.models[int(calls.model[group[0]])]}
        yield _entry(chunk, "missed_batch", group, tokens[group].sum(), detail)
