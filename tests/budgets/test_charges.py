"""Settlement charges: a Usage priced on the given day, exact integer units from output tokens."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tokenomy.budgets.admission import Held, Reservation
from tokenomy.budgets.charges import charged, units
from tokenomy.budgets.policy import Unit
from tokenomy.budgets.prices import PriceCards
from tokenomy.schema import Cost, Usage

DAY = date(2026, 3, 10)


def reservation(cards: PriceCards) -> Reservation:
    card = cards.card("openai", "gpt-4o-mini", DAY, 1_001)
    assert not isinstance(card, str)
    held = (Held("usd-key", "usd", Unit.USD, 764_550), Held("tok-key", "tok", Unit.TOKENS, 2_025))
    return Reservation("r", "gpt-4o-mini", "openai", 1024, 1024, None, 1_001, held=held, card=card)


def test_output_tokens_charge_the_exact_cost_rounded_up_like_the_decimal_path() -> None:
    cards = PriceCards()
    res = reservation(cards)
    settled, charges = charged(res, 333, cards, lambda: DAY)
    assert settled.cost == Decimal("0.00034995")
    assert (settled.tokens, charges) == (1_334, [349_950, 1_334])
    assert charges[0] == units(settled.cost, Unit.USD)
    _, odd = charged(res, 1, cards, lambda: DAY)  # 1001 * 0.15 + 0.6 = 150.75 micro-dollars
    assert odd == [units(Decimal("0.00015075"), Unit.USD), 1_002] == [150_750, 1_002]


def test_a_usage_is_priced_on_the_day_asked_for_as_the_pricer_prices_it() -> None:
    cards = PriceCards()
    res = reservation(cards)
    used = Usage.of(
        input_uncached=600,
        cache_read=401,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=300,
        reasoning=33,
    )
    asked: list[date] = []

    def today() -> date:
        asked.append(DAY)
        return DAY

    settled, charges = charged(res, used, cards, today)
    expected = cards.pricer.price_usage(used, model="gpt-4o-mini", provider="openai", at=DAY).total
    assert expected is not None
    assert (settled.cost, settled.tokens, asked) == (expected, 1_334, [DAY])
    assert charges == [units(expected, Unit.USD), 1_334]


def test_dollars_charge_dollar_accounts_and_token_accounts_keep_their_reservation() -> None:
    cards = PriceCards()
    res = reservation(cards)
    settled, charges = charged(res, Cost(total=Decimal("0.0000001234"), currency="USD"), cards, lambda: DAY)
    assert (settled.cost, charges) == (Decimal("0.0000001234"), [124, 2_025])
    with pytest.raises(ValueError, match="settle\\(\\) takes a Usage"):
        charged(res, -1, cards, lambda: DAY)


def test_a_usage_whose_output_is_unknown_charges_the_output_bound() -> None:
    """A Usage with its input but not its output (a cut answer): the pricer priced the input alone,
    so a dollar budget was charged $0.00015 for a request that may have written 1,024 tokens."""
    cards = PriceCards()
    res = reservation(cards)
    settled, charges = charged(res, Usage(input_total=1_001), cards, lambda: DAY)
    # 1,001 input at $0.15/M + 1,024 output at $0.60/M: the reservation's own worst case
    assert settled.cost == Decimal("0.00076455")
    assert (settled.tokens, charges) == (2_025, [764_550, 2_025])
    settled, charges = charged(res, Usage(output_total=10), cards, lambda: DAY)
    assert settled.cost == Decimal("0.00015615")  # the counted input at its worst rate, 10 output
    assert (settled.tokens, charges) == (1_011, [156_150, 1_011])
