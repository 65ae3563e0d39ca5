"""The Redis ledger's hot path: its two scripts sent on redis-py's connections, without its client layer.

Measured (``python -m bench budgets``): a script call through redis-py's client (pool checkout,
retry wrapper, argument encoding, observability hooks) cost about three times the same EVALSHA
sent raw on a socket, which made the client, not Redis, most of the admission's latency. So
reserve and settle are sent here instead:

* the command is packed once from bytes: what does not change for a set of accounts (keys,
  limits, rates, expiries) is cached by the ledger, only the reservation id and sizes are added;
* a connection is taken from a LIFO list, bounded by a semaphore that waits up to the timeout
  for a free one (as redis-py's blocking pool does, instead of failing under load);
* it is written and read by redis-py's own :class:`redis.Connection` (TCP, TLS, unix sockets,
  AUTH and SELECT from the URL, RESP, its timeouts and error types);
* a connection or timeout error drops that connection's socket and sends once more on a fresh one
  (the client's ``Retry(NoBackoff(), 1)`` did the same); the scripts are idempotent per
  reservation id, so a command that ran before its reply was lost is not counted twice.

A reply that is an error (``NOSCRIPT`` after a Redis restart) is raised as redis-py raises it; the
ledger then loads the script and sends again.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.asyncio as aredis

_RETRIED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def bulk(value: bytes | str | int) -> bytes:
    """One RESP bulk string."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def command(count: int, parts: Iterable[bytes]) -> bytes:
    """A RESP command of ``count`` arguments from already packed ``parts`` (see :func:`bulk`)."""
    return b"*%d\r\n" % count + b"".join(parts)


class Wire:
    """Blocking calls on redis-py connections (see the module docstring).

    Args:
        pool: Where connections come from (its class and keyword arguments: URL, timeouts, TLS).
        max_connections: The most connections open at once; more callers wait for a free one.
        timeout: Seconds to wait for a free connection before failing as a connection error.
    """

    def __init__(self, pool: redis.ConnectionPool, max_connections: int, timeout: float) -> None:
        self._make: Callable[[], Any] = lambda: pool.connection_class(**pool.connection_kwargs)
        self._idle: list[Any] = []
        self._max = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._timeout = timeout
        self._pid = os.getpid()

    def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply (errors as redis-py raises them)."""
        if os.getpid() != self._pid:  # forked: the parent's sockets and its threads' permits are not ours
            self._idle, self._pid = [], os.getpid()
            self._slots = threading.BoundedSemaphore(self._max)
        if not self._slots.acquire(timeout=self._timeout):
            raise redis.exceptions.ConnectionError("no free Redis connection within the timeout")
        try:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._make()
            try:
                return _roundtrip(conn, packed)
            except _RETRIED:
                conn.disconnect()
                return _roundtrip(conn, packed)  # reconnects: one more try, as before
            finally:
                self._idle.append(conn)  # a failed one is disconnected and reconnects when next used
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


def _roundtrip(conn: Any, packed: bytes) -> Any:
    conn.send_packed_command([packed], check_health=False)
    return conn.read_response()


class AsyncWire:
    """:class:`Wire` for one asyncio event loop (its connections belong to that loop).

    Args:
        pool: Where connections come from (an asyncio pool built from the same URL and options).
        max_connections: The most connections open at once; more callers wait for a free one.
        timeout: Seconds to wait for a free connection before failing as a connection error.
    """

    def __init__(self, pool: aredis.ConnectionPool, max_connections: int, timeout: float) -> None:
        self._make: Callable[[], Any] = lambda: pool.connection_class(**pool.connection_kwargs)
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._timeout = timeout

    async def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply (errors as redis-py raises them)."""
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), self._timeout)
            except TimeoutError as exc:
                raise redis.exceptions.ConnectionError("no free Redis connection within the timeout") from exc
        else:
            await slots.acquire()
        try:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._make()
            try:
                return await _aroundtrip(conn, packed)
            except _RETRIED:
                await conn.disconnect()
                return await _aroundtrip(conn, packed)
            except redis.exceptions.ResponseError:
                raise  # the reply was read whole: the connection is fine
            except BaseException:
                await conn.disconnect(nowait=True)  # cancelled mid-call: a reply may still be on the way
                raise
            finally:
                self._idle.append(conn)
        finally:
            slots.release()


async def _aroundtrip(conn: Any, packed: bytes) -> Any:
    await conn.send_packed_command([packed], check_health=False)
    return await conn.read_response()
