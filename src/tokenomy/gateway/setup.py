"""Building a gateway from tokenomy.toml: routes, the sink, budgets and virtual keys.

* The sink: ``[gateway] sink``, else ``[tokenomy] sink`` / ``TOKENOMY_SINK``, else the store file
  (``duckdb:``); ``none`` builds calls for the metrics and keeps nothing; ``off`` does not meter
  at all (requests are still counted). Several gateway processes should
  send to a tokenomy server (``http://...``) rather than share one DuckDB file.
* Budgets: the ``[[budget]]`` tables and ``[budgets]`` settings of the same file, and the policies
  kept in the store (``tokenomy budgets set``); a Redis ledger for several gateways. Without any
  policy there is no admission step at all.
* Virtual keys, stored budgets and recorded spend (to rebuild budget accounts missing from the
  ledger) are read from where the calls are (:mod:`tokenomy.gateway.key_store`): the file a
  ``duckdb:PATH`` sink names, else the configured store file; through the store the gateway's
  own ``duckdb:`` sink writes (one store object in the process), else from the store file
  (opened and closed for each read), or, when the sink is a tokenomy server, from the server's
  ``GET /api/v1/virtual_keys`` and ``GET /api/v1/spend`` (with the server token).
  When keys are required and cannot be read at start-up (another process holds the store file),
  the gateway refuses to start and says what to configure.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import Policy
from tokenomy.budgets.settings import load_budgets
from tokenomy.budgets.setup import ledger_for, merged_policies, stored_policies
from tokenomy.budgets.spend import SpendSource
from tokenomy.capture.budget import DiscardTarget
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import settings_from_config, spool_for, target_for
from tokenomy.capture.sink.target import Target
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.config import Config, load
from tokenomy.errors import ConfigError, StoreError
from tokenomy.gateway.app import Gateway
from tokenomy.gateway.budget import GatewayBudget
from tokenomy.gateway.key_store import (
    CollectorKeys,
    CollectorSpend,
    SharedDuckDBTarget,
    SharedKeys,
    SharedSpend,
    SharedStore,
)
from tokenomy.gateway.keys import KeyBook, Loader
from tokenomy.gateway.settings import GatewaySettings, load_gateway
from tokenomy.gateway.upstream import Transport
from tokenomy.pricing import Pricer

log = logging.getLogger("tokenomy.gateway")


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a gateway reads keys, stored policies and recorded spend.

    Attributes:
        keys: Reads the virtual keys.
        shared: The store shared with the sink (or opened for each read), None behind a collector.
        where: Said in messages (``the store FILE``, ``the tokenomy server URL``).
        spend: Rebuilds missing budget accounts from recorded spend.
    """

    keys: Loader
    shared: SharedStore | None
    where: str
    spend: SpendSource | None = None


def sources_for(url: str, config: Config) -> Sources:
    """Where keys and spend come from for a gateway whose sink is ``url`` (see the module docstring):
    a server's API, the file a ``duckdb:PATH`` sink writes, else the configured store file."""
    if url.startswith(("http://", "https://")):
        token = config.server_token
        where = f"the tokenomy server {url}"
        return Sources(CollectorKeys(url, token), None, where, CollectorSpend(url, token))
    named = url.removeprefix("duckdb:") if url.startswith("duckdb:") else ""
    shared = SharedStore((Path(named) if named else config.db).expanduser().resolve())
    return Sources(SharedKeys(shared), shared, f"the store {shared.path}", SharedSpend(shared))


