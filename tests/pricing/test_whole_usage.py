"""A usage with all six buckets is priced directly, with exactly the Cost the general bucket rules give."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tokenomy.pricing import Pricer
from tokenomy.pricing.compute import cost_of, general_cost, whole_usage_cost
from tokenomy.pricing.rates import Rates
from tokenomy.schema import BUCKETS, Cost, Kind, Quality, Usage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"
DAY = date(2025, 6, 1)


def six(*counts: int, **extra: Any) -> Usage:
    """A usage with the six buckets in their order (BUCKETS), and ``extra`` fields."""
    fields: dict[str, Any] = dict(zip(BUCKETS, counts, strict=True))
    return Usage.of(**fields, **extra)


USAGES = [
    six(1200, 300, 0, 0, 80, 0),
    six(5, 0, 40, 7, 0, 900),
    six(0, 0, 0, 0, 0, 0),
    six(250_000, 0, 0, 0, 10, 3),
    six(12, 0, 0, 0, 4, 0, kind=Kind.COUNTED),
    # the general rules: unknown buckets, flags, server tools, negative counts, mismatched totals
    Usage(input_total=100, output_total=20),
    Usage.of(input_uncached=10, cache_read=None, output_visible=5, reasoning=None),
    six(10, 0, 0, 0, 5, 0, server_tools={"web_searches": 2}),
    Usage(input_uncached=-1, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=1, reasoning=0),
    Usage(1, 0, 0, 0, 1, 0, input_total=5, output_total=1),
    six(3, 0, 0, 0, 1, 0, quality=(Quality.TOTAL_MISMATCH,)),
]
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku"),
    ("google", "gemini-1.5-pro"),
    ("vllm", "llama-3.1-70b-instruct"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme:x1"),
]


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer(EXAMPLE)


def _rates(pricer: Pricer) -> list[Rates]:
    found = []
    for (provider, model), tier, batch in itertools.product(
        MODELS, (None, "flex", "priority"), (False, True)
    ):
        rates = pricer.resolve(model=model, provider=provider, at=DAY, batch=batch, service_tier=tier)
        if rates is not None:
            found.append(rates)
    return found


def test_the_direct_cost_equals_the_general_rules_whenever_it_applies(pricer: Pricer) -> None:
    rates_list = _rates(pricer)
    assert len(rates_list) >= 20  # catalog, override, modifier and overhead rates all resolved
    assert any(r.overhead.per_second for r in rates_list)
    assert any(len(r.tiers) > 1 for r in rates_list)
    applied = 0
    for rates, usage, latency in itertools.product(rates_list, USAGES, (None, 0.4, 1234.5678)):
        fast = whole_usage_cost(usage, rates, latency)
        if fast is not None:
            applied += 1
            general = general_cost(usage, rates, latency_ms=latency)
            assert fast == general
            assert _digits(fast) == _digits(general)  # the same exponents, not only equal values
            assert cost_of(usage, rates, latency_ms=latency) == fast
    assert applied == len(rates_list) * 5 * 3  # exactly the five whole usages take the direct path


def _digits(cost: Cost) -> list[str]:
    """The cost's amounts as text (``==`` on Decimals ignores their exponent; the text does not)."""
    return [str(cost.total), *(f"{k}={v}" for k, v in cost.parts.items())]


def test_the_general_cases_are_left_to_the_general_rules(pricer: Pricer) -> None:
    rates = _rates(pricer)[0]
    assert [whole_usage_cost(u, rates, None) is None for u in USAGES[5:]] == [True] * 6


def test_cost_of_equals_the_general_rules_for_every_usage(pricer: Pricer) -> None:
    for rates, usage in itertools.product(_rates(pricer), USAGES):
        assert cost_of(usage, rates, latency_ms=812.25) == general_cost(usage, rates, latency_ms=812.25)


def test_an_override_and_a_date_change_are_seen() -> None:
    usage = USAGES[0]
    plain, overridden = Pricer(), Pricer(EXAMPLE)
    kwargs: dict[str, Any] = {"model": "claude-sonnet-4-5", "provider": "anthropic"}
    in_2025 = overridden.price_usage(usage, at=date(2025, 6, 1), **kwargs)
    in_2026 = overridden.price_usage(usage, at=date(2026, 6, 1), **kwargs)
    assert in_2025.source == "override:overrides.toml#acme-anthropic-2025"
    assert in_2025.total == Decimal("0.0041565")  # 1200 x 2.55 + 300 x 0.255 + 80 x 12.75, per million
    assert in_2026.source != in_2025.source
    assert in_2026.total != in_2025.total
    assert in_2026 == plain.price_usage(usage, at=date(2026, 6, 1), **kwargs)
    assert plain.price_usage(usage, at=date(2025, 6, 1), **kwargs) != in_2025
