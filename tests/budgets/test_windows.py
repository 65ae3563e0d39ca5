"""Calendar windows in a time zone: boundaries at local midnight, DST, weeks from Monday, rollover."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tokenomy.budgets.policy import Window
from tokenomy.budgets.windows import SpanCache, span_of

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_berlin_day_runs_from_local_midnight() -> None:
    span = span_of(Window.DAY, BERLIN, datetime(2026, 3, 10, 22, 30, tzinfo=UTC))
    # 22:30 UTC on the 10th is 23:30 in Berlin (CET, UTC+1): still the 10th there
    assert span.id == "d2026-03-10"
    assert (span.start, span.end) == (
        datetime(2026, 3, 9, 23, tzinfo=UTC),
        datetime(2026, 3, 10, 23, tzinfo=UTC),
    )
    after = span_of(Window.DAY, BERLIN, datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    assert after.id == "d2026-03-11"


def test_the_day_clocks_change_is_23_hours_long() -> None:
    span = span_of(Window.DAY, BERLIN, datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert span.start == datetime(2026, 3, 28, 23, tzinfo=UTC)  # midnight CET
    assert span.end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # midnight CEST
    assert (span.end - span.start).total_seconds() == 23 * 3600


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    week = span_of(Window.WEEK, BERLIN, datetime(2026, 3, 12, 9, tzinfo=UTC))  # a Thursday
    assert week.id == "w2026-03-09"
    assert week.start == datetime(2026, 3, 8, 23, tzinfo=UTC)
    december = span_of(Window.MONTH, BERLIN, datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    assert december.id == "m2027-01"  # already January in Berlin
    month = span_of(Window.MONTH, ZoneInfo("UTC"), datetime(2026, 12, 15, tzinfo=UTC))
    assert (month.id, month.end) == ("m2026-12", datetime(2027, 1, 1, tzinfo=UTC))


def test_non_calendar_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="not a calendar window"):
        span_of(Window.SESSION, BERLIN, datetime(2026, 3, 1, tzinfo=UTC))


def test_the_cache_rolls_over_exactly_at_the_boundary() -> None:
    cache = SpanCache(Window.DAY, BERLIN)
    boundary = datetime(2026, 3, 10, 23, tzinfo=UTC).timestamp()
    assert cache.at(boundary - 0.001).id == "d2026-03-10"
    assert cache.at(boundary).id == "d2026-03-11"
    assert cache.at(boundary - 3600).id == "d2026-03-10"
