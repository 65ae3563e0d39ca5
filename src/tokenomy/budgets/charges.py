"""Settlement charges: what a finished request costs each account it reserved on, in integer units.

A settlement is given what the request used: a :class:`~tokenomy.schema.Usage` (priced with the
guard's pricer, cache reads at their rate), a :class:`~tokenomy.schema.Cost` or dollars, or the
output tokens produced (an int, with the counted input). Each account of the reservation is
charged in its own unit: nano-dollars for dollar budgets (rounded up), tokens for token budgets.
What cannot be known (no price, or tokens when only dollars are given) charges the reservation.

Output tokens are the settlement the SDK helpers and the proof use most: they are priced in
integer pico-dollars from the reservation's card, so that the units charged are exact integers
without a Decimal on the way (the :class:`Settlement`'s Decimal is built from the same integer).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Final

from tokenomy.budgets.admission import Reservation, Settlement
from tokenomy.budgets.policy import Unit
from tokenomy.budgets.prices import PICO, PriceCards
from tokenomy.schema import Cost, Usage

NANO: Final = Decimal(10) ** 9
Actual = Usage | Cost | Decimal | int
"""What a settlement is given: a Usage (priced here), a Cost or dollars, or output tokens produced."""


def units(value: Decimal, unit: Unit) -> int:
    """``value`` (dollars or tokens) in a ledger's integer units, rounded up."""
    if unit is Unit.USD:
        return int((value * NANO).to_integral_value(rounding=ROUND_CEILING))
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def charged(
    res: Reservation, actual: Actual, cards: PriceCards, today: Callable[[], date]
) -> tuple[Settlement, list[int]]:
    """The settlement of ``res`` and the units to charge each of its accounts, in ``res.held`` order.

    Args:
        res: The reservation settled.
        actual: What the request used (see the module docstring).
        cards: Prices a Usage (their pricer).
        today: The UTC date prices are taken at (called only to price a Usage).

    Raises:
        ValueError: ``actual`` is none of the accepted kinds, or negative (tokens, dollars, a cost).
    """
    card = res.card
    if type(actual) is int and actual >= 0 and card is not None:
        # output tokens: integer units from the exact pico-dollars (as units() of the Decimal)
        pico, used = card.pico(res.input_tokens, actual), res.input_tokens + actual
        nano = -(-pico // 1000)
        out = []
        for held in res.held:
            out.append(nano if held.unit is Unit.USD else used)
        return Settlement(Decimal(pico) / PICO, used), out
    cost, tokens = _cost_and_tokens(res, actual, cards, today)
    out = []
    for held in res.held:
        if held.unit is Unit.USD:
            out.append(held.amount if cost is None else units(cost, Unit.USD))
        else:
            out.append(held.amount if tokens is None else tokens)
    return Settlement(cost, tokens if tokens is not None else 0), out


def _cost_and_tokens(
    res: Reservation, actual: Actual, cards: PriceCards, today: Callable[[], date]
) -> tuple[Decimal | None, int | None]:
    card = res.card
    if isinstance(actual, Usage):
        ins, outs = actual.input_total, actual.output_total
        if any(n is not None and n < 0 for n in (ins, outs)):
            raise ValueError(f"settle() takes a usage of 0 tokens or more, got {ins} in and {outs} out")
        if (ins is None) != (outs is None):
            # one side known, not the other: the pricer would price the known side alone (a dollar
            # budget was charged a cut answer's prompt only), so the unknown side is taken at its
            # bound (the counted input; every answer's max_tokens), as when nothing is known; a
            # model with no price card still counts its tokens (a token budget is not charged in full)
            ins = res.input_tokens if ins is None else ins
            outs = res.max_tokens * res.choices if outs is None else outs
            return (None if card is None else card.worst_case(ins, outs)), ins + outs
        cost = _priced(res, actual, cards, today)
        if cost is None and card is not None:
            out = actual.output_total if actual.output_total is not None else res.max_tokens * res.choices
            cost = card.worst_case(actual.input_total or res.input_tokens, out)
        return cost, actual.total
    if isinstance(actual, Cost | Decimal):
        amount = actual.total if isinstance(actual, Cost) else actual
        if amount is not None and (not amount.is_finite() or amount < 0):  # a refund would give room back
            raise ValueError(f"settle() takes a cost of $0 or more, got {amount!r}")
        return amount, None
    if isinstance(actual, bool) or not isinstance(actual, int) or actual < 0:
        raise ValueError(f"settle() takes a Usage, a Cost, dollars or output tokens (>= 0), got {actual!r}")
    cost = Decimal(card.pico(res.input_tokens, actual)) / PICO if card is not None else None
    return cost, res.input_tokens + actual


def _priced(res: Reservation, usage: Usage, cards: PriceCards, today: Callable[[], date]) -> Decimal | None:
    if usage.total == 0:
        return Decimal(0)
    cost = cards.pricer.price_usage(usage, model=res.model, provider=res.provider, at=today())
    return cost.total
