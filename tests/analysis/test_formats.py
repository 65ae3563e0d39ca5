from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tokenomy.analysis.formats import bucket_label, change, money, money_short, percent, tokens


def test_unknown_is_a_dash_never_zero() -> None:
    for fmt in (money, money_short, tokens, percent, change):
        assert fmt(None) == "—"


def test_money() -> None:
    assert money(Decimal("12.34567")) == "$12.3457"
    assert money(Decimal("-0.1024")) == "-$0.1024"
    assert money(Decimal("0.0000123")) == "$0.000012"  # two significant digits below $0.0001
    assert money(Decimal("0.00000002")) == "$0.00000002"  # an embedding's cost, not $2.0e-8
    assert money(Decimal("-0.0000001234")) == "-$0.00000012"
    assert money_short(Decimal("1234.567")) == "$1,234.57"
    assert money_short(Decimal("-3.5")) == "-$3.50"
    assert money_short(Decimal("0.0042")) == "$0.0042"


def test_counts_shares_and_changes() -> None:
    assert tokens(950) == "950"
    assert tokens(4_560_000) == "4.56M"
    assert percent(0.4213) == "42.1%"
    assert change(0.123) == "+12%"
    assert change(-0.035) == "-3.5%"


def test_bucket_labels() -> None:
    start = datetime(2026, 10, 5, 14)
    assert bucket_label(start, "hour") == "10-05 14h"
    assert bucket_label(start, "day") == "2026-10-05"
    assert bucket_label(start, "month") == "2026-10"
    assert bucket_label(None, "day") == "(no time)"


def test_a_half_is_shown_rounded_away_from_zero_as_prices_are() -> None:
    """Python's formatting rounds a half to even: $0.00025 was shown as $0.0002, a $0.125 bar
    labelled $0.12, where a finance reader (and the pricer) rounds half up."""
    from tokenomy.analysis.svg import money_label

    assert money(Decimal("0.00025")) == "$0.0003"
    assert money(Decimal("-0.00025")) == "-$0.0003"
    assert money(Decimal("0.0000125")) == "$0.000013"
    assert money(Decimal("0.000099999")) == "$0.0001"
    assert money_short(Decimal("2.345")) == "$2.35"
    assert money_short(Decimal("1.005")) == "$1.01"
    assert money_label(0.125) == "$0.13"
    assert money_label(150.5) == "$151"


def test_the_largest_amounts_are_shown_and_a_label_rounded_to_100_drops_its_cents() -> None:
    from tokenomy.analysis.svg import money_label

    # the store holds amounts below 10**26: quantizing them ran out of the default 28 digits
    assert money(Decimal("1e25")) == "$10,000,000,000,000,000,000,000,000.0000"
    assert money_short(Decimal("99999999999999999999999999.5")) == "$99,999,999,999,999,999,999,999,999.50"
    assert (money_label(99.995), money_label(99.994)) == ("$100", "$99.99")


def test_a_label_that_rounds_up_to_the_next_unit_is_shown_in_it() -> None:
    """$999.50 was labelled "$1000" and $999,500 "$1e+03K": the unit was chosen before rounding."""
    from tokenomy.analysis.svg import money_label

    assert (money_label(999.5), money_label(999.49)) == ("$1K", "$999")
    assert (money_label(999_500), money_label(999_499), money_label(999_999.5)) == ("$1M", "$999K", "$1M")
    assert (money_label(1005), money_label(12_345), money_label(2.5e9)) == ("$1.01K", "$12.3K", "$2.5B")
    assert money_label(-1e6) == "-$1M"
