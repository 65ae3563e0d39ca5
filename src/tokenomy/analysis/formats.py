"""Numbers for people: dollars, token counts, shares and changes, the same in every report.

A value that is not known is shown as :data:`UNKNOWN` ("—"), never as 0 or $0.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final

UNKNOWN: Final = "—"
"""How a value that is not known is shown."""


def half_up(value: Decimal, quantum: Decimal) -> Decimal:
    """``value`` rounded to ``quantum``'s places, a half away from zero: the rule prices are rounded
    by (docs/pricing.md) and the one a finance reader checks a shown amount against ($0.00025 is
    shown as $0.0003; Python's own formatting rounds a half to even, $0.0002)."""
    with localcontext() as context:  # room for the largest amount stored (below 10**26) at 12 places
        context.prec = 60
        return value.quantize(quantum, rounding=ROUND_HALF_UP)


def money(value: Decimal | float | None) -> str:
    """Dollars: ``$12.3457`` (4 places; smaller amounts keep 2 significant digits), or "—"."""
    if value is None:
        return UNKNOWN
    value = Decimal(str(value)) if isinstance(value, float) else value
    sign, size = ("-" if value < 0 else ""), abs(value)
    if size != 0 and size < _FOUR_PLACES:
        digits = half_up(size, Decimal(1).scaleb(size.adjusted() - 1))  # 2 significant digits
        if digits < _FOUR_PLACES:  # (0.000099999 rounds up to the 4 places below)
            return f"{sign}${digits.normalize():f}"  # positional: never $2.0e-8
    return f"{sign}${half_up(size, _FOUR_PLACES):,.4f}"


def money_short(value: Decimal | float | None) -> str:
    """Dollars for tiles and tables: ``$1,234.57``, ``$0.0042``, or "—"."""
    if value is None:
        return UNKNOWN
    value = Decimal(str(value)) if isinstance(value, float) else value
    if abs(value) >= 1:
        return f"{'-' if value < 0 else ''}${half_up(abs(value), _TWO_PLACES):,.2f}"
    return money(value)


_FOUR_PLACES: Final = Decimal("0.0001")
_TWO_PLACES: Final = Decimal("0.01")


def tokens(n: int | None) -> str:
    """A token count: ``950``, ``12.3K``, ``4.56M``, ``7.89B``, or "—"."""
    if n is None:
        return UNKNOWN
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def percent(share: float | None, places: int = 1) -> str:
    """A share as a percentage: ``42.0%``, or "—"."""
    return UNKNOWN if share is None else f"{share * 100:.{places}f}%"


def change(rel: float | None) -> str:
    """A relative change: ``+12%``, ``-3.5%``, or "—"."""
    if rel is None:
        return UNKNOWN
    places = 1 if abs(rel) < 0.1 else 0
    return f"{rel * 100:+.{places}f}%"


def bucket_label(start: datetime | None, unit: str | None) -> str:
    """A time bucket's start as a short label for its unit (``2026-10-05``, ``2026-10``, ``10-05 14h``)."""
    if start is None:
        return "(no time)"
    if unit == "hour":
        return start.strftime("%m-%d %Hh")
    if unit == "month":
        return start.strftime("%Y-%m")
    return start.strftime("%Y-%m-%d")
