"""The Redis ledger's hot path: packed as redis-py packs, cached parts, script reloads, retries, slots."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
import redis

from tokenomy.budgets.ledger import Granted, Line
from tokenomy.budgets.redis_ledger import PREFIX, RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.budgets.redis_wire import Wire, bulk, command


def redis_py_packing(*args: str | int | bytes) -> bytes:
    """What redis-py itself sends for ``args`` (the slow path the hot path replaces)."""
    connection = redis.Connection()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    return b"".join(connection.pack_command(*args))  # type: ignore[no-untyped-call]  # likewise


def fresh() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


def test_packing_is_what_redis_py_sends() -> None:
    args: list[str | int | bytes] = ["EVALSHA", "ab12", 2, "{tokenomy}:k", "é", b"\x00raw", -5, 0]
    assert command(len(args), [bulk(a) for a in args]) == redis_py_packing(*args)


def test_a_reservation_is_packed_as_the_redis_py_script_call_was_even_from_the_cache() -> None:
    ledger = RedisLedger("redis://127.0.0.1:1/0")  # nothing is sent: only packed
    sha = ledger._scripts[0].sha
    lines = (Line("p:*:d2026-03-10", 10_000, 7, 600, True, 1_773_360_000), Line("t:*:m", 99, 0, 1000, False))
    for rid in ("r1", "r2"):  # the second one comes from the cached parts
        packed, keys = ledger._reserve_command(rid, lines, 1024, 256, 600.0)
        assert keys == [
            f"{PREFIX}p:*:d2026-03-10",
            f"{PREFIX}p:*:d2026-03-10:x",
            f"{PREFIX}t:*:m",
            f"{PREFIX}t:*:m:x",
        ]
        args = ledger._reserve_args(rid, lines, 1024, 256, 600.0)
        assert packed == redis_py_packing("EVALSHA", sha, 4, *keys, *args)
    # a window rollover hands over new lines (new key, new expiry): they are packed anew
    rolled = (Line("p:*:d2026-03-11", 10_000, 7, 600, True, 1_773_446_400), lines[1])
    packed, keys = ledger._reserve_command("r3", rolled, 1024, 256, 600.0)
    assert keys[0] == f"{PREFIX}p:*:d2026-03-11"
    assert packed == redis_py_packing(
        "EVALSHA", sha, 4, *keys, *ledger._reserve_args("r3", rolled, 1024, 256, 600.0)
    )


def test_a_settlement_is_packed_as_the_redis_py_script_call_was() -> None:
    ledger = RedisLedger("redis://127.0.0.1:1/0")
    sha = ledger._scripts[1].sha
    for names, actual in ((["a", "b"], [5, 0]), (["a", "b"], [7, 9]), (["c"], [123_456_789_012])):
        keys = ledger._keys(names)
        expected = redis_py_packing("EVALSHA", sha, len(keys), *keys, "r", len(names), 120_000, *actual)
        assert ledger._settle_command("r", names, actual) == expected


@pytest.mark.integration
def test_a_flushed_script_cache_is_reloaded_sync_and_asyncio(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = fresh()
    ledger.seed(key, 0, 0)
    lines = (Line(key, 10_000, 0, 1000, True),)
    admin = redis.Redis.from_url(redis_server.url)
    admin.script_flush()
    assert isinstance(ledger.reserve("s1", lines, 100, 1, ttl=60), Granted)
    admin.script_flush()
    ledger.settle("s1", [key], [40])

    async def run() -> None:
        admin.script_flush()
        assert isinstance(await ledger.areserve("s2", lines, 100, 1, ttl=60), Granted)
        admin.script_flush()
        await ledger.asettle("s2", [key], [2])

    asyncio.run(run())
    assert ledger.usage([key]) == [(42, 0)]
    assert ledger.pending_settlements == 0
    admin.close()
    ledger.close()


@pytest.mark.integration
def test_a_dropped_connection_is_retried_once_on_a_fresh_one(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = fresh()
    ledger.seed(key, 0, 0)
    lines = (Line(key, 10_000, 0, 1000, True),)
    admin = redis.Redis.from_url(redis_server.url)
    assert isinstance(ledger.reserve("d1", lines, 100, 1, ttl=60), Granted)
    admin.client_kill_filter(_type="normal", skipme=True)  # the ledger's idle connection is gone
    ledger.settle("d1", [key], [10])
    assert isinstance(ledger.reserve("d2", lines, 100, 1, ttl=60), Granted)

    async def run() -> None:
        assert isinstance(await ledger.areserve("d3", lines, 100, 1, ttl=60), Granted)
        admin.client_kill_filter(_type="normal", skipme=True)
        await ledger.asettle("d3", [key], [5])

    asyncio.run(run())
    assert ledger.pending_settlements == 0
    assert ledger.usage([key]) == [(15, 100)]  # d2 still holds its 100
    admin.close()
    ledger.close()


@pytest.mark.integration
def test_callers_past_the_connection_limit_wait_then_fail_as_a_connection_error(
    redis_server: RedisProcess,
) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url)
    wire = Wire(pool, max_connections=1, timeout=0.05)
    blocking = command(3, [bulk("BLPOP"), bulk(fresh()), bulk("0.5")])  # holds the one connection
    done: list[object] = []
    holder = threading.Thread(target=lambda: done.append(wire.call(blocking)))
    holder.start()
    time.sleep(0.1)
    with pytest.raises(redis.exceptions.ConnectionError, match="no free Redis connection"):
        wire.call(command(1, [bulk("PING")]))
    holder.join()
    assert done == [None]  # BLPOP timed out with nothing
    assert wire.call(command(1, [bulk("PING")])) in ("PONG", b"PONG")
    wire.close()
