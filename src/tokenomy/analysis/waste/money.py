"""Dollars of waste, from the prices a call was actually billed at.

Most waste is a number of tokens on one side of a call (system prompt, history, filler, reasoning).
Its dollars are those tokens at the call's own average rate for that side: the side's cost divided
by its tokens, so cache reads, long-context tiers and batch discounts the call really got are
respected. Waste that depends on other prices (a cache read instead of fresh input, a smaller
model, batch pricing) uses the catalog's rates through the pricer. Money is Decimal, rounded to the
store's 12 places; an unpriced call gives None, never $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from tokenomy.pricing import Rates
from tokenomy.schema import Usage

QUANTUM: Final = Decimal(1).scaleb(-12)
ZERO: Final = Decimal(0)


def quantize(amount: Decimal) -> Decimal:
    """``amount`` rounded half-even to the store's 12 decimal places."""
    return amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def rate(cost: Decimal | None, tokens: int | None) -> Decimal | None:
    """Dollars per token: ``cost / tokens``, or None when either is unknown or there are no tokens."""
    if cost is None or not tokens:
        return None
    return Decimal(cost) / Decimal(tokens)


def dollars(tokens: int, per_token: Decimal | None) -> Decimal | None:
    """``tokens`` at ``per_token`` dollars, or None when the rate is unknown."""
    if per_token is None:
        return None
    return quantize(per_token * tokens)


def input_rate(row: Mapping[str, Any]) -> Decimal | None:
    """The average rate the call paid per input token (cache reads and writes included)."""
    return rate(row.get("cost_in"), row.get("input_total"))


def output_rate(row: Mapping[str, Any]) -> Decimal | None:
    """The average rate the call paid per output token (visible and reasoning)."""
    return rate(row.get("cost_out"), row.get("output_total"))


PREFIX_ORDER: Final = ("cache_read", "cache_write_5m", "cache_write_1h", "input_uncached")
"""The order a prompt's tokens fill the input buckets: a cache reads the front of the prompt, a write
stores what follows the read, and the rest is fresh input."""


def span_cost(row: Mapping[str, Any], start: int, end: int) -> Decimal | None:
    """What the call paid for the prompt tokens at positions ``start`` to ``end`` (from its front).

    A prompt's front is what a cache reads, so tokens there are priced at the rate their bucket
    actually paid (:data:`PREFIX_ORDER`), not at the call's average input rate, which a long fresh
    history would inflate. Positions past the buckets' counts take the average input rate; None when
    the call is unpriced.
    """
    average = input_rate(row)
    if average is None:
        return None
    paid = ZERO
    pos = 0
    for bucket in PREFIX_ORDER:
        count = int(row.get(bucket) or 0)
        low, high = max(start, pos), min(end, pos + count)
        if high > low:
            rate = bucket_rate(row, bucket)  # a rate of $0 (free cache reads) is paid, not missing
            paid += (rate if rate is not None else average) * (high - low)
        pos += count
    if end > max(start, pos):
        paid += average * (end - max(start, pos))
    return quantize(paid)


def bucket_rate(row: Mapping[str, Any], bucket: str) -> Decimal | None:
    """The rate the call paid per token of one bucket (``cost_<bucket> / <bucket>``)."""
    return rate(row.get(f"cost_{bucket}"), row.get(bucket))


def catalog_rate(rates: Rates, bucket: str, input_tokens: int) -> Decimal:
    """The catalog's per-token rate of ``bucket`` for a call with ``input_tokens`` input (its tier)."""
    return rates.tier_for(input_tokens).tokens[bucket]


def day_of(at: datetime | date | None) -> date | None:
    """The UTC day a call's prices are taken from, as :meth:`tokenomy.pricing.Pricer.price` does.

    Pricing what-ifs at the day (not the instant) also lets the pricer reuse its resolved rates.
    """
    if at is None:
        return None
    return at.date() if isinstance(at, datetime) else at


def usage_of(row: Mapping[str, Any]) -> Usage:
    """The call's usage rebuilt from its bucket columns and its audio, image and video tokens (to
    price it on another model, or as a batch: those tokens keep their own rates)."""
    return Usage.of(
        input_uncached=row.get("input_uncached"),
        cache_read=row.get("cache_read"),
        cache_write_5m=row.get("cache_write_5m"),
        cache_write_1h=row.get("cache_write_1h"),
        output_visible=row.get("output_visible"),
        reasoning=row.get("reasoning"),
        input_total=row.get("input_total"),
        output_total=row.get("output_total"),
        modalities=dict(row.get("modalities") or ()),
    )


def total(amounts: list[Decimal | None]) -> Decimal | None:
    """The sum of the known amounts; None when none is known."""
    known = [a for a in amounts if a is not None]
    return sum(known, ZERO) if known else None
