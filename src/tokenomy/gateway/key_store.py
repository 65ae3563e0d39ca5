"""Issuing, listing, revoking and reading virtual keys in the store (what ``tokenomy keys`` does).

The key is generated here, returned once to the caller and never stored: only its sha256
(:func:`tokenomy.gateway.keys.hash_key`) is written, with the attribution it stands for.

Where a running gateway reads keys (and budget spend) from, in the supported setups:

* :class:`SharedStore`: the gateway's own ``duckdb:`` sink writes the store file in this
  process. DuckDB lets one process hold a file, and refuses a read-only connection beside a
  read-write one in the same process, so keys and spend are read through the very store object
  the sink writes with (:class:`SharedDuckDBTarget`); when the sink has closed the file (idle),
  a read opens it and closes it again at once, so ``tokenomy keys`` in another process can
  write it in between.
* :class:`CollectorKeys`, :class:`CollectorSpend`: the sink is a tokenomy server
  (``http://...``) that owns the store; keys and spend are read from its ``GET
  /api/v1/virtual_keys`` and ``GET /api/v1/spend`` (they need the server token).
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from tokenomy.budgets.accounts import Account
from tokenomy.budgets.ledger import LedgerUnavailable
from tokenomy.budgets.spend import StoreSpend
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.config import Config
from tokenomy.errors import StoreError, TokenomyError
from tokenomy.gateway.keys import VirtualKey, hash_key, new_key
from tokenomy.native import attribution_from_native, attribution_to_native
from tokenomy.schema import Attribution, utc_now
from tokenomy.store import open_store
from tokenomy.store.duckdb import DuckDBStore
from tokenomy.store.virtual_keys import MIN_ID_PREFIX, StoredKey

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Issued:
    """A key just created: the key itself (show it once) and its record."""

    key: str
    record: VirtualKey


def create_key(
    store: DuckDBStore,
    attribution: Attribution,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Issued:
    """Issue a key standing for ``attribution``; only its hash is stored."""
    key = new_key()
    created = now or utc_now()
    record = VirtualKey(hash_key(key), attribution, name, created, expires_at, None)
    store.add_virtual_key(_row(record))
    return Issued(key, record)


def list_keys(store: DuckDBStore) -> list[VirtualKey]:
    """Every issued key (revoked and expired ones included), oldest first."""
    return [_record(row) for row in store.virtual_keys()]


class AmbiguousKeyError(TokenomyError):
    """A name or id prefix given to :func:`revoke_key` matches more than one key not yet revoked.

    Names are labels, not unique (two teams may each have a key named ``ci``), so revoking by one
    could revoke another team's key unasked. ``matches`` are the keys it names, oldest first.
    """

    def __init__(self, given: str, matches: list[VirtualKey]) -> None:
        ids = ", ".join(k.key_id for k in matches)
        super().__init__(f"{given!r} matches {len(matches)} keys ({ids}); give one key's id")
        self.given = given
        self.matches = matches


def matching_keys(store: DuckDBStore, prefix: str) -> list[VirtualKey]:
    """The keys not yet revoked (expired ones included) named ``prefix`` or whose hash starts with it
    (8+ characters: a shorter value is a name only, ``dad`` must not mean every key whose hash starts
    with ``dad``), oldest first."""
    by_hash = len(prefix) >= MIN_ID_PREFIX
    return [
        k
        for k in list_keys(store)
        if k.revoked_at is None and (k.name == prefix or (by_hash and k.key_hash.startswith(prefix)))
    ]


def revoke_key(store: DuckDBStore, prefix: str, *, every: bool = False) -> list[str]:
    """Revoke the key whose id starts with ``prefix`` (at least 8 hex digits) or whose name it is; the
    key ids revoked (none: no key matched).

    Args:
        store: The store holding the keys.
        prefix: A key id, an 8+ character prefix of one, or a key's name.
        every: Revoke every key ``prefix`` matches, however many.

    Raises:
        AmbiguousKeyError: ``prefix`` matches several keys and ``every`` is False (nothing is revoked).
    """
    matches = matching_keys(store, prefix)
    if len(matches) > 1 and not every:
        raise AmbiguousKeyError(prefix, matches)
    # by their whole hashes: a key created meanwhile with the same name is not touched
    return [h[:16] for h in store.revoke_virtual_keys([key.key_hash for key in matches])]


def read_keys(config: Config) -> list[VirtualKey]:
    """The keys in the configured store (none when the file does not exist yet)."""
    if not config.db.exists():
        return []
    store = open_store(config.db, read_only=True)
    try:
        return list_keys(store)
    except duckdb.Error:  # a store made before 0005_virtual_keys, opened read-only: no keys yet
        return []
    finally:
        store.close()


class SharedStore:
    """One DuckDB store per gateway process, shared by the sink (writes) and the readers (keys, spend).

    Args:
        path: The store file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._store: DuckDBStore | None = None
        self._writing = False

    @property
    def writing(self) -> bool:
        """True while the sink holds the file open."""
        return self._writing

    def read(self, fn: Callable[[DuckDBStore], T], default: T) -> T:
        """``fn(store)`` through the shared store (``default`` when the file does not exist yet).

        Raises:
            StoreError: Another process holds the file (a ``tokenomy serve``, another gateway).
        """
        with self._lock:
            if self._store is None and not self.path.exists():
                return default
            store = self._opened()
            try:
                return fn(store)
            finally:
                if not self._writing:
                    self._store = None
                    store.close()

    def open_for_writing(self) -> DuckDBStore:
        """The store, held open for the sink until :meth:`close_for_writing`."""
        with self._lock:
            self._writing = True
            return self._opened()

    def close_for_writing(self) -> None:
        """The sink is idle: close the file so that other processes can open it."""
        with self._lock:
            self._writing = False
            store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(StoreError, OSError):
                store.close()

    def _opened(self) -> DuckDBStore:
        if self._store is None:
            self._store = open_store(self.path)
        return self._store


