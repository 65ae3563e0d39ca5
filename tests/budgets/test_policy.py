"""Policies: parsing, validation (errors name where and which field), thresholds and round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.budgets.conftest import policy
from tokenomy.budgets.policy import DowngradeStep, Mode, Scope, Unit, Window, parse_policy
from tokenomy.errors import ConfigError


def test_a_full_table_is_read_into_typed_fields() -> None:
    found = policy(
        scope="team",
        match="search",
        limit_usd="500.00",
        window="month",
        timezone="Europe/Berlin",
        mode="soft",
        soft_threshold="80%",
        downgrade=[{"model": "gpt-4o-mini"}, {"max_tokens": 512, "reasoning_effort": "low"}],
        min_output_tokens=128,
    )
    assert (found.scope, found.match, found.window, found.mode) == (
        Scope.TEAM,
        "search",
        Window.MONTH,
        Mode.SOFT,
    )
    assert (found.limit, found.unit, found.timezone) == (Decimal("500.00"), Unit.USD, "Europe/Berlin")
    assert found.soft_threshold == Decimal("0.8")
    assert found.downgrade == (
        DowngradeStep(model="gpt-4o-mini"),
        DowngradeStep(max_tokens=512, reasoning_effort="low"),
    )
    assert found.thresholds == (Decimal("0.8"), Decimal("0.9"))
    assert found.min_output_tokens == 128
    assert found.describe_scope() == "team 'search'"
    assert found.describe_limit() == "$500.00 per month (Europe/Berlin)"


def test_key_is_an_alias_of_api_key_id_and_tokens_limits_are_whole() -> None:
    found = policy(scope="key", limit_tokens=2_000_000, window="request")
    assert found.scope is Scope.KEY
    assert (found.unit, found.limit) == (Unit.TOKENS, Decimal(2_000_000))
    assert found.describe_limit() == "2,000,000 tokens per request"
    assert found.describe_scope() == "every api_key_id"


def test_the_smallest_dollar_limit_is_one_nano_dollar() -> None:
    assert policy(limit_usd="0.000000001").limit == Decimal("0.000000001")


def test_a_dollar_limit_under_a_cent_keeps_its_digits() -> None:
    assert policy(limit_usd="0.001", window="day").describe_limit() == "$0.001 per day (UTC)"
    assert policy(limit_usd="1234.5").describe_limit() == "$1,234.50 per day (UTC)"
    assert policy(limit_usd="12.3456").describe_limit() == "$12.3456 per day (UTC)"


def test_explicit_step_shares_are_kept() -> None:
    found = policy(mode="soft", downgrade=[{"model": "m", "at": 0.5}, {"max_tokens": 100, "at": "95%"}])
    assert found.thresholds == (Decimal("0.5"), Decimal("0.95"))


def test_to_mapping_reads_back_to_the_same_policy() -> None:
    original = policy(
        scope="user", limit_usd="2.5", mode="soft", downgrade=[{"model": "small"}], window="week"
    )
    assert parse_policy(original.to_mapping(), "again") == original


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "bad name"}, "field 'name' must be"),
        ({"scope": "planet"}, "field 'scope' must be one of global, team"),
        ({"window": "year"}, "field 'window' must be one of request, session, day"),
        ({"limit_usd": "-1"}, "field 'limit_usd' must be at least 0.000000001"),
        # below one nano-dollar the ledgers hold 0: every request refused, "spent $0.0000"
        ({"limit_usd": "0.00000000001"}, "field 'limit_usd' must be at least 0.000000001 (the ledgers"),
        # the gateway strips header values: this policy applied to none of its requests
        (
            {"scope": "team", "match": " search "},
            "field 'match' ' search ' has spaces around it; the gateway reads its headers' values "
            "without them, so it would apply to none of its requests: use 'search'",
        ),
        ({"scope": "team", "match": "  "}, "field 'match' must be a non-empty string"),
        ({"limit_usd": "ten"}, "field 'limit_usd' must be a number"),
        ({"limit_tokens": 10, "limit_usd": "1"}, "give exactly one of 'limit_usd'"),
        ({"timezone": "Mars/Olympus"}, "field 'timezone' is not a known time zone"),
        ({"match": "x"}, "field 'match' needs a scope other than global"),
        ({"mode": "soft"}, "a soft policy needs a 'downgrade' chain"),
        ({"downgrade": [{"model": "m"}]}, "applies to soft policies only"),
        ({"mode": "soft", "downgrade": [{"colour": "red"}]}, "downgrade[0]: unknown field(s) colour"),
        ({"mode": "soft", "downgrade": [{}]}, "downgrade[0]: a step must set model"),
        (
            {"mode": "soft", "downgrade": [{"reasoning_effort": "extreme"}]},
            "field 'reasoning_effort' must be",
        ),
        (
            {"mode": "soft", "downgrade": [{"model": "a", "at": 0.9}, {"model": "b", "at": 0.5}]},
            "must increase",
        ),
        ({"soft_threshold": 1.5}, "field 'soft_threshold' must be a share"),
        ({"window": "session", "timezone": "Europe/Berlin"}, "applies to day, week and month windows only"),
        ({"colour": "red"}, "unknown field(s) colour"),
        ({"min_output_tokens": 0}, "field 'min_output_tokens' must be a positive whole number"),
    ],
)
def test_bad_tables_say_where_and_which_field(fields: dict[str, object], expected: str) -> None:
    table: dict[str, object] = {"name": "p", "limit_usd": "1"}
    table.update(fields)
    if "limit_tokens" in fields and "limit_usd" not in fields:
        table.pop("limit_usd")
    with pytest.raises(ConfigError) as caught:
        parse_policy(table, "tokenomy.toml: budget[3]")
    message = str(caught.value)
    assert message.startswith("tokenomy.toml: budget[3]")
    assert expected in message
