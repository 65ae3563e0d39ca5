"""One typed configuration, resolved in one documented order.

An explicit argument wins over the config file (``tokenomy.toml``), which wins over the
environment (``TOKENOMY_*``), which wins over the default. The resolved object is passed in
to whatever needs it; nothing reads settings from globals.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tokenomy.errors import ConfigError

DEFAULT_DB = "tokenomy.duckdb"
DEFAULT_CONFIG_FILE = "tokenomy.toml"


@dataclass(frozen=True, slots=True)
class Config:
    """Settings shared by the library, the CLI and the servers.

    Attributes:
        db: Path of the embedded DuckDB store.
        overrides: Path of a local price overrides file (TOML), or None.
        capture_content: Keep prompt and completion text. Off by default.
        strict_import: Abort a file's import at its first bad record.
    """

    db: Path = Path(DEFAULT_DB)
    overrides: Path | None = None
    capture_content: bool = False
    strict_import: bool = False


_ENV = {
    "db": "TOKENOMY_DB",
    "overrides": "TOKENOMY_OVERRIDES",
    "capture_content": "TOKENOMY_CAPTURE_CONTENT",
    "strict_import": "TOKENOMY_STRICT_IMPORT",
}


def load(
    config_file: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **explicit: Any,
) -> Config:
    """Resolve the configuration.

    Args:
        config_file: A TOML file; when None, ``./tokenomy.toml`` is read if it exists.
        env: The environment to read (defaults to ``os.environ``).
        **explicit: Values given on the command line or in code; ``None`` means "not given".

    Returns:
        The resolved Config.

    Raises:
        ConfigError: The file cannot be read, or a value has the wrong type.
    """
    env = os.environ if env is None else env
    from_file = _read_file(config_file)
    values: dict[str, Any] = {}
    for f in fields(Config):
        for source in (explicit, from_file, _from_env(env, f.name)):
            if source.get(f.name) is not None:
                values[f.name] = _coerce(f.name, source[f.name])
                break
    return Config(**values)


def _read_file(config_file: str | os.PathLike[str] | None) -> dict[str, Any]:
    path = Path(config_file) if config_file is not None else Path(DEFAULT_CONFIG_FILE)
    if not path.exists():
        if config_file is not None:
            raise ConfigError(f"config file {path} does not exist; pass an existing file or omit --config")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    section = data.get("tokenomy", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tokenomy] must be a table")
    return {k.replace("-", "_"): v for k, v in section.items()}


def _from_env(env: Mapping[str, str], name: str) -> dict[str, Any]:
    value = env.get(_ENV[name])
    return {} if value is None or value == "" else {name: value}


def _coerce(name: str, value: Any) -> Any:
    if name in ("db", "overrides"):
        if not isinstance(value, str | os.PathLike):
            raise ConfigError(f"setting '{name}' must be a path, got {value!r}")
        return Path(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"setting '{name}' must be true or false, got {value!r}")
