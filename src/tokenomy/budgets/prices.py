"""Worst-case prices for admission: per-token rates in integer pico-dollars, looked up once per model and day.

Admission must price a request before it runs, with what can be bounded: its counted input at
the highest rate it may be billed at (the uncached rate, or a cache write's when that costs more:
Anthropic bills 5-minute writes at 1.25 times and 1-hour writes at twice the input rate, and the
provider, not the guard, decides what is written) and its max_tokens at the output rate (the
highest of the visible-output, the reasoning and any audio, image or video output rate, since
hidden reasoning counts against max_tokens and what kind of output comes back is not known),
plus the per-request fee and overhead. :class:`PriceCards` resolves these
rates through :class:`tokenomy.pricing.Pricer` once per (provider, model, UTC day) and keeps
them as integers (pico-dollars per token, rounded up), so the ledger's arithmetic is integer
arithmetic. Dollar budgets count nano-dollars: a pico-dollar rate is exactly a nano-dollar
rate per 1000 tokens, which is what a ledger line's ``per_token_milli`` is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Final

from tokenomy.pricing import Pricer, Rates, default_pricer
from tokenomy.schema import MODALITIES

PICO: Final = Decimal(10) ** 12
NANO: Final = Decimal(10) ** 9
_LIMIT: Final = 4096
_INPUT_RATES: Final = ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
"""Every rate the counted input may be billed at (the provider decides what is cached)."""


@dataclass(frozen=True, slots=True)
class Card:
    """The worst-case rates of one model on one day, for a given input size (its price tier).

    Attributes:
        fixed_pico: Per-request fee plus configured per-request overhead, in pico-dollars.
        input_pico: Per input token at the uncached rate, in pico-dollars (rounded up): what the
            counted input costs when a settlement gives output tokens only.
        worst_input_pico: Per input token at the highest input rate (uncached, cache read or
            write), what a reservation holds: the request may write its whole input to the cache.
        output_pico: Per output token at the highest of the output, reasoning and modality
            output rates.
        context_window: The model's context window, when the catalog knows it.
        model: The priced model id.
        source: Where the prices came from (``genai-prices@...`` or an override).
    """

    fixed_pico: int
    input_pico: int
    output_pico: int
    context_window: int | None
    model: str
    source: str
    worst_input_pico: int

    def fixed_nano(self, input_tokens: int) -> int:
        """Nano-dollars the request may cost whatever its output (input at its worst rate, rounded up)."""
        return -(-(self.fixed_pico + input_tokens * self.worst_input_pico) // 1000)

    def pico(self, input_tokens: int, output_tokens: int) -> int:
        """Pico-dollars of ``input_tokens`` uncached input and ``output_tokens`` output (exact)."""
        return self.fixed_pico + input_tokens * self.input_pico + output_tokens * self.output_pico

    def worst_case(self, input_tokens: int, output_tokens: int) -> Decimal:
        """Dollars of ``input_tokens`` input at its worst rate and ``output_tokens`` output (exact)."""
        pico = self.fixed_pico + input_tokens * self.worst_input_pico + output_tokens * self.output_pico
        return Decimal(pico) / PICO


def _pico(rate: Decimal) -> int:
    return int((rate * PICO).to_integral_value(rounding=ROUND_CEILING))


def card_of(rates: Rates, input_tokens: int) -> Card:
    """The worst-case card of ``rates`` for a request with ``input_tokens`` input tokens."""
    tier = rates.tier_for(input_tokens)
    # the output's kind is not known at admission: an audio or image output rate is its worst
    output = max(
        tier.tokens["output_visible"],
        tier.tokens["reasoning"],
        *(tier.modal_rate(f"output_visible.{m}") for m in MODALITIES),
    )
    worst_input = max(tier.tokens[bucket] for bucket in _INPUT_RATES)
    return Card(
        fixed_pico=_pico(tier.request_fee + rates.overhead.per_request),
        input_pico=_pico(tier.tokens["input_uncached"]),
        output_pico=_pico(output),
        context_window=rates.context_window,
        model=rates.model,
        source=rates.source,
        worst_input_pico=_pico(worst_input),
    )


class PriceCards:
    """Cards by (provider, model, day), resolved once each (thread-safe).

    Args:
        pricer: The pricer (catalog plus overrides); None uses the catalog alone.
    """

    def __init__(self, pricer: Pricer | None = None) -> None:
        self.pricer = pricer or default_pricer()
        self._lock = threading.Lock()
        self._found: dict[tuple[str | None, str, date], tuple[Rates, Card] | str] = {}

    def card(self, provider: str | None, model: str, day: date, input_tokens: int) -> Card | str:
        """The card for a request, or why the model cannot be priced."""
        key = (provider, model, day)
        found = self._found.get(key)
        if found is None:
            rates = self.pricer.lookup(model=model, provider=provider, at=day)
            found = (rates, card_of(rates, 0)) if isinstance(rates, Rates) else rates.reason
            with self._lock:
                if len(self._found) >= _LIMIT:
                    self._found.clear()
                self._found[key] = found
        if isinstance(found, str):
            return found
        rates, base = found
        return base if len(rates.tiers) == 1 else card_of(rates, input_tokens)
