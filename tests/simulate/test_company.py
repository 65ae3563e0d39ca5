"""The company's profiles are consistent, and the traffic they produce has plausible sizes."""

from __future__ import annotations

import json
import re
import statistics

import pytest

from tests.conftest import real_data_path
from tests.simulate import patterns
from tests.simulate.conftest import Sim
from tokenomy.schema import Status
from tokenomy.simulate import catalog, company

AGENTS = {a.name: a for a in company.AGENTS}
TOOLS = {t.name: t for t in company.TOOLS}


def test_features_name_known_agents_tools_models_and_teams() -> None:
    teams = {t.name for t in company.TEAMS}
    for feature in company.FEATURES:
        assert feature.team in teams
        assert feature.agent in AGENTS
        assert abs(sum(feature.environments) - 1.0) < 1e-9
        for route in (*feature.routes, feature.sub_route):
            if route is not None:
                spec = catalog.model(route.model)
                assert route.long_cache <= catalog.provider_rule(spec.provider).explicit_cache
        if feature.sub_agent:
            assert feature.sub_agent in AGENTS
            assert company.delegate_tool(feature.sub_agent) in TOOLS
    for agent in company.AGENTS:
        assert all(name in TOOLS and not TOOLS[name].writes for name, _ in agent.tools)
        assert agent.write_tool is None or TOOLS[agent.write_tool].writes
        assert agent.prune_at is None or agent.prune_keep < agent.prune_at
        assert 1 <= agent.steps[0] <= agent.steps[1]


def test_every_session_belongs_to_a_team_user_and_environment(default_sim: Sim) -> None:
    features = {f.name: f for f in company.FEATURES}
    for call in default_sim.calls:
        a = call.attribution
        feature = features[a.feature or ""]
        assert (a.team, a.intent) == (feature.team, feature.intent)
        assert a.environment in company.ENVIRONMENTS
        assert a.user is not None
        assert a.user.startswith(feature.users[0].rstrip("-"))
        assert a.api_key_id == company.api_key_id(feature.team, a.environment or "")
        assert re.fullmatch(r"key_[0-9a-f]{12}", a.api_key_id or "")
    envs = {c.attribution.environment for c in default_sim.calls}
    assert envs == set(company.ENVIRONMENTS)


def _median(values: list[int]) -> float:
    return float(statistics.median(values))


@pytest.mark.parametrize(
    ("intent", "prompt", "answer"),
    [
        ("classify", (200, 2_000), (3, 40)),
        ("extract", (1_000, 12_000), (100, 1_500)),
        ("summarize", (1_500, 20_000), (100, 1_200)),
        ("chat_support", (2_500, 9_000), (30, 400)),
        ("web_research", (3_000, 40_000), (40, 2_500)),
        ("code_review", (6_000, 60_000), (40, 3_000)),
        ("plan", (1_000, 10_000), (500, 5_000)),
        ("analyze", (2_000, 30_000), (60, 2_000)),
    ],
)
def test_token_sizes_per_intent_are_in_plausible_ranges(
    default_sim: Sim, intent: str, prompt: tuple[int, int], answer: tuple[int, int]
) -> None:
    calls = [c for c in default_sim.calls if c.attribution.intent == intent and c.status is Status.OK]
    main = [c for c in calls if patterns.is_main(c)]
    assert prompt[0] <= _median([c.usage.input_total or 0 for c in main]) <= prompt[1]
    assert answer[0] <= _median([c.usage.output_visible or 0 for c in main]) <= answer[1]


def test_reasoning_tokens_come_only_from_reasoning_routes(default_sim: Sim) -> None:
    thinking = {(f.name, r.model) for f in company.FEATURES for r in f.routes if r.thinking}
    for call in default_sim.calls:
        reasoning = call.usage.reasoning or 0
        spec = catalog.model(call.request_model or "")
        if reasoning:
            assert spec.reasoning or (call.attribution.feature, spec.name) in thinking
        elif call.status is Status.OK and spec.reasoning:
            assert call.finish_reason == "length" or (call.usage.output_visible or 0) <= 1


@pytest.mark.realdata
def test_coding_agent_steps_look_like_real_agent_runs(default_sim: Sim) -> None:
    folder = real_data_path("trajectories", "openhands-sdk-llm-logs")
    real_prompt: list[int] = []
    real_out: list[int] = []
    for path in sorted(folder.glob("llm-logs__*.json")):
        usage = json.loads(path.read_text())["response"]["usage"]
        real_prompt.append(usage["prompt_tokens"])
        real_out.append(usage["completion_tokens"])
    assert len(real_prompt) >= 3
    assert real_prompt == sorted(real_prompt), "a real run's prompt grows"
    reviews = [c for c in default_sim.calls if c.attribution.agent == "code_reviewer" and c.tool_uses]
    sim_first = _median([c.usage.input_total or 0 for c in reviews if c.step == 1])
    sim_out = _median([c.usage.output_visible or 0 for c in reviews])
    assert 1 / 3 < sim_first / real_prompt[0] < 3, (sim_first, real_prompt[0])
    assert 1 / 3 < sim_out / statistics.median(real_out) < 3, (sim_out, real_out)
