"""Reservations of requests still running are kept past reservation_ttl; a dead holder's still expire.

Without renewal a request running longer than ``reservation_ttl`` lost its hold, and a second
request admitted into the freed room took a hard budget past its limit.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Sequence
from typing import Any

import openai
import pytest

import tokenomy
from tests.budgets.conftest import Clock, policy
from tests.budgets.support import RecordingAlerter, admitted, ask
from tokenomy.budgets import BudgetGuard, BudgetSettings, FailMode, Rejection, Reservation, SdkBudget, Unit
from tokenomy.budgets.admission import Held
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.ledger import Granted, LedgerUnavailable, Line
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.budgets.renewal import Holds
from tokenomy.capture.runtime import RUNTIME
from tokenomy.errors import BudgetExceeded
from tokenomy.mockllm import MockLLMConfig, run_in_thread

WORST = 2_024
"""Tokens a request of ask() holds: 1,000 input + 1,024 output."""
TTL = 2.0


def _guard(name: str, *, clock: Clock | None = None, url: str | None = None, ttl: float = TTL) -> BudgetGuard:
    """A guard with one hard token budget that holds one worst case, not two, and a short TTL."""
    return BudgetGuard(
        [policy(name=name, limit_tokens=3_000)],
        ledger=None if url is None else RedisLedger(url),
        settings=BudgetSettings(reservation_ttl=ttl, contention_wait=0),
        alerter=Alerter(quiet=True),
        clock=clock or time.time,
    )


# -- the in-process ledger: the clock is the guard's, moved by hand --------------------------------


def test_in_process_a_running_request_keeps_its_hold_past_the_ttl(clock: Clock) -> None:
    guard = _guard("mem-live", clock=clock)
    running = admitted(guard.reserve(ask()))
    clock.advance(10 * TTL)  # a stream ten TTLs long
    second = guard.reserve(ask())
    assert isinstance(second, Rejection), second  # without renewal: admitted, 4,048 held against 3,000
    assert guard.ledger.usage([running.held[0].key]) == [(0, WORST)]
    guard.release(running)
    assert admitted(guard.reserve(ask())).max_tokens == 1_024


def test_in_process_a_dropped_reservation_still_expires(clock: Clock) -> None:
    guard = _guard("mem-dead", clock=clock)
    key = admitted(guard.reserve(ask())).held[0].key  # the reservation is dropped, never settled
    gc.collect()
    clock.advance(TTL + 1)
    again = admitted(guard.reserve(ask()))
    assert again.max_tokens == 1_024
    assert guard.ledger.usage([key]) == [(0, WORST)]  # only the new one is held


def test_the_in_process_ledger_asks_only_about_due_open_reservations(clock: Clock) -> None:
    ledger = MemoryLedger(create_missing=True, clock=clock)
    asked: list[str] = []

    def alive(rid: str) -> bool:
        asked.append(rid)
        return rid == "kept"

    ledger.keep_alive(alive, 5.0)
    lines = [Line("k", 10_000, 0, 1000, True)]
    for rid in ("kept", "dropped", "settled"):
        assert isinstance(ledger.reserve(rid, lines, 1_000, 1, ttl=1.0), Granted)
    ledger.settle("settled", ["k"], [7])
    assert ledger.usage(["k"]) == [(7, 2_000)]
    assert asked == []
    clock.advance(1.5)
    assert ledger.usage(["k"]) == [(7, 1_000)]
    assert sorted(asked) == ["dropped", "kept"]
    clock.advance(5.0)  # pushed back by the keeper's 5 s, asked again, kept again
    assert ledger.usage(["k"]) == [(7, 1_000)]
    assert asked.count("kept") == 2


def test_an_sdk_stream_longer_than_the_ttl_keeps_its_hold(clock: Clock) -> None:
    RUNTIME.shutdown(5)
    guard = BudgetGuard(  # 608 input tokens: one request's worst case fits 2,000, not two
        [policy(name="sdk-live", limit_tokens=2_000)],
        settings=BudgetSettings(reservation_ttl=TTL, contention_wait=0),
        alerter=Alerter(quiet=True),
        clock=clock,
    )
    with run_in_thread(MockLLMConfig(seed=5)) as mock:
        client = tokenomy.instrument(
            openai.OpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
        )
        body: Any = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello " * 600}]}
        stream = client.chat.completions.create(**body, max_tokens=1_024, stream=True)
        next(iter(stream))  # the first chunk arrived: the request is running
        clock.advance(10 * TTL)
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**body, max_tokens=1_024)
        for _ in stream:
            pass
        stream.close()
    RUNTIME.shutdown(5)


# -- Redis: its own clock, so the waits are real (bounded) -----------------------------------------


def test_redis_a_running_request_keeps_its_hold_past_the_ttl(redis_server: RedisProcess) -> None:
    guard = _guard("redis-live", url=redis_server.url)
    running = admitted(guard.reserve(ask()))
    time.sleep(2.5 * TTL)  # the renewal thread renews every TTL / 3
    second = guard.reserve(ask())
    assert isinstance(second, Rejection), second  # without renewal: admitted past the limit
    assert guard.ledger.usage([running.held[0].key]) == [(0, WORST)]
    assert guard.holds.renewed >= 2
    guard.release(running)
    assert admitted(guard.reserve(ask())).max_tokens == 1_024
    guard.close()


def test_redis_a_dropped_reservation_still_expires(redis_server: RedisProcess) -> None:
    guard = _guard("redis-dropped", url=redis_server.url, ttl=1.0)
    key = admitted(guard.reserve(ask())).held[0].key  # dropped, never settled
    gc.collect()
    assert _eventually_admitted(guard)
    assert guard.ledger.usage([key]) == [(0, 0)]
    guard.close()


def _hold_and_wait(url: str, ready: Any) -> None:
    guard = _guard("redis-killed", url=url, ttl=1.0)
    held = guard.reserve(ask())
    ready.put(type(held).__name__)
    time.sleep(60)  # killed long before, holding ``held``


def test_redis_the_reservation_of_a_killed_process_expires(redis_server: RedisProcess) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=_hold_and_wait, args=(redis_server.url, ready))
    child.start()
    try:
        assert ready.get(timeout=60) == "Reservation"
    finally:
        child.kill()
        child.join(10)
    guard = _guard("redis-killed", url=redis_server.url, ttl=1.0)
    assert isinstance(guard.reserve(ask()), Rejection)  # still held right after the kill
    assert _eventually_admitted(guard)
    guard.close()


def _eventually_admitted(guard: BudgetGuard) -> bool:
    """Ask every 0.2 s, at most 50 times, until a reservation is granted (then settle it)."""
    for _ in range(50):
        found = guard.reserve(ask())
        if not isinstance(found, Rejection):
            guard.release(found)
            return True
        time.sleep(0.2)
    return False


def test_redis_renew_restores_a_released_hold_only_when_asked(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"restore:{time.time_ns()}"
    ledger.seed(key, 0, 0)
    lines = [Line(key, 10_000, 0, 1000, True)]
    for rid in ("lost", "settled"):
        assert isinstance(ledger.reserve(rid, lines, 1_000, 1, ttl=0.1), Granted)
    ledger.settle("settled", [key], [5])
    time.sleep(0.2)
    assert isinstance(ledger.reserve("purge", lines, 0, 0, ttl=60), Granted)  # purges the expired hold
    assert ledger.usage([key]) == [(5, 0)]
    held = [("lost", [(key, 1_000)]), ("settled", [(key, 1_000)]), ("purge", [(key, 0)])]
    assert ledger.renew(held, 60, restore=False) == ["lost"]
    assert ledger.usage([key]) == [(5, 0)]
    assert ledger.renew(held, 60, restore=True) == ["lost"]  # fail closed: held again
    assert ledger.usage([key]) == [(5, 1_000)]
    assert ledger.renew(held, 60, restore=True) == []  # now it is renewed like any other
    ledger.close()


def test_redis_renew_pushes_the_expiry_back(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"push:{time.time_ns()}"
    ledger.seed(key, 0, 0)
    lines = [Line(key, 1_000, 0, 1000, True)]
    assert isinstance(ledger.reserve("long", lines, 1_000, 10, ttl=0.3), Granted)
    for _ in range(4):  # 0.6 s in all, twice the TTL
        time.sleep(0.15)
        assert ledger.renew([("long", [(key, 1_000)])], 0.3, restore=False) == []
    assert not isinstance(ledger.reserve("second", lines, 1_000, 10, ttl=60), Granted)
    assert ledger.usage([key]) == [(0, 1_000)]
    ledger.close()


# -- a renewal that fails follows the fail mode ----------------------------------------------------


class FlakyLedger:
    """A ledger renewed by the thread whose ``renew`` fails while ``down``; records what it renewed."""

    url = "redis://127.0.0.1:1/0"

    def __init__(self) -> None:
        self.down = False
        self.released: list[str] = []
        self.calls: list[tuple[list[str], bool]] = []

    def renew(
        self, held: Sequence[tuple[str, Sequence[tuple[str, int]]]], ttl: float, *, restore: bool
    ) -> list[str]:
        if self.down:
            raise LedgerUnavailable("connection refused")
        self.calls.append(([rid for rid, _ in held], restore))
        return [rid for rid, _ in held if rid in self.released]


def _holds(fail: FailMode) -> tuple[Holds, FlakyLedger, RecordingAlerter]:
    ledger, alerts = FlakyLedger(), RecordingAlerter()
    settings = BudgetSettings(reservation_ttl=30, fail=fail)
    return Holds(ledger, settings, alerts), ledger, alerts  # type: ignore[arg-type]  # renew alone is used


def _live(holds: Holds, *ids: str) -> list[Reservation]:
    kept = []
    for rid in ids:
        held = (Held(f"acct:{rid}", "p", Unit.TOKENS, 100),)
        res = Reservation(rid, "gpt-4o-mini", "openai", 10, 10, None, 90, held=held)
        holds.live[rid] = res
        kept.append(res)
    return kept


@pytest.mark.parametrize("fail", [FailMode.CLOSED, FailMode.OPEN])
def test_a_failed_renewal_is_retried_and_reported_by_fail_mode(fail: FailMode) -> None:
    holds, ledger, alerts = _holds(fail)
    assert holds.interval == 10.0
    assert holds.needs_thread
    kept = _live(holds, "a", "b")
    ledger.down = True
    assert holds.renew_now() == 0
    assert holds.failures == 1
    kinds = [a.kind for a in alerts.sent]
    assert kinds == ["renewal_failed" if fail is FailMode.CLOSED else "enforcement_off"]
    assert f'fail = "{fail.value}"' in alerts.sent[0].message
    ledger.down = False
    ledger.released = ["a"]  # released by Redis during the outage
    assert holds.renew_now() == 2
    assert ledger.calls == [(["a", "b"], fail is FailMode.CLOSED)]
    # fail closed: "a" was held again and is still renewed; fail open: it runs unchecked, forgotten
    assert sorted(holds.live) == (["a", "b"] if fail is FailMode.CLOSED else ["b"])
    assert holds.lost == 1
    assert len(kept) == 2


def test_a_reservation_its_holder_dropped_is_no_longer_renewed() -> None:
    holds, ledger, _ = _holds(FailMode.CLOSED)
    kept = _live(holds, "a", "b")
    cycle: list[Any] = [kept[1]]
    cycle.append(cycle)  # "b" is also held by garbage in a cycle: only a collection drops that
    del kept[0], cycle
    assert holds.renew_now() == 1
    assert ledger.calls == [(["b"], True)]
    assert list(holds.live) == ["b"]
    del kept[0]
    assert holds.renew_now() == 1  # the cycle still holds it until the collector runs
    gc.collect()
    assert holds.renew_now() == 0
    assert holds.live == {}


def test_the_guard_keeps_what_it_granted_and_forgets_what_it_settled(clock: Clock) -> None:
    guard = _guard("forget", clock=clock)
    first, second = admitted(guard.reserve(ask(max_tokens=10))), admitted(guard.reserve(ask(max_tokens=10)))
    assert sorted(guard.holds.live) == sorted([first.id, second.id])
    guard.settle(first, 10)
    guard.release(second)
    assert guard.holds.live == {}
    assert not guard.holds.needs_thread


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_forgets_its_parents_requests(clock: Clock) -> None:
    guard = _guard("forked", clock=clock)
    running = admitted(guard.reserve(ask()))
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's request is not its own, its copy expires
        clock.advance(10 * TTL)
        found = guard.reserve(ask())
        os.write(writer, b"admitted" if not isinstance(found, Rejection) else b"refused")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(reader, 16) == b"admitted"
    clock.advance(10 * TTL)
    assert isinstance(guard.reserve(ask()), Rejection)  # the parent still holds it
    guard.release(running)
