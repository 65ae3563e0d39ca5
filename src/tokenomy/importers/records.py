"""Walking a JSON or JSON-lines file record by record, and reading typed fields with errors that name them.

Record numbers in errors are line numbers for JSON lines and 1-based positions for a JSON list
(a lone JSON object is record 1). A record that fails to convert becomes a
:class:`~tokenomy.errors.RecordError` naming the file, the record and the field, and the next
record is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.errors import RecordError
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.results import Item, Note
from tokenomy.native import FieldError, parse_time
from tokenomy.schema import BUCKETS, MAX_TOKENS, Call
from tokenomy.usage.base import to_decimal


def iter_records(source: Source, *, list_keys: tuple[str, ...] = ()) -> Iterator[tuple[int, Any]]:
    """The records of a file: JSON lines, a JSON list, or one JSON object.

    Args:
        source: The file.
        list_keys: Keys of a wrapping object whose list holds the records (``{"data": [...]}``).

    Yields:
        ``(record number, value)``; a line that is not JSON yields a RecordError as its value.
    """
    sample = source.sample()
    if sample.kind == "jsonl":
        yield from source.json_lines()
        return
    document = source.document()
    yield from enumerate(unwrap(document, list_keys), start=1)


def unwrap(document: Any, list_keys: tuple[str, ...] = ()) -> list[Any]:
    """A document's records: the list itself, the list under one of ``list_keys``, or the object."""
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        for key in list_keys:
            value = document.get(key)
            if isinstance(value, list):
                return value
    return [document]


def sample_objects(sample: Sample, list_keys: tuple[str, ...] = ()) -> list[Mapping[str, Any]]:
    """The first few JSON objects of a sampled file (for sniffing)."""
    if sample.kind == "jsonl":
        values: list[Any] = list(sample.records)
    elif sample.kind == "json":
        values = unwrap(sample.first, list_keys)[:8]
    else:
        return []
    return [v for v in values if isinstance(v, Mapping)]


_SET_ASIDE: ContextVar[list[str] | None] = ContextVar("tokenomy_import_set_aside", default=None)
"""The fields of recorded costs that were not numbers, in the record being built (:func:`guarded`)."""


def guarded(source: Source, number: int, build: Callable[..., Iterable[Item]], *args: Any) -> Iterator[Item]:
    """Run ``build(*args)`` for one record; a FieldError becomes a RecordError for that record, and
    a recorded cost set aside (:func:`reported_cost`) a :class:`Note` after the record's items."""
    token = _SET_ASIDE.set([])
    try:
        items = list(build(*args))
        set_aside = _SET_ASIDE.get() or []
        too_large = next((name for item in items if (name := out_of_range(item)) is not None), None)
        if too_large is not None:
            raise FieldError(too_large, TOO_LARGE)
    except FieldError as exc:
        items, set_aside = [RecordError(source.name, number, exc.field, exc.message)], []
    finally:
        _SET_ASIDE.reset(token)
    yield from items
    for name in dict.fromkeys(set_aside):
        yield Note(
            f"a recorded cost that is not a number ({name}) was set aside: the call is stored without it"
        )


_INT64_MAX: Final = 2**63 - 1
TOO_LARGE: Final = (
    f"a count larger than one call can hold (at most {MAX_TOKENS:,} tokens, {_INT64_MAX:,} of anything else)"
)
"""Why a call with such a count (:func:`out_of_range`) is rejected."""
_USAGE_COUNTS: Final = (*BUCKETS, "input_total", "output_total")
_CALL_TOKENS: Final = (
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
)


def out_of_range(item: Any) -> str | None:
    """The first count of a call larger than one call can hold (its field's name), or None: tokens
    above :data:`~tokenomy.schema.MAX_TOKENS` (sums over the store stay within its 64-bit integers),
    other counts above 64 bits. Such a record is rejected alone, where storing its batch, or summing
    it later, would fail the whole run."""
    if not isinstance(item, Call):
        return None
    usage = item.usage
    tokens = [(f"usage.{n}", getattr(usage, n)) for n in _USAGE_COUNTS]
    tokens += [(f"usage.modalities.{k}", v) for k, v in usage.modalities.items()]
    tokens += [(n, getattr(item, n, None)) for n in _CALL_TOKENS]
    others: list[tuple[str, int | None]] = [
        (f"usage.server_tools.{k}", v) for k, v in usage.server_tools.items()
    ]
    others += [("n_messages", item.n_messages), ("max_output_tokens", item.max_output_tokens)]  # a cap asked
    return next(
        (n for n, v in tokens if isinstance(v, int) and abs(v) > MAX_TOKENS),
        next((n for n, v in others if isinstance(v, int) and abs(v) > _INT64_MAX), None),
    )


