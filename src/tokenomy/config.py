"""One typed configuration, resolved in one documented order.

An explicit argument wins over the config file (``tokenomy.toml``), which wins over the
environment (``TOKENOMY_*``), which wins over the default. The resolved object is passed in
to whatever needs it; nothing reads settings from globals.
"""

from __future__ import annotations

import difflib
import math
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
        redact: The redaction hook ``tokenomy serve``, ``tokenomy import`` and the capture SDK's
            ``configure()`` (when not given one) apply to the text they keep, as
            ``MODULE:FUNCTION`` (``mycompany.privacy:scrub``); used only when
            ``capture_content`` is on (docs/capture.md, "Content capture and redaction").
        strict_import: Abort a file's import at its first bad record.
        sink: Where the capture SDK sends what it records: ``duckdb:PATH``,
            ``http://host:port`` (a tokenomy server) or ``otlp+http://host:port``. None records
            nothing until ``tokenomy.configure()`` is called (docs/capture.md).
        spool_dir: Folder of the capture sink's disk spool; None uses the user's cache folder.
        spool_max_bytes: Most bytes the spool may hold before events are held back, then dropped.
        queue_size: Most events the capture sink queues in memory.
        batch_size: Most events the capture sink sends in one batch.
        flush_interval: Seconds between two flushes of the capture sink.
        server_token: Bearer token the capture sink sends to a tokenomy server or collector
            (the same ``TOKENOMY_SERVER_TOKEN`` the server is started with). Never logged.
    """

    db: Path = Path(DEFAULT_DB)
    overrides: Path | None = None
    capture_content: bool = False
    redact: str | None = None
    strict_import: bool = False
    sink: str | None = None
    spool_dir: Path | None = None
    spool_max_bytes: int = 64 * 1024 * 1024
    queue_size: int = 10_000
    batch_size: int = 512
    flush_interval: float = 1.0
    server_token: str | None = None


_ENV = {
    "db": "TOKENOMY_DB",
    "overrides": "TOKENOMY_OVERRIDES",
    "capture_content": "TOKENOMY_CAPTURE_CONTENT",
    "redact": "TOKENOMY_REDACT",
    "strict_import": "TOKENOMY_STRICT_IMPORT",
    "sink": "TOKENOMY_SINK",
    "spool_dir": "TOKENOMY_SPOOL_DIR",
    "spool_max_bytes": "TOKENOMY_SPOOL_MAX_BYTES",
    "queue_size": "TOKENOMY_QUEUE_SIZE",
    "batch_size": "TOKENOMY_BATCH_SIZE",
    "flush_interval": "TOKENOMY_FLUSH_INTERVAL",
    "server_token": "TOKENOMY_SERVER_TOKEN",
}
_POSITIVE_INTS = ("spool_max_bytes", "queue_size", "batch_size")
_STRINGS = {
    "sink": "a sink is duckdb:PATH or http://host:port",
    "server_token": "the token itself",
    "redact": "MODULE:FUNCTION, as mycompany.privacy:scrub",
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


def read_config_file(config_file: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]] | None:
    """The parsed config file and its path; None when no file was named and the default is absent.

    Raises:
        ConfigError: The named file does not exist, or the file cannot be read or parsed.
    """
    path = Path(config_file) if config_file is not None else Path(DEFAULT_CONFIG_FILE)
    if not path.exists():
        if config_file is not None:
            raise ConfigError(f"config file {path} does not exist; pass an existing file or omit --config")
        return None
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc


def refuse_unknown(
    table: Mapping[str, Any], allowed: frozenset[str], where: str, what: str = "field"
) -> None:
    """Refuse a key ``table`` may not hold, naming the closest one it may (a typo would otherwise
    be ignored, and its setting silently left at its default)."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{where}: unknown {what} {key!r}{hint}; the {what}s are {', '.join(sorted(allowed))}"
            )


SETTINGS: frozenset[str] = frozenset(f.name for f in fields(Config))
"""The keys of ``[tokenomy]`` (or of the file's top level, in a file without that table)."""
TABLES: frozenset[str] = frozenset(
    ("tokenomy", "gateway", "budgets", "budget", "price", "modifier", "overhead")
)
"""The tables tokenomy.toml may hold: these settings, the gateway's, the budgets', and price
overrides (when ``overrides`` names the same file)."""


def _read_file(config_file: str | os.PathLike[str] | None) -> dict[str, Any]:
    found = read_config_file(config_file)
    if found is None:
        return {}
    path, data = found
    if "tokenomy" in data:
        refuse_unknown(data, TABLES, str(path), "table")
    else:  # the settings at the top level, beside the other tables
        refuse_unknown({k.replace("-", "_"): v for k, v in data.items()}, TABLES | SETTINGS, str(path), "key")
    section = data.get("tokenomy", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tokenomy] must be a table")
    settings = {k.replace("-", "_"): v for k, v in section.items()}
    if "tokenomy" in data:
        refuse_unknown(settings, SETTINGS, f"{path}: [tokenomy]", "setting")
    return {k: v for k, v in settings.items() if k in SETTINGS}


def _from_env(env: Mapping[str, str], name: str) -> dict[str, Any]:
    value = env.get(_ENV[name])
    return {} if value is None or value == "" else {name: value}


def setting(name: str, value: Any) -> Any:
    """``value`` read as setting ``name`` of :class:`Config`, as :func:`load` reads any source
    (``"off"`` is False, ``"512"`` is 512): for code that takes one setting as an argument.

    Raises:
        ConfigError: The value has the wrong type for the setting.
    """
    return _coerce(name, value)


def _coerce(name: str, value: Any) -> Any:
    if name in ("sink", "server_token", "redact"):
        if not isinstance(value, str):
            raise ConfigError(
                f"setting '{name}' must be a string ({_STRINGS[name]}), got {type(value).__name__}"
            )
        return value
    if name in _POSITIVE_INTS or name == "flush_interval":
        return _number(name, value, int if name in _POSITIVE_INTS else float)
    if name in ("db", "overrides", "spool_dir"):
        if not isinstance(value, str | os.PathLike):
            raise ConfigError(f"setting '{name}' must be a path, got {value!r}")
        return Path(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"setting '{name}' must be true or false, got {value!r}")


def _number(name: str, value: Any, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        number = None
    if kind is int and isinstance(value, float) and value != number:
        number = None  # 2.5 is not a count (int() would make it 2, silently)
    if number is None or not 0 < number < math.inf:  # NaN and infinity too
        raise ConfigError(f"setting '{name}' must be a positive {kind.__name__}, got {value!r}")
    return number
