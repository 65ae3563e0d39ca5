"""The process-level controls: ``configure``, ``flush``, ``shutdown``, ``sink_stats`` and ``warm_up``."""

from __future__ import annotations

import dataclasses
import math
import os

from tokenomy.capture.runtime import RUNTIME, Redact
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import settings_from_config
from tokenomy.capture.sink.stats import SinkStats
from tokenomy.config import load, setting
from tokenomy.errors import ConfigError


def configure(
    sink: str | Sink | None = None,
    *,
    capture_content: bool | None = None,
    redact: Redact | None = None,
    queue_size: int | None = None,
    batch_size: int | None = None,
    flush_interval: float | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | None = None,
    spool: bool = True,
    config_file: str | os.PathLike[str] | None = None,
    service_name: str = "unknown_service:python",
) -> Sink:
    """Start recording: install the process's sink.

    Each setting comes from the argument, else tokenomy.toml, else ``TOKENOMY_*``, else the
    default. With no sink anywhere, calls go to the local DuckDB file (``db``,
    ``./tokenomy.duckdb``). Calling it again replaces the sink (the old one is flushed first).

    Args:
        sink: ``duckdb:PATH``, ``http://host:port`` (a tokenomy server), ``otlp+http://host:port``
            (an OTLP/HTTP collector), or a :class:`Sink`.
        capture_content: Keep prompt and completion text (off by default).
        redact: Applied to captured text before it leaves the process; else the ``redact`` setting
            of tokenomy.toml or ``TOKENOMY_REDACT`` (``MODULE:FUNCTION``), loaded even when content
            is not kept process-wide, since a client may keep it itself.
        queue_size: Most events waiting in memory.
        batch_size: Most events per batch.
        flush_interval: Seconds between flushes.
        spool_dir: Root of the disk spools (default: the user's cache folder).
        spool_max_bytes: Most bytes one spool may hold.
        spool: False keeps failed batches in memory only.
        config_file: A tokenomy.toml to read (default: ./tokenomy.toml when present).
        service_name: ``service.name`` of spans sent to an OTLP target.

    Returns:
        The installed sink.

    Raises:
        ConfigError: A setting or the sink URL is invalid (a path is not a URL: ``duckdb:PATH``), or
            the ``redact`` setting names no function that can be loaded.
    """
    capture_content = checked_options("configure", sink, capture_content, redact)
    config = load(
        config_file,
        sink=sink if isinstance(sink, str) else None,
        capture_content=capture_content,
        queue_size=queue_size,
        batch_size=batch_size,
        flush_interval=flush_interval,
        spool_dir=spool_dir,
        spool_max_bytes=spool_max_bytes,
    )
    settings = settings_from_config(config)
    if not spool:
        settings = dataclasses.replace(settings, spool_dir=None)
    chosen = sink if isinstance(sink, Sink) else config.sink
    return RUNTIME.configure(
        chosen, redact=redact, settings=settings, config=config, service_name=service_name
    )


def checked_options(caller: str, sink: object, capture_content: object, redact: object) -> bool | None:
    """The checks ``configure`` and ``instrument`` share, made before either changes anything (a value
    of the wrong kind would otherwise lose every call later, on the sink's thread, or keep its text).

    Returns:
        ``capture_content`` read as the setting is read everywhere (``"off"`` is False); None when
        not given.

    Raises:
        ConfigError: ``sink`` is neither a sink URL nor a Sink, ``redact`` cannot be called, or
            ``capture_content`` is not true or false.
    """
    if sink is not None and not isinstance(sink, str | Sink):
        raise ConfigError(
            f"{caller}: sink must be a sink URL (duckdb:PATH, http://...) or a Sink, got {sink!r}"
        )
    if redact is not None and not callable(redact):
        raise ConfigError(f"{caller}: redact must be a function of a string, got {redact!r}")
    return None if capture_content is None else bool(setting("capture_content", capture_content))


def flush(timeout: float | None = None) -> bool:
    """Deliver everything recorded so far; True when it all reached its target.

    Args:
        timeout: Seconds to wait at most per sink (None: until done).
    """
    return RUNTIME.flush(_seconds("flush", timeout))


def shutdown(timeout: float | None = None) -> None:
    """Flush, save what could not be delivered to the spool, and stop recording.

    Runs by itself at exit. Calls made afterwards are not recorded (until ``configure``).
    """
    RUNTIME.shutdown(_seconds("shutdown", timeout))


def warm_up(timeout: float | None = None) -> bool:
    """Load now what recording calls needs: the call builder and the tokenizer, once per process.

    ``configure()`` and ``instrument()`` start loading them in the background; loading takes 0.5-1 s
    and, building the tokenizer's core, holds the GIL for 0.1-0.2 s at once, which stalls every
    other thread of the process (a call in flight then takes that much longer). Call this at
    start-up, before traffic, to have that happen when you choose rather than during the first
    second of your calls.

    Args:
        timeout: Seconds to wait at most (None: until done).

    Returns:
        True once everything is loaded; False when the timeout expired or loading failed (logged;
        the sink's thread loads what it needs when it needs it).
    """
    return RUNTIME.warm_up(_seconds("warm_up", timeout))


def sink_stats() -> SinkStats:
    """The process sink's counters: enqueued, sent, spooled, replayed, dropped, rejected, errors...

    After ``shutdown()``, those of the sink it stopped (until the next ``configure``)."""
    return RUNTIME.stats()


def _seconds(caller: str, timeout: object) -> float | None:
    """``timeout`` when it is None or a finite number of seconds >= 0; else a ValueError naming it (passed on,
    a string failed deep inside the sink with an operator's TypeError)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout < math.inf:
        raise ValueError(
            f"{caller}: timeout must be a finite number of seconds >= 0 or None, got {timeout!r}"
        )
    return float(timeout)
