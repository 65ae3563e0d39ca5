"""The ledger rule (fit, grant) and the in-process ledger: atomic reserve, settle, expiry, seeds, threads."""

from __future__ import annotations

import threading

from tests.budgets.conftest import Clock
from tokenomy.budgets.ledger import Granted, Line, Missing, Refused, grant
from tokenomy.budgets.memory import MemoryLedger


def line(key: str = "a", limit: int = 10_000, fixed: int = 100, ptm: int = 2_500, hard: bool = True) -> Line:
    return Line(key, limit, fixed, ptm, hard)


def test_cost_rounds_up_and_fit_is_the_most_that_stays_within() -> None:
    one = line()
    assert one.cost(3) == 100 + 8  # 3 * 2.5 = 7.5 -> 8
    assert one.fit(0, 0, 10_000) == (10_000 - 100) * 1000 // 2_500 == 3_960
    assert one.cost(3_960) <= 10_000 < one.cost(3_961)
    assert one.fit(9_950, 0, 100) == -1  # not even the input fits
    assert one.fit(5_000, 4_000, 10_000) == 360


def test_grant_takes_the_tightest_hard_line_and_ignores_soft_ones() -> None:
    lines = [line("a"), line("b", limit=1_100, fixed=100, ptm=1000), line("c", limit=1, hard=False)]
    found = grant(lines, [(0, 0), (0, 0), (5, 0)], want=2_000, least=256)
    assert isinstance(found, Granted)
    assert found.max_tokens == 1_000
    assert found.amounts == (2_600, 1_100, lines[2].cost(1_000))
    assert found.usage[1] == (0, 1_100)
    refused = grant(lines, [(0, 0), (900, 0), (0, 0)], want=2_000, least=256)
    assert refused == Refused(index=1, spent=900, reserved=0, fit=100)


def test_reserve_settle_and_release(clock: Clock) -> None:
    ledger = MemoryLedger(create_missing=True, clock=clock)
    lines = [line("a", limit=10_000, fixed=0, ptm=1000)]
    first = ledger.reserve("r1", lines, 6_000, 100, ttl=60)
    assert isinstance(first, Granted)
    assert first.max_tokens == 6_000
    second = ledger.reserve("r2", lines, 6_000, 100, ttl=60)
    assert isinstance(second, Granted)
    assert second.max_tokens == 4_000
    assert isinstance(ledger.reserve("r3", lines, 6_000, 100, ttl=60), Refused)
    ledger.settle("r1", ["a"], [1_500])
    ledger.settle("r2", ["a"], [0])  # a release
    assert ledger.usage(["a"]) == [(1_500, 0)]


def test_unsettled_reservations_expire(clock: Clock) -> None:
    ledger = MemoryLedger(create_missing=True, clock=clock)
    lines = [line("a", limit=1_000, fixed=0, ptm=1000)]
    assert isinstance(ledger.reserve("dies", lines, 1_000, 10, ttl=30), Granted)
    assert isinstance(ledger.reserve("next", lines, 1_000, 10, ttl=30), Refused)
    clock.advance(31)
    assert ledger.usage(["a"]) == [(0, 0)]
    assert isinstance(ledger.reserve("next", lines, 1_000, 10, ttl=30), Granted)
    ledger.settle("dies", ["a"], [400])  # a late settlement still counts what was used
    assert ledger.usage(["a"]) == [(400, 1_000)]


def test_missing_accounts_are_reported_then_seeded_never_overwritten(clock: Clock) -> None:
    ledger = MemoryLedger(clock=clock)
    lines = [line("a", limit=1_000, fixed=0, ptm=1000), line("b", limit=1_000, fixed=0, ptm=1000)]
    assert ledger.reserve("r", lines, 10, 1, ttl=5) == Missing((0, 1))
    ledger.seed("a", 700, 0)
    ledger.seed("b", 0, 0)
    ledger.seed("a", 0, 0)  # an existing account is never reset
    found = ledger.reserve("r", lines, 500, 1, ttl=5)
    assert isinstance(found, Granted)
    assert found.max_tokens == 300
    ledger.settle("r", ["a", "zz"], [10, 10])  # an account that does not exist is skipped
    assert ledger.usage(["a", "zz"]) == [(710, 0), None]


def test_accounts_past_their_window_are_dropped(clock: Clock) -> None:
    ledger = MemoryLedger(clock=clock)
    ledger.seed("old", 5, int(clock.now) + 10)
    clock.advance(11)
    assert ledger.usage(["old"]) == [None]


def test_threads_never_take_more_than_the_limit() -> None:
    ledger = MemoryLedger(create_missing=True)
    lines = [line("a", limit=100_000, fixed=10, ptm=1000)]
    granted: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(500):
            found = ledger.reserve(f"{n}-{i}", lines, 100, 50, ttl=60)
            if isinstance(found, Granted):
                with lock:
                    granted.append(found.amounts[0])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) <= 100_000
    assert sum(granted) >= 100_000 - 60  # everything that could fit was granted
    assert ledger.usage(["a"]) == [(0, sum(granted))]


def test_settled_and_expired_reservations_each_release_exactly_their_own_hold(clock: Clock) -> None:
    ledger = MemoryLedger(create_missing=True, clock=clock)
    lines = (line("a", limit=10_000, fixed=0, ptm=1000), line("b", limit=10_000, fixed=5, ptm=2000))
    for rid in ("settled", "open", "late"):
        assert isinstance(ledger.reserve(rid, lines, 100, 1, ttl=30), Granted)
    assert ledger.usage(["a", "b"]) == [(0, 300), (0, 615)]
    ledger.settle("settled", ["a", "b"], [40, 90])  # its expiry entry must not release anything later
    clock.advance(31)
    assert ledger.usage(["a", "b"]) == [(40, 0), (90, 0)]  # "open" and "late" released, once each
    ledger.settle("late", ["a", "b"], [7, 8])  # after its expiry: counted, nothing left to release
    assert ledger.usage(["a", "b"]) == [(47, 0), (98, 0)]
