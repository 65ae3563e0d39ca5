"""The proof, with real processes: 128 streams against one budget, in one process and in two sharing Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tokenomy.budgets.proof import ProofConfig, run_local, run_processes, scaled
from tokenomy.budgets.redis_process import RedisProcess

pytestmark = pytest.mark.integration

# B is large enough for 128 in-flight reservations (about $0.09 at the worst case) to be under 3%
LOAD = ProofConfig(budget_usd=Decimal(4), median_output=600, streams=128)


def test_in_process_reservations_hold_and_the_naive_ledger_overshoots() -> None:
    held = run_local(LOAD)
    naive = run_local(LOAD, naive=True)
    assert held.overshoot <= max(LOAD.budget_usd / 1000, held.max_reservation)
    assert held.usable_share >= 0.97
    assert held.used <= LOAD.budget_usd
    assert naive.overshoot > held.overshoot
    assert naive.overshoot_share > 0.001  # the naive way overshoots beyond the 0.1% bar


def test_two_processes_sharing_redis_hold(redis_server: RedisProcess) -> None:
    config = scaled(LOAD, processes=2)
    held = run_processes(config, redis_server.url)
    naive = run_processes(config, redis_server.url, naive=True)
    assert held.rejections == LOAD.streams  # every stream ran until the budget refused it
    assert held.holds
    assert held.used <= LOAD.budget_usd
    assert held.usable_share >= 0.97
    assert naive.overshoot > held.overshoot
