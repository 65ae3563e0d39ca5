"""Building a guard from tokenomy.toml and the store: merged policies, name clashes, the configured ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.budgets.conftest import policy
from tokenomy.budgets import BudgetRequest, Reservation, guard_from_config
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.settings import BudgetSettings, load_budgets
from tokenomy.budgets.setup import ledger_for, merged_policies, save_policy, stored_policies
from tokenomy.errors import ConfigError
from tokenomy.store import open_store

TOML = """
[budgets]
fail = "open"

[[budget]]
name = "from-file"
limit_tokens = 1000
"""


def test_file_and_store_policies_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(TOML)
    config = load_budgets(path, env={})
    with open_store(tmp_path / "t.duckdb") as store:
        assert save_policy(store, policy(name="from-store", scope="team"), config) is False
        assert save_policy(store, policy(name="from-store", scope="user"), config) is True
        with pytest.raises(ConfigError, match="is defined in"):
            save_policy(store, policy(name="from-file"), config)
        merged = merged_policies(config, stored_policies(store))
        assert [(s.policy.name, s.source) for s in merged] == [
            ("from-file", str(path)),
            ("from-store", "store"),
        ]
        assert merged[1].policy.scope.value == "user"
        guard = guard_from_config(path, store=store)
        assert [p.name for p in guard.policies] == ["from-file", "from-store"]
        assert guard.settings.fail.value == "open"
        assert isinstance(guard.ledger, MemoryLedger)
        store.save_budget_policy("from-file", '{"name": "from-file", "limit_usd": "1"}')
        with pytest.raises(ConfigError, match=r"defined in .* and in the store"):
            guard_from_config(path, store=store)
        store.save_budget_policy("broken", "{not json")
        with pytest.raises(ConfigError, match="budget 'broken' is not valid JSON"):
            stored_policies(store)


def test_the_settings_name_the_ledger() -> None:
    assert ledger_for(BudgetSettings()) is None
    shared = ledger_for(BudgetSettings(ledger="redis://127.0.0.1:6399/0"))
    assert isinstance(shared, RedisLedger)
    assert shared.url == "redis://127.0.0.1:6399/0"
    shared.close()


def test_the_guard_prices_with_the_overrides_file_the_configuration_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENOMY_OVERRIDES", raising=False)
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        '[[price]]\nname = "acme"\nprovider = "openai"\nmodel = "acme-custom-*"\n'
        "effective = 2024-09-01\ninput = 1\ncache_read = 0.5\noutput = 4\n"
    )
    path = tmp_path / "tokenomy.toml"
    path.write_text(
        f'[tokenomy]\noverrides = "{overrides.as_posix()}"\n\n[[budget]]\nname = "all"\nlimit_usd = "1"\n'
    )
    guard = guard_from_config(path)
    request = BudgetRequest(model="acme-custom-1", provider="openai", input_tokens=1000, max_tokens=500)
    res = guard.reserve(request)  # without the overrides: refused, "add a [[price]] entry"
    assert isinstance(res, Reservation), res
    assert res.worst_case_usd == Decimal("0.003")  # 1000 x $1 / MTok + 500 x $4 / MTok
    assert res.card is not None
    assert res.card.source.endswith("#acme")