def gateway_from_config(
    config_file: str | os.PathLike[str] | None = None,
    *,
    settings: GatewaySettings | None = None,
    transport: Transport | None = None,
    sink: str | None = None,
) -> Gateway:
    """A gateway as tokenomy.toml describes it (see the module docstring).

    Args:
        config_file: tokenomy.toml (None: ``./tokenomy.toml`` when present).
        settings: Gateway settings to use instead of the file's ``[gateway]``.
        transport: The upstream transport (default: the keep-alive pool).
        sink: A sink URL (or ``none``) overriding the configured one.

    Raises:
        ConfigError: A setting, route or policy is malformed, or keys are required and cannot be
            read from where this set-up keeps them.
    """
    config = load(config_file)
    settings = settings or load_gateway(config_file)
    pricer = Pricer(config.overrides)
    url = sink or settings.sink or config.sink or "duckdb:"
    sources = sources_for(url, config)
    keys = KeyBook(sources.keys, refresh=settings.key_refresh)
    if settings.require_keys:
        _first_load(keys, sources)
    budget = budget_from_config(config_file, pricer, sources)
    if budget is not None and not url.startswith(("duckdb:", "http://", "https://")):
        # the spend an account is rebuilt from is read where the sink writes: here, nowhere
        log.warning(
            "tokenomy gateway: budgets on, but the sink (%s) keeps the calls where the gateway does not "
            "read spend back: a budget account the ledger loses (a restart with the in-process ledger, a "
            "Redis key dropped) starts again from 0 spent; use a duckdb: sink or a collector to keep it",
            url,
        )
    return Gateway(
        settings,
        transport=transport,
        sink=None if url == "off" else sink_for(url, config, sources.shared),
        budget=budget,
        keys=keys,
        pricer=pricer,
    )


def budget_from_config(
    config_file: str | os.PathLike[str] | None, pricer: Pricer, sources: Sources
) -> GatewayBudget | None:
    """Admission for the configured and stored policies (None: no policy), rebuilding from ``sources``.

    Raises:
        ConfigError: A policy is malformed or defined twice.
    """
    config = load_budgets(config_file)
    shared = sources.shared
    stored: list[Policy] = []
    if shared is not None:
        try:
            stored = shared.read(stored_policies, [])
        except StoreError as exc:  # the file is held elsewhere: the config file's policies still apply
            log.warning("tokenomy gateway: cannot read the budgets kept in %s (%s)", sources.where, exc)
    policies = [s.policy for s in merged_policies(config, stored)]
    if not policies:
        return None
    spend = sources.spend
    ledger = ledger_for(config.settings) or MemoryLedger(create_missing=spend is None)
    guard = BudgetGuard(policies, ledger=ledger, settings=config.settings, pricer=pricer, spend=spend)
    return GatewayBudget(guard)


def _first_load(keys: KeyBook, sources: Sources) -> None:
    keys.reload()
    if keys.failures:
        raise ConfigError(
            f"[gateway] require_keys is on but the virtual keys cannot be read from {sources.where} "
            f"({keys.last_error}). When a tokenomy server owns the store, send the gateway's calls to "
            'it (sink = "http://host:port" in [gateway], with its token in TOKENOMY_SERVER_TOKEN) so '
            "keys are read through it; otherwise stop the process holding the file"
        )
    if not keys.valid:  # it starts (keys may be issued later), but every /v1/ request would get 401
        held = f"only {keys.known} revoked or expired virtual key(s)" if keys.known else "no virtual key"
        log.warning(
            "tokenomy gateway: require_keys is on and %s holds %s: every /v1/ request gets "
            "401 until one is issued there (tokenomy keys create, with --db naming that store)",
            sources.where,
            held,
        )


def sink_for(url: str, config: Config, shared: SharedStore | None = None) -> Sink:
    """The sink a URL names; ``none`` builds calls (for the metrics) and keeps nothing.

    A ``duckdb:`` sink on the file ``shared`` reads writes through ``shared``.
    """
    settings = settings_from_config(config)
    if url == "none":
        return Sink(DiscardTarget(), settings)
    if not url.startswith(("duckdb:", "http://", "https://", "otlp+http://", "otlp+https://")):
        raise ConfigError(
            f"the gateway's sink {url!r} is not a known target: use duckdb:PATH, http://host:port (a "
            "tokenomy server), otlp+http://host:port (an OTLP/HTTP collector), none (calls built for "
            "the metrics, kept nowhere) or off (not metered)"
        )
    target: Target = target_for(url, config, service_name="tokenomy-gateway")
    if shared is not None and isinstance(target, DuckDBTarget) and target.path == shared.path:
        target = SharedDuckDBTarget(shared, overrides=config.overrides)
    return Sink(target, settings, spool=spool_for(target, settings))
