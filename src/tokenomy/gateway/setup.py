"""Building a gateway from tokenomy.toml: routes, the sink, budgets and virtual keys.

* The sink: ``[gateway] sink``, else ``[tokenomy] sink`` / ``TOKENOMY_SINK``, else the store file
  (``duckdb:``); ``none`` builds calls for the metrics and keeps nothing; ``off`` does not meter
  at all (requests are still counted). Several gateway processes should
  send to a tokenomy server (``http://...``) rather than share one DuckDB file.
* Budgets: the ``[[budget]]`` tables and ``[budgets]`` settings of the same file (a Redis ledger
  for several gateways); without any policy there is no admission step at all.
* Virtual keys: read from the store (``virtual_keys``) when it exists, refreshed every
  ``key_refresh`` seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tokenomy.budgets.settings import load_budgets
from tokenomy.budgets.setup import guard_from_config
from tokenomy.capture.budget import DiscardTarget
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import settings_from_config, spool_for, target_for
from tokenomy.config import Config, load
from tokenomy.gateway.app import Gateway
from tokenomy.gateway.budget import GatewayBudget
from tokenomy.gateway.keys import KeyBook, VirtualKey
from tokenomy.gateway.settings import GatewaySettings, load_gateway
from tokenomy.gateway.upstream import Transport
from tokenomy.pricing import Pricer


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
        ConfigError: A setting, route or policy is malformed.
    """
    config = load(config_file)
    settings = settings or load_gateway(config_file)
    pricer = Pricer(config.overrides)
    budgets = load_budgets(config_file)
    budget = None
    if budgets.policies:
        budget = GatewayBudget(guard_from_config(config_file, pricer=pricer))
    url = sink or settings.sink or config.sink or "duckdb:"
    return Gateway(
        settings,
        transport=transport,
        sink=None if url == "off" else sink_for(url, config),
        budget=budget,
        keys=KeyBook(_store_keys(config), refresh=settings.key_refresh),
        pricer=pricer,
    )


def sink_for(url: str, config: Config) -> Sink:
    """The sink a URL names; ``none`` builds calls (for the metrics) and keeps nothing."""
    settings = settings_from_config(config)
    if url == "none":
        return Sink(DiscardTarget(), settings)
    target = target_for(url, config, service_name="tokenomy-gateway")
    return Sink(target, settings, spool=spool_for(target, settings))


def _store_keys(config: Config) -> _StoreKeys:
    return _StoreKeys(config)


class _StoreKeys:
    """Reads the issued keys from the store (none when the store file does not exist yet)."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def __call__(self) -> Iterable[VirtualKey]:
        from tokenomy.gateway.key_store import read_keys  # noqa: PLC0415  (DuckDB only when keys are read)

        return read_keys(self._config)
