"""How budget amounts are written in refusals and in `tokenomy budgets status`."""

from __future__ import annotations

from decimal import Decimal

from tests.budgets.conftest import T0, policy
from tokenomy.budgets.accounts import Account
from tokenomy.budgets.messages import refused, shown
from tokenomy.budgets.policy import Unit, Window
from tokenomy.budgets.windows import span_of


def test_dollars_have_four_decimals_and_more_when_needed() -> None:
    assert shown(Decimal("1234.5"), Unit.USD) == "$1,234.5000"
    assert shown(Decimal("0.0000123"), Unit.USD) == "$0.0000123"
    assert shown(Decimal(0), Unit.USD) == "$0.0000"


def test_an_overspent_remainder_puts_the_sign_before_the_dollar() -> None:
    assert shown(Decimal("-0.00094695"), Unit.USD) == "-$0.0009"
    assert shown(Decimal("-0.00001"), Unit.USD) == "-$0.00001"


def test_tokens_are_whole_with_separators() -> None:
    assert shown(Decimal(-2500), Unit.TOKENS) == "-2,500 tokens"


def test_an_amount_under_a_ten_thousandth_keeps_four_significant_digits_and_no_trailing_dot() -> None:
    """Eight decimals trimmed of their zeros wrote $0.000000001 as ``$0.``."""
    assert shown(Decimal("0.000000001"), Unit.USD) == "$0.000000001"
    assert shown(Decimal("-0.000000000005"), Unit.USD) == "-$0.000000000005"
    assert shown(Decimal("0.00001234567"), Unit.USD) == "$0.00001235"
    assert shown(Decimal("0.000000012345"), Unit.USD) == "$0.00000001234"  # half to even, as {:.4f}
    assert shown(Decimal("0.000099996"), Unit.USD) == "$0.0001"
    assert shown(Decimal("1E-12"), Unit.USD) == "$0.000000000001"


def test_a_refusal_writes_a_tiny_amount_in_full() -> None:
    tiny = policy(name="tiny", limit_usd="0.000000005")
    account = Account("tiny:*:d2026-03-10", tiny, None, span_of(Window.DAY, tiny.zone, T0))
    message = refused(account, spent=4, reserved=0, needed=3, least=256)
    assert "spent $0.000000004, $0.0000 reserved by requests in flight, $0.000000003 needed" in message
