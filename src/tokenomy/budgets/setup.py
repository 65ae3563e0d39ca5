"""Where policies come from, and building a guard from the configuration.

Policies are defined in two places: ``[[budget]]`` tables of tokenomy.toml (reviewed with the
code) and the store (``tokenomy budgets set``, changed at run time). Both are merged; a name may
be defined in one place only. :func:`guard_from_config` builds a :class:`BudgetGuard` from the
settings (``memory`` or Redis ledger, fail mode, TTL, webhook), the merged policies and the store
(rebuilding spend of missing accounts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.ledger import Ledger
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import Policy, parse_policy
from tokenomy.budgets.settings import BudgetConfig, BudgetSettings, load_budgets
from tokenomy.budgets.spend import StoreSpend
from tokenomy.config import load
from tokenomy.errors import ConfigError
from tokenomy.pricing import Pricer
from tokenomy.store.base import Store

if TYPE_CHECKING:
    from tokenomy.store.budgets import StoredPolicy


@runtime_checkable
class PolicyStore(Protocol):
    """What the budgets need from a store to keep policies (the DuckDB store has it)."""

    def save_budget_policy(self, name: str, definition: str) -> bool:
        """Store or replace a policy; True when it replaced one."""
        ...

    def delete_budget_policy(self, name: str) -> bool:
        """Remove a policy; True when there was one."""
        ...

    def budget_policies(self) -> list[StoredPolicy]:
        """The stored policies."""
        ...


@dataclass(frozen=True, slots=True)
class Sourced:
    """A policy and where it is defined (``tokenomy.toml`` or ``store``)."""

    policy: Policy
    source: str


def stored_policies(store: PolicyStore, where: str = "store") -> list[Policy]:
    """The policies kept in the store, validated like the config file's.

    Raises:
        ConfigError: A stored definition is no longer valid (it names the policy).
    """
    out = []
    for row in store.budget_policies():
        try:
            data = json.loads(row.definition)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{where}: budget '{row.name}' is not valid JSON ({exc}); set it again"
            ) from exc
        out.append(parse_policy(data, f"{where}: budget '{row.name}'"))
    return out


def merged_policies(config: BudgetConfig, stored: Sequence[Policy]) -> list[Sourced]:
    """Config-file policies, then the stored ones (:func:`stored_policies`).

    Raises:
        ConfigError: A name is defined in both places.
    """
    source = str(config.path) if config.path is not None else "tokenomy.toml"
    found = [Sourced(p, source) for p in config.policies]
    names = {p.name for p in config.policies}
    for policy in stored:
        if policy.name in names:
            raise ConfigError(
                f"budget '{policy.name}' is defined in {source} and in the store; "
                f"delete one (`tokenomy budgets delete {policy.name}` or edit the file)"
            )
        found.append(Sourced(policy, "store"))
    return found


def save_policy(store: PolicyStore, policy: Policy, config: BudgetConfig) -> bool:
    """Store ``policy`` (replacing one of the same name); True when it replaced one.

    Raises:
        ConfigError: The name belongs to a policy of the config file.
    """
    if any(p.name == policy.name for p in config.policies):
        raise ConfigError(
            f"budget '{policy.name}' is defined in {config.path}; change it there, or choose another name"
        )
    return store.save_budget_policy(policy.name, json.dumps(policy.to_mapping(), sort_keys=True))


def ledger_for(settings: BudgetSettings) -> Ledger | None:
    """The ledger the settings name (None: in-process, built by the guard)."""
    if settings.ledger == "memory":
        return None
    from tokenomy.budgets.redis_ledger import RedisLedger  # noqa: PLC0415  (redis only when configured)

    return RedisLedger(settings.ledger, timeout=settings.redis_timeout)


def guard_from_config(
    config_file: str | os.PathLike[str] | None = None,
    *,
    store: Store | None = None,
    pricer: Pricer | None = None,
    ledger: Ledger | None = None,
) -> BudgetGuard:
    """A guard enforcing the configured policies.

    Args:
        config_file: tokenomy.toml to read (None: ``./tokenomy.toml`` when present).
        store: The store: its policies are enforced too, and missing accounts are rebuilt from
            its recorded calls. None enforces the file's policies, starting accounts at zero.
        pricer: Prices worst cases and settlements (None: the catalog with the overrides file the
            configuration names, ``overrides`` or ``TOKENOMY_OVERRIDES``, as the gateway prices).
        ledger: A ledger to use instead of the configured one.

    Raises:
        ConfigError: A setting or policy is malformed.
    """
    config = load_budgets(config_file)
    stored: list[Policy] = stored_policies(store) if isinstance(store, PolicyStore) else []
    policies = [s.policy for s in merged_policies(config, stored)]
    if pricer is None:  # negotiated and custom prices count here as in the calls recorded
        pricer = Pricer(load(config_file).overrides)
    chosen = ledger or ledger_for(config.settings)
    if chosen is None:
        chosen = MemoryLedger(create_missing=store is None)
    spend = StoreSpend(store) if store is not None else None
    return BudgetGuard(policies, ledger=chosen, settings=config.settings, pricer=pricer, spend=spend)
