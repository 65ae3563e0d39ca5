"""Resolved prices for one provider, model, day and request context: per-token rates in Decimal.

A :class:`Rates` is what every pricing path reduces to, whether the prices came from the
genai-prices catalog or from a local overrides file: per-token dollar rates for the six usage
buckets, per long-context tier, plus per-use server-tool prices, the per-request fee and the
configured per-request overhead. Rates are kept per token with at most 18 decimal places, which
is exact for any $/MTok price with at most 12, and is what the store's price table holds, so the
in-process and the SQL computations multiply the very same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Final

from tokenomy.schema import BUCKETS, MODAL_KEYS

MONEY_PLACES: Final = 12
"""Decimal places of money amounts (the store's DECIMAL(38, 12))."""
RATE_PLACES: Final = 18
"""Decimal places of per-token rates (the price table's DECIMAL(38, 18))."""
MONEY_QUANTUM: Final = Decimal(1).scaleb(-MONEY_PLACES)
RATE_QUANTUM: Final = Decimal(1).scaleb(-RATE_PLACES)
PER_MTOK: Final = Decimal(1_000_000)
ZERO: Final = Decimal(0)
_WIDE: Final = Context(prec=80)
"""Rate arithmetic in 80 digits, whatever the thread's context: exact before the one rounding."""


def per_token(per_mtok: Decimal) -> Decimal:
    """A $/MTok price as a per-token rate, rounded to :data:`RATE_PLACES` when it has more."""
    return quantize_rate(_WIDE.divide(per_mtok, PER_MTOK))


def quantize_rate(value: Decimal) -> Decimal:
    """``value`` rounded (half-even) to :data:`RATE_PLACES` decimal places."""
    return value.quantize(RATE_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE)


@dataclass(frozen=True, slots=True)
class Tier:
    """The prices that apply when a call's input tokens exceed ``start``.

    Attributes:
        start: The tier applies when total input tokens > start; the base tier has -1.
        tokens: Per-token rate ($) for each of the six buckets.
        server_tools: Price per use ($) by genai-prices unit (``web_searches``...).
        request_fee: The catalog's fee per request ($).
        modal: Per-token rate ($) of non-text tokens, keyed like :attr:`Usage.modalities
            <tokenomy.schema.Usage.modalities>` (``input_uncached.audio``...), only where the
            price differs from being text: a key that is absent is charged its bucket's rate.
    """

    start: int
    tokens: Mapping[str, Decimal]
    server_tools: Mapping[str, Decimal] = field(default_factory=dict)
    request_fee: Decimal = ZERO
    modal: Mapping[str, Decimal] = field(default_factory=dict)

    def per_mtok(self, bucket: str) -> Decimal:
        """The rate of ``bucket`` (or of a modality key) in $/MTok, for display."""
        rate = self.modal_rate(bucket) if "." in bucket else self.tokens[bucket]
        return (rate * PER_MTOK).normalize()

    def modal_rate(self, key: str) -> Decimal:
        """The per-token rate of the modality key ``<bucket>.<modality>``: its own, else its bucket's."""
        rate = self.modal.get(key)
        return rate if rate is not None else self.tokens[key.partition(".")[0]]

    def scaled(self, factor: Decimal) -> Tier:
        """This tier with every token rate multiplied by ``factor`` (a batch or tier modifier)."""
        scaled = {bucket: quantize_rate(_WIDE.multiply(rate, factor)) for bucket, rate in self.tokens.items()}
        modal = {key: quantize_rate(_WIDE.multiply(rate, factor)) for key, rate in self.modal.items()}
        return Tier(self.start, scaled, self.server_tools, self.request_fee, modal)


@dataclass(frozen=True, slots=True)
class Overhead:
    """Per-request costs outside the provider's bill (TCPR), from the overrides file.

    Attributes:
        per_request: Fixed $ per request (fixed infrastructure cost plus egress).
        per_second: $ per second of latency (GPU time of a self-hosted model).
        source: ``override:<file>#<entry>`` of the entry that set it, or None.
    """

    per_request: Decimal = ZERO
    per_second: Decimal = ZERO
    source: str | None = None

    @property
    def per_microsecond(self) -> Decimal:
        """$ per microsecond of latency (exact: ``per_second`` has at most 12 decimal places)."""
        return self.per_second.scaleb(-6)

    def amount(self, latency_us: int | None) -> Decimal:
        """The overhead of one request that took ``latency_us`` microseconds (None: unknown, 0 s)."""
        return self.per_request + self.per_microsecond * (latency_us or 0)


NO_OVERHEAD: Final = Overhead()

TIME_OF_DAY: Final = "prices vary by time of day"
"""Said by the note of Rates looked up for a day whose prices change during it (the peak taken)."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Everything needed to price a usage for one provider, model, day and request context.

    Attributes:
        provider: The provider id the prices belong to.
        model: The priced model (the catalog's model id, or the override entry's model).
        price_date: The date whose prices these are.
        source: ``genai-prices@<version>``, ``override:<file>#<entry>``, or both joined by ``+``
            when an override modifier was applied to catalog prices.
        tiers: Ascending by ``start``; the first is the base tier (start -1).
        overhead: Configured per-request overhead.
        context_window: The model's context window in tokens, when known.
        assumed: Buckets whose rate had to be assumed (no 1h cache-write price, no output price...),
            each with the assumption; a cost is estimated when one of them has tokens.
        notes: Assumptions that hold whatever the usage (a time-of-day price taken at its peak,
            a batch price the catalog lacks...); non-empty notes make every cost estimated.
        remarks: Facts worth stating that are not assumptions (a model the catalog lists as free).
        by_time_of_day: A day's rates whose prices change during it (the peak taken, as a note says:
            :data:`TIME_OF_DAY`); a call's start time gives its exact rate.
    """

    provider: str
    model: str
    price_date: date
    source: str
    tiers: tuple[Tier, ...]
    overhead: Overhead = NO_OVERHEAD
    context_window: int | None = None
    assumed: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()
    by_time_of_day: bool = False

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0].start != -1:
            raise ValueError("Rates need a base tier with start -1")
        for tier in self.tiers:
            missing = set(BUCKETS) - set(tier.tokens)
            if missing:
                raise ValueError(f"tier {tier.start} has no rate for {', '.join(sorted(missing))}")
            stray = set(tier.modal) - set(MODAL_KEYS)
            if stray:
                raise ValueError(f"tier {tier.start} has modality rates for unknown keys {sorted(stray)}")

    @property
    def estimated(self) -> bool:
        """True when a price was assumed whatever the usage."""
        return bool(self.notes)

    def tier_for(self, input_tokens: int) -> Tier:
        """The tier for a call with ``input_tokens`` total input tokens (highest start below it)."""
        chosen = self.tiers[0]
        for tier in self.tiers[1:]:
            if input_tokens > tier.start:
                chosen = tier
        return chosen
