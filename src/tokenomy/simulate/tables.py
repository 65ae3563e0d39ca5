"""The company and the model catalog compiled into numpy lookup arrays.

The engine works on whole batches of sessions and calls at once: a property of a call's model,
agent or route is one fancy-indexing away (``tables.model_ctx[call_model]``). This module
builds those arrays once per run, plus the string tables the writer renders from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import catalog, company

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class Names:
    """String tables, indexed like the arrays of :class:`Tables`."""

    models: tuple[str, ...]
    response_models: tuple[str, ...]
    providers: tuple[str, ...]
    model_provider: tuple[str, ...]
    model_api: tuple[str, ...]
    agents: tuple[str, ...]
    tools: tuple[str, ...]
    teams: tuple[str, ...]
    projects: tuple[str, ...]
    features: tuple[str, ...]
    intents: tuple[str, ...]
    environments: tuple[str, ...]
    actions: tuple[str, ...]
    user_prefixes: tuple[str, ...]
    error_types: tuple[str, ...]
    charge_kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tables:
    """Lookup arrays over models (m), routes (r), agents (a), tools (t) and features (f)."""

    names: Names
    # models
    model_provider: Array
    model_ctx: Array
    model_max_output: Array
    model_reasoning: Array
    model_min_cache: Array
    model_ttft: Array
    model_tps: Array
    model_prefill: Array
    model_explicit_cache: Array
    model_writes_billed: Array
    model_cache_ttl: Array
    model_granularity: Array
    provider_error_status: Array  # provider x 3
    provider_error_type: Array  # provider x 3, index into names.error_types
    # routes
    route_model: Array
    route_reasoning: Array
    route_long_cache: Array
    route_batch: Array
    oversized_route: int
    # agents
    agent_system: Array
    agent_tool_defs: Array
    agent_first_user: Array  # a x 2 (log median, sigma)
    agent_followup: Array  # a x 2; median 0 when no human follows up
    agent_tool_call_out: Array
    agent_answer_out: Array
    agent_reasoning_ratio: Array
    agent_steps: Array  # a x 2
    agent_conversation: Array
    agent_tool_cdf: Array  # a x k
    agent_tool_ids: Array  # a x k
    agent_write_tool: Array
    agent_write_share: Array
    agent_answer_share: Array
    agent_max_output: Array
    agent_max_output_reasoning: Array
    agent_prune_at: Array
    agent_prune_keep: Array
    agent_human_gap: Array  # a x 2
    agent_streamed: Array
    # tools
    tool_result: Array  # t x 2
    tool_exec: Array  # t x 2
    tool_writes: Array
    tool_charge: Array  # index into names.charge_kinds, -1 for none
    charge_price_e8: Array
    # features
    feature_team: Array
    feature_intent: Array
    feature_agent: Array
    feature_sub_agent: Array
    feature_sub_share: Array
    feature_sub_route: Array
    feature_sub_tool: Array
    feature_route_cdf: Array  # f x k
    feature_route_ids: Array  # f x k
    feature_weight: Array
    feature_schedule: Array  # index into SCHEDULES
    feature_user_prefix: Array
    feature_user_count: Array
    feature_action: Array
    feature_success: Array
    feature_simple: Array
    feature_prose: Array
    feature_env_cdf: Array  # f x 3
    feature_oversized_route: Array
    feature_background: Array


SCHEDULES = ("business", "extended", "nightly")


def _log_dist(d: company.Dist) -> tuple[float, float]:
    return (float(np.log(d.median)), d.sigma)


def _cdf(weights: list[float], width: int) -> list[float]:
    total = sum(weights)
    out: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out + [2.0] * (width - len(out))


def _index(values: list[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


def build() -> Tables:
    """Compile the company and the catalog into lookup arrays."""
    routes = _routes()
    names = _names()
    return Tables(
        names=names,
        **_model_arrays(names),
        **_route_arrays(routes),
        **_agent_arrays(),
        **_tool_arrays(names),
        **_feature_arrays(routes, names),
    )


def _routes() -> list[company.Route]:
    found: dict[company.Route, None] = {}
    for f in company.FEATURES:
        for r in f.routes:
            found[r] = None
        if f.sub_route is not None:
            found[f.sub_route] = None
    found[company.OVERSIZED_ROUTE] = None
    for f in company.FEATURES:
        found[company.oversized_route(f)] = None
    return list(found)


def _names() -> Names:
    providers = tuple(catalog.PROVIDERS)
    errors = sorted({e.error_type for p in catalog.PROVIDERS.values() for e in p.errors} | {"timeout"})
    return Names(
        models=tuple(m.name for m in catalog.MODELS),
        response_models=tuple(m.response_model for m in catalog.MODELS),
        providers=providers,
        model_provider=tuple(m.provider for m in catalog.MODELS),
        model_api=tuple(m.api for m in catalog.MODELS),
        agents=tuple(a.name for a in company.AGENTS),
        tools=tuple(t.name for t in company.TOOLS),
        teams=tuple(t.name for t in company.TEAMS),
        projects=tuple(t.project for t in company.TEAMS),
        features=tuple(f.name for f in company.FEATURES),
        intents=tuple(sorted({f.intent for f in company.FEATURES})),
        environments=company.ENVIRONMENTS,
        actions=tuple(f.action for f in company.FEATURES),
        user_prefixes=tuple(sorted({f.users[0] for f in company.FEATURES})),
        error_types=tuple(errors),
        charge_kinds=tuple(company.CHARGE_KINDS),
    )


def _model_arrays(names: Names) -> dict[str, Any]:
    ms = catalog.MODELS
    rules = [catalog.PROVIDERS[m.provider] for m in ms]
    provider_index = _index(list(names.providers))
    error_index = _index(list(names.error_types))
    statuses = [[e.http_status for e in catalog.PROVIDERS[p].errors] for p in names.providers]
    types = [[error_index[e.error_type] for e in catalog.PROVIDERS[p].errors] for p in names.providers]
    return {
        "model_provider": np.array([provider_index[m.provider] for m in ms]),
        "model_ctx": np.array([m.context_window for m in ms], dtype=np.int64),
        "model_max_output": np.array([m.max_output for m in ms], dtype=np.int64),
        "model_reasoning": np.array([m.reasoning for m in ms]),
        "model_min_cache": np.array([m.min_cache_tokens for m in ms], dtype=np.int64),
        "model_ttft": np.array([m.ttft_ms for m in ms]),
        "model_tps": np.array([m.output_tps for m in ms]),
        "model_prefill": np.array([m.prefill_tps for m in ms]),
        "model_explicit_cache": np.array([r.explicit_cache for r in rules]),
        "model_writes_billed": np.array([r.cache_writes_billed for r in rules]),
        "model_cache_ttl": np.array([r.cache_ttl_ms for r in rules], dtype=np.int64),
        "model_granularity": np.array([r.cache_granularity for r in rules], dtype=np.int64),
        "provider_error_status": np.array(statuses, dtype=np.int64),
        "provider_error_type": np.array(types, dtype=np.int64),
    }


def _route_arrays(routes: list[company.Route]) -> dict[str, Any]:
    models = [catalog.MODEL_INDEX[r.model] for r in routes]
    return {
        "route_model": np.array(models, dtype=np.int64),
        "route_reasoning": np.array(
            [catalog.MODELS[m].reasoning or r.thinking for m, r in zip(models, routes, strict=True)]
        ),
        "route_long_cache": np.array([r.long_cache for r in routes]),
        "route_batch": np.array([r.batch for r in routes]),
        "oversized_route": routes.index(company.OVERSIZED_ROUTE),
    }


def _agent_arrays() -> dict[str, Any]:
    agents = company.AGENTS
    tools = _index([t.name for t in company.TOOLS])
    width = max(1, *(len(a.tools) for a in agents))
    none = company.Dist(1.0, 0.0)
    return {
        "agent_system": np.array([a.system for a in agents], dtype=np.int64),
        "agent_tool_defs": np.array([a.tool_defs for a in agents], dtype=np.int64),
        "agent_first_user": np.array([_log_dist(a.first_user) for a in agents]),
        "agent_followup": np.array([_log_dist(a.followup_user or none) for a in agents]),
        "agent_tool_call_out": np.array([_log_dist(a.tool_call_out) for a in agents]),
        "agent_answer_out": np.array([_log_dist(a.answer_out) for a in agents]),
        "agent_reasoning_ratio": np.array([a.reasoning_ratio for a in agents]),
        "agent_steps": np.array([a.steps for a in agents], dtype=np.int64),
        "agent_conversation": np.array([a.conversation for a in agents]),
        "agent_tool_cdf": np.array([_cdf([w for _, w in a.tools] or [1.0], width) for a in agents]),
        "agent_tool_ids": np.array(
            [[tools[n] for n, _ in a.tools] + [-1] * (width - len(a.tools)) for a in agents], dtype=np.int64
        ),
        "agent_write_tool": np.array([tools[a.write_tool] if a.write_tool else -1 for a in agents]),
        "agent_write_share": np.array([a.write_share for a in agents]),
        "agent_answer_share": np.array([a.answer_share for a in agents]),
        "agent_max_output": np.array([a.max_output for a in agents], dtype=np.int64),
        "agent_max_output_reasoning": np.array([a.max_output_reasoning for a in agents], dtype=np.int64),
        "agent_prune_at": np.array([a.prune_at or 2**40 for a in agents], dtype=np.int64),
        "agent_prune_keep": np.array([a.prune_keep for a in agents], dtype=np.int64),
        "agent_human_gap": np.array([_log_dist(a.human_gap_ms or none) for a in agents]),
        "agent_streamed": np.array([a.streamed for a in agents]),
    }


def _tool_arrays(names: Names) -> dict[str, Any]:
    kinds = _index(list(names.charge_kinds))
    return {
        "tool_result": np.array([_log_dist(t.result) for t in company.TOOLS]),
        "tool_exec": np.array([_log_dist(t.exec_ms) for t in company.TOOLS]),
        "tool_writes": np.array([t.writes for t in company.TOOLS]),
        "tool_charge": np.array([kinds[t.charge] if t.charge else -1 for t in company.TOOLS]),
        "charge_price_e8": np.array([company.CHARGE_KINDS[k][2] for k in names.charge_kinds], dtype=np.int64),
    }


def _feature_arrays(routes: list[company.Route], names: Names) -> dict[str, Any]:
    fs = company.FEATURES
    agents = _index(list(names.agents))
    tools = _index(list(names.tools))
    route_ids = {r: i for i, r in enumerate(routes)}
    width = max(len(f.routes) for f in fs)
    return {
        "feature_team": np.array([names.teams.index(f.team) for f in fs]),
        "feature_intent": np.array([names.intents.index(f.intent) for f in fs]),
        "feature_agent": np.array([agents[f.agent] for f in fs]),
        "feature_sub_agent": np.array([agents[f.sub_agent] if f.sub_agent else -1 for f in fs]),
        "feature_sub_share": np.array([f.sub_share for f in fs]),
        "feature_sub_route": np.array([route_ids[f.sub_route] if f.sub_route else -1 for f in fs]),
        "feature_sub_tool": np.array(
            [tools[company.delegate_tool(f.sub_agent)] if f.sub_agent else -1 for f in fs]
        ),
        "feature_route_cdf": np.array([_cdf([r.weight for r in f.routes], width) for f in fs]),
        "feature_route_ids": np.array(
            [[route_ids[r] for r in f.routes] + [-1] * (width - len(f.routes)) for f in fs], dtype=np.int64
        ),
        "feature_weight": np.array([f.weight for f in fs]),
        "feature_schedule": np.array([SCHEDULES.index(f.schedule) for f in fs]),
        "feature_user_prefix": np.array([names.user_prefixes.index(f.users[0]) for f in fs]),
        "feature_user_count": np.array([f.users[1] for f in fs], dtype=np.int64),
        "feature_action": np.arange(len(fs)),
        "feature_success": np.array([f.success for f in fs]),
        "feature_simple": np.array([f.intent in company.SIMPLE_INTENTS for f in fs]),
        "feature_prose": np.array([f.intent in company.PROSE_INTENTS for f in fs]),
        "feature_env_cdf": np.array([_cdf(list(f.environments), 3) for f in fs]),
        "feature_oversized_route": np.array([route_ids[company.oversized_route(f)] for f in fs]),
        "feature_background": np.array([company.is_background(f) for f in fs]),
    }
