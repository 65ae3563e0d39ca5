"""Periods to compare: the current one and its baseline (``previous``, ``last-week``, ``DATE..DATE``).

Periods are half-open UTC intervals ``[since, until)``. When the current period is not given,
it is the last :data:`DEFAULT_DAYS` whole UTC days that hold calls (ending the day after the
latest call). The baseline is:

* ``previous``: the period of the same length just before the current one;
* ``last-week``: the current period moved back seven days;
* ``YYYY-MM-DD..YYYY-MM-DD``: those days (the second one excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from tokenomy.analysis.dimensions import as_utc
from tokenomy.errors import ConfigError
from tokenomy.store.base import Store

DEFAULT_DAYS: Final = 7
COMPARE_CHOICES: Final = ("previous", "last-week", "YYYY-MM-DD..YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC interval ``[since, until)``."""

    since: datetime
    until: datetime

    @property
    def length(self) -> timedelta:
        """How long the period lasts."""
        return self.until - self.since

    def label(self) -> str:
        """``2026-10-01..2026-11-01`` (dates when the bounds are midnights, else times)."""
        if self.since.time() == self.until.time() == datetime.min.time():
            return f"{self.since.date().isoformat()}..{self.until.date().isoformat()}"
        return f"{self.since.isoformat()}..{self.until.isoformat()}"


def open_label(since: datetime | None, until: datetime | None) -> str:
    """A period that may lack a bound: ``from 2026-10-01``, ``before 2026-11-01``, ``all time``
    (a bound is a date when it is a midnight); with both, :meth:`Period.label`."""
    if since is not None and until is not None:
        return Period(since, until).label()
    if since is None and until is None:
        return "all time"
    bound = since if since is not None else until
    assert bound is not None
    text = bound.date().isoformat() if bound.time() == datetime.min.time() else bound.isoformat()
    return f"from {text}" if since is not None else f"before {text}"


def data_span(store: Store) -> tuple[datetime, datetime] | None:
    """The first and last call start times in the store, or None when no call has a time."""
    row = store.query("SELECT min(started_at) AS lo, max(started_at) AS hi FROM calls").to_pylist()[0]
    if row["lo"] is None:
        return None
    return row["lo"], row["hi"]


def current_period(
    store: Store, since: datetime | date | None, until: datetime | date | None
) -> Period | None:
    """The period ``[since, until)``, filling a missing bound from the data (see the module docstring).

    Returns None when a bound is missing and the store holds no call with a time.

    Raises:
        ConfigError: The period is empty: the end comes before the start, or no ``until`` was given
            and ``since`` comes after the day of the last call (the message says so, and what to do).
    """
    lo, hi = as_utc(since), as_utc(until)
    if lo is not None and hi is not None:
        return _checked(Period(lo, hi), "--since/--until")
    span = data_span(store)
    if span is None:
        return None
    if hi is None:
        last = span[1]
        hi = datetime(last.year, last.month, last.day) + timedelta(days=1)
        if lo is not None and lo >= hi:
            raise ConfigError(_after_the_data(Period(lo, hi), last))
    if lo is None:
        lo = hi - timedelta(days=DEFAULT_DAYS)
    return _checked(Period(lo, hi), "--since/--until")


def _after_the_data(period: Period, last: datetime) -> str:
    """Why a ``--since`` on or after the day the data ends leaves no period (its end came from the data).

    Short enough (under 200 characters) for ``report --server`` to show the collector's 400 whole.
    """
    return (
        f"--since/--until: the period {period.label()} is empty: without --until it ends with the data, "
        f"whose last call is on {last.date().isoformat()}; give an earlier --since, or an --until"
    )


def baseline_period(current: Period, compare: str) -> Period:
    """The baseline period ``compare`` names, relative to ``current``.

    Raises:
        ConfigError: ``compare`` is not one of :data:`COMPARE_CHOICES`.
    """
    if compare == "previous":
        return Period(current.since - current.length, current.since)
    if compare == "last-week":
        week = timedelta(days=7)
        return Period(current.since - week, current.until - week)
    return _days(compare, "--compare")


def check_compare(compare: str, *, option: str = "--compare") -> None:
    """Refuse a ``compare`` that :func:`baseline_period` would refuse, before anything is read.

    Raises:
        ConfigError: ``compare`` is not one of :data:`COMPARE_CHOICES`, or its days are an empty
            period (the message names ``option``, where it was given).
    """
    if compare not in ("previous", "last-week"):
        _days(compare, option)


def _days(compare: str, option: str) -> Period:
    """The period of ``YYYY-MM-DD..YYYY-MM-DD`` (the second day excluded)."""
    first, sep, last = compare.partition("..")
    if sep:
        try:
            return _checked(Period(_day(first), _day(last)), option)
        except ValueError:
            pass
    raise ConfigError(f"{option} {compare!r}: use one of {', '.join(COMPARE_CHOICES)}")


def _day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())


def _checked(period: Period, option: str) -> Period:
    if period.until <= period.since:
        raise ConfigError(
            f"{option}: the period {period.label()} is empty; the end must come after the start"
        )
    return period