class SharedDuckDBTarget(DuckDBTarget):
    """The ``duckdb:`` sink target writing through a :class:`SharedStore`."""

    def __init__(self, shared: SharedStore, *, overrides: Path | None = None) -> None:
        super().__init__(shared.path, overrides=overrides)
        self.shared = shared

    def _open(self) -> DuckDBStore:
        if self._store is None:
            self._store = self.shared.open_for_writing()
        return self._store

    def close(self) -> None:
        """Let go of the file (the shared store closes it unless a read is running)."""
        self._store = None
        self.shared.close_for_writing()


class SharedKeys:
    """The key loader reading through a :class:`SharedStore`."""

    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared

    def __call__(self) -> list[VirtualKey]:
        return self.shared.read(list_keys, [])


class SharedSpend:
    """Recorded spend (to rebuild missing budget accounts) read through a :class:`SharedStore`."""

    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared

    def spent(self, account: Account) -> Decimal:
        """The account's recorded spend, in its policy's unit."""
        try:
            return self.shared.read(lambda store: StoreSpend(store).spent(account), Decimal(0))
        except StoreError as exc:  # unknown spend: the guard's fail mode decides
            raise LedgerUnavailable(f"cannot rebuild {account.key} from {self.shared.path}: {exc}") from exc


class CollectorKeys:
    """The key loader reading a tokenomy server's ``GET /api/v1/virtual_keys``.

    Args:
        base_url: The server (``http://host:port``).
        token: The server token (the route needs it).
        timeout: Seconds to wait for the answer.
    """

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 5.0) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/virtual_keys"
        self._token = token
        self.timeout = timeout

    def __call__(self) -> list[VirtualKey]:
        try:
            data = _get_json(self.url, self._token, self.timeout)
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.url}: cannot read the virtual keys: {exc}") from exc
        return [_record(_stored(row)) for row in data["keys"]]


class CollectorSpend:
    """Recorded spend (to rebuild missing budget accounts) from a tokenomy server's ``GET /api/v1/spend``.

    Args:
        base_url: The server (``http://host:port``).
        token: The server token (the route needs it).
        timeout: Seconds to wait for the answer.
    """

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 5.0) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/spend"
        self._token = token
        self.timeout = timeout

    def spent(self, account: Account) -> Decimal:
        """The account's recorded spend, in its policy's unit."""
        query: dict[str, str] = {"scope": account.policy.scope.value}
        if account.value is not None:
            query["value"] = account.value
        if account.session is not None:
            query["session"] = account.session
        elif account.span is not None:
            query["since"] = account.span.start.isoformat()
            query["until"] = account.span.end.isoformat()
        try:
            data = _get_json(f"{self.url}?{urllib.parse.urlencode(query)}", self._token, self.timeout)
            return Decimal(str(data[account.policy.unit.value]))
        except (
            OSError,
            ValueError,
            KeyError,
            ArithmeticError,
        ) as exc:  # unknown spend: the fail mode decides
            raise LedgerUnavailable(f"cannot rebuild {account.key} from {self.url}: {exc}") from exc


def _stored(row: dict[str, Any]) -> StoredKey:
    def when(name: str) -> datetime | None:
        value = row.get(name)
        return None if value is None else datetime.fromisoformat(str(value).removesuffix("Z"))

    return StoredKey(
        key_hash=str(row["key_hash"]),
        name=row.get("name"),
        attribution=json.dumps(row.get("attribution") or {}),
        created_at=when("created_at") or utc_now(),
        expires_at=when("expires_at"),
        revoked_at=when("revoked_at"),
    )


def _row(record: VirtualKey) -> StoredKey:
    return StoredKey(
        key_hash=record.key_hash,
        name=record.name,
        attribution=json.dumps(attribution_to_native(record.attribution), sort_keys=True),
        created_at=record.created_at or utc_now(),
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
    )


def _record(row: StoredKey) -> VirtualKey:
    return VirtualKey(
        key_hash=row.key_hash,
        attribution=attribution_from_native(json.loads(row.attribution)),
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _get_json(url: str, token: str | None, timeout: float) -> Any:
    """The JSON answer of a GET to a tokenomy server (``token`` as a bearer token when set).

    Raises:
        OSError: The server could not be reached or answered an error status.
        ValueError: The answer is not JSON.
    """
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())
