"""Virtual keys: keys the gateway issues, mapped to attribution, stored only as hashes.

A virtual key looks like ``tk-`` followed by 43 URL-safe characters. Only its sha256 is stored
(``virtual_keys`` table, migration ``0005_virtual_keys``); the key itself is shown once, when it
is created. Its ``key_id`` (the first 16 hex digits of the hash) is the calls' ``api_key_id``,
which the ``key`` budget scope counts by. A client sends its virtual key where it would send its
provider key (``Authorization: Bearer tk-...`` or ``x-api-key: tk-...``); the gateway sends the
route's own provider key upstream.

:class:`KeyBook` is the gateway's in-memory view: lookups are one hash and one dict read; it is
reloaded from the store every ``key_refresh`` seconds (a revoked key stops working within that
time) and at once when an unknown key is presented (at most once a second). A reload that fails
keeps the keys already known, is logged (at most once a minute) and counted in ``/metrics``
(``tokenomy_gateway_key_reload_failures_total``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from tokenomy.schema import Attribution, utc_now

PREFIX: Final = "tk-"
_MISS_RELOAD: Final = 1.0
_WARN_EVERY: Final = 60.0
log = logging.getLogger("tokenomy.gateway")


def new_key() -> str:
    """A fresh random virtual key."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The sha256 (hex) a key is stored and looked up by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key_hash: str) -> str:
    """The public id of a key (the ``api_key_id`` of its calls)."""
    return key_hash[:16]


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """One issued key (never the key itself).

    Attributes:
        key_hash: sha256 of the key, hex.
        name: A label (``search-prod``), or None.
        attribution: Team, user, project, feature, environment, agent and tags it stands for.
        created_at: When it was issued (naive UTC).
        expires_at: When it stops working (naive UTC), or None.
        revoked_at: When it was revoked (naive UTC), or None.
    """

    key_hash: str
    attribution: Attribution = field(default_factory=Attribution)
    name: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def key_id(self) -> str:
        """The public id (the calls' ``api_key_id``)."""
        return key_id(self.key_hash)

    def valid(self, now: datetime | None = None) -> bool:
        """True when neither revoked nor expired."""
        now = now or utc_now()
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


Loader = Callable[[], Iterable[VirtualKey]]


class KeyBook:
    """The gateway's view of the issued keys (see the module docstring).

    Args:
        loader: Reads every key from the store (None: only the keys given).
        keys: Keys to start with.
        refresh: Seconds between two reloads.
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self,
        loader: Loader | None = None,
        keys: Iterable[VirtualKey] = (),
        *,
        refresh: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._refresh = refresh
        self._clock = clock
        self._by_hash = {k.key_hash: k for k in keys}
        self._loaded = -1e18
        self._miss = -1e18
        self._warned = -1e18
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None

    @staticmethod
    def is_virtual(key: str) -> bool:
        """True for keys this gateway issues (``tk-...``)."""
        return key.startswith(PREFIX)

    def lookup(self, key: str) -> VirtualKey | None:
        """The key's record when it is issued, not revoked and not expired."""
        now = self._clock()
        if self._loader is not None and now - self._loaded >= self._refresh:
            self.reload()
        found = self._by_hash.get(hash_key(key))
        if found is None and self._loader is not None and now - self._miss >= _MISS_RELOAD:
            self._miss = now
            self.reload()
            found = self._by_hash.get(hash_key(key))
        if found is None or not found.valid():
            return None
        return found

    def reload(self) -> None:
        """Read the keys again (a failing store keeps the keys already known)."""
        if self._loader is None:
            return
        self._loaded = now = self._clock()
        try:
            self._by_hash = {k.key_hash: k for k in self._loader()}
        except Exception as exc:  # the store is busy or gone: keep serving with the keys we have
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if now - self._warned >= _WARN_EVERY:
                self._warned = now
                log.warning(
                    "tokenomy gateway: could not reload the virtual keys (%s); serving the %d key(s) "
                    "already known (new keys are refused and revocations unseen until a reload "
                    "works); %d failed reload(s) so far",
                    self.last_error,
                    len(self._by_hash),
                    self.failures,
                )
            return
        self.reloads += 1

    @property
    def known(self) -> int:
        """How many keys the gateway knows (valid or not)."""
        return len(self._by_hash)

    @property
    def valid(self) -> int:
        """How many of them are valid now (neither revoked nor expired)."""
        return sum(1 for key in self._by_hash.values() if key.valid())

    def render_metrics(self) -> bytes:
        """Prometheus lines for the key reloads (appended to ``/metrics``)."""
        lines = [
            "# HELP tokenomy_gateway_key_reloads_total Reloads of the virtual keys that worked.",
            "# TYPE tokenomy_gateway_key_reloads_total counter",
            f"tokenomy_gateway_key_reloads_total {self.reloads}",
            "# HELP tokenomy_gateway_key_reload_failures_total Reloads of the virtual keys that failed.",
            "# TYPE tokenomy_gateway_key_reload_failures_total counter",
            f"tokenomy_gateway_key_reload_failures_total {self.failures}",
            "# HELP tokenomy_gateway_virtual_keys Virtual keys known (valid or not).",
            "# TYPE tokenomy_gateway_virtual_keys gauge",
            f"tokenomy_gateway_virtual_keys {len(self._by_hash)}",
        ]
        return ("\n".join(lines) + "\n").encode()
