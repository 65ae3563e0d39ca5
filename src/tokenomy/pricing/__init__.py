"""Pricing: usage -> Cost in exact Decimal, with dated prices, provenance and overrides.

Prices come from the ``genai-prices`` catalog (bundled, offline) and an optional local
overrides file. Every Cost names its source and price date; a call that cannot be priced is
unpriced, with the reason, never $0. See docs/pricing.md.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from tokenomy.pricing.pricer import STANDARD_TIERS, PriceKey, Pricer, Unpriced
from tokenomy.pricing.rates import Overhead, Rates, Tier
from tokenomy.schema import Cost, Usage

__all__ = [
    "STANDARD_TIERS",
    "Overhead",
    "PriceKey",
    "Pricer",
    "Rates",
    "Tier",
    "Unpriced",
    "default_pricer",
    "price",
]


@lru_cache(maxsize=1)
def default_pricer() -> Pricer:
    """The Pricer with no overrides, built once (the catalog loads on first use)."""
    return Pricer()


def price(
    usage: Usage,
    *,
    model: str,
    provider: str | None = None,
    at: date | datetime | None = None,
    batch: bool = False,
    service_tier: str | None = None,
    latency_ms: float | None = None,
) -> Cost:
    """Price a usage with the catalog alone (see :meth:`Pricer.price_usage`)."""
    return default_pricer().price_usage(
        usage,
        model=model,
        provider=provider,
        at=at,
        batch=batch,
        service_tier=service_tier,
        latency_ms=latency_ms,
    )
