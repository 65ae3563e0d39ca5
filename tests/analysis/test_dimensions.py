from __future__ import annotations

import pytest

from tokenomy.analysis.dimensions import (
    UNATTRIBUTED,
    Scope,
    dimension,
    parse_bucket,
    parse_dimensions,
    parse_where,
    scope_sql,
)
from tokenomy.errors import ConfigError
from tokenomy.store.duckdb_dialect import DuckDBDialect

DIALECT = DuckDBDialect()


def test_dimensions_are_parsed_checked_and_deduplicated() -> None:
    assert parse_dimensions("team, feature,team,tag:env") == ("team", "feature", "tag:env")
    assert parse_dimensions(None) == ()
    with pytest.raises(ConfigError, match="unknown dimension 'colour' in --by; use one of: user, team"):
        parse_dimensions("team,colour")
    with pytest.raises(ConfigError, match="unknown dimension"):
        parse_dimensions("tag:")


def test_an_unknown_dimension_in_a_filter_is_reported_against_where() -> None:
    with pytest.raises(ConfigError, match="unknown dimension 'nosuch' in --where; use one of: user, team"):
        parse_where(["nosuch=1"])


def test_calls_and_charges_have_their_own_sql() -> None:
    team = dimension("team", DIALECT)
    assert (team.calls_sql, team.charges_sql) == ('c."team"', 'g."team"')
    model = dimension("model", DIALECT)
    assert model.charges_sql == "CAST(NULL AS VARCHAR)"  # a charge has no model: unattributed
    assert dimension("tag:env", DIALECT).calls_sql == "c.tags['env']"
    assert dimension("tag:it's", DIALECT).calls_sql == "c.tags['it''s']"


def test_where_filters_group_values_of_one_dimension() -> None:
    assert parse_where(["team=a", "team=b", f"feature={UNATTRIBUTED}"]) == (
        ("team", ("a", "b")),
        ("feature", (UNATTRIBUTED,)),
    )
    for bad in ("team", "=a"):
        with pytest.raises(ConfigError, match="expected dimension=value"):
            parse_where([bad])


def test_scope_sql_uses_parameters() -> None:
    sql = scope_sql(Scope(where=(("team", ("a'; DROP TABLE calls; --",)),)), DIALECT)
    assert "DROP" not in sql.condition
    assert sql.params == ["a'; DROP TABLE calls; --"]
    model = scope_sql(Scope(where=(("model", ("gpt-4o",)),)), DIALECT)
    assert "request_model" in model.condition  # a model filter matches the name asked for too
    assert model.params == ["gpt-4o", "gpt-4o"]


def test_buckets() -> None:
    assert parse_bucket("week") == "week"
    assert parse_bucket(None) is None
    with pytest.raises(ConfigError, match="hour, day, week, month"):
        parse_bucket("fortnight")


@pytest.mark.parametrize("item", ["team=", "tag:env="])
def test_an_empty_where_value_is_refused_not_an_empty_report(item: str) -> None:
    # no call has an empty value (a missing or empty one is "(unattributed)"): refusing it beats a
    # report of nothing, which reads as $0 (an unset shell variable in --where team=$TEAM does this)
    with pytest.raises(ConfigError, match=r"the value is empty; name one, or .+=\(unattributed\)"):
        parse_where([item])
    assert parse_where([" team =x"]) == (("team", ("x",)),)
