"""The integer plan of :func:`whole_usage_cost` gives the Cost the Decimal rules give, to the digit.

Rates are made by hand here, to reach what the catalog seldom has: rates with all 18 decimal places
(products that round, ties included), several tiers, request fees, notes and remarks, assumed
rates with and without tokens in their bucket, and rates the plan must leave to the decimal path.
"""

from __future__ import annotations

import itertools
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.pricing import compute
from tokenomy.pricing.compute import general_cost, whole_usage_cost
from tokenomy.pricing.rates import Overhead, Rates, Tier
from tokenomy.schema import BUCKETS, Cost, Kind, Usage

DAY = date(2026, 11, 23)


def _tier(start: int, *rates: str, fee: str = "0") -> Tier:
    return Tier(start, dict(zip(BUCKETS, map(Decimal, rates), strict=True)), request_fee=Decimal(fee))


BASE = _tier(-1, "1.5E-7", "7.5E-8", "1.875E-7", "3E-7", "6E-7", "6E-7")
ODD = _tier(-1, "0.000000123456789012", "0.000000000000000001", "0", "0.5", "0.000000333333333333", "1E-18")
"""Rates with all 18 places: most products round at the 12th, some exactly half way."""
HIGH = _tier(200_000, "3E-7", "1.5E-7", "3.75E-7", "6E-7", "1.2E-6", "1.2E-6", fee="0.0000000000004")
RATES = [
    Rates("openai", "m", DAY, "catalog@1", (BASE,)),
    Rates("openai", "m", DAY, "catalog@1", (ODD,), notes=("a noted price",), remarks=("free", "free")),
    Rates("google", "g", DAY, "catalog@1", (BASE, HIGH), remarks=("a remark",)),
    Rates(
        "openai",
        "m",
        DAY,
        "catalog@1",
        (_tier(-1, "1E-6", "1E-7", "1E-6", "1E-6", "2E-6", "2E-6", fee="0.0000015"),),
        assumed={
            "cache_write_1h": "1h writes at the input rate",
            "reasoning": "reasoning at the output rate",
        },
        notes=("peak price",),
        remarks=("peak price", "another"),
    ),
]
"""Rates the plan prices (fees, tiers, notes, remarks, assumed buckets)."""
DECIMAL_ONLY = [
    Rates("x", "m", DAY, "s", (BASE,), overhead=Overhead(per_request=Decimal("0.001"), source="o")),
    Rates("x", "m", DAY, "s", (_tier(-1, "1E-19", "0", "0", "0", "1E-7", "1E-7"),)),
    Rates("x", "m", DAY, "s", (_tier(-1, "1E+30", "0", "0", "0", "1E-7", "1E-7"),)),
    Rates("x", "m", DAY, "s", (_tier(-1, "-0", "0", "0", "0", "1E-7", "1E-7"),)),
]
"""Rates left to the decimal path: an overhead, a rate with 19 places, a huge rate, a signed zero."""


def _usages() -> list[Usage]:
    rng = random.Random(23)
    out = [
        Usage(0, 0, 0, 0, 0, 0),
        Usage.of(
            input_uncached=12,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=16,
            reasoning=0,
        ),
        Usage.of(
            input_uncached=1, cache_read=1, cache_write_5m=1, cache_write_1h=1, output_visible=1, reasoning=1
        ),
        Usage(5, 500, 0, 0, 7, 0, input_total=505, output_total=7),
        Usage(0, 0, 0, 9, 0, 3, kind=Kind.COUNTED),
        Usage(199_990, 10, 0, 0, 1, 0),  # on the long-context tier's start: not above it
        Usage(199_990, 11, 0, 0, 1, 0),  # one above
        Usage(10**29, 10**29, 0, 0, 10**29, 0),  # many tokens: still the plan's (below 10^30)
        Usage(10**30, 0, 0, 0, 1, 0),  # the decimal path's
    ]
    for _ in range(300):
        counts = [rng.choice((0, 0, rng.randrange(1, 50), rng.randrange(1, 10**7))) for _ in BUCKETS]
        fields: dict[str, Any] = dict(zip(BUCKETS, counts, strict=True))
        out.append(Usage.of(**fields))
    return out


