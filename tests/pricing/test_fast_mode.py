"""Anthropic's fast mode: the service tier ``fast`` is priced at the catalog's speed=fast variant."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tokenomy.pricing import Pricer
from tokenomy.schema import Usage
from tokenomy.usage import extract

DAY = date(2026, 6, 1)
USAGE = Usage.of(
    input_uncached=1000,
    cache_read=5000,
    cache_write_5m=1000,
    cache_write_1h=2000,
    output_visible=500,
    reasoning=0,
)


def test_fast_mode_costs_the_fast_mode_rates() -> None:
    cost = Pricer().price_usage(
        USAGE, model="claude-opus-4-8", provider="anthropic", at=DAY, service_tier="fast"
    )
    # Opus 4.8 fast mode, per MTok: $10 input, $1 read, $12.50 5m write, $20 1h write, $50 output
    assert cost.total == Decimal("0.010") + Decimal("0.005") + Decimal("0.0125") + Decimal("0.040") + Decimal(
        "0.025"
    )
    assert (cost.estimated, cost.reason) == (False, None)
    standard = Pricer().price_usage(USAGE, model="claude-opus-4-8", provider="anthropic", at=DAY)
    assert standard.total == Decimal("0.04625")


def test_fast_mode_without_a_catalog_price_is_estimated() -> None:
    cost = Pricer().price_usage(
        USAGE, model="claude-opus-4-6", provider="anthropic", at=DAY, service_tier="fast"
    )
    assert cost.total == Decimal("0.04625")
    assert cost.estimated
    assert cost.reason == (
        "genai-prices@0.2.3 has no 'fast' service-tier price for claude-opus-4-6: standard rates used"
    )


def test_a_fast_mode_response_is_priced_as_fast_mode() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 500, "service_tier": "standard", "speed": "fast"}
    body = {"type": "message", "model": "claude-opus-4-8", "content": [{"type": "text", "text": "ok"}]}
    e = extract({**body, "usage": usage})
    assert e.service_tier == "fast"
    cost = Pricer().price_usage(
        e.usage, model="claude-opus-4-8", provider="anthropic", at=DAY, service_tier="fast"
    )
    assert cost.total == Decimal("0.010") + Decimal("0.025")
    assert extract({**body, "usage": {**usage, "speed": "standard"}}).service_tier == "standard"
