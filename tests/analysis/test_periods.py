from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from tests.analysis.builders import T0, hand_store
from tokenomy.analysis.periods import Period, baseline_period, check_compare, current_period, data_span
from tokenomy.errors import ConfigError
from tokenomy.store import open_store

OCT = Period(datetime(2026, 10, 1), datetime(2026, 11, 1))


def test_previous_is_the_same_length_just_before() -> None:
    assert baseline_period(OCT, "previous") == Period(datetime(2026, 8, 31), datetime(2026, 10, 1))


def test_last_week_moves_the_period_back_seven_days() -> None:
    week = Period(datetime(2026, 10, 12), datetime(2026, 10, 19))
    assert baseline_period(week, "last-week") == Period(datetime(2026, 10, 5), datetime(2026, 10, 12))


def test_explicit_days_exclude_the_second() -> None:
    assert baseline_period(OCT, "2026-09-01..2026-09-15") == Period(
        datetime(2026, 9, 1), datetime(2026, 9, 15)
    )
    assert OCT.label() == "2026-10-01..2026-11-01"


@pytest.mark.parametrize("bad", ["yesterday", "2026-09-15..2026-09-01", "2026-13-01..2026-14-01", "...", ""])
def test_a_bad_compare_says_what_is_accepted(bad: str) -> None:
    with pytest.raises(ConfigError, match="--compare") as raised:
        baseline_period(OCT, bad)
    with pytest.raises(ConfigError) as checked:  # the same verdict before any period is known
        check_compare(bad)
    assert str(checked.value) == str(raised.value)
    with pytest.raises(ConfigError, match=r"^query parameter compare"):  # where it was given
        check_compare(bad, option="query parameter compare")


@pytest.mark.parametrize("good", ["previous", "last-week", "2026-09-01..2026-09-15"])
def test_a_good_compare_passes_the_check(good: str) -> None:
    check_compare(good)
    baseline_period(OCT, good)


def test_the_current_period_defaults_to_the_last_seven_days_of_data(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        assert data_span(store) == (T0, T0.replace(minute=2))
        assert current_period(store, None, None) == Period(datetime(2026, 9, 29), datetime(2026, 10, 6))
        assert current_period(store, date(2026, 10, 1), None) == Period(
            datetime(2026, 10, 1), datetime(2026, 10, 6)
        )
        with pytest.raises(ConfigError, match="empty"):
            current_period(store, date(2026, 10, 6), date(2026, 10, 6))


@pytest.mark.parametrize("since", [date(2026, 10, 6), date(2026, 12, 1)])
def test_a_since_after_the_data_without_until_says_the_data_ends_before_it(
    tmp_path: Path, since: date
) -> None:
    with hand_store(tmp_path / "s.duckdb") as store, pytest.raises(ConfigError) as raised:
        current_period(store, since, None)
    assert str(raised.value) == (
        f"--since/--until: the period {since.isoformat()}..2026-10-06 is empty: without --until it ends "
        "with the data, whose last call is on 2026-10-05; give an earlier --since, or an --until"
    )
    assert len(str(raised.value)) <= 200  # what report --server shows of the collector's 400, whole


def test_an_empty_store_has_no_period(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        assert data_span(store) is None
        assert current_period(store, None, None) is None
