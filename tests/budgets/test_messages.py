"""How budget amounts are written in refusals and in `tokenomy budgets status`."""

from __future__ import annotations

from decimal import Decimal

from tokenomy.budgets.messages import shown
from tokenomy.budgets.policy import Unit


def test_dollars_have_four_decimals_and_more_when_needed() -> None:
    assert shown(Decimal("1234.5"), Unit.USD) == "$1,234.5000"
    assert shown(Decimal("0.0000123"), Unit.USD) == "$0.0000123"
    assert shown(Decimal(0), Unit.USD) == "$0.0000"


def test_an_overspent_remainder_puts_the_sign_before_the_dollar() -> None:
    assert shown(Decimal("-0.00094695"), Unit.USD) == "-$0.0009"
    assert shown(Decimal("-0.00001"), Unit.USD) == "-$0.00001"


def test_tokens_are_whole_with_separators() -> None:
    assert shown(Decimal(-2500), Unit.TOKENS) == "-2,500 tokens"
