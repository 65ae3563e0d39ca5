"""The collector's settings, and the rule that a server reachable from the network needs a token.

Bound to a loopback address (``127.0.0.1``, ``::1``, ``localhost``) the server may run without
a token; bound to anything else it refuses to start unless one is given (``--token`` or
``TOKENOMY_SERVER_TOKEN``). With a token, every route but ``/api/v1/health`` asks for it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tokenomy.errors import ConfigError

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4318
"""OTLP/HTTP's registered port."""
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024
TOKEN_ENV: Final = "TOKENOMY_SERVER_TOKEN"
MIN_TOKEN_CHARS: Final = 16


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the collector runs.

    Attributes:
        db: The DuckDB store the server owns.
        host: Interface to bind.
        port: Port to listen on (0 picks a free one).
        token: The bearer token clients must send; None on loopback means no auth.
        spool: The spool folder for payloads the store cannot take right now
            (default: ``<db>.spool`` next to the store).
        max_body: Largest request body accepted, compressed or not, in bytes (413 past it).
        linger_ms: How long the writer waits for more requests to join a batch.
        batch_rows: Most rows written in one store transaction.
        queue: Most requests waiting for the writer (503 past it, so clients retry later).
        capture_content: Keep prompt and completion text that clients send.
        redact: The hook that rewrites that text (and span status messages) before it is stored
            or spooled, loaded from ``MODULE:FUNCTION`` by
            :func:`tokenomy.capture.redaction.load_hook`; only with ``capture_content``.
        overrides: A price overrides file for pricing what arrives unpriced.
        store_threads: DuckDB's worker threads for the store the collector opens. One by
            default: the writer's transactions are a few thousand rows each, which one thread
            inserts with less CPU than two (docs/server.md, "Throughput"); reads of a large
            store may want more.
        checkpoint_mb: The write-ahead log's size, in MiB, past which DuckDB checkpoints the
            store. 128 by default rather than DuckDB's 16: each checkpoint rewrites the table's
            last, partly filled row group (up to 122,880 calls), so frequent checkpoints write
            the same calls many times ("Throughput" in docs/server.md). A larger log takes
            longer to replay when the server restarts after a crash.
    """

    db: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    spool: Path | None = None
    max_body: int = DEFAULT_MAX_BODY
    linger_ms: float = 2.0
    batch_rows: int = 50_000
    queue: int = 1024
    capture_content: bool = False
    redact: CheckedRedact | None = None
    overrides: Path | None = None
    store_threads: int = 1
    checkpoint_mb: int = 128

    @property
    def spool_dir(self) -> Path:
        """The spool folder (``<db>.spool`` unless set)."""
        return self.spool if self.spool is not None else self.db.with_name(self.db.name + ".spool")

    @property
    def loopback(self) -> bool:
        """True when the server listens on a loopback address only."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def with_env(settings: ServerSettings, env: Mapping[str, str] | None = None) -> ServerSettings:
    """``settings`` with the token taken from ``TOKENOMY_SERVER_TOKEN`` when none was given, checked.

    Raises:
        ConfigError: See :func:`check`.
    """
    env = os.environ if env is None else env
    if settings.token is None and env.get(TOKEN_ENV):
        settings = replace(settings, token=env[TOKEN_ENV])
    check(settings)
    return settings


def check(settings: ServerSettings) -> None:
    """Refuse settings that would expose the store, or that cannot work.

    Raises:
        ConfigError: Bound beyond loopback without a token, a token too short to be a secret,
            a port out of range, a body limit below 1 KiB, fewer than one store thread, a
            checkpoint size below 1 MiB, or a redaction hook with content capture off.
    """
    if not 0 <= settings.port <= 65535:
        raise ConfigError(f"--port {settings.port} is not a port number (0 to 65535; 0 picks a free one)")
    if settings.store_threads < 1:
        raise ConfigError(f"store_threads is {settings.store_threads}: the store needs at least 1 thread")
    if settings.checkpoint_mb < 1:
        raise ConfigError(
            f"checkpoint_mb is {settings.checkpoint_mb}: use at least 1 (MiB of write-ahead log)"
        )
    if settings.redact is not None and not callable(getattr(settings.redact, "texts", None)):
        raise ConfigError(
            f"redact={settings.redact!r} is not a loaded hook; pass "
            "tokenomy.capture.redaction.checked(fn), or load_hook('MODULE:FUNCTION')"
        )
    if settings.redact is not None and not settings.capture_content:
        raise ConfigError(
            "a redaction hook is set but content capture is off, so there is no text for it to see: "
            "add --capture-content (or capture_content = true), or drop --redact"
        )
    if settings.max_body < 1024:
        raise ConfigError(f"the body limit ({settings.max_body} bytes) is too small; use at least 1024")
    if settings.token is not None and len(settings.token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the server token is too short to be a secret: use at least {MIN_TOKEN_CHARS} random characters "
            '(for example: python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    if not settings.loopback and settings.token is None:
        raise ConfigError(
            f"refusing to listen on {settings.host} without a token: anyone who can reach it could read "
            f"the store. Pass --token (or set {TOKEN_ENV}), or bind 127.0.0.1"
        )
