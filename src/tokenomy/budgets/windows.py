"""Budget windows on the calendar: which day, week or month an instant falls in, in a time zone.

A calendar window starts at local midnight in the policy's time zone (the first of the month,
Monday for weeks) and ends at the next one, so "the day" of a Berlin budget resets at 00:00
Berlin time, whether that is 22:00 or 23:00 UTC. Each window has an id (``d2026-03-29``,
``w2026-03-23``, ``m2026-03``) that names the ledger account holding its spend: when the clock
passes the window's end, the next request lands in a new account, and the old one expires.

:class:`SpanCache` keeps the current window of one policy and recomputes it only when the clock
has passed its end, so admission does not pay for time-zone arithmetic on every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from tokenomy.budgets.policy import Window

GRACE: Final = timedelta(days=2)
"""How long an account outlives its window (late settlements still land in it)."""


@dataclass(frozen=True, slots=True)
class Span:
    """One calendar window: its id and its bounds in UTC (start inclusive, end exclusive).

    ``expire_at`` is the Unix second after which the window's account can be forgotten.
    """

    id: str
    start: datetime
    end: datetime
    expire_at: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expire_at", int((self.end + GRACE).timestamp()))


def span_of(window: Window, zone: ZoneInfo, when: datetime) -> Span:
    """The ``window`` (day, week or month, in ``zone``) that holds the instant ``when``.

    Args:
        window: A calendar window.
        zone: The time zone the window resets in.
        when: An aware datetime (a naive one is taken as UTC).

    Raises:
        ValueError: ``window`` is not a calendar window.
    """
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    local = aware.astimezone(zone).date()
    if window is Window.DAY:
        first, after, ident = local, local + timedelta(days=1), f"d{local.isoformat()}"
    elif window is Window.WEEK:
        first = local - timedelta(days=local.weekday())
        after, ident = first + timedelta(days=7), f"w{first.isoformat()}"
    elif window is Window.MONTH:
        first = local.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        ident = f"m{first.year:04d}-{first.month:02d}"
    else:
        raise ValueError(f"{window.value} is not a calendar window (use day, week or month)")
    return Span(ident, _midnight(first, zone), _midnight(after, zone))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


class SpanCache:
    """The current window of one policy, recomputed only when the clock passes its end.

    The window and its bounds are kept as one tuple, replaced whole, so threads never see the
    bounds of one window with the id of another.
    """

    __slots__ = ("_current", "window", "zone")

    def __init__(self, window: Window, zone: ZoneInfo) -> None:
        self.window = window
        self.zone = zone
        self._current: tuple[Span, float, float] | None = None

    def at(self, now: float) -> Span:
        """The window holding the Unix time ``now``."""
        current = self._current
        if current is not None and current[1] <= now < current[2]:
            return current[0]
        found = span_of(self.window, self.zone, datetime.fromtimestamp(now, UTC))
        self._current = (found, found.start.timestamp(), found.end.timestamp())
        return found
