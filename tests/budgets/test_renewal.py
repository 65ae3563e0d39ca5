"""Reservations of requests still running are kept past reservation_ttl; a dead holder's still expire.

Without renewal a request running longer than ``reservation_ttl`` lost its hold, and a second
request admitted into the freed room took a hard budget past its limit.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import time
import weakref
from collections.abc import Sequence
from typing import Any

import openai
import pytest

import tokenomy
from tests.budgets.conftest import Clock, policy
from tests.budgets.support import RecordingAlerter, admitted, ask
from tokenomy.budgets import (
    BudgetGuard,
    BudgetSettings,
    FailMode,
    Rejection,
    Reservation,
    SdkBudget,
    Unit,
    redis_ledger,
    renewal,
)
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
    if pid == 0:  # the child: the parent's request is not its own; its in-process ledger is a copy
        clock.advance(10 * TTL)
        found = guard.reserve(ask())
        status = found.status if isinstance(found, Rejection) else 0
        os.write(writer, f"{len(guard.holds.live)}:{status}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    # nothing of the parent's is renewed by the child, which refuses to count a copy of the budget
    assert os.read(reader, 16) == b"0:503"
    clock.advance(10 * TTL)
    assert isinstance(guard.reserve(ask()), Rejection)  # the parent still holds it
    guard.release(running)


# -- nothing keeps a dropped guard alive ------------------------------------------------------------


def test_a_redis_guard_dropped_without_close_leaves_no_thread_or_ledger(redis_server: RedisProcess) -> None:
    guard = _guard("dropped-guard", url=redis_server.url)
    guard.release(admitted(guard.reserve(ask())))  # starts the renewal thread
    thread = guard.holds._thread
    assert thread is not None
    assert thread.is_alive()
    holds, ledger = weakref.ref(guard.holds), weakref.ref(guard.ledger)
    del guard
    gc.collect()
    assert holds() is None  # before: the thread ran the bound holds._run, keeping holds and ledger
    assert ledger() is None
    thread.join(timeout=10)  # woken by the finalizer, not left waiting for its next tick
    assert not thread.is_alive()


def test_a_shared_in_process_ledger_keeps_no_dropped_guard(clock: Clock) -> None:
    ledger = MemoryLedger(create_missing=True, clock=clock)
    settings = BudgetSettings(reservation_ttl=TTL, contention_wait=0)
    kept = BudgetGuard(
        [policy(name="shared-kept", limit_tokens=3_000)],
        ledger=ledger,
        settings=settings,
        alerter=Alerter(quiet=True),
        clock=clock,
    )
    dropped = BudgetGuard(
        [policy(name="shared-dropped", limit_tokens=3_000)],
        ledger=ledger,
        settings=settings,
        alerter=Alerter(quiet=True),
        clock=clock,
    )
    holds = weakref.ref(dropped.holds)
    running = admitted(kept.reserve(ask()))
    del dropped
    gc.collect()
    assert holds() is None  # before: the ledger's keepers held dropped.holds.alive strongly
    assert _checks(ledger) == 2
    clock.advance(10 * TTL)  # the kept guard's reservation comes due: the dead check is dropped
    assert isinstance(kept.reserve(ask()), Rejection)
    assert _checks(ledger) == 1
    kept.release(running)


def _checks(ledger: MemoryLedger) -> int:
    """The keep-alive checks the ledger holds."""
    return len(ledger._keepers)


def test_holds_register_no_fork_hook_each(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks: list[Any] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **kw: hooks.append(kw))
    made = [_holds(FailMode.CLOSED)[0] for _ in range(3)]
    assert hooks == []  # before: one permanent hook per Holds
    assert all(h in renewal._ALL for h in made)


# -- an error reply is a failed renewal, and the next batches are still sent -------------------------


class RefusingLedger(FlakyLedger):
    """Refuses the batch holding ``bad`` (an error reply about that batch's keys)."""

    bad = "r0"

    def renew(
        self, held: Sequence[tuple[str, Sequence[tuple[str, int]]]], ttl: float, *, restore: bool
    ) -> list[str]:
        if any(rid == self.bad for rid, _ in held):
            raise LedgerUnavailable("OOM command not allowed")
        return super().renew(held, ttl, restore=restore)


@pytest.mark.parametrize("fail", [FailMode.CLOSED, FailMode.OPEN])
def test_a_refused_batch_is_a_failure_and_the_next_batches_are_renewed(fail: FailMode) -> None:
    ledger, alerts = RefusingLedger(), RecordingAlerter()
    holds = Holds(ledger, BudgetSettings(reservation_ttl=30, fail=fail), alerts)  # type: ignore[arg-type]
    kept = _live(holds, *(f"r{i}" for i in range(renewal.BATCH + 5)))
    assert holds.renew_now() == 5  # before: 0, the batches after the refused one were skipped
    assert [len(ids) for ids, _ in ledger.calls] == [5]
    assert holds.failures == 1
    assert [a.kind for a in alerts.sent] == [
        "renewal_failed" if fail is FailMode.CLOSED else "enforcement_off"
    ]
    assert f"renewal of {renewal.BATCH} reservation(s)" in alerts.sent[0].message
    assert len(kept) == renewal.BATCH + 5


def test_redis_an_error_reply_to_a_renewal_is_ledger_unavailable(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"wrongtype:{time.time_ns()}"
    ledger.seed(key, 0, 0)
    ledger._client.set(ledger.prefix + key + ":x", "not a sorted set")  # any error reply
    with pytest.raises(LedgerUnavailable, match="refused a renewal"):  # before: redis ResponseError
        ledger.renew([("a", [(key, 10)])], 60, restore=True)
    other = f"fine:{time.time_ns()}"
    ledger.seed(other, 0, 0)  # not marked down: the next call goes through
    assert isinstance(ledger.reserve("b", [Line(other, 100, 0, 1000, True)], 10, 1, ttl=60), Granted)
    ledger.close()


def test_the_scripts_use_no_command_newer_than_redis_5() -> None:
    """ZMSCORE (6.2) or ZADD GT (6.2) in the renewal failed every renewal on an older Redis, silently."""
    newer = {"ZMSCORE", "GETEX", "GETDEL", "ZRANGESTORE", "ZINTER", "ZUNION", "ZDIFF", "HRANDFIELD", "LMOVE"}
    for script in (redis_ledger.RESERVE_LUA, redis_ledger.SETTLE_LUA, redis_ledger.RENEW_LUA):
        used = set(re.findall(r"redis\.call\('([A-Z]+)'", script))
        assert used
        assert not used & newer, used & newer
        assert "'GT'" not in script
        assert "'LT'" not in script


# -- the renewal script never shortens a settled mark, and a restored set expires ---------------------


def _now_ms(ledger: RedisLedger) -> int:
    seconds, micros = ledger._client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_redis_a_renewal_racing_a_settlement_keeps_its_mark(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"mark:{time.time_ns()}"
    ledger.seed(key, 0, 0)
    assert isinstance(ledger.reserve("s", [Line(key, 10_000, 0, 1000, True)], 100, 1, ttl=1.0), Granted)
    ledger.settle("s", [key], [100])
    assert ledger.renew([("s", [(key, 100)])], 1.0, restore=True) == []  # the thread's batch held "s"
    score = ledger._client.zscore(ledger.prefix + key + ":x", "s")
    assert score is not None
    assert score > _now_ms(ledger) + 100_000  # before: now + 1 s, so the mark was lost early
    ledger.close()


def test_redis_a_renewal_never_lowers_an_expiry(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"lower:{time.time_ns()}"
    ledger.seed(key, 0, 0)
    assert isinstance(ledger.reserve("r", [Line(key, 10_000, 0, 1000, True)], 100, 1, ttl=600), Granted)
    assert ledger.renew([("r", [(key, 100)])], 1.0, restore=True) == []
    score = ledger._client.zscore(ledger.prefix + key + ":x", "r")
    assert score is not None
    assert score > _now_ms(ledger) + 500_000  # a shorter TTL does not cut a longer hold
    ledger.close()


def test_redis_a_restore_into_an_emptied_set_gives_it_the_accounts_expiry(redis_server: RedisProcess) -> None:
    ledger = RedisLedger(redis_server.url)
    key = f"restore-ttl:{time.time_ns()}"
    expire_at = int(time.time()) + 3_600
    ledger.seed(key, 0, expire_at)
    lines = (Line(key, 10_000, 0, 1000, True, expire_at),)
    assert isinstance(ledger.reserve("r", lines, 1_000, 1, ttl=0.05), Granted)
    time.sleep(0.1)
    assert not isinstance(ledger.reserve("x", lines, 20_000, 20_000, ttl=60), Granted)  # purges "r"
    z = ledger.prefix + key + ":x"
    assert ledger._client.exists(z) == 0  # the purge emptied the set: Redis deleted it
    assert ledger.renew([("r", [(key, 1_000)])], 60, restore=True) == ["r"]
    assert 3_500 < ledger._client.ttl(z) <= 3_600  # before: -1, a set that never expires
    ledger.close()
