"""Independent waste finders over the written records, to check the truth file against the data.

Each finder reads only what a detector could read (the native records, and public facts: the
providers' cache rules and the company's documented profiles) and returns the instances it
sees as ``{(session_id, (call_id, ...))}``. The simulator's truth must match them exactly: every
entry shows its pattern, and no clean session shows one. Over-planning is checked differently
(see :data:`FINDERS`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from tokenomy.schema import Call, Status
from tokenomy.simulate import catalog, company

Instance = tuple[str, tuple[str, ...]]
Sessions = dict[str, list[Call]]

_AGENTS = {a.name: a for a in company.AGENTS}
_FEATURES = {f.name: f for f in company.FEATURES}


def is_main(call: Call) -> bool:
    """The call is made by its feature's main agent (not a sub-agent)."""
    feature = _FEATURES[call.attribution.feature or ""]
    return call.attribution.agent == feature.agent


def runs(calls: list[Call]) -> list[list[Call]]:
    """A session's calls split into agent runs (main agent, sub-agent), each in step order."""
    by_agent: dict[str | None, list[Call]] = {}
    for call in calls:
        by_agent.setdefault(call.attribution.agent, []).append(call)
    return list(by_agent.values())


def _tokens(call: Call) -> int:
    return call.usage.total or 0


def retry_loops(sessions: Sessions) -> set[Instance]:
    """Consecutive calls of a run re-sending the same prompt (or it plus a note), not after a truncation,
    whose superseded attempts billed tokens.

    A retry after a provider error that billed nothing is not waste.
    """
    chains: set[Instance] = set()
    by_id = {c.id: c for calls in sessions.values() for c in calls}
    for sid, calls in sessions.items():
        for run in runs(calls):
            chain: list[Call] = []
            for a, b in itertools.pairwise(run):
                if reasked(a, b) and a.finish_reason != "length":
                    chain = chain or [a]
                    chain.append(b)
                    continue
                if chain:
                    chains.add((sid, tuple(c.id for c in chain)))
                chain = []
            if chain:
                chains.add((sid, tuple(c.id for c in chain)))
    return {(sid, ids) for sid, ids in chains if any(_tokens(by_id[i]) for i in ids[:-1])}


def reasked(a: Call, b: Call) -> bool:
    """``b`` re-sends ``a``'s prompt: identical, or with a note after it, or after the same history again."""
    _, tools, history, whole = a.prefix_hashes
    return (
        b.prefix_hashes[3] == whole
        or b.prefix_hashes[2] == whole
        or (b.prefix_hashes[2] == history and history != tools)
    )


def _corrected(a: Call, b: Call) -> bool:
    """``b`` re-asks ``a``'s step with a correction note after the earlier prompt."""
    return reasked(a, b) and b.prefix_hashes[3] != a.prefix_hashes[3]


def truncation_reruns(sessions: Sessions) -> set[Instance]:
    """A call cut at its limit followed by the same prompt with a larger limit."""
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        for run in runs(calls):
            for a, b in itertools.pairwise(run):
                bigger = (b.max_output_tokens or 0) > (a.max_output_tokens or 0)
                if a.finish_reason == "length" and b.prefix_hashes == a.prefix_hashes and bigger:
                    found.add((sid, (a.id, b.id)))
    return found


def redundant_tool_calls(sessions: Sessions) -> set[Instance]:
    """The same tool with the same arguments twice in a session, with no state-changing tool between."""
    writes = {t.name for t in company.TOOLS if t.writes}
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        seen: dict[tuple[str, str | None], str] = {}
        for call in calls:
            for use in call.tool_uses:
                if use.name in writes:
                    seen.clear()
                    continue
                key = (use.name, use.args_hash)
                if key in seen:
                    found.add((sid, (seen[key], call.id)))
                seen.setdefault(key, call.id)
    return found


def filler(sessions: Sessions) -> set[Instance]:
    """Calls that measured filler tokens."""
    return _each_session(sessions, lambda c: (c.filler_tokens or 0) > 0)


def bloated_system_prompts(sessions: Sessions) -> set[Instance]:
    """Main-agent calls whose system prompt is over three times the agent's median."""
    return _each_session(
        sessions,
        lambda c: is_main(c) and (c.system_tokens or 0) > 3 * _AGENTS[c.attribution.agent or ""].system,
    )


def oversized_models(sessions: Sessions) -> set[Instance]:
    """Main-agent calls of a simple intent sent to the most expensive model."""
    return _each_session(
        sessions,
        lambda c: (
            is_main(c)
            and c.attribution.intent in company.SIMPLE_INTENTS
            and c.request_model == catalog.TOP_MODEL
        ),
    )


