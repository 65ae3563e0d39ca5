"""tokenomy.toml: the [budgets] settings and [[budget]] tables, with errors naming file, table and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.budgets.settings import FailMode, load_budgets
from tokenomy.errors import ConfigError

GOOD = """
[tokenomy]
db = "x.duckdb"

[budgets]
ledger = "redis://127.0.0.1:6399/0"
fail = "open"
reservation_ttl = 30
min_output_tokens = 128
unknown_context_window = 200000
alert_webhook = "http://127.0.0.1:9/hook"
max_output_tokens = { "gpt-4o-mini" = 16384 }

[[budget]]
name = "search-monthly"
scope = "team"
match = "search"
limit_usd = "500"
window = "month"
timezone = "Europe/Berlin"

[[budget]]
name = "per-request"
limit_tokens = 50000
window = "request"
"""


def test_settings_and_policies_are_read(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(GOOD)
    found = load_budgets(path, env={})
    settings = found.settings
    assert (settings.ledger, settings.fail, settings.reservation_ttl) == (
        "redis://127.0.0.1:6399/0",
        FailMode.OPEN,
        30.0,
    )
    assert (settings.min_output_tokens, settings.alert_webhook) == (128, "http://127.0.0.1:9/hook")
    assert settings.max_output_tokens == {"gpt-4o-mini": 16384}
    assert settings.contention_wait == 2.0  # the default
    assert (settings.unknown_context_window, settings.default_max_tokens) == (200_000, 16_384)
    assert [p.name for p in found.policies] == ["search-monthly", "per-request"]
    assert found.path == path


def test_no_file_gives_defaults_and_the_environment_names_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"TOKENOMY_BUDGET_LEDGER": "redis://127.0.0.1:1/0", "TOKENOMY_BUDGET_FAIL": "open"}
    found = load_budgets(None, env=env)
    assert (found.policies, found.path) == ((), None)
    assert (found.settings.ledger, found.settings.fail) == ("redis://127.0.0.1:1/0", FailMode.OPEN)
    assert load_budgets(None, env={}).settings.ledger == "memory"
    off = tmp_path / "off.toml"
    off.write_text("[budgets]\ncontention_wait = 0\n")
    assert load_budgets(off, env={}).settings.contention_wait == 0.0
    with pytest.raises(ConfigError, match="does not exist"):
        load_budgets(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[budget]]\nname = 'a'\nlimit_usd = 'lots'\n",
            "budget[0] (budget 'a'): field 'limit_usd' must be a number",
        ),
        (
            "[[budget]]\nname = 'a'\nlimit_usd = 1\n[[budget]]\nname = 'a'\nlimit_usd = 2\n",
            "budget[1]: a budget named 'a'",
        ),
        ("[budgets]\nledger = 'postgres://x'\n", "[budgets]: 'ledger' must be \"memory\" or a redis:// URL"),
        ("[budgets]\nfail = 'sometimes'\n", '\'fail\' must be "closed" or "open"'),
        ("[budgets]\nreservation_ttl = -5\n", "'reservation_ttl' must be a positive number"),
        ("[budgets]\ncontention_wait = -1\n", "'contention_wait' must be seconds from 0 (off) to 3600"),
        ("[budgets]\nunknown_context_window = 0\n", "'unknown_context_window' must be a positive whole"),
        ("[budgets]\ncolour = 1\n", "unknown setting(s) colour"),
        ("budget = 3\n", "budgets are [[budget]] tables"),
        ("[[budget]\n", "cannot read the config file"),
    ],
)
def test_errors_name_the_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_budgets(path, env={})
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
