"""The planner: ground-truth token counts, caps, reasoning, tool calls and timing."""

from __future__ import annotations

from typing import Any

import pytest

from tokenomy.mockllm.config import Latency, Lengths, MockLLMConfig
from tokenomy.mockllm.counting import Counter, cheap_count
from tokenomy.mockllm.overrides import NONE, Overrides
from tokenomy.mockllm.plan import Planner, Timing
from tokenomy.mockllm.prompt import Prompt, Segment, Tool


def planner(**config: Any) -> Planner:
    return Planner(MockLLMConfig(**config), Counter(cheap_count))


def prompt(model: str = "gpt-4o", **fields: Any) -> Prompt:
    segments = (Segment("s", "You are terse.", 3), Segment("u", "What is a token?", 3))
    return Prompt(model=model, segments=segments, **fields)


def test_input_is_the_sum_of_segment_counts_and_their_framing() -> None:
    plan = planner().plan(prompt(), NONE, "req", 1, 100)
    assert plan.input_tokens == (4 + 3) + (5 + 3)  # "You are terse." is 4, "What is a token?" 5
    assert plan.uncached_input == plan.input_tokens
    assert (plan.request_id, plan.created, plan.seq) == ("req", 100, 1)


def test_output_uses_the_configured_length_and_the_header_override() -> None:
    p = planner(output_tokens=Lengths.fixed(40))
    assert p.plan(prompt(), NONE, "a", 1, 0).output_tokens == 40
    assert p.plan(prompt(), Overrides(output_tokens=3), "b", 2, 0).output_tokens == 3


def test_max_tokens_caps_output_and_marks_the_plan() -> None:
    plan = planner(output_tokens=Lengths.fixed(40)).plan(prompt(max_output=10), NONE, "a", 1, 0)
    assert (plan.output_tokens, plan.capped) == (10, True)
    plan = planner(output_tokens=Lengths.fixed(40)).plan(prompt(max_output=40), NONE, "a", 1, 0)
    assert (plan.output_tokens, plan.capped) == (40, False)


def test_reasoning_models_reason_and_the_cap_covers_reasoning_first() -> None:
    p = planner(output_tokens=Lengths.fixed(20), reasoning_tokens=Lengths.fixed(50))
    plan = p.plan(prompt("o3"), NONE, "a", 1, 0)
    assert (plan.reasoning_tokens, plan.output_tokens, plan.total_output) == (50, 20, 70)
    capped = p.plan(prompt("o3", max_output=60), NONE, "b", 2, 0)
    assert (capped.reasoning_tokens, capped.output_tokens, capped.capped) == (50, 10, True)
    assert p.plan(prompt("gpt-4o"), NONE, "c", 3, 0).reasoning_tokens == 0
    assert p.plan(prompt("o3", reasoning=False), NONE, "d", 4, 0).reasoning_tokens == 0
    assert p.plan(prompt("gpt-4o"), Overrides(reasoning_tokens=9), "e", 5, 0).reasoning_tokens == 9


def test_thinking_budget_caps_reasoning() -> None:
    p = planner(reasoning_tokens=Lengths.fixed(5000))
    plan = p.plan(
        prompt("claude-sonnet-4-6", reasoning=True, thinking_budget=1024, max_output=8000), NONE, "a", 1, 0
    )
    assert plan.reasoning_tokens == 1024


TOOLS = (Tool("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}}), Tool("other"))


@pytest.mark.parametrize(
    ("choice", "header", "auto", "called"),
    [
        ("none", None, True, None),
        ("auto", None, False, None),
        ("auto", None, True, "get_weather"),
        ("auto", "1", False, "get_weather"),
        ("auto", "other", False, "other"),
        ("required", None, False, "get_weather"),
        ("other", None, False, "other"),
    ],
)
def test_tool_calls_follow_tool_choice_headers_and_config(
    choice: str, header: str | None, auto: bool, called: str | None
) -> None:
    p = planner(auto_tool_call=auto)
    plan = p.plan(prompt(tools=TOOLS, tool_choice=choice), Overrides(tool_call=header), "a", 7, 0)
    assert (plan.tool_call.name if plan.tool_call else None) == called


def test_tool_call_output_tokens_are_the_count_of_its_name_and_arguments() -> None:
    plan = planner().plan(prompt(tools=TOOLS, tool_choice="required"), NONE, "a", 7, 0)
    assert plan.tool_call is not None
    assert plan.tool_call.arguments == '{"city":"mock"}'
    assert plan.tool_call.call_id == "call_mock0000000000000007"
    assert (
        plan.output_tokens
        == plan.tool_call.tokens
        == cheap_count("get_weather") + cheap_count('{"city":"mock"}')
    )


def test_embeddings_produce_no_output() -> None:
    plan = planner(output_tokens=Lengths.fixed(30)).plan(prompt(generates=False), NONE, "a", 1, 0)
    assert (plan.output_tokens, plan.reasoning_tokens) == (0, 0)


def test_same_seed_same_lengths_and_reset_restarts_the_sequence() -> None:
    config = {"output_tokens": Lengths.lognormal(100, 1.0), "seed": 5}
    a, b = planner(**config), planner(**config)
    first = [a.plan(prompt(), NONE, "x", i, 0).output_tokens for i in range(20)]
    assert first == [b.plan(prompt(), NONE, "x", i, 0).output_tokens for i in range(20)]
    assert len(set(first)) > 5
    a.reset()
    assert [a.plan(prompt(), NONE, "x", i, 0).output_tokens for i in range(20)] == first


def test_cache_header_off_bypasses_the_prompt_cache() -> None:
    long = Prompt(model="gpt-4o", segments=(Segment("sys", "word " * 1500),))
    p = planner()
    p.plan(long, NONE, "a", 1, 0)
    assert p.plan(long, NONE, "b", 2, 0).cache_read == 1408
    assert p.plan(long, Overrides(cache=False), "c", 3, 0).cache_read == 0


def test_timing_from_config_and_overrides() -> None:
    p = planner(latency=Latency(ttft_ms=100, inter_chunk_ms=10))
    timing = p.plan(prompt(), NONE, "a", 1, 0).timing
    assert timing == Timing(0.1, 0.01, None)
    assert timing.before_body(5) == pytest.approx(0.14)
    assert timing.gap_for(5) == pytest.approx(0.01)
    forced = p.plan(prompt(), Overrides(latency_ms=500, ttft_ms=100), "b", 2, 0).timing
    assert forced.before_body(5) == pytest.approx(0.5)
    assert forced.gap_for(5) == pytest.approx(0.1)
    assert not forced.instant
    assert Timing().instant
