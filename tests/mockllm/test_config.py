"""MockLLMConfig and its value types: parsing, validation, draws."""

from __future__ import annotations

import random
import statistics
from typing import Any, cast

import pytest

from tokenomy.errors import ConfigError
from tokenomy.mockllm.config import Latency, Lengths, MockLLMConfig


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", Lengths.fixed(120)),
        ("fixed:7", Lengths.fixed(7)),
        ("lognormal:200,0.8", Lengths.lognormal(200, 0.8)),
        ("lognormal:50", Lengths.lognormal(50, 0.5)),
    ],
)
def test_lengths_parse_reads_every_form(text: str, expected: Lengths) -> None:
    assert Lengths.parse(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "fixed:x", "gamma:1,2", "lognormal:a,b"])
def test_lengths_parse_rejects_other_text_and_says_what_to_write(text: str) -> None:
    with pytest.raises(ConfigError, match="fixed:N or lognormal:MEAN,SIGMA"):
        Lengths.parse(text)


def test_fixed_length_always_draws_its_value() -> None:
    rng = random.Random(1)
    assert {Lengths.fixed(42).draw(rng) for _ in range(50)} == {42}
    assert Lengths.fixed(0).draw(rng) == 0


def test_lognormal_draws_have_the_requested_mean_and_spread() -> None:
    rng = random.Random(7)
    dist = Lengths.lognormal(300, 0.6, maximum=100_000)
    draws = [dist.draw(rng) for _ in range(20_000)]
    assert statistics.fmean(draws) == pytest.approx(300, rel=0.05)
    assert len(set(draws)) > 300  # genuinely spread out, not a constant


def test_lognormal_draws_are_clamped_and_reproducible() -> None:
    dist = Lengths.lognormal(1000, 2.0, minimum=5, maximum=50)
    rng = random.Random(3)
    draws = [dist.draw(rng) for _ in range(200)]
    assert min(draws) == 5  # sigma 2 puts plenty of draws below 5 and above 50
    assert max(draws) == 50
    a, b = random.Random(11), random.Random(11)
    assert [dist.draw(a) for _ in range(100)] == [dist.draw(b) for _ in range(100)]


def test_lengths_reject_negative_or_inverted_bounds() -> None:
    with pytest.raises(ConfigError, match="invalid"):
        Lengths.lognormal(10, 0.5, minimum=10, maximum=5)
    with pytest.raises(ConfigError, match="kind"):
        Lengths(cast(Any, "gamma"), 1.0)  # a wrong kind that only the run-time check can catch


def test_latency_rejects_negative_values() -> None:
    with pytest.raises(ConfigError, match=">= 0 ms"):
        Latency(ttft_ms=-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"error_rates": {200: 0.1}}, "not an HTTP error status"),
        ({"error_rates": {500: 1.5}}, "between 0 and 1"),
        ({"fault_rates": {"explode": 0.1}}, "unknown fault 'explode'"),
        ({"error_rates": {500: 0.6}, "fault_rates": {"cut": 0.6}}, "more than 1"),
        ({"chunk_tokens": 0}, "chunk_tokens"),
    ],
)
def test_config_rejects_bad_settings_with_a_clear_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MockLLMConfig(**kwargs)


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("claude-sonnet-4-6", 1024), ("claude-3-haiku-20240307", 2048), ("claude-haiku-4-5", 4096), ("x", 1024)],
)
def test_anthropic_minimum_cacheable_prefix_depends_on_the_model(model: str, tokens: int) -> None:
    assert MockLLMConfig().anthropic_min_cache(model) == tokens


def test_reasoning_models_are_recognised_by_prefix() -> None:
    config = MockLLMConfig()
    assert [
        config.is_reasoning_model(m) for m in ("o3", "o4-mini", "gpt-5-mini", "gpt-4o", "claude-opus-4-7")
    ] == [
        True,
        True,
        True,
        False,
        False,
    ]
