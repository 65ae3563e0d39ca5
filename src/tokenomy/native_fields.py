"""Reading one value of a native record: the type and range checks every field of the native form
goes through, each refusal a :class:`FieldError` naming the field by its dotted path
(:mod:`tokenomy.native` reads whole records with them)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar

from tokenomy.schema import MAX_TOKENS, Kind, Quality, Status

_E = TypeVar("_E", Status, Kind, Quality)


class FieldError(ValueError):
    """A native record has a bad value; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


def parse_time(value: Any, field: str) -> datetime:
    """An ISO 8601 string or epoch seconds as a naive UTC datetime."""
    if isinstance(value, bool):
        raise FieldError(field, "expected an ISO 8601 time or epoch seconds")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise FieldError(field, "expected an ISO 8601 time or epoch seconds")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise FieldError(field, f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def field_path(where: str | None, name: str) -> str:
    return f"{where}.{name}" if where else name


def required_str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise FieldError(name, "required, a non-empty string")
    return value


def opt_str(obj: Mapping[str, Any], name: str, *, where: str | None = None) -> str | None:
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FieldError(field_path(where, name), f"expected a string, got {type(value).__name__}")


def int_value(value: Any, field: str, minimum: int | None = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, f"expected a whole number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise FieldError(field, f"expected a whole number, got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise FieldError(field, f"must be >= {minimum}, got {number}")
    if not -(2**63) <= number < 2**63:  # the store's BIGINT: refused here, never a failed batch
        raise FieldError(field, f"must fit in 64 bits, got {number}")
    return number


def opt_int(
    obj: Mapping[str, Any], name: str, *, where: str | None = None, minimum: int | None = 0
) -> int | None:
    value = obj.get(name)
    return None if value is None else int_value(value, field_path(where, name), minimum)


def opt_tokens(obj: Mapping[str, Any], name: str, where: str | None) -> int | None:
    """A token count (:func:`token_count`), or None."""
    value = obj.get(name)
    return None if value is None else token_count(value, field_path(where, name))


def token_count(value: Any, field: str) -> int:
    """A token count: a whole number from 0 to :data:`MAX_TOKENS`."""
    count = int_value(value, field)
    if count > MAX_TOKENS:
        raise FieldError(field, too_many_tokens(count))
    return count


def too_many_tokens(count: int) -> str:
    """Why a token count above :data:`MAX_TOKENS` is refused."""
    return f"{count:,} tokens: more than one call can hold (at most {MAX_TOKENS:,})"


def opt_float(obj: Mapping[str, Any], name: str) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError(name, f"expected a finite number, got {value!r}")  # NaN, Infinity: no JSON out
    if value < 0:
        raise FieldError(name, f"must be >= 0, got {value}")
    return float(value)


def opt_bool(obj: Mapping[str, Any], name: str, *, where: str | None = None) -> bool | None:
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise FieldError(field_path(where, name), f"expected true or false, got {value!r}")


_DECIMAL: Final = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
"""A decimal string an amount may be written as (a sign only to be refused as negative, by name)."""


def opt_decimal(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(field, f'expected a decimal string such as "0.0125", got {value!r}')
    text = str(value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):  # Decimal() would take "1_0" and " 1"
        raise FieldError(field, f'not a decimal number: {value!r} (digits, one ".", an exponent such as E-8)')
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise FieldError(field, f"not a decimal number: {value!r}") from exc
    if not amount.is_finite() or amount.adjusted() >= 26 or amount < 0:  # DECIMAL(38, 12) holds < 10**26
        raise FieldError(field, f"not a finite amount below 10**26, of 0 or more (never negative): {value!r}")
    return amount


def opt_time(obj: Mapping[str, Any], name: str) -> datetime | None:
    value = obj.get(name)
    return None if value is None else parse_time(value, name)


def date_value(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise FieldError(field, "expected a date such as 2026-10-01")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise FieldError(field, f"not a date: {value!r}") from exc


def or_default(value: Any, default: str) -> Any:
    """``default`` when a field is absent or null (null means "not given" throughout the form)."""
    return default if value is None else value


def enum_value(kind: type[_E], value: Any, field: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in kind)
        raise FieldError(field, f"{value!r} is not one of {allowed}") from exc


def str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(field, "expected a list of strings")
    return value