USAGES = _usages()


def _digits(cost: Cost) -> tuple[object, ...]:
    """Everything in the cost, amounts as text (``==`` on Decimals ignores their exponent)."""
    parts = tuple((k, str(v), v.as_tuple()) for k, v in cost.parts.items())
    return (str(cost.total), parts, cost.currency, cost.source, cost.price_date, cost.estimated, cost.reason)


def _decimal(
    usage: Usage, rates: Rates, latency: float | None, monkeypatch: pytest.MonkeyPatch
) -> Cost | None:
    """The cost by the decimal path (no plan for any rates)."""
    with monkeypatch.context() as patched:
        patched.setattr(compute, "_plan", lambda rates: None)
        patched.setattr(compute, "_PLANS", {})
        return whole_usage_cost(usage, rates, latency)


@pytest.mark.parametrize("index", range(len(RATES)))
def test_the_plan_prices_as_the_decimal_rules_do(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rates = RATES[index]
    assert compute._plan(rates) is not None
    for usage, latency in itertools.product(USAGES, (None, 1234.5)):
        fast = whole_usage_cost(usage, rates, latency)
        assert fast is not None
        assert _digits(fast) == _digits(general_cost(usage, rates, latency_ms=latency))
        assert _digits(fast) == _digits(_decimal(usage, rates, latency, monkeypatch))  # type: ignore[arg-type]


def test_the_plan_rounds_half_away_from_zero() -> None:
    rates = Rates("x", "m", DAY, "s", (_tier(-1, "5E-13", "1.5E-12", "2.5E-12", "0", "4.99999E-13", "0"),))
    cost = whole_usage_cost(Usage(1, 1, 1, 0, 1, 0), rates, None)
    assert cost is not None
    assert [str(v) for v in cost.parts.values()] == ["1E-12", "2E-12", "3E-12", "0E-12"]
    assert str(cost.total) == "6E-12"


def test_an_assumed_rate_is_noted_only_when_its_bucket_has_tokens() -> None:
    rates = RATES[3]
    without = whole_usage_cost(Usage(1, 0, 0, 0, 1, 0), rates, None)
    with_both = whole_usage_cost(Usage(1, 0, 0, 2, 1, 3), rates, None)
    assert without is not None
    assert with_both is not None
    assert without.reason == "peak price; another"
    assert (
        with_both.reason == "peak price; 1h writes at the input rate; reasoning at the output rate; another"
    )
    assert with_both.estimated


@pytest.mark.parametrize("index", range(len(DECIMAL_ONLY)))
def test_rates_the_plan_cannot_hold_take_the_decimal_path(index: int) -> None:
    rates = DECIMAL_ONLY[index]
    assert compute._plan(rates) is None
    for usage in USAGES[:9]:
        fast = whole_usage_cost(usage, rates, 812.25)
        assert fast is not None
        assert _digits(fast) == _digits(general_cost(usage, rates, latency_ms=812.25))


def test_each_rates_object_has_its_own_plan() -> None:
    usage = USAGES[1]
    first = Rates("openai", "m", DAY, "catalog@1", (BASE,))
    second = Rates("openai", "m", DAY, "catalog@2", (ODD,))
    for _ in range(3):  # alternately, so each finds its own remembered plan
        for rates in (first, second):
            cost = whole_usage_cost(usage, rates, None)
            assert cost is not None
            assert _digits(cost) == _digits(general_cost(usage, rates))
    assert compute._PLANS[id(first)][0] is first


def test_the_plans_are_bounded() -> None:
    made = [Rates("openai", f"m{i}", DAY, "s", (BASE,)) for i in range(compute._PLANS_MAX + 10)]
    for rates in made:  # the real bound (a compiled module inlines it)
        assert whole_usage_cost(USAGES[1], rates, None) is not None
        assert 0 < len(compute._PLANS) <= compute._PLANS_MAX
