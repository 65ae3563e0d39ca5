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

Hot path: reserve and settle go through :mod:`tokenomy.budgets.redis_wire` (the command packed
from bytes cached per set of accounts, sent on redis-py's connections without its client layer),
one round trip each; a ``NOSCRIPT`` answer (a restarted Redis) loads the script and sends again.
Seeding, usage reads and the resending of kept settlements use the redis-py client.

Renewal: a reservation whose request is still running is kept by the process holding it, which
calls :meth:`RedisLedger.renew` for all of them every few seconds (one script per batch, from one
thread: :mod:`tokenomy.budgets.renewal`), so that only a reservation whose holder died (or dropped
it unsettled) is released after its TTL.

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
from tokenomy.budgets.redis_wire import AsyncWire, Wire, bulk

_CACHED_MAX: Final = 4096
"""Most account sets whose packed command parts are kept (past it the cache starts over)."""

PREFIX: Final = "{tokenomy}:budget:"
_HOLDS: Final = ":x"
_PENDING_MAX: Final = 100_000
_SETTLED_MARK_MS: Final = 120_000
"""How long an account remembers a settled reservation, so a settlement resent after a lost reply
(a timeout while Redis was stalled, the client's one retry) counts once."""
_MARK: Final = bulk(_SETTLED_MARK_MS)
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

RENEW_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, restore, n = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local a, gone, seen = 4, {}, {}
for i = 1, n do
  local h, z, m = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[a])
  local first = a
  a = a + 1 + 2 * m
  if redis.call('EXISTS', h) == 1 then
    local until_, restored = now + ttl, false
    for j = 1, m do
      local id, amount = ARGV[first + 2 * j - 1], ARGV[first + 2 * j]
      if redis.call('HEXISTS', h, 's:' .. id) == 0 then
        local score = redis.call('ZSCORE', z, id)
        if score then
          if tonumber(score) < until_ then redis.call('ZADD', z, until_, id) end
        else
          if not seen[id] then
            seen[id] = true
            gone[#gone + 1] = id
          end
          if restore then
            redis.call('HINCRBY', h, 'reserved', amount)
            redis.call('HSET', h, 'r:' .. id, amount)
            redis.call('ZADD', z, until_, id)
            restored = true
          end
        end
      end
    end
    if restored then
      local left = redis.call('PTTL', h)
      if left > 0 then redis.call('PEXPIRE', z, left) end
    end
  end
end
return gone
"""
"""Push back the expiry of reservations still held (``now + ttl`` on Redis's clock): per reservation
and account one HEXISTS, one ZSCORE and, when it raises the expiry, one ZADD. Only commands of every
Redis version the other scripts run on (no ZMSCORE, no ``ZADD GT``: the comparison is made here). An
expiry is never lowered, and a settled reservation (its ``s:<id>`` mark) is left alone: its mark
keeps its two minutes, so a resent settlement still counts once. A reservation a purge already
released (its expiry passed before a renewal reached Redis) and that was not settled is reported;
with ``restore`` it is held again, whatever the room left (its request is running), and the sorted
set, which that purge may have emptied and so deleted, gets the hash's expiry back."""

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
        self._max_connections, self._timeout = max_connections, timeout
        pool = redis.BlockingConnectionPool.from_url(url, **self._pool, **self._options)
        self._client = redis.Redis(connection_pool=pool)
        self._scripts = [self._client.register_script(s) for s in (RESERVE_LUA, SETTLE_LUA, SEED_LUA)]
        self._renew_script = self._client.register_script(RENEW_LUA)
        self._wire = Wire(pool, max_connections, timeout)
        self._async: tuple[asyncio.AbstractEventLoop, aredis.Redis, list[Any], AsyncWire] | None = None
        # id(lines) -> (lines, keys, packed head, packed tail): what a reserve of these accounts sends
        # besides its id and sizes (the guard hands over the same tuple of lines for the same accounts)
        self._shapes: dict[int, tuple[Sequence[Line], list[str], bytes, bytes]] = {}
        self._settle_heads: dict[tuple[str, ...], bytes] = {}
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

    def _reserve_command(
        self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float
    ) -> tuple[bytes, list[str]]:
        """The packed EVALSHA of a reservation, and its keys (for a release if the reply is lost)."""
        shape = self._shapes.get(id(lines))
        if shape is None or shape[0] is not lines:
            shape = self._shape(lines)
        _, keys, head, tail = shape
        return b"".join((head, bulk(rid), bulk(want), bulk(least), bulk(int(ttl * 1000)), tail)), keys

    def _shape(self, lines: Sequence[Line]) -> tuple[Sequence[Line], list[str], bytes, bytes]:
        keys = self._keys([ln.key for ln in lines])
        count = 3 + len(keys) + 5 + 5 * len(lines)
        parts: list[str | int] = ["EVALSHA", self._scripts[0].sha, len(keys), *keys]
        head = b"*%d\r\n" % count + b"".join(bulk(v) for v in parts)
        values = self._reserve_args("", lines, 0, 0, 0)[4:]  # n, then five values per line
        shape = (lines, keys, head, b"".join(bulk(v) for v in values))
        if type(lines) is tuple:  # immutable: the same object always packs the same (a list may change)
            if len(self._shapes) >= _CACHED_MAX:
                self._shapes.clear()
            self._shapes[id(lines)] = shape
        return shape

    def _settle_command(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> bytes:
        """The packed EVALSHA of a settlement."""
        names = tuple(keys)
        head = self._settle_heads.get(names)
        if head is None:
            full = self._keys(names)
            parts: list[str | int] = ["EVALSHA", self._scripts[1].sha, len(full), *full]
            head = b"".join(bulk(v) for v in parts)
            if len(self._settle_heads) >= _CACHED_MAX:
                self._settle_heads.clear()
            self._settle_heads[names] = head
        count = 3 + 2 * len(names) + 3 + len(actual)
        out = [b"*%d\r\n" % count, head, bulk(rid), bulk(len(names)), _MARK]
        for value in actual:
            out.append(bulk(value))
        return b"".join(out)

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
        packed, keys = self._reserve_command(rid, lines, want, least, ttl)
        try:
            self._send_pending()
            return self._outcome(self._hot(0, packed))
        except LedgerUnavailable:
            self._release_later(rid, keys, len(lines))
            raise
        except _DOWN as exc:
            self._release_later(rid, keys, len(lines))
            raise self._went_down(exc) from exc

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """Replace reservation ``rid`` by the actual units (kept and resent if Redis is down)."""
        try:
            self._check_up()
            self._send_pending()
            self._hot(1, self._settle_command(rid, keys, actual))
        except (LedgerUnavailable, *_DOWN) as exc:
            self._pending.append((self._keys(keys), [rid, len(keys), _SETTLED_MARK_MS, *actual]))
            if not isinstance(exc, LedgerUnavailable):
                self._went_down(exc)

    def _hot(self, index: int, packed: bytes) -> Any:
        """Send a packed reserve (0) or settle (1); after a restart Redis forgot the script: load it."""
        try:
            return self._wire.call(packed)
        except redis.exceptions.NoScriptError:
            self._client.script_load(self._scripts[index].script)
            return self._wire.call(packed)

    def _send_pending(self) -> None:
        if not self._pending:  # the usual case: nothing queued, no lock to take
            return
        with self._lock:
            while self._pending:
                keys, args = self._pending[0]
                self._scripts[1](keys=keys, args=args)
                self._pending.popleft()

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        """Create account ``key`` with ``spent`` units unless it exists.

        Kept settlements are sent first: ``spent`` is rebuilt from the store, which already holds
        the calls they settle once recorded, so one sent after the seed would count them twice (a
        settlement sent before finds no account and is skipped, as the module docstring says).
        """
        self._check_up()
        try:
            self._send_pending()
            self._scripts[2](keys=[self.prefix + key], args=[spent, expire_at])
        except _DOWN as exc:
            raise self._went_down(exc) from exc

    def renew(
        self, held: Sequence[tuple[str, Sequence[tuple[str, int]]]], ttl: float, *, restore: bool
    ) -> list[str]:
        """Push back to ``ttl`` seconds from now the expiry of reservations whose requests still run.

        Args:
            held: ``(id, ((account, units), ...))`` of each reservation (one script call for all).
            ttl: Seconds from now (Redis's clock) before each is released unless renewed again.
            restore: Hold again, at its units, a reservation Redis already released (its expiry
                passed before this renewal) and that was not settled (``fail = "closed"``).

        Returns:
            The ids of the reservations Redis had released (held again when ``restore``).

        Raises:
            LedgerUnavailable: Redis did not answer, or answered with an error (out of memory, a
                read-only replica...): the guard counts a failed renewal and retries at its next tick.
                An error answer does not mark Redis down (reservations may still work).
        """
        if not held:
            return []
        self._check_up()
        by_account: dict[str, list[Any]] = {}
        for rid, amounts in held:
            for key, units in amounts:
                by_account.setdefault(key, []).extend((rid, units))
        args: list[Any] = [int(ttl * 1000), 1 if restore else 0, len(by_account)]
        for pairs in by_account.values():
            args.append(len(pairs) // 2)
            args += pairs
        try:
            gone = self._renew_script(keys=self._keys(list(by_account)), args=args)
        except _DOWN as exc:
            raise self._went_down(exc) from exc
        except redis.exceptions.ResponseError as exc:  # OOM, READONLY, a wrong key type: not down
            raise LedgerUnavailable(f"Redis at {self.url} refused a renewal: {exc}") from exc
        return [g.decode() if isinstance(g, bytes) else str(g) for g in gone]

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """``(spent, reserved)`` of each account (None: it does not exist)."""
        self._check_up()
        try:
            try:
                rows = self._usage_rows(keys)
            except redis.exceptions.ConnectionError:  # a connection from before a Redis restart: once more
                rows = self._usage_rows(keys)  # (not after a timeout: a stalled Redis is not waited on twice)
        except _DOWN as exc:
            raise self._went_down(exc) from exc
        return [None if row[0] is None else (int(row[0]), int(row[1] or 0)) for row in rows]

    def _usage_rows(self, keys: Sequence[str]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self.prefix + key, "spent", "reserved")
        rows: list[Any] = pipe.execute()
        return rows

    # -- asyncio -------------------------------------------------------------------------------

    def _aclient(self) -> tuple[aredis.Redis, list[Any], AsyncWire]:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            pool = aredis.BlockingConnectionPool.from_url(self.url, **self._pool, **self._options)
            client = aredis.Redis(connection_pool=pool)
            scripts = [client.register_script(s) for s in (RESERVE_LUA, SETTLE_LUA, SEED_LUA)]
            wire = AsyncWire(pool, self._max_connections, self._timeout)
            self._async = (loop, client, scripts, wire)
        return self._async[1], self._async[2], self._async[3]

    async def _ahot(self, index: int, packed: bytes) -> Any:
        """:meth:`_hot` on the asyncio client."""
        client, scripts, wire = self._aclient()
        try:
            return await wire.call(packed)
        except redis.exceptions.NoScriptError:
            await client.script_load(scripts[index].script)
            return await wire.call(packed)

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """:meth:`reserve` on the asyncio client."""
        self._check_up()
        _, scripts, _ = self._aclient()
        packed, keys = self._reserve_command(rid, lines, want, least, ttl)
        try:
            await self._asend_pending(scripts)
            return self._outcome(await self._ahot(0, packed))
        except LedgerUnavailable:
            self._release_later(rid, keys, len(lines))
            raise
        except _DOWN as exc:
            self._release_later(rid, keys, len(lines))
            raise self._went_down(exc) from exc

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """:meth:`settle` on the asyncio client."""
        try:
            self._check_up()
            _, scripts, _ = self._aclient()
            await self._asend_pending(scripts)
            await self._ahot(1, self._settle_command(rid, keys, actual))
        except (LedgerUnavailable, *_DOWN) as exc:
            self._pending.append((self._keys(keys), [rid, len(keys), _SETTLED_MARK_MS, *actual]))
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
        """:meth:`seed` on the asyncio client (kept settlements are sent first, as there)."""
        self._check_up()
        _, scripts, _ = self._aclient()
        try:
            await self._asend_pending(scripts)
            await scripts[2](keys=[self.prefix + key], args=[spent, expire_at])
        except _DOWN as exc:
            raise self._went_down(exc) from exc

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """:meth:`usage` on the asyncio client."""
        self._check_up()
        client, _, _ = self._aclient()
        try:
            try:
                rows = await self._ausage_rows(client, keys)
            except redis.exceptions.ConnectionError:
                # redis-py's asyncio pipeline does not retry a connection the server closed (a Redis
                # restart): without this the first usage read after one failed and Redis was skipped;
                # not after a timeout, so that a stalled Redis is not waited on twice
                rows = await self._ausage_rows(client, keys)
        except _DOWN as exc:
            raise self._went_down(exc) from exc
        return [None if row[0] is None else (int(row[0]), int(row[1] or 0)) for row in rows]

    async def _ausage_rows(self, client: aredis.Redis, keys: Sequence[str]) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self.prefix + key, "spent", "reserved")
            rows: list[Any] = await pipe.execute()
        return rows

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
        self._wire.close()
        self._client.close()
        self._client.connection_pool.disconnect()
