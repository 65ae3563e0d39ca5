"""Configuration is validated up front, with messages that say what to change."""

from __future__ import annotations

from datetime import datetime

import pytest

from tokenomy.errors import ConfigError
from tokenomy.simulate import CATEGORIES, ELIGIBILITY, SimulationConfig, WasteRates


def test_defaults_are_documented_rates_per_category() -> None:
    rates = WasteRates().as_dict()
    assert list(rates) == list(CATEGORIES) == list(ELIGIBILITY)
    assert all(0 < r < 0.3 for r in rates.values())
    assert set(WasteRates.none().as_dict().values()) == {0.0}


def test_overrides_change_only_the_named_categories() -> None:
    rates = WasteRates().with_overrides({"filler": 0.5})
    assert rates.filler == 0.5
    assert rates.retry_loop == WasteRates().retry_loop


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: WasteRates().with_overrides({"fluff": 0.1}), "unknown waste category fluff"),
        (lambda: WasteRates(filler=1.5), "between 0 and 1"),
        (lambda: SimulationConfig(calls=-1), "--calls must be 0 or more"),
        (lambda: SimulationConfig(calls=1, days=0), "--days must be between"),
        (lambda: SimulationConfig(calls=1, start=datetime(2026, 1, 1)), "time zone"),
        (lambda: SimulationConfig(calls=1, error_rate=0.9), "error_rate"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]
