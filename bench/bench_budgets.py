"""Budgets: admission latency (in-process and Redis) and the overshoot proof under 128 concurrent streams.

Run: ``python -m bench budgets`` (``python -m bench.bench_budgets --quick`` for a smaller proof). It starts
its own redis-server on 127.0.0.1 (Debian's ``redis-server`` package) and prints:

1. admission latency, one request at a time (reserve on two policies; settle not timed), side by
   side with the floor of each ledger measured in the same run: a lock-protected dict update for
   the in-process ledger, a PING round trip for Redis;
2. the proof: 128 streams against budget B, with reservations and with a count-after-response
   ledger, in one process (in-process ledger) and in two OS processes sharing Redis.
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import redis

from tokenomy.budgets import (
    Admission,
    BudgetGuard,
    BudgetRequest,
    Downgrade,
    Policy,
    Rejection,
    Reservation,
    Scope,
    Unit,
    Window,
)
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.ledger import Ledger
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.proof import ProofConfig, ProofResult, run_local, run_processes, scaled
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.schema import Attribution

IN_PROCESS_P99_US = 50.0
REDIS_P99_US = 500.0


def _percentiles(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def _timed(n: int, step: Callable[[], object]) -> tuple[float, float]:
    gc.collect()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        step()
        samples.append(time.perf_counter_ns() - t0)
    return _percentiles(samples)


def _guard(ledger: Ledger) -> tuple[BudgetGuard, BudgetRequest]:
    policies = [
        Policy(
            "bench-team",
            Decimal(1_000_000),
            Unit.USD,
            Scope.TEAM,
            window=Window.DAY,
            timezone="Europe/Berlin",
        ),
        Policy("bench-tokens", Decimal(10**15), Unit.TOKENS, window=Window.MONTH),
    ]
    guard = BudgetGuard(policies, ledger=ledger, alerter=Alerter(quiet=True))
    request = BudgetRequest(
        model="gpt-4o-mini",
        provider="openai",
        input_tokens=800,
        max_tokens=1024,
        attribution=Attribution(team="search"),
    )
    return guard, request


def _admission(guard: BudgetGuard, request: BudgetRequest, n: int) -> tuple[float, float]:
    held: list[Admission] = []

    def step() -> None:
        held.append(guard.reserve(request))

    for _ in range(200):  # warm the price cards and accounts
        found = guard.reserve(request)
        assert not isinstance(found, Rejection)
        guard.settle(found, 100)
    result = _timed(n, step)
    for found in held:
        if isinstance(found, Reservation | Downgrade):
            guard.settle(found, 100)
    return result


def _row(name: str, found: tuple[float, float], floor: tuple[float, float] | None = None) -> None:
    ratio = f"{found[0] / floor[0]:.1f}x" if floor else ""
    print(f"  {name:<40} {found[0]:9.1f} {found[1]:9.1f}  {ratio}")


def latency(redis_url: str, n: int) -> bool:
    """Print admission latency against each ledger's floor; True when both targets hold."""
    lock, counts = threading.Lock(), {"k": 0}

    def floor_step() -> None:
        with lock:
            counts["k"] += 1

    floor = _timed(n, floor_step)
    guard, request = _guard(MemoryLedger(create_missing=True))
    memory = _admission(guard, request, n)
    client = redis.Redis.from_url(redis_url)
    ping = _timed(n // 4, client.ping)
    trivial = client.register_script("return 1")
    script = _timed(n // 4, trivial)
    rguard, rrequest = _guard(RedisLedger(redis_url))
    shared = _admission(rguard, rrequest, n // 4)
    print(f"{'admission (one at a time)':<42} {'p50 us':>9} {'p99 us':>9}  p50 vs floor")
    _row("floor: lock + dict update", floor)
    _row("in-process ledger, 2 policies", memory, floor)
    _row("floor: Redis PING round trip", ping)
    _row("floor: a Lua script that returns 1", script, ping)
    _row("Redis ledger (1 Lua script), 2 policies", shared, ping)
    ok = memory[1] <= IN_PROCESS_P99_US and shared[1] <= REDIS_P99_US
    verdict = "met" if ok else "NOT met (see the floors: the machine's load sets the tail)"
    print(
        f"  targets: in-process p99 <= {IN_PROCESS_P99_US:.0f} us, "
        f"Redis p99 <= {REDIS_P99_US:.0f} us: {verdict}"
    )
    client.close()
    rguard.close()
    return ok


def proof(redis_url: str, config: ProofConfig) -> bool:
    """Print the overshoot proof; True when reservations hold in both set-ups."""
    print(
        f"\nproof: {config.streams} streams, B = ${config.budget_usd}, max_tokens {config.max_tokens}, "
        f"output ~ lognormal(median {config.median_output}, sigma {config.sigma}), {config.model}"
    )
    results: list[ProofResult] = [
        run_local(config),
        run_local(config, naive=True),
        run_processes(scaled(config, processes=2), redis_url),
        run_processes(scaled(config, processes=2), redis_url, naive=True),
    ]
    for result in results:
        print("  " + result.line())
    bound = max(config.budget_usd / 1000, results[0].max_reservation)
    print(
        f"  bar: overshoot <= ${bound:.6f} (0.1% of B or one reservation), usable before 1st rejection >= 97%"
    )
    held = results[0].holds and results[2].holds
    print(f"  reserve/settle holds: {'yes' if held else 'NO'}")
    return held


def main(argv: list[str]) -> int:
    """Run the budget benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench budgets")
    parser.add_argument("--quick", action="store_true", help="a smaller latency sample and budget")
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else 20_000
    config = ProofConfig(budget_usd=Decimal(4), median_output=600) if args.quick else ProofConfig()
    with RedisProcess() as server:
        latency_ok = latency(server.url, n)
        proof_ok = proof(server.url, config)
    del latency_ok  # printed; absolute latency depends on the machine's load, the proof does not
    return 0 if proof_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
