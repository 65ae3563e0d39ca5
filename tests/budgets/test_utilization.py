"""Token utilization per budget: the numbers handed to analysis.metrics.token_utilization."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.budgets.conftest import policy
from tests.budgets.support import recorded_call
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.metrics import token_utilization
from tokenomy.budgets import utilization_inputs
from tokenomy.errors import ConfigError
from tokenomy.store import open_store

NOW = datetime(2026, 3, 11, tzinfo=UTC)


def test_inputs_of_a_token_budget() -> None:
    found = utilization_inputs(
        policy(scope="team", match="search", limit_tokens=10_000, window="month"), now=NOW
    )
    assert (found.policy, found.budget_tokens) == ("p", 10_000)
    assert (found.since, found.until) == (datetime(2026, 3, 1), datetime(2026, 4, 1))
    assert found.where == (("team", ("search",)),)


def test_a_dollar_budget_needs_a_conversion() -> None:
    dollars = policy(limit_usd="10", window="day")
    with pytest.raises(ConfigError, match="pass usd_per_token"):
        utilization_inputs(dollars, now=NOW)
    assert utilization_inputs(dollars, now=NOW, usd_per_token=Decimal("0.000002")).budget_tokens == 5_000_000
    with pytest.raises(ConfigError, match="needs a day, week or month window"):
        utilization_inputs(policy(window="session"))


def test_the_metric_computes_productive_tokens_over_the_budget(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                recorded_call("in", datetime(2026, 3, 5), "1", team="search", tokens=2_000),
                recorded_call("in2", datetime(2026, 3, 6), "1", team="search", tokens=500),
                recorded_call("other-team", datetime(2026, 3, 6), "1", team="ads", tokens=9_000),
                recorded_call("last-month", datetime(2026, 2, 6), "1", team="search", tokens=9_000),
            ]
        )
        found = utilization_inputs(
            policy(scope="team", match="search", limit_tokens=10_000, window="month"), now=NOW
        )
        selection = Selection.of(since=found.since, until=found.until, where=found.where)
        result = token_utilization(store, found.budget_tokens, selection)
    assert result.total.value == 0.25  # 2,500 productive tokens of 10,000 budgeted
    assert (result.total.numerator, result.total.denominator) == (2_500, 10_000)
