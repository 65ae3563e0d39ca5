"""Waiting out contention: a budget held only by reservations in flight waits for them, on both ledgers."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest

from tests.budgets.conftest import policy
from tests.budgets.support import admitted, ask
from tokenomy.budgets import BudgetGuard, Rejection
from tokenomy.budgets.contention import Backoff, held_only
from tokenomy.budgets.ledger import Ledger, Line, Outcome, Refused
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.budgets.settings import BudgetSettings

WORST = 764_400
"""Nano-dollars of the worst case of :func:`ask` (1000 input + 1024 output tokens of gpt-4o-mini)."""


class Watched:
    """A ledger that counts refused reservations and calls ``on_refused`` after each."""

    def __init__(self, inner: Ledger, on_refused: Callable[[], None] = lambda: None) -> None:
        self.inner = inner
        self.on_refused = on_refused
        self.refusals = 0

    def _seen(self, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Refused):
            self.refusals += 1
            self.on_refused()
        return outcome

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        return self._seen(self.inner.reserve(rid, lines, want, least, ttl))

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        self.inner.settle(rid, keys, actual)

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        self.inner.seed(key, spent, expire_at)

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        return self.inner.usage(keys)

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        return self._seen(await self.inner.areserve(rid, lines, want, least, ttl))

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        await self.inner.asettle(rid, keys, actual)

    async def aseed(self, key: str, spent: int, expire_at: int) -> None:
        await self.inner.aseed(key, spent, expire_at)

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        return await self.inner.ausage(keys)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(params=["memory", "redis"])
def make_ledger(request: pytest.FixtureRequest) -> Callable[[], Ledger]:
    """Builds the ledger under test: in-process, or on the session's redis-server."""
    if request.param == "memory":
        return lambda: MemoryLedger(create_missing=True)
    server: RedisProcess = request.getfixturevalue("redis_server")
    return lambda: RedisLedger(server.url)


def guard_on(ledger: Ledger, wait: float, limit: str = "0.001") -> BudgetGuard:
    """A guard with one hard $``limit`` budget (a fresh name: fresh accounts) waiting ``wait`` s."""
    budget = policy(name=f"c{uuid.uuid4().hex[:10]}", limit_usd=limit)
    return BudgetGuard([budget], ledger=ledger, settings=BudgetSettings(contention_wait=wait))


# -- the rule and the schedule ---------------------------------------------------------------------


def test_only_reservations_blocking_the_smallest_answer_count_as_held() -> None:
    line = Line("a", 1_000, 100, 1000, True)  # 100 fixed + 1 unit per output token
    assert held_only(line, Refused(0, spent=500, reserved=450, fit=-1), least=256)  # 500 + 356 fits
    assert not held_only(line, Refused(0, spent=700, reserved=250, fit=-1), least=256)  # 700 + 356 does not
    assert not held_only(line, Refused(0, spent=950, reserved=0, fit=-1), least=256)  # nothing to wait for


def test_the_backoff_doubles_to_100_ms_and_stops_at_the_limit() -> None:
    now = [0.0]
    backoff = Backoff(0.3, clock=lambda: now[0])
    pauses = []
    while (pause := backoff.pause()) is not None:
        pauses.append(pause)
        now[0] += pause
    assert pauses == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.045])
    assert backoff.waited
    off = Backoff(0.0, clock=lambda: now[0])
    assert off.pause() is None
    assert not off.waited


# -- both ledgers ----------------------------------------------------------------------------------


def test_a_reservation_settled_during_the_wait_lets_the_request_in(make_ledger: Callable[[], Ledger]) -> None:
    async def run() -> None:
        refused = asyncio.Event()
        ledger = Watched(make_ledger(), refused.set)
        guard = guard_on(ledger, wait=60.0)
        first = admitted(await guard.areserve(ask()))  # holds $0.0007644 of $0.001

        async def settle_when_refused() -> None:
            await refused.wait()
            await guard.asettle(first, 100)  # used $0.00021

        waiting = asyncio.ensure_future(guard.areserve(ask()))
        await settle_when_refused()
        second = admitted(await waiting)
        assert second.max_tokens == 1024
        assert ledger.refusals >= 1  # it was refused, waited, then granted
        assert guard.ledger.usage([h.key for h in second.held]) == [(210_000, WORST)]
        guard.close()

    asyncio.run(run())


def test_the_blocking_path_sleeps_while_another_thread_settles(make_ledger: Callable[[], Ledger]) -> None:
    refused = threading.Event()
    ledger = Watched(make_ledger(), refused.set)
    guard = guard_on(ledger, wait=60.0)
    first = admitted(guard.reserve(ask()))

    def settle_when_refused() -> None:
        refused.wait()
        guard.settle(first, 100)

    other = threading.Thread(target=settle_when_refused)
    other.start()
    second = admitted(guard.reserve(ask()))
    other.join()
    assert second.max_tokens == 1024
    assert ledger.refusals >= 1
    guard.close()


def test_a_wait_that_expires_refuses_saying_requests_in_flight_hold_the_budget(
    make_ledger: Callable[[], Ledger],
) -> None:
    ledger = Watched(make_ledger())
    guard = guard_on(ledger, wait=0.3)
    admitted(guard.reserve(ask()))
    refused = asyncio.run(guard.areserve(ask()))
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.spent, refused.reserved) == (429, Decimal(0), Decimal("0.0007644"))
    assert "is held by requests in flight: spent $0.0000, $0.0008 reserved" in refused.message
    assert "did not settle within 0.3 s ([budgets] contention_wait)" in refused.message
    assert refused.in_flight
    assert refused.retry_after() == 1
    # retried after 5, 10, 20, 40, 80, 100 then 45 ms at most: 8 attempts, never a busy loop
    assert 2 <= ledger.refusals <= 8
    guard.close()


def test_no_wait_when_disabled_or_when_spend_alone_leaves_no_room(make_ledger: Callable[[], Ledger]) -> None:
    ledger = Watched(make_ledger())
    off = guard_on(ledger, wait=0.0)
    admitted(off.reserve(ask()))
    refused = off.reserve(ask())
    assert isinstance(refused, Rejection)
    # nothing spent: the request in flight alone holds the room, so it is no exhaustion to wait out
    # until the reset but a retry in a moment (Retry-After: 1), though the guard did not wait
    assert "is held by requests in flight" in refused.message
    assert "they hold it for now ([budgets] contention_wait = 0: no wait)" in refused.message
    assert (refused.in_flight, refused.retry_after()) == (True, 1)
    assert ledger.refusals == 1

    ledger = Watched(make_ledger())
    guard = guard_on(ledger, wait=60.0)
    guard.settle(admitted(guard.reserve(ask())), 1024)  # spent $0.0007644 of $0.001
    admitted(guard.reserve(ask(max_tokens=100)))  # $0.00021 held in flight
    # $0.0003036 (256 output tokens) does not fit what is unspent: refused at once, no wait
    refused = guard.reserve(ask())
    assert isinstance(refused, Rejection)
    assert (refused.spent, refused.reserved) == (Decimal("0.0007644"), Decimal("0.00021"))
    assert "is exhausted" in refused.message
    assert ledger.refusals == 1
    off.close()
    guard.close()
