"""The sink's settings, and the target a sink URL names.

``TOKENOMY_SINK`` (or ``sink`` in tokenomy.toml, or ``tokenomy.configure(sink=...)``) is one of:

* ``duckdb:PATH`` (or ``duckdb:`` for the configured ``db``, ``./tokenomy.duckdb`` by default),
* ``http://host:port`` / ``https://...``: a tokenomy server,
* ``otlp+http://host:port`` / ``otlp+https://...``: an OTLP/HTTP collector.

Each target gets its own spool folder, ``<spool_dir>/<hash of the target>``, so that two apps
sending to different places never replay each other's batches. The spool folder defaults to
``$XDG_CACHE_HOME/tokenomy/spool`` (``~/.cache/tokenomy/spool`` when that is unset).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.target import Target
from tokenomy.capture.sink.targets import DuckDBTarget, EventsTarget, OtlpTarget
from tokenomy.config import Config
from tokenomy.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """How a sink queues, batches, retries and spools.

    Attributes:
        queue_size: Most events waiting in memory; beyond it new events are dropped and counted.
        batch_size: Most events per batch.
        flush_interval: Seconds between two flushes (a full batch is sent at once).
        spool_dir: Root folder of the disk spools; None keeps failed batches in memory only.
        spool_max_bytes: Most bytes one target's spool may hold.
        retry_initial: First wait, in seconds, after the target failed; doubled after each failure.
        retry_max: Longest wait between two attempts.
        send_timeout: Seconds a target may take to answer one batch.
        exit_timeout: Seconds the exit hook waits for the last flush.
    """

    queue_size: int = 10_000
    batch_size: int = 512
    flush_interval: float = 1.0
    spool_dir: Path | None = None
    spool_max_bytes: int = 64 * 1024 * 1024
    retry_initial: float = 0.5
    retry_max: float = 30.0
    send_timeout: float = 10.0
    exit_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("queue_size", "batch_size", "spool_max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sink setting {name} must be at least 1, got {getattr(self, name)}")
        for name in ("flush_interval", "retry_initial", "retry_max", "send_timeout", "exit_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"sink setting {name} must be a positive number of seconds")


def settings_from_config(config: Config) -> SinkSettings:
    """The sink settings a resolved :class:`Config` gives (the spool under the default root)."""
    return SinkSettings(
        queue_size=config.queue_size,
        batch_size=config.batch_size,
        flush_interval=config.flush_interval,
        spool_dir=config.spool_dir or default_spool_root(),
        spool_max_bytes=config.spool_max_bytes,
    )


def default_spool_root() -> Path:
    """``$XDG_CACHE_HOME/tokenomy/spool``, or ``~/.cache/tokenomy/spool``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tokenomy" / "spool"


def target_for(
    url: str, config: Config, *, service_name: str = "unknown_service:python", timeout: float = 10.0
) -> Target:
    """The target a sink URL names (see the module docstring).

    Args:
        url: ``duckdb:PATH``, ``http(s)://host:port`` or ``otlp+http(s)://host:port``.
        config: The resolved configuration (``db``, ``overrides``, ``server_token``).
        service_name: ``service.name`` of the spans an OTLP target sends.
        timeout: Seconds an HTTP or OTLP target waits for one batch to be answered
            (:attr:`SinkSettings.send_timeout`).

    Raises:
        ConfigError: The URL names no known target, or a DuckDB file in a folder that does not
            exist or is not a folder (every batch would wait in the spool for it forever).
    """
    token = config.server_token
    if url.startswith("duckdb:"):
        path = url.removeprefix("duckdb:")
        db = (Path(path) if path else config.db).expanduser().resolve()
        if not db.parent.is_dir():
            raise ConfigError(
                f"sink {url!r}: the folder {db.parent} does not exist; create it, or name a file in an "
                "existing folder"
            )
        if db.is_dir():
            raise ConfigError(f"sink {url!r}: {db} is a folder; name a DuckDB file (duckdb:PATH)")
        return DuckDBTarget(db, overrides=config.overrides)
    if url.startswith(("otlp+http://", "otlp+https://")):
        return OtlpTarget(
            url.removeprefix("otlp+"),
            token=token,
            timeout=timeout,
            overrides=config.overrides,
            service_name=service_name,
        )
    if url.startswith(("http://", "https://")):
        return EventsTarget(url, token=token, timeout=timeout)
    hint = "" if ":" in url else f" (a DuckDB file is named duckdb:{url})"  # a bare path, not host:port
    raise ConfigError(
        f"sink {url!r} is not a known target{hint}: use duckdb:PATH, http://host:port (a tokenomy "
        "server) or otlp+http://host:port (an OTLP/HTTP collector)"
    )


def spool_for(target: Target, settings: SinkSettings) -> Spool | None:
    """The spool of ``target`` under ``settings.spool_dir`` (None when spooling is off)."""
    if settings.spool_dir is None:
        return None
    key = hashlib.sha256(target.description.encode("utf-8")).hexdigest()[:16]
    return Spool(settings.spool_dir / key, settings.spool_max_bytes)
