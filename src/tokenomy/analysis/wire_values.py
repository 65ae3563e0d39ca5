"""The values of the report's JSON forms read back: amounts, times, periods, numbers, text.

The report's results travel as the JSON ``tokenomy report --format json`` writes (money as decimal
strings, times as ISO 8601 UTC, shares and ratios as floats), between the collector's
``GET /api/v1/report`` and ``tokenomy report --server`` (:mod:`tokenomy.analysis.report_wire`,
:mod:`tokenomy.analysis.overview_wire`). Each reader here checks one value and gives it back as the
analysis made it: an amount with the same digits, a naive UTC datetime, an int or a float.

Each raises ``TypeError`` or ``ValueError`` (``decimal.InvalidOperation``, an ``ArithmeticError``,
for an amount that is not a number) on a value that does not read; callers name the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tokenomy.analysis.periods import Period
from tokenomy.analysis.results import Number, jsonable
from tokenomy.native import parse_time


def money_from_json(value: Any) -> Decimal | None:
    """An amount as the API writes it: a decimal string (its digits kept), or null for no amount.

    Raises:
        TypeError: ``value`` is neither (a JSON number would have lost digits).
        decimal.InvalidOperation: The string is not a decimal number.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"an amount should be a decimal string, got {value!r}")
    return Decimal(value)


def amount_from_json(value: Any) -> Decimal:
    """An amount that is always known (a cost driver's part...): a decimal string, never null."""
    found = money_from_json(value)
    if found is None:
        raise TypeError("an amount should be a decimal string, got null")
    return found


def time_from_json(value: Any) -> datetime | None:
    """A naive UTC datetime from ISO 8601 text (``Z``, an offset or none, as the forms write it)."""
    return None if value is None else parse_time(value, "time")


def period_json(period: Period | None) -> dict[str, Any] | None:
    """A period as ``{"since", "until"}`` (ISO 8601 UTC), or None."""
    if period is None:
        return None
    return {"since": jsonable(period.since), "until": jsonable(period.until)}


def period_from_json(data: Mapping[str, Any] | None) -> Period | None:
    """The period :func:`period_json` (or ``drivers_json``) wrote, or None for null."""
    if data is None:
        return None
    since, until = time_from_json(data["since"]), time_from_json(data["until"])
    if since is None or until is None:
        raise ValueError("a period needs both since and until")
    return Period(since, until)


def int_from_json(value: Any) -> int:
    """A whole number (not a boolean, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def float_from_json(value: Any) -> float | None:
    """A share, a ratio or a mean as a float, or None for null."""
    if value is None:
        return None
    return float(number_from_json(value))


def number_from_json(value: Any) -> Number:
    """A JSON number as it was written: an int stays an int, a float a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return value


def text_from_json(value: Any) -> str | None:
    """Text, or None for null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def flag_from_json(value: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def labels_from_json(value: Any) -> dict[str, str]:
    """A group's dimension values (``{"team": "search"}``), each text."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a group should be an object, got {value!r}")
    out: dict[str, str] = {}
    for name, label in value.items():
        text = text_from_json(label)
        if text is None:
            raise TypeError(f"the group's {name!r} should be text, got null")
        out[str(name)] = text
    return out