def unpruned_histories(sessions: Sessions) -> set[Instance]:
    """Main-agent calls whose history is past the size at which the agent compacts it.

    A re-ask with a correction note is left out: its history is the whole earlier prompt.
    """
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        main = [c for c in calls if is_main(c)]
        prune_at = _AGENTS[main[0].attribution.agent or ""].prune_at if main else None
        reasks = {b.id for a, b in itertools.pairwise(main) if _corrected(a, b)}
        ids = tuple(
            c.id
            for c in main
            if prune_at is not None and (c.history_tokens or 0) > prune_at and c.id not in reasks
        )
        if ids:
            found.add((sid, ids))
    return found


def cache_ttl_ms(call: Call) -> int:
    """The cache lifetime the call's route uses (Anthropic routes may ask for the 1-hour cache)."""
    feature = _FEATURES[call.attribution.feature or ""]
    routes = [
        r for r in (*feature.routes, feature.sub_route) if r is not None and r.model == call.request_model
    ]
    rule = catalog.provider_rule(call.provider or "")
    if rule.explicit_cache and routes and routes[0].long_cache:
        return catalog.LONG_CACHE_TTL_MS
    return rule.cache_ttl_ms


def missed_caching(sessions: Sessions) -> set[Instance]:
    """Explicit-cache calls re-sending a cacheable stable prefix within the cache lifetime, with no read."""
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        hits: list[str] = []
        for run in runs(calls):
            previous: Call | None = None
            for call in run:
                if call.status is not Status.OK:
                    continue
                if previous is not None and _missed(previous, call):
                    hits.append(call.id)
                previous = call
        if hits:
            found.add((sid, tuple(hits)))
    return found


def _missed(previous: Call, call: Call) -> bool:
    if not is_main(call) or not catalog.provider_rule(call.provider or "").explicit_cache:
        return False
    assert previous.started_at is not None
    assert call.started_at is not None
    gap_ms = (call.started_at - previous.started_at).total_seconds() * 1000
    stable = (call.system_tokens or 0) + (call.tool_def_tokens or 0)
    minimum = catalog.model(call.request_model or "").min_cache_tokens
    return gap_ms <= cache_ttl_ms(call) and stable >= minimum and call.usage.cache_read == 0


def proliferating_runs(sessions: Sessions) -> set[Instance]:
    """Main-agent runs with more steps than the agent's most: the calls of the steps past it.

    A step is a call that does not re-ask the previous one (a retry or a re-run is the same step).
    """
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        main = [c for c in calls if is_main(c)]
        if not main:
            continue
        most = _AGENTS[main[0].attribution.agent or ""].steps[1]
        step, past = 0, []
        for previous, call in zip([None, *main[:-1]], main, strict=True):
            if previous is not None and not reasked(previous, call):
                step += 1
            if step >= most:
                past.append(call.id)
        if past:
            found.add((sid, tuple(past)))
    return found


def unbatched_background(sessions: Sessions) -> set[Instance]:
    """Successful main-agent calls of a background job (every route batched) sent without batching."""
    return _each_session(
        sessions,
        lambda c: (
            is_main(c)
            and company.is_background(_FEATURES[c.attribution.feature or ""])
            and not c.batch
            and c.status is Status.OK
        ),
    )


def typical_reasoning(call: Call) -> float:
    """The agent's typical reasoning for the call's kind of step (documented profile medians)."""
    agent = _AGENTS[call.attribution.agent or ""]
    if call.finish_reason == "tool_calls":
        return agent.tool_call_out.median * agent.reasoning_ratio * 0.5
    return agent.answer_out.median * agent.reasoning_ratio


def _each_session(sessions: Sessions, hit: Callable[[Call], bool]) -> set[Instance]:
    found: set[Instance] = set()
    for sid, calls in sessions.items():
        ids = tuple(c.id for c in calls if hit(c))
        if ids:
            found.add((sid, ids))
    return found


FINDERS: dict[str, Callable[[Sessions], set[Instance]]] = {
    "retry_loop": retry_loops,
    "redundant_tool_call": redundant_tool_calls,
    "filler": filler,
    "bloated_system_prompt": bloated_system_prompts,
    "missed_caching": missed_caching,
    "oversized_model": oversized_models,
    "truncation_rerun": truncation_reruns,
    "unpruned_history": unpruned_histories,
    "tool_call_proliferation": proliferating_runs,
    "missed_batch": unbatched_background,
}
"""Exact finders. Over-planning has none: a clean call's reasoning has a wide natural spread, so the
records alone cannot separate every over-planning call from a clean outlier (its tests check the
truth's calls against the agent's typical reasoning instead)."""
