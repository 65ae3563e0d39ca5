"""The Redis ledger on a real redis-server: atomic reserve/settle, processes, outages, restarts, expiry."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.budgets.conftest import policy
from tests.budgets.support import admitted, ask, recorded_call
from tokenomy.budgets import BudgetGuard, Rejection, Reservation
from tokenomy.budgets.ledger import Granted, LedgerUnavailable, Line, Missing, Refused
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.budgets.settings import BudgetSettings, FailMode
from tokenomy.budgets.spend import StoreSpend
from tokenomy.store import open_store

pytestmark = pytest.mark.integration


def fresh() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def test_the_script_reserves_lowers_refuses_and_settles(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = fresh()
    lines = [Line(key, 10_000, 0, 1000, True), Line(key + "-soft", 5, 0, 1000, False)]
    assert ledger.reserve("r0", lines, 10, 1, ttl=60) == Missing((0, 1))
    ledger.seed(key, 0, 0)
    ledger.seed(key + "-soft", 0, 0)
    ledger.seed(key, 999, 0)  # never overwrites
    first = ledger.reserve("r1", lines, 6_000, 100, ttl=60)
    assert first == Granted(6_000, (6_000, 6_000), ((0, 6_000), (0, 6_000)))
    second = ledger.reserve("r2", lines, 6_000, 100, ttl=60)
    assert isinstance(second, Granted)
    assert second.max_tokens == 4_000
    assert ledger.reserve("r3", lines, 6_000, 100, ttl=60) == Refused(0, 0, 10_000, 0)
    ledger.settle("r1", [key, key + "-soft"], [2_500, 2_500])
    ledger.settle("r2", [key, key + "-soft"], [0, 0])
    assert ledger.usage([key, key + "-soft", fresh()]) == [(2_500, 0), (2_500, 0), None]
    ledger.close()


def test_the_guard_gives_the_same_answers_as_in_process(redis_server: RedisProcess) -> None:
    guard = BudgetGuard(
        [policy(name=fresh(), limit_tokens=5_000)],
        ledger=RedisLedger(redis_server.url),
        settings=BudgetSettings(contention_wait=0),  # the second request never settles: no wait
    )
    first = guard.reserve(ask(max_tokens=3_000))
    assert isinstance(first, Reservation)
    guard.settle(first, 2_000)
    second = guard.reserve(ask(max_tokens=3_000))
    assert isinstance(second, Reservation)
    assert (second.max_tokens, second.lowered) == (1_000, True)
    assert isinstance(guard.reserve(ask(max_tokens=3_000)), Rejection)
    guard.close()


def test_two_teams_sessions_whose_ids_hold_a_colon_are_charged_apart(redis_server: RedisProcess) -> None:
    name = fresh()
    guard = BudgetGuard(
        [policy(name=name, scope="team", limit_tokens=2_100, window="session")],
        ledger=RedisLedger(redis_server.url),
        settings=BudgetSettings(contention_wait=0),
    )
    first = admitted(guard.reserve(ask(team="x:sy", session="z")))
    guard.settle(first, 1_024)  # 2,024 of 2,100 spent: that session cannot afford another request
    assert isinstance(guard.reserve(ask(team="x:sy", session="z")), Rejection)
    other = admitted(
        guard.reserve(ask(team="x", session="y:sz"))
    )  # refused while both were f"{name}:x:sy:sz"
    assert (other.max_tokens, [h.key for h in other.held]) == (1_024, [f"{name}::x:sy%3Asz"])
    guard.close()
    ledger = RedisLedger(redis_server.url)
    assert ledger.usage([f"{name}::x%3Asy:sz", f"{name}::x:sy%3Asz", f"{name}:x:sy:sz"]) == [
        (2_024, 0),
        (0, 2_024),
        None,
    ]
    ledger.close()


def test_unsettled_reservations_expire_on_redis_time(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = fresh()
    ledger.seed(key, 0, 0)
    lines = [Line(key, 1_000, 0, 1000, True)]
    assert isinstance(ledger.reserve("dies", lines, 1_000, 10, ttl=0.2), Granted)
    assert isinstance(ledger.reserve("blocked", lines, 1_000, 10, ttl=0.2), Refused)
    time.sleep(0.3)
    assert isinstance(ledger.reserve("after", lines, 1_000, 10, ttl=60), Granted)
    assert ledger.usage([key]) == [(0, 1_000)]


def _hammer(url: str, key: str, worker: int, out: Any) -> None:
    ledger = RedisLedger(url, timeout=5.0)
    lines = [Line(key, 100_000, 10, 1000, True)]
    granted = 0
    for i in range(300):
        found = ledger.reserve(f"{worker}-{i}", lines, 100, 50, ttl=60)
        if isinstance(found, Granted):
            granted += found.amounts[0]
    out.put(granted)


def test_processes_sharing_redis_never_take_more_than_the_limit(redis_server: RedisProcess) -> None:
    key = fresh()
    RedisLedger(redis_server.url).seed(key, 0, 0)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_server.url, key, w, out)) for w in range(4)]
    for proc in procs:
        proc.start()
    granted = sum(out.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(30)
    # 4 x 300 requests of up to 110 units want 132,000: more than the 100,000 there are
    assert 100_000 - 60 < granted <= 100_000
    assert RedisLedger(redis_server.url).usage([key]) == [(0, granted)]


def test_redis_down_fail_closed_refuses_and_fail_open_admits(tmp_path: Path) -> None:
    with RedisProcess() as server:
        name = fresh()
        closed = BudgetGuard([policy(name=name)], ledger=RedisLedger(server.url, retry_interval=0.05))
        opened = BudgetGuard(
            [policy(name=name)],
            ledger=RedisLedger(server.url, retry_interval=0.05),
            settings=BudgetSettings(fail=FailMode.OPEN),
        )
        assert isinstance(closed.reserve(ask()), Reservation)
        server.stop()
        refused = closed.reserve(ask())
        assert isinstance(refused, Rejection)
        assert (refused.status, refused.type) == (503, "budget_unavailable")
        unmetered = opened.reserve(ask())
        assert isinstance(unmetered, Reservation)
        assert (unmetered.enforced, [h.amount for h in unmetered.held]) == (False, [0])
        server.start()
        time.sleep(0.1)
        back = closed.reserve(ask())
        assert isinstance(back, Reservation)
        assert back.enforced


def test_a_stalled_redis_fails_closed_and_unenforced_spend_is_added_when_it_wakes() -> None:
    with RedisProcess() as server:
        name = fresh()
        settings = BudgetSettings(fail=FailMode.OPEN)
        ledger = RedisLedger(server.url, timeout=0.2, retry_interval=0.05)
        opened = BudgetGuard([policy(name=name)], ledger=ledger, settings=settings)
        closed = BudgetGuard(
            [policy(name=name)], ledger=RedisLedger(server.url, timeout=0.2, retry_interval=0.05)
        )
        first = opened.reserve(ask())
        assert isinstance(first, Reservation)
        assert first.enforced
        key = first.held[0].key
        opened.settle(first, 1024)  # $0.0007644
        server.pause()
        try:
            refused = closed.reserve(ask())
            assert isinstance(refused, Rejection)
            assert refused.status == 503
            unmetered = opened.reserve(ask())
            assert isinstance(unmetered, Reservation)
            assert not unmetered.enforced
            opened.settle(unmetered, 100)  # $0.00021: kept until Redis answers
        finally:
            server.resume()
        time.sleep(0.1)
        after = closed.reserve(ask())  # sends the release of its lost reservation first
        assert isinstance(after, Reservation)
        assert isinstance(opened.reserve(ask()), Reservation)  # sends the kept settlement first
        spent, reserved = RedisLedger(server.url).usage([key])[0] or (0, 0)
        assert spent == 764_400 + 210_000  # nano-dollars: both settlements, each once
        assert reserved == 2 * 764_400  # the two open reservations; the stalled one was released


def test_settling_twice_or_a_late_copy_of_a_reservation_counts_once(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = fresh()
    ledger.seed(key, 0, 0)
    lines = [Line(key, 10_000, 0, 1000, True)]
    assert isinstance(ledger.reserve("a", lines, 100, 1, ttl=60), Granted)
    ledger.settle("a", [key], [70])
    ledger.settle("a", [key], [70])  # a resend after a lost reply
    with pytest.raises(LedgerUnavailable, match="reply was lost"):
        ledger.reserve("a", lines, 100, 1, ttl=60)  # a late copy of a settled reservation
    ledger.settle("b", [key], [5])  # an unknown reservation (expired, or admitted unenforced) still counts
    assert ledger.usage([key]) == [(75, 0)]


def test_settlements_made_while_redis_is_down_are_sent_when_it_answers(tmp_path: Path) -> None:
    with RedisProcess() as server:
        ledger = RedisLedger(server.url, retry_interval=0.05)
        key = fresh()
        ledger.seed(key, 0, 0)
        lines = [Line(key, 10_000, 0, 1000, True)]
        assert isinstance(ledger.reserve("r", lines, 100, 1, ttl=60), Granted)
        server.stop()
        ledger.settle("r", [key], [70])
        assert ledger.pending_settlements == 1
        with pytest.raises(LedgerUnavailable):
            ledger.reserve("r2", lines, 100, 1, ttl=60)
        server.start()
        time.sleep(0.1)
        # the restarted server lost the account: it is rebuilt from the store, which holds the call
        # the kept settlement settles; that settlement goes first and finds no account to add to
        ledger.seed(key, 570, 0)
        assert ledger.pending_settlements == 0
        assert isinstance(ledger.reserve("r3", lines, 100, 1, ttl=60), Granted)
        assert ledger.usage([key]) == [(570, 100)]


def test_a_settlement_kept_while_redis_stalled_is_not_added_again_to_a_rebuilt_account(
    tmp_path: Path,
) -> None:
    """A new account's first request admitted unenforced (fail open) during a stall: once Redis
    answers the account is rebuilt from the store, which holds that call; its kept settlement
    must not add it a second time (it did when it was sent after the seed)."""
    name = fresh()
    with RedisProcess() as server, open_store(tmp_path / "t.duckdb") as store:
        guard = BudgetGuard(
            [
                policy(name=name, scope="team", limit_usd="1.00", window="month"),
                # a soft policy makes admission read usage (and rebuild) before it reserves
                policy(name=f"{name}s", limit_usd="10", mode="soft", downgrade=[{"model": "gpt-4o-mini"}]),
            ],
            ledger=RedisLedger(server.url, timeout=0.2, retry_interval=0.05),
            spend=StoreSpend(store),
            settings=BudgetSettings(fail=FailMode.OPEN),
        )
        server.pause()
        try:
            unmetered = guard.reserve(ask(team="search"))
            assert isinstance(unmetered, Reservation)
            assert not unmetered.enforced
            assert guard.settle(unmetered, 1024).cost == Decimal("0.0007644")
        finally:
            server.resume()
        # kept: the settlement (the soft policy's usage read timed out: no reservation was sent)
        assert guard.ledger.pending_settlements == 1  # type: ignore[attr-defined]
        store.insert_calls([recorded_call("during", datetime.now(UTC), "0.0007644", team="search")])
        time.sleep(0.1)
        again = guard.reserve(ask(team="search"))
        assert isinstance(again, Reservation)
        team_key, global_key = (h.key for h in again.held)
        assert guard.ledger.usage([team_key]) == [(764_400, 764_400)]  # the call once, and the new hold
        assert guard.ledger.usage([global_key]) == [(764_400, 764_400)]


def test_an_async_guard_reads_usage_again_after_a_redis_restart(tmp_path: Path) -> None:
    """After a restart the asyncio pipeline's pooled connection is closed by the server; the first
    usage read used to fail on it, and fail closed then refused (503) for ``retry_interval``."""
    name = fresh()
    with RedisProcess() as server:
        ledger = RedisLedger(server.url, retry_interval=60.0)

        async def usage() -> list[tuple[int, int] | None]:
            return await ledger.ausage([name])

        async def seeded() -> list[tuple[int, int] | None]:
            await ledger.aseed(name, 7, 0)
            return await usage()

        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(seeded()) == [(7, 0)]
            server.restart()
            time.sleep(0.1)
            assert loop.run_until_complete(usage()) == [None]  # the restarted server lost it
        finally:
            loop.close()
            ledger.close()


def test_a_restart_never_lowers_recorded_spend(tmp_path: Path) -> None:
    name = fresh()
    with RedisProcess() as server, open_store(tmp_path / "t.duckdb") as store:
        now = datetime.now()
        store.insert_calls([recorded_call("before", now, "0.30", team="search")])
        guard = BudgetGuard(
            [policy(name=name, scope="team", limit_usd="1.00", window="month")],
            ledger=RedisLedger(server.url, retry_interval=0.05),
            spend=StoreSpend(store),
        )
        first = guard.reserve(ask(team="search"))
        assert isinstance(first, Reservation)
        key = first.held[0].key
        assert guard.ledger.usage([key]) == [(300_000_000, 764_400)]
        settled = guard.settle(first, 1024)
        assert settled.cost == Decimal("0.0007644")
        # the gateway records the call; then Redis restarts with nothing in memory
        store.insert_calls([recorded_call("first", now, "0.0007644", team="search")])
        server.restart()
        time.sleep(0.1)
        again = guard.reserve(ask(team="search"))
        assert isinstance(again, Reservation)
        assert guard.ledger.usage([key]) == [(300_764_400, 764_400)]
