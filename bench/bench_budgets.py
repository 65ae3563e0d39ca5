"""Budgets: admission latency (in-process and Redis) and the overshoot proof under 128 concurrent streams.

Run: ``python -m bench budgets`` (``--quick`` for a smaller proof; ``--budget-scale 0.1 --streams 256``
for another load; ``--outage 1`` to stall Redis for a second mid-run, failing closed then open;
``--scenarios`` for all of these in one run). It starts its own redis-server on 127.0.0.1 (Debian's
``redis-server`` package) and prints:

1. admission latency, one request at a time (reserve on two policies; settle not timed), side by
   side with the floor of each ledger measured in the same run: a lock-protected dict update for
   the in-process ledger, a PING round trip for Redis;
2. the proof: 128 streams against budget B, with reservations and with a count-after-response
   ledger, in one process (in-process ledger) and in two OS processes sharing Redis;
3. with ``--outage``: the shared-Redis proof with the redis-server stalled mid-run, fail closed
   (no overspend) and fail open (overspend at most what was admitted unenforced).
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


def proof(server: RedisProcess, config: ProofConfig) -> bool:
    """Print the overshoot proof, with the naive ledger beside it; True when reservations hold."""
    print(
        f"\nproof: {config.streams} streams, B = ${config.budget_usd}, max_tokens {config.max_tokens}, "
        f"output ~ lognormal(median {config.median_output}, sigma {config.sigma}), {config.model}"
    )
    results: list[ProofResult] = [
        run_local(config),
        run_local(config, naive=True),
        run_processes(scaled(config, processes=2), server.url),
        run_processes(scaled(config, processes=2), server.url, naive=True),
    ]
    for result in results:
        print("  " + result.line())
    print(
        f"  bar: overshoot <= ${results[0].bound:.6f} (0.1% of B or one reservation), "
        "usable before 1st rejection >= 97%"
    )
    held = results[0].holds and results[2].holds
    print(f"  reserve/settle holds: {'yes' if held else 'NO'}")
    return held


def outage(server: RedisProcess, config: ProofConfig) -> bool:
    """Print the shared-Redis proof with Redis stalled mid-run, failing closed then open.

    True when fail-closed neither overspends nor loses the budget's use, and fail-open overspends
    by no more than what it admitted unenforced.
    """
    print(
        f"\noutage: {config.streams} streams over 2 processes, B = ${config.budget_usd}, redis-server "
        f"stalled (SIGSTOP) for {config.outage:g} s once {config.outage_at:.0%} of B is spent"
    )
    closed = run_processes(scaled(config, processes=2), server.url, server=server)
    opened = run_processes(scaled(config, processes=2, fail_open=True), server.url, server=server)
    for result in (closed, opened):
        print("  " + result.line())
    closed_ok = closed.holds and closed.used <= closed.budget + closed.bound and closed.unenforced == 0
    opened_ok = opened.overshoot <= opened.bound + opened.unenforced_cost
    print(
        f"  fail closed: no overspend beyond the bar: {'yes' if closed_ok else 'NO'}; "
        f"fail open: overspend within what went out unenforced: {'yes' if opened_ok else 'NO'}"
    )
    return closed_ok and opened_ok


def gateways(server: RedisProcess, config: ProofConfig) -> bool:
    """Print the proof through two ``tokenomy gateway`` processes sharing Redis, in front of the mock."""
    import tempfile
    from pathlib import Path

    from tokenomy.budgets.proof_http import run_against_gateways
    from tokenomy.gateway.processes import gateway_process, mock_process, proof_config

    print(f"\ngateways: {config.streams} streams over 2 gateway processes + Redis, B = ${config.budget_usd}")
    with tempfile.TemporaryDirectory() as folder, mock_process() as mock:
        path = Path(folder) / "tokenomy.toml"
        ledger = server.url
        path.write_text(
            proof_config(upstream=f"{mock.base_url}/v1", ledger=ledger, budget_usd=str(config.budget_usd))
        )
        with gateway_process(path) as first, gateway_process(path) as second:
            urls = [first.base_url, second.base_url]
            result = run_against_gateways(urls, config, headers={"X-Tokenomy-Team": "proof"})
    print("  " + result.line())
    print(f"  bar: overshoot <= ${result.bound:.6f}, usable before 1st rejection >= 97%")
    print(f"  reserve/settle through gateways holds: {'yes' if result.holds else 'NO'}")
    return result.holds


def scenario(server: RedisProcess, config: ProofConfig, scale: Decimal, streams: int, stall: float) -> bool:
    """One proof (or outage) run at ``scale`` times B with ``streams`` streams."""
    deadline = config.deadline * float(max(Decimal(1), scale))  # a bigger B takes longer to spend
    changed = scaled(
        config, budget_usd=config.budget_usd * scale, streams=streams, outage=stall, deadline=deadline
    )
    return outage(server, changed) if stall else proof(server, changed)


SCENARIOS: tuple[tuple[Decimal, int, float], ...] = (
    (Decimal(1), 128, 0.0),
    (Decimal("0.1"), 128, 0.0),
    (Decimal(10), 128, 0.0),
    (Decimal(1), 32, 0.0),
    (Decimal(1), 256, 0.0),
    (Decimal(1), 128, 1.0),
)
"""--scenarios: (B multiplier, streams, outage seconds): B x0.1 and x10, 32 and 256 streams, an outage."""


def main(argv: list[str]) -> int:
    """Run the budget benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench budgets")
    parser.add_argument("--quick", action="store_true", help="a smaller latency sample and budget")
    parser.add_argument("--budget-scale", type=Decimal, default=Decimal(1), help="multiply B (default $5)")
    parser.add_argument("--streams", type=int, default=128, help="concurrent streams (default 128)")
    parser.add_argument(
        "--outage",
        type=float,
        default=0.0,
        help="stall Redis this many seconds mid-run (fail closed, then open)",
    )
    parser.add_argument(
        "--outage-at", type=float, default=0.4, help="share of B spent when the outage starts"
    )
    parser.add_argument(
        "--scenarios", action="store_true", help="run B x0.1/x1/x10, 32/128/256 streams, an outage"
    )
    parser.add_argument(
        "--deadline", type=float, default=0.0, help="seconds before a run stops (default 300 x B scale)"
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the one-at-a-time admission latency")
    parser.add_argument(
        "--gateways", action="store_true", help="only the proof through two tokenomy gateway processes"
    )
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else 20_000
    config = ProofConfig(budget_usd=Decimal(4), median_output=600) if args.quick else ProofConfig()
    config = scaled(config, outage_at=args.outage_at)
    if args.deadline:
        config = scaled(config, deadline=args.deadline)
    runs = SCENARIOS if args.scenarios else ((args.budget_scale, args.streams, args.outage),)
    if args.gateways:
        with RedisProcess() as server:
            gateway_config = scaled(
                config, budget_usd=config.budget_usd * args.budget_scale, streams=args.streams
            )
            return 0 if gateways(server, gateway_config) else 1
    with RedisProcess() as server:
        if not args.no_latency:
            latency(server.url, n)  # printed; absolute latency depends on the machine's load
        held = [scenario(server, config, *run) for run in runs]
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
