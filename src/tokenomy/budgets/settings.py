"""Budget settings and policies from tokenomy.toml: the ``[budgets]`` table and the ``[[budget]]`` tables.

::

    [budgets]
    ledger = "redis://127.0.0.1:6379/0"   # or "memory" (one process), the default
    fail = "closed"                        # or "open": admit when Redis is down, and say so
    reservation_ttl = 600                  # seconds before an unsettled reservation is released
    min_output_tokens = 256                # the fewest output tokens worth lowering max_tokens to
    default_max_tokens = 16384             # the bound when neither request nor catalog gives one
    unknown_context_window = 2000000       # the input reserved for a stored conversation when
                                           # the catalog knows no context window for its model
    alert_webhook = "http://127.0.0.1:9000/hooks/budget"
    max_output_tokens = { "gpt-4o-mini" = 16384 }   # per-model maximum output, where known
    contention_wait = 2.0                  # seconds a request blocked only by reservations in
                                           # flight waits for them to settle (0: refuse at once)

    [[budget]]
    name = "search-team-monthly"
    scope = "team"
    match = "search"
    limit_usd = "500.00"
    window = "month"
    timezone = "Europe/Berlin"

The environment can name the ledger (``TOKENOMY_BUDGET_LEDGER``) and the fail mode
(``TOKENOMY_BUDGET_FAIL``) when the file does not. Errors name the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from tokenomy.budgets.policy import Policy, parse_policy
from tokenomy.config import read_config_file
from tokenomy.errors import ConfigError


class FailMode(StrEnum):
    """What admission does when the shared ledger cannot be reached."""

    CLOSED = "closed"
    """Refuse (HTTP 503, ``budget_unavailable``): never overspend."""
    OPEN = "open"
    """Admit, and record that enforcement was off (logged, alerted, flagged on the reservation)."""


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """How budgets are enforced (see the module docstring for each field)."""

    ledger: str = "memory"
    fail: FailMode = FailMode.CLOSED
    reservation_ttl: float = 600.0
    min_output_tokens: int = 256
    default_max_tokens: int = 16_384
    unknown_context_window: int = 2_000_000
    alert_webhook: str | None = None
    max_output_tokens: Mapping[str, int] = field(default_factory=dict)
    redis_timeout: float = 0.5
    contention_wait: float = 2.0


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """What a config file says about budgets."""

    settings: BudgetSettings = field(default_factory=BudgetSettings)
    policies: tuple[Policy, ...] = ()
    path: Path | None = None


_SETTINGS: Final = frozenset(
    {
        "ledger",
        "fail",
        "reservation_ttl",
        "min_output_tokens",
        "default_max_tokens",
        "unknown_context_window",
        "alert_webhook",
        "max_output_tokens",
        "redis_timeout",
        "contention_wait",
    }
)


def load_budgets(
    config_file: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> BudgetConfig:
    """Read the budget settings and policies.

    Args:
        config_file: A TOML file; None reads ``./tokenomy.toml`` when it exists.
        env: The environment (defaults to ``os.environ``).

    Raises:
        ConfigError: The file cannot be read, or a setting or policy is malformed (the message
            names the file, the table and the field).
    """
    env = os.environ if env is None else env
    found = read_config_file(config_file)
    if found is None:
        return BudgetConfig(settings=_settings({}, env, "environment"))
    path, data = found
    section = data.get("budgets", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [budgets] must be a table")
    tables = data.get("budget", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: budgets are [[budget]] tables (an array of tables)")
    policies = parse_policies(tables, str(path))
    return BudgetConfig(_settings(section, env, f"{path}: [budgets]"), policies, path)


def parse_policies(tables: list[Any], source: str) -> tuple[Policy, ...]:
    """Policies from a list of ``[[budget]]`` tables; names must be unique.

    Raises:
        ConfigError: A table is malformed, or two share a name.
    """
    policies: list[Policy] = []
    for i, table in enumerate(tables):
        where = f"{source}: budget[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        policy = parse_policy(table, where)
        if any(p.name == policy.name for p in policies):
            raise ConfigError(
                f"{where}: a budget named '{policy.name}' is already defined; names must be unique"
            )
        policies.append(policy)
    return tuple(policies)


def _settings(section: Mapping[str, Any], env: Mapping[str, str], where: str) -> BudgetSettings:
    unknown = sorted(set(section) - _SETTINGS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_SETTINGS))}"
        )
    values = dict(section)
    for name, var in (("ledger", "TOKENOMY_BUDGET_LEDGER"), ("fail", "TOKENOMY_BUDGET_FAIL")):
        if name not in values and env.get(var):
            values[name] = env[var]
    ledger = values.get("ledger", "memory")
    if not isinstance(ledger, str) or not (
        ledger == "memory" or ledger.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ConfigError(f"{where}: 'ledger' must be \"memory\" or a redis:// URL, got {ledger!r}")
    fail = values.get("fail", "closed")
    if fail not in ("closed", "open"):
        raise ConfigError(f'{where}: \'fail\' must be "closed" or "open", got {fail!r}')
    webhook = values.get("alert_webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
    ):
        raise ConfigError(f"{where}: 'alert_webhook' must be an http(s) URL, got {webhook!r}")
    return BudgetSettings(
        ledger=ledger,
        fail=FailMode(fail),
        reservation_ttl=_positive(values, "reservation_ttl", 600.0, where),
        min_output_tokens=int(_positive(values, "min_output_tokens", 256, where, whole=True)),
        default_max_tokens=int(_positive(values, "default_max_tokens", 16_384, where, whole=True)),
        unknown_context_window=int(_positive(values, "unknown_context_window", 2_000_000, where, whole=True)),
        alert_webhook=webhook,
        max_output_tokens=_model_limits(values.get("max_output_tokens", {}), where),
        redis_timeout=_positive(values, "redis_timeout", 0.5, where),
        contention_wait=_seconds(values, "contention_wait", 2.0, where),
    )


def _positive(
    values: Mapping[str, Any], name: str, default: float, where: str, *, whole: bool = False
) -> float:
    value = values.get(name, default)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "whole number" if whole else "number"
        raise ConfigError(f"{where}: '{name}' must be a positive {kind}, got {value!r}")
    return float(value)


def _seconds(values: Mapping[str, Any], name: str, default: float, where: str) -> float:
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        raise ConfigError(f"{where}: '{name}' must be seconds from 0 (off) to 3600, got {value!r}")
    return float(value)


def _model_limits(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'max_output_tokens' must be a table of model = tokens")
    for model, tokens in value.items():
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0:
            raise ConfigError(
                f"{where}: max_output_tokens.{model} must be a positive whole number, got {tokens!r}"
            )
    return dict(value)
