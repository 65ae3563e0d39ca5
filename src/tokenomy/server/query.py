"""The read API's query parameters, read and checked: each as the CLI checks the option of the same
name, a bad one a 400 that names it (:class:`~tokenomy.errors.PayloadError`); the routes themselves
are in :mod:`tokenomy.server.api`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Final

from tokenomy.analysis.baselines import DEFAULT_THRESHOLD
from tokenomy.analysis.dimensions import Grouping, Scope, as_utc, parse_bucket, parse_dimensions, parse_where
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.periods import check_compare
from tokenomy.analysis.report_analyses import parity_pair
from tokenomy.errors import ConfigError, PayloadError
from tokenomy.providers import canonical
from tokenomy.store.base import TIME_UNITS, CallFilter, TimeUnit

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_OFFSET: Final = 2**63 - 1 - (MAX_LIMIT + 1)
"""The largest ``offset`` the store's 64-bit ``LIMIT ... OFFSET`` takes (a larger one was a 500)."""


def split_query(
    query: Mapping[str, str] | Sequence[tuple[str, str]], allowed: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """A route's parameters among ``allowed``: each but ``where`` once, none empty, and the ``where``
    items in order."""
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    unknown = sorted({name for name, _ in pairs} - set(allowed))
    if unknown:
        raise PayloadError(
            400, f"unknown query parameter(s) {', '.join(unknown)}; this route takes {', '.join(allowed)}"
        )
    single: dict[str, str] = {}
    where: list[str] = []
    for name, value in pairs:
        if not value.strip():  # `since=` would otherwise read as no bound at all, silently
            raise PayloadError(400, f"query parameter {name} is empty: give it a value, or leave it out")
        if name == "where":
            where.append(value)
        elif name in single:
            raise PayloadError(400, f"query parameter {name} is given more than once (only where repeats)")
        else:
            single[name] = value
    return single, where


def selection_of(query: Mapping[str, str], where: Sequence[str], *, bucket: bool) -> Selection:
    """The period, ``where`` filters, ``by`` dimensions (and with ``bucket`` the time bucket) of a
    query, checked as the CLI checks its options."""
    since, until = period_of(query)
    try:
        scope = Scope(as_utc(since), as_utc(until), parse_where(where, option="query parameter where"))
        by = parse_dimensions(query.get("by") or None, option="query parameter by")
    except ConfigError as exc:
        raise PayloadError(400, str(exc)) from exc
    return Selection(scope, Grouping(by, bucket_of(query) if bucket else None))


def compare_of(query: Mapping[str, str]) -> str | None:
    """The baseline period, checked as ``--compare`` is (before anything is read)."""
    value = query.get("compare") or None
    if value is not None:
        try:
            check_compare(value, option="query parameter compare")
        except ConfigError as exc:
            raise PayloadError(400, str(exc)) from exc
    return value


def threshold_of(query: Mapping[str, str]) -> float:
    """The regression threshold: a number of 0 or more, as ``--threshold`` takes it."""
    value = query.get("threshold")
    if not value:
        return DEFAULT_THRESHOLD
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise PayloadError(
            400, f"query parameter threshold={value!r} is not a number of 0 or more (0.25 is a rise of 25%)"
        )
    return number


def positive_of(query: Mapping[str, str], name: str) -> int | None:
    """A whole number of 1 or more, or None when not given."""
    if not query.get(name):
        return None
    number = _int(query, name, 0)
    if number < 1:
        raise PayloadError(400, f"query parameter {name}={number} must be 1 or more")
    return number


def parity_of(query: Mapping[str, str]) -> tuple[str, str] | None:
    value = query.get("parity")
    if not value:
        return None
    try:
        return parity_pair(value)
    except ValueError as exc:
        raise PayloadError(400, f"query parameter parity: {exc}") from exc


def bucket_of(query: Mapping[str, str]) -> TimeUnit | None:
    try:
        return parse_bucket(query.get("bucket") or None)
    except ConfigError as exc:
        raise PayloadError(
            400, f"query parameter bucket={query['bucket']!r} is not one of {', '.join(TIME_UNITS)}"
        ) from exc


def flag_of(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "")
    if value.lower() not in ("", "true", "false"):
        raise PayloadError(400, f"query parameter {name}={value!r} is not true or false")
    return value.lower() == "true"


def filters_of(query: Mapping[str, str], *, allowed: tuple[str, ...]) -> CallFilter:
    split_query(query, allowed)
    return call_filter_of(query)


def call_filter_of(query: Mapping[str, str]) -> CallFilter:
    """The period, session, provider and model of a query."""
    since, until = period_of(query)
    return CallFilter(
        since=since,
        until=until,
        session_id=query.get("session_id") or None,
        provider=canonical(query.get("provider") or None),  # "OpenAI" is stored as "openai"
        model=query.get("model") or None,
    )


def period_of(query: Mapping[str, str]) -> tuple[datetime | date | None, datetime | date | None]:
    """``since`` and ``until`` from the query, refusing an ``until`` that is not after ``since``
    (it would select nothing, silently), as ``--since``/``--until`` are refused by the CLI.

    Raises:
        PayloadError: 400 for a malformed time, or for ``until`` not after ``since`` (naming both).
    """
    since, until = _time(query, "since"), _time(query, "until")
    start, end = as_utc(since), as_utc(until)
    if start is not None and end is not None and end <= start:
        raise PayloadError(
            400,
            f"query parameter until={query['until']!r} is not after since={query['since']!r}: "
            "the period would select nothing",
        )
    return since, until


def _time(query: Mapping[str, str], name: str) -> datetime | date | None:
    value = query.get(name)
    if not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PayloadError(
            400,
            f"query parameter {name}={value!r} is not a date (2026-03-01) or a time (2026-03-01T09:30:00Z)",
        ) from exc


def page_of(query: Mapping[str, str]) -> tuple[int, int]:
    limit = _int(query, "limit", DEFAULT_LIMIT)
    offset = _int(query, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise PayloadError(400, f"query parameter limit={limit} must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise PayloadError(400, f"query parameter offset={offset} must be between 0 and {MAX_OFFSET}")
    return limit, offset


_WHOLE: Final = re.compile(r"-?[0-9]{1,40}")
"""A whole-number query parameter: ASCII digits (40 at most: past any bound a parameter has)."""


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not _WHOLE.fullmatch(value):  # int() takes " 1", "1_0" and "+1" too
        raise PayloadError(400, f"query parameter {name}={value!r} is not a whole number")
    return int(value)