def require_object(value: Any, what: str) -> Mapping[str, Any]:
    """The record as a mapping.

    Raises:
        FieldError: The record is not a JSON object.
    """
    if not isinstance(value, Mapping):
        raise FieldError("(record)", f"expected a JSON object ({what}), got {type(value).__name__}")
    return value


def opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string field, or None (numbers are turned into strings)."""
    value = obj.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def opt_number(obj: Mapping[str, Any], key: str, *, field: str | None = None) -> float | None:
    """A numeric field (numbers given as strings are accepted), or None.

    Raises:
        FieldError: The value is present but not a number.
    """
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(field or key, f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise FieldError(field or key, f"expected a number, got {value!r}")


def opt_int(obj: Mapping[str, Any], key: str, *, field: str | None = None) -> int | None:
    """A whole-number field, or None.

    Raises:
        FieldError: The value is present but not a whole number.
    """
    number = opt_number(obj, key, field=field)
    if number is None:
        return None
    if not number.is_integer():
        raise FieldError(field or key, f"expected a whole number, got {obj.get(key)!r}")
    return int(number)


def opt_time(obj: Mapping[str, Any], key: str, *, field: str | None = None) -> datetime | None:
    """A time field: ISO 8601 (a space instead of ``T`` is fine) or epoch seconds; naive UTC.

    Raises:
        FieldError: The value is present but not a time.
    """
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return parse_time(float(value), field or key)
        except ValueError:
            pass
    return parse_time(value, field or key)


def reported_cost(obj: Mapping[str, Any], key: str, *, field: str | None = None) -> Decimal | None:
    """A cost the source recorded beside a call (kept for reconciliation, never used to price it):
    :func:`opt_money`, except that a value that is not a number is set aside (None) rather than
    rejecting the call, and :func:`guarded` notes it (the call's tokens are worth more than it)."""
    try:
        return opt_money(obj, key, field=field)
    except FieldError as exc:
        found = _SET_ASIDE.get()
        if found is None:  # not inside guarded: nobody would say so
            raise
        found.append(exc.field)
        return None


def opt_money(obj: Mapping[str, Any], key: str, *, field: str | None = None) -> Decimal | None:
    """A reported money amount as an exact Decimal (via its string form), or None when absent.

    Raises:
        FieldError: The value is present but not a finite number (a recorded cost is never
            dropped in silence).
    """
    value = obj.get(key)
    if value is None or value == "":
        return None
    amount = to_decimal(value)
    if amount is None:
        raise FieldError(field or key, f"expected a money amount (a number), got {value!r}")
    return amount


def ms_between(start: datetime | None, end: datetime | None) -> float | None:
    """Milliseconds from ``start`` to ``end``, or None when either is unknown or end is earlier."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() * 1000


def from_epoch(value: float, field: str = "timestamp") -> datetime:
    """An epoch time as a naive UTC datetime: seconds, or milliseconds, microseconds or nanoseconds
    (a value too large for seconds, past the year 5138, is read in the next smaller unit).

    Raises:
        FieldError: ``value`` is no time in any of these units (the record is rejected, not the run).
    """
    seconds = value
    for _ in range(3):
        if abs(seconds) < _EPOCH_SECONDS_MAX:
            break
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError) as exc:
        raise FieldError(
            field, f"{value!r} is no epoch time in seconds, milliseconds, microseconds or nanoseconds"
        ) from exc


_EPOCH_SECONDS_MAX: Final = 1e11
"""Epoch seconds up to the year 5138; a larger value is in a smaller unit."""


def tags_from(values: Any) -> dict[str, str]:
    """Tags from a list of strings: ``k:v`` or ``k=v`` become ``{k: v}``, a bare tag ``{tag: "true"}``."""
    out: dict[str, str] = {}
    if isinstance(values, Mapping):
        return {str(k): str(v) for k, v in values.items() if v is not None}
    if not isinstance(values, list):
        return out
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        for sep in ("=", ":"):
            if sep in value:
                key, _, rest = value.partition(sep)
                out[key.strip()] = rest.strip()
                break
        else:
            out[value] = "true"
    return out
