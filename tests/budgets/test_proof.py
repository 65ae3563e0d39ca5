"""The proof, with real processes: many streams against one budget, in one process and in two sharing Redis.

The cases vary the budget (x0.1 of the base), the concurrency (32 and 256 streams) and stall the
shared redis-server mid-run (fail closed, fail open), as ``python -m bench.bench_budgets`` does.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tokenomy.budgets.proof import ProofConfig, ProofResult, run_local, run_processes, scaled
from tokenomy.budgets.redis_process import RedisProcess

pytestmark = pytest.mark.integration

# B is large enough for 128 in-flight reservations (about $0.09 at the worst case) to be under 3%
LOAD = ProofConfig(budget_usd=Decimal(4), median_output=600, streams=128)


def in_flight_floor(result: ProofResult, streams: int) -> float:
    """The least share usable before the first refusal: all but what every stream can hold in flight."""
    return 1 - float(streams * result.max_reservation / result.budget)


def test_in_process_reservations_hold_and_the_naive_ledger_overshoots() -> None:
    held = run_local(LOAD)
    naive = run_local(LOAD, naive=True)
    assert held.overshoot <= max(LOAD.budget_usd / 1000, held.max_reservation)
    assert held.usable_share >= 0.97
    assert held.used <= LOAD.budget_usd
    assert naive.overshoot > held.overshoot
    assert naive.overshoot_share > 0.001  # the naive way overshoots beyond the 0.1% bar


@pytest.mark.parametrize(
    ("budget", "streams"),
    [(Decimal("0.4"), 128), (Decimal(4), 32), (Decimal(4), 256)],
    ids=["B-x0.1", "32-streams", "256-streams"],
)
def test_other_budgets_and_concurrency_hold(budget: Decimal, streams: int) -> None:
    config = scaled(LOAD, budget_usd=budget, streams=streams)
    held = run_local(config)
    naive = run_local(config, naive=True)
    assert held.used <= budget  # never above B: every request used at most what it reserved
    assert held.overshoot == 0
    # a refusal blocked only by reservations in flight waits for them to settle, so even at B x0.1
    # (128 worst cases are 22% of B) at least 97% of B is spent before the first refusal
    assert held.usable_share >= 0.97
    assert held.used >= budget * Decimal("0.99")  # what the first refusals left is used by the others
    assert naive.overshoot > held.bound  # the count-after-response ledger overshoots past the bar


@pytest.mark.parametrize("budget", [Decimal(4), Decimal("0.4")], ids=["B", "B-x0.1"])
def test_two_processes_sharing_redis_hold(redis_server: RedisProcess, budget: Decimal) -> None:
    config = scaled(LOAD, processes=2, budget_usd=budget)
    held = run_processes(config, redis_server.url)
    naive = run_processes(config, redis_server.url, naive=True)
    assert held.rejections == LOAD.streams  # every stream ran until the budget refused it
    assert held.holds
    assert held.overshoot == 0
    assert held.used <= budget
    assert held.usable_share >= 0.97
    assert naive.overshoot > held.overshoot
    assert held.recorded is not None
    spent, reserved = held.recorded
    assert reserved == 0  # every reservation settled
    assert held.used <= spent <= held.used + Decimal(held.requests) / 10**9  # nano-dollars, rounded up


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
def test_a_redis_outage_mid_run(fail_open: bool) -> None:
    # its own server: the outage stalls it
    config = scaled(LOAD, budget_usd=Decimal(1), processes=2, outage=0.5, outage_at=0.5, fail_open=fail_open)
    with RedisProcess() as server:
        result = run_processes(config, server.url, server=server)
    assert result.recorded is not None
    spent, reserved = result.recorded
    assert reserved == 0
    # every settlement reached the ledger, those made during the outage included, each once
    assert result.used <= spent <= result.used + Decimal(result.requests) / 10**9
    if fail_open:
        assert result.unavailable == 0
        assert result.unenforced > 0
        assert result.overshoot <= result.bound + result.unenforced_cost
    else:
        assert result.unavailable > 0  # the streams met 503s and asked again
        assert result.unenforced == 0
        assert result.used <= config.budget_usd  # no overspend
        assert result.usable_share >= in_flight_floor(result, config.streams)


def test_256_streams_over_two_processes_share_one_redis(redis_server: RedisProcess) -> None:
    # more concurrent calls than redis-py's default pool of 100 connections: they wait for one
    config = scaled(LOAD, budget_usd=Decimal("0.5"), streams=256, processes=2)
    held = run_processes(config, redis_server.url)
    assert held.rejections == 256
    assert held.unavailable == 0
    assert held.used <= config.budget_usd
    assert held.usable_share >= 0.97  # 256 worst cases are 34% of B: the refusals waited for them
    assert held.recorded is not None
    assert held.recorded[1] == 0
    assert held.used <= held.recorded[0] <= held.used + Decimal(held.requests) / 10**9
