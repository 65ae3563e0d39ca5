"""The shared ledger: accounts in Redis, one Lua script per reserve and one per settle.

Several gateway processes (on several machines) share one Redis. Each operation is one script,
which Redis runs atomically, so "check every account, then reserve on all of them" cannot
interleave with another process's. Per account there are two keys: a hash (``spent``,
``reserved`` and one ``r:<id>`` field per open reservation) and a sorted set of the open
reservations by expiry (Redis's own clock, ``TIME``), purged by every reserve. Both expire some
days after the account's window ends. All keys share the ``{tokenomy}`` hash tag, so a Redis
Cluster keeps them in one slot, as a multi-key script requires.

Failure: a connection or timeout error raises :class:`LedgerUnavailable` (the guard applies its
``fail_closed`` / ``fail_open`` mode) and Redis is not tried again for ``retry_interval``
seconds, so requests do not each wait for a dead server. A settlement that cannot be sent is
kept (in order, bounded) and sent before the next reservation, so spend is not lost across a
short outage. A timeout does not say whether Redis ran the script (a stalled server runs it when
it wakes), so both scripts are idempotent per reservation id: a settled reservation stays marked
(``s:<id>``) for two minutes and a second settlement or a late copy of its reservation is
ignored, and a reservation whose reply was lost is released by a queued settlement of zero.

Restart: a missing account is reported, never recreated at zero (see
:mod:`tokenomy.budgets.ledger`); settling skips accounts that no longer exist, because their
rebuilt spend (from the store) already holds the call once it is recorded. That includes the
settlement of a request admitted unenforced (fail open) before its account was first created.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

import redis
import redis.asyncio as aredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tokenomy.budgets.ledger import Granted, LedgerUnavailable, Line, Missing, Outcome, Refused

PREFIX: Final = "{tokenomy}:budget:"
_HOLDS: Final = ":x"
_PENDING_MAX: Final = 100_000
_SETTLED_MARK_MS: Final = 120_000
"""How long an account remembers a settled reservation, so a settlement resent after a lost reply
(a timeout while Redis was stalled, the client's one retry) counts once."""
_DOWN: Final = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

RESERVE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid, want, least = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, n = tonumber(ARGV[4]), tonumber(ARGV[5])
if n > 0 then
  local seen = redis.call('HMGET', KEYS[1], 'r:' .. rid, 's:' .. rid)
  if seen[1] or seen[2] then return {2} end
end
local spent, reserved, missing = {}, {}, {}
for i = 1, n do
  local v = redis.call('HMGET', KEYS[2 * i - 1], 'spent', 'reserved')
  if not v[1] then missing[#missing + 1] = i end
  spent[i], reserved[i] = tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
if #missing > 0 then return {0, missing} end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local due = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(due) do
    local held = redis.call('HGET', h, 'r:' .. id)
    if held then
      redis.call('HINCRBY', h, 'reserved', -tonumber(held))
    end
    redis.call('HDEL', h, 'r:' .. id, 's:' .. id)
    redis.call('ZREM', z, id)
  end
  if #due > 0 then reserved[i] = tonumber(redis.call('HGET', h, 'reserved')) or 0 end
end
local tokens, tightest = want, 0
for i = 1, n do
  local a = 5 + (i - 1) * 5
  if ARGV[a + 4] == '1' then
    local limit, fixed, ptm = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local room = limit - spent[i] - reserved[i]
    local fit
    if room < fixed then
      fit = -1
    elseif ptm <= 0 then
      fit = want
    else
      fit = math.min(want, math.floor((room - fixed) * 1000 / ptm))
      while fit > 0 and fixed + math.ceil(fit * ptm / 1000) > room do fit = fit - 1 end
    end
    if fit < tokens then tokens, tightest = fit, i end
  end
end
if tokens < least then
  return {-1, tightest, spent[tightest], reserved[tightest], tokens}
end
local out = {1, tokens}
for i = 1, n do
  local a = 5 + (i - 1) * 5
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = tonumber(ARGV[a + 2]) + math.ceil(tokens * tonumber(ARGV[a + 3]) / 1000)
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('HSET', h, 'r:' .. rid, amount)
  redis.call('ZADD', z, now + ttl, rid)
  local expire_at = tonumber(ARGV[a + 5])
  if expire_at > 0 then
    redis.call('EXPIREAT', h, expire_at)
    redis.call('EXPIREAT', z, expire_at)
  end
  out[#out + 1] = amount
  out[#out + 1] = spent[i]
  out[#out + 1] = reserved[i] + amount
end
return out
"""

SETTLE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid, n, mark = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', h) == 1 and redis.call('HEXISTS', h, 's:' .. rid) == 0 then
    local held = redis.call('HGET', h, 'r:' .. rid)
    if held then
      redis.call('HINCRBY', h, 'reserved', -tonumber(held))
      redis.call('HDEL', h, 'r:' .. rid)
    end
    redis.call('HINCRBY', h, 'spent', ARGV[3 + i])
    redis.call('HSET', h, 's:' .. rid, 1)
    redis.call('ZADD', z, now + mark, rid)
  end
end
return 1
"""

SEED_LUA: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', 0)
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
  return 1
end
return 0
"""


class RedisLedger:
    """A ledger in Redis shared by many processes (see the module docstring).

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket).
        timeout: Seconds to wait for a connection or an answer.
        retry_interval: Seconds to skip Redis after it failed to answer.
        prefix: Prefix of every key (keep the ``{tokenomy}`` hash tag for Redis Cluster).
        max_connections: Connections per client; more concurrent calls wait (up to ``timeout``)
            for a free one instead of failing (redis-py's default pool fails past 100).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        prefix: str = PREFIX,
        max_connections: int = 64,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 1),
        }
        self._pool = {"max_connections": max_connections, "timeout": timeout}
        pool = redis.BlockingConnectionPool.from_url(url, **self._pool, **self._options)
        self._client = redis.Redis(connection_pool=pool)
        self._scripts = [self._client.register_script(s) for s in (RESERVE_LUA, SETTLE_LUA, SEED_LUA)]
        self._async: tuple[asyncio.AbstractEventLoop, aredis.Redis, list[Any]] | None = None
        self._retry_interval = retry_interval
        self._down_until = 0.0
        self._pending: deque[tuple[list[str], list[Any]]] = deque(maxlen=_PENDING_MAX)
        self._lock = threading.Lock()

    # -- arguments and replies -----------------------------------------------------------------

    def _keys(self, keys: Sequence[str]) -> list[str]:
        out = []
        for key in keys:
            full = self.prefix + key
            out += [full, full + _HOLDS]
        return out

    @staticmethod
    def _reserve_args(rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> list[Any]:
        args: list[Any] = [rid, want, least, int(ttl * 1000), len(lines)]
        for line in lines:
            args += [line.limit, line.fixed, line.per_token_milli, 1 if line.hard else 0, line.expire_at]
        return args

    @staticmethod
    def _outcome(reply: Any) -> Outcome:
        code = int(reply[0])
        if code == 2:
            raise LedgerUnavailable(
                "an earlier attempt of this reservation got through but its reply was lost"
            )
        if code == 0:
            return Missing(tuple(int(i) - 1 for i in reply[1]))
        if code < 0:
            return Refused(int(reply[1]) - 1, int(reply[2]), int(reply[3]), int(reply[4]))
        rest = [int(v) for v in reply[2:]]
        amounts = tuple(rest[0::3])
        usage = tuple(zip(rest[1::3], rest[2::3], strict=True))
        return Granted(int(reply[1]), amounts, usage)

    def _release_later(self, rid: str, keys: list[str], n: int) -> None:
        """Queue a release of ``rid``: a reservation whose reply was lost may still have been made.

        Releasing one that was never made only marks it settled, so a late copy of it is refused.
        """
        self._pending.append((keys, [rid, n, _SETTLED_MARK_MS, *([0] * n)]))

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise LedgerUnavailable(f"Redis at {self.url} did not answer recently; retrying shortly")

    def _went_down(self, exc: BaseException) -> LedgerUnavailable:
        self._down_until = time.monotonic() + self._retry_interval
        return LedgerUnavailable(f"Redis at {self.url} did not answer: {exc}")

    # -- synchronous ---------------------------------------------------------------------------

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """Reserve on every line at once, or on none (one script)."""
        self._check_up()
        keys = self._keys([ln.key for ln in lines])
        try:
            self._send_pending()
            reply = self._scripts[0](keys=keys, args=self._reserve_args(rid, lines, want, least, ttl))
            return self._outcome(reply)
        except LedgerUnavailable:
            self._release_later(rid, keys, len(lines))
            raise
        except _DOWN as exc:
            self._release_later(rid, keys, len(lines))
            raise self._went_down(exc) from exc

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """Replace reservation ``rid`` by the actual units (kept and resent if Redis is down)."""
        call: tuple[list[str], list[Any]] = (self._keys(keys), [rid, len(keys), _SETTLED_MARK_MS, *actual])
        try:
            self._check_up()
            self._send_pending()
            self._scripts[1](keys=call[0], args=call[1])
        except (LedgerUnavailable, *_DOWN) as exc:
            self._pending.append(call)
            if not isinstance(exc, LedgerUnavailable):
                self._went_down(exc)

    def _send_pending(self) -> None:
        if not self._pending:  # the usual case: nothing queued, no lock to take
            return
        with self._lock:
            while self._pending:
                keys, args = self._pending[0]
                self._scripts[1](keys=keys, args=args)
                self._pending.popleft()

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        """Create account ``key`` with ``spent`` units unless it exists."""
        self._check_up()
        try:
            self._scripts[2](keys=[self.prefix + key], args=[spent, expire_at])
        except _DOWN as exc:
            raise self._went_down(exc) from exc

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """``(spent, reserved)`` of each account (None: it does not exist)."""
        self._check_up()
        try:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self.prefix + key, "spent", "reserved")
            rows = pipe.execute()
        except _DOWN as exc:
            raise self._went_down(exc) from exc
        return [None if row[0] is None else (int(row[0]), int(row[1] or 0)) for row in rows]

    # -- asyncio -------------------------------------------------------------------------------

    def _aclient(self) -> tuple[aredis.Redis, list[Any]]:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            pool = aredis.BlockingConnectionPool.from_url(self.url, **self._pool, **self._options)
            client = aredis.Redis(connection_pool=pool)
            scripts = [client.register_script(s) for s in (RESERVE_LUA, SETTLE_LUA, SEED_LUA)]
            self._async = (loop, client, scripts)
        return self._async[1], self._async[2]

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """:meth:`reserve` on the asyncio client."""
        self._check_up()
        _, scripts = self._aclient()
        keys = self._keys([ln.key for ln in lines])
        try:
            await self._asend_pending(scripts)
            reply = await scripts[0](keys=keys, args=self._reserve_args(rid, lines, want, least, ttl))
            return self._outcome(reply)
        except LedgerUnavailable:
            self._release_later(rid, keys, len(lines))
            raise
        except _DOWN as exc:
            self._release_later(rid, keys, len(lines))
            raise self._went_down(exc) from exc

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """:meth:`settle` on the asyncio client."""
        call: tuple[list[str], list[Any]] = (self._keys(keys), [rid, len(keys), _SETTLED_MARK_MS, *actual])
        try:
            self._check_up()
            _, scripts = self._aclient()
            await self._asend_pending(scripts)
            await scripts[1](keys=call[0], args=call[1])
        except (LedgerUnavailable, *_DOWN) as exc:
            self._pending.append(call)
            if not isinstance(exc, LedgerUnavailable):
                self._went_down(exc)

    async def _asend_pending(self, scripts: list[Any]) -> None:
        # taken off the queue before the await: concurrent tasks each send a different one
        while self._pending:
            call = self._pending.popleft()
            try:
                await scripts[1](keys=call[0], args=call[1])
            except BaseException:
                self._pending.appendleft(call)
                raise

    async def aseed(self, key: str, spent: int, expire_at: int) -> None:
        """:meth:`seed` on the asyncio client."""
        self._check_up()
        _, scripts = self._aclient()
        try:
            await scripts[2](keys=[self.prefix + key], args=[spent, expire_at])
        except _DOWN as exc:
            raise self._went_down(exc) from exc

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """:meth:`usage` on the asyncio client."""
        self._check_up()
        client, _ = self._aclient()
        try:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(self.prefix + key, "spent", "reserved")
                rows = await pipe.execute()
        except _DOWN as exc:
            raise self._went_down(exc) from exc
        return [None if row[0] is None else (int(row[0]), int(row[1] or 0)) for row in rows]

    @property
    def pending_settlements(self) -> int:
        """Settlements waiting for Redis to come back."""
        return len(self._pending)

    def flush(self) -> bool:
        """Send the kept settlements now; True when none is left waiting."""
        try:
            self._send_pending()
        except _DOWN:
            return False
        return True

    def close(self) -> None:
        """Send what is kept (if Redis answers) and close the connections (the asyncio client's are
        dropped with its loop)."""
        self.flush()
        self._client.close()
        self._client.connection_pool.disconnect()
