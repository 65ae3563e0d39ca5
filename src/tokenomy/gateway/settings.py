"""The gateway's settings: the ``[gateway]`` table of tokenomy.toml, its routes, and where keys come from.

```toml
[gateway]
require_keys = false          # refuse requests without a valid virtual key (401)
token_env = "TOKENOMY_GATEWAY_TOKEN" # a gateway token: needed by /metrics and, without keys, by /v1/
other_paths = "pass"          # other /v1/ paths: "pass" (unmetered) or "refuse" (404); default
                              # "refuse" when any budget is configured, else "pass"
sink = "duckdb:gateway.duckdb" # where calls go; default: [tokenomy] sink, else the db file; "none"
connect_timeout = 5.0
read_timeout = 600.0

[[gateway.route]]
models = ["gpt-*", "o*"]      # globs on the request's model; the first route that matches wins
kind = "openai"               # openai | anthropic | openai-compatible
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY" # or api_key = "..." (prefer the environment)
provider = "openai"           # who bills these calls (prices, budgets); default: known from
                              # base_url's host (api.x.ai: x-ai...), else the kind's own
pass_client_key = false       # forward the client's own key instead of the route's
```

A route's key is resolved once, when the settings are read; it is never logged nor stored (the
``repr`` of a route hides it).

Exposure (:func:`check_exposure`, like ``tokenomy serve``): bound to a loopback address the gateway
may run open; bound to anything else it refuses to start unless virtual keys are required or a
gateway token is configured (``token_env``, ``TOKENOMY_GATEWAY_TOKEN`` or ``--token``), since every
request it forwards carries a route's provider key upstream.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tokenomy.config import read_config_file, refuse_unknown
from tokenomy.errors import ConfigError
from tokenomy.importers.hosts import provider_of_url
from tokenomy.providers import canonical

KINDS: Final = ("openai", "anthropic", "openai-compatible")
GATEWAY_KEYS: Final = frozenset(
    {"route", "require_keys", "token_env", "other_paths", "sink", "host", "port", "key_refresh"}
    | {"connect_timeout", "read_timeout"}
)
"""The keys a ``[gateway]`` table may hold (another is refused: a misspelt ``require_keys`` would
leave the gateway open)."""
ROUTE_KEYS: Final = frozenset(
    {"models", "kind", "base_url", "api_key", "api_key_env", "pass_client_key", "provider"}
    | {"connect_timeout", "read_timeout"}
)
"""The keys a ``[[gateway.route]]`` table may hold (a misspelt ``api_key_env`` would send no key)."""
OTHER_PATHS: Final = ("pass", "refuse")
TOKEN_ENV: Final = "TOKENOMY_GATEWAY_TOKEN"
MIN_TOKEN_CHARS: Final = 16


@dataclass(frozen=True, slots=True)
class Route:
    """Where requests for some models go.

    Attributes:
        models: Globs on the requested model (``gpt-*``); ``*`` matches every model.
        kind: ``openai``, ``anthropic`` or ``openai-compatible`` (the wire format upstream speaks).
        base_url: The base URL an SDK would be given (OpenAI: ending in ``/v1``; Anthropic: the host).
        api_key: The upstream key (never logged: hidden from ``repr``), or None.
        pass_client_key: Forward the client's own key instead of ``api_key``.
        connect_timeout: Seconds to open a connection upstream.
        read_timeout: Seconds to wait for each read from upstream.
        provider: The provider that bills these calls, as configured (None: not configured).
        billed_by: The provider the calls are recorded, priced and budgeted under: ``provider``
            when configured, else the one ``base_url``'s host belongs to (``api.x.ai``: ``x-ai``;
            :data:`tokenomy.importers.provider.HOSTS`), else ``anthropic`` for an Anthropic route
            and ``openai`` for the others (a self-hosted server: prices from an overrides file).
    """

    models: tuple[str, ...]
    kind: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    pass_client_key: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    provider: str | None = None
    billed_by: str = field(init=False, default="", compare=False)

    def __post_init__(self) -> None:
        billed = canonical(self.provider) or provider_of_url(self.base_url)
        object.__setattr__(
            self, "billed_by", billed or ("anthropic" if self.kind == "anthropic" else "openai")
        )

    def matches(self, model: str) -> bool:
        """True when ``model`` matches one of the route's globs."""
        return any(fnmatch.fnmatchcase(model, glob) for glob in self.models)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything the gateway reads from ``[gateway]`` (see the module docstring).

    Attributes:
        routes: Routes in order; the first that matches a model wins.
        require_keys: Refuse requests that carry no valid virtual key (401).
        other_paths: What to do with other ``/v1/`` paths: ``pass`` or ``refuse``; None: ``refuse``
            when budgets are configured, else ``pass`` (see :meth:`other_paths_with`).
        sink: Where calls go (a capture sink URL), ``none`` to keep nothing, None for the default.
        host: Interface to listen on.
        port: Port to listen on.
        key_refresh: Seconds between two reloads of the virtual keys from the store.
        token: The gateway token (hidden from ``repr``): ``/metrics`` asks for it and, when keys are
            not required, so do the ``/v1/`` paths (``Authorization: Bearer``, ``x-api-key`` or
            ``X-Tokenomy-Token``). None: no token.
    """

    routes: tuple[Route, ...] = ()
    require_keys: bool = False
    other_paths: str | None = None
    sink: str | None = None
    host: str = "127.0.0.1"
    port: int = 8800
    key_refresh: float = 10.0
    token: str | None = field(default=None, repr=False)

    def other_paths_with(self, budgets: bool) -> str:
        """What other ``/v1/`` paths get: the setting, else ``refuse`` with budgets and ``pass`` without."""
        if self.other_paths is not None:
            return self.other_paths
        return "refuse" if budgets else "pass"

    def route_for(self, model: str) -> Route | None:
        """The first route whose globs match ``model``."""
        for route in self.routes:
            if route.matches(model):
                return route
        return None

    def default_route(self, kind: str | None = None) -> Route | None:
        """The route unmetered pass-through paths go to: the first of that wire format."""
        for route in self.routes:
            if kind is None or route.kind == kind or (kind == "openai" and route.kind != "anthropic"):
                return route
        return None


def load_gateway(
    config_file: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> GatewaySettings:
    """Read ``[gateway]`` from tokenomy.toml (``./tokenomy.toml`` when None and present).

    Raises:
        ConfigError: The file cannot be read or a field is malformed (file, table and field named).
    """
    env = os.environ if env is None else env
    found = read_config_file(config_file)
    if found is None:
        return settings_from_table({}, env=env)
    path, data = found
    section = data.get("gateway", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [gateway] must be a table")
    return settings_from_table(section, env=env, where=str(path))


def settings_from_table(
    section: Mapping[str, Any], *, env: Mapping[str, str] | None = None, where: str = "[gateway]"
) -> GatewaySettings:
    """Settings from a parsed ``[gateway]`` table (see :func:`load_gateway`)."""
    env = os.environ if env is None else env
    refuse_unknown(section, GATEWAY_KEYS, where)
    connect = _seconds(section, "connect_timeout", 5.0, where)
    read = _seconds(section, "read_timeout", 600.0, where)
    tables = section.get("route", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{where}: gateway.route must be an array of tables ([[gateway.route]])")
    routes = tuple(
        _route(t, env, f"{where}: gateway.route[{n}]", connect, read) for n, t in enumerate(tables)
    )
    other = section.get("other_paths")
    if other is not None and other not in OTHER_PATHS:
        raise ConfigError(f"{where}: field 'other_paths' must be 'pass' or 'refuse', got {other!r}")
    sink = section.get("sink")
    if sink is not None and not isinstance(sink, str):
        raise ConfigError(f"{where}: field 'sink' must be a sink URL or 'none'")
    return GatewaySettings(
        routes=routes,
        require_keys=_bool(section, "require_keys", where),
        other_paths=other,
        sink=sink,
        host=str(section.get("host", "127.0.0.1")),
        port=int(section.get("port", 8800)),
        key_refresh=_seconds(section, "key_refresh", 10.0, where),
        token=_token(section, env, where),
    )


def check_exposure(settings: GatewaySettings, host: str) -> None:
    """Refuse to serve beyond loopback with neither required keys nor a token (see the module docstring).

    Raises:
        ConfigError: The token is too short, or ``host`` is not loopback and the gateway would be open.
    """
    if settings.token is not None and len(settings.token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the gateway token is too short to be a secret: use at least {MIN_TOKEN_CHARS} random "
            'characters (for example: python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    if is_loopback(host) or settings.require_keys or settings.token is not None:
        return
    raise ConfigError(
        f"refusing to listen on {host} with no authentication: anyone who can reach it could spend "
        "the routes' provider keys and read /metrics. Set require_keys = true in [gateway] (and issue "
        f"keys with `tokenomy keys create`), or configure a gateway token (--token, {TOKEN_ENV}, or "
        "token_env in [gateway]), or bind 127.0.0.1"
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _token(section: Mapping[str, Any], env: Mapping[str, str], where: str) -> str | None:
    name = section.get("token_env", TOKEN_ENV)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: field 'token_env' must name an environment variable")
    value = env.get(name)
    if value is None and "token_env" in section:
        raise ConfigError(f"{where}: the environment variable {name} (token_env) is not set; export it")
    return value or None


def _route(table: Any, env: Mapping[str, str], where: str, connect: float, read: float) -> Route:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    refuse_unknown(table, ROUTE_KEYS, where)
    models = table.get("models", "*")
    globs: Sequence[Any] = [models] if isinstance(models, str) else models
    if not isinstance(globs, list | tuple) or not all(isinstance(g, str) and g for g in globs):
        raise ConfigError(f"{where}: field 'models' must be a glob or a list of globs")
    kind = table.get("kind", "openai")
    if kind not in KINDS:
        raise ConfigError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    base_url = table.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: field 'base_url' must be an http:// or https:// URL")
    provider = table.get("provider")
    if provider is not None and not (isinstance(provider, str) and provider.strip()):
        raise ConfigError(
            f"{where}: field 'provider' must name a provider (for example \"x-ai\"), got {provider!r}"
        )
    return Route(
        models=tuple(globs),
        kind=kind,
        base_url=base_url.rstrip("/"),
        api_key=_key(table, env, where),
        pass_client_key=_bool(table, "pass_client_key", where),
        connect_timeout=_seconds(table, "connect_timeout", connect, where),
        read_timeout=_seconds(table, "read_timeout", read, where),
        provider=provider,
    )


def _key(table: Mapping[str, Any], env: Mapping[str, str], where: str) -> str | None:
    name = table.get("api_key_env")
    if name is not None:
        if not isinstance(name, str):
            raise ConfigError(f"{where}: field 'api_key_env' must name an environment variable")
        value = env.get(name)
        if not value:
            raise ConfigError(f"{where}: the environment variable {name} (api_key_env) is not set; export it")
        return value
    key = table.get("api_key")
    if key is not None and not isinstance(key, str):
        raise ConfigError(f"{where}: field 'api_key' must be a string")
    return key


def _bool(table: Mapping[str, Any], name: str, where: str) -> bool:
    value = table.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: field {name!r} must be true or false, got {value!r}")
    return value


def _seconds(table: Mapping[str, Any], name: str, default: float, where: str) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: field {name!r} must be a positive number of seconds, got {value!r}")
    return float(value)
