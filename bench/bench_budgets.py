"""Budgets: admission latency (in-process and Redis) and the overshoot proof under 128 concurrent streams.

Run: ``python -m bench budgets`` (``--quick`` for a smaller proof; ``--budget-scale 0.1 --streams 256``
for another load; ``--outage 1`` to stall Redis for a second mid-run, failing closed then open;
``--scenarios`` for all of these in one run). It starts its own redis-server on 127.0.0.1 (Debian's
``redis-server`` package) and prints:

1. admission latency, one request at a time (reserve, then settle with the metered Usage, each
   timed; two policies), side by side with the floor of each ledger measured in the same run: a
   lock-protected dict update for the in-process ledger; for Redis a PING round trip and the same
   reserve and settle scripts sent raw (EVALSHA on a bare socket). Admission is the reserve: the
   gateway settles after the client has its last byte (docs/budgets.md says why);
2. the proof: 128 streams against budget B, with reservations and with a count-after-response
   ledger, in one process (in-process ledger) and in two OS processes sharing Redis;
3. with ``--outage``: the shared-Redis proof with the redis-server stalled mid-run, fail closed
   (no overspend) and fail open (overspend at most what was admitted unenforced).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

import redis

from tokenomy.budgets import (
    BudgetGuard,
    BudgetRequest,
    Downgrade,
    Policy,
    Reservation,
    Scope,
    Unit,
    Window,
)
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.ledger import Ledger, Line, Outcome
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.proof import ProofConfig, ProofResult, run_local, run_processes, scaled
from tokenomy.budgets.redis_ledger import PREFIX, RESERVE_LUA, SETTLE_LUA, RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.schema import Attribution, Usage

IN_PROCESS_P99_US = 50.0
REDIS_P99_US = 500.0
Stats = tuple[float, float]
"""(p50, p99) in microseconds."""


def _percentiles(samples: list[int]) -> Stats:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def _timed(n: int, step: Callable[[], object]) -> Stats:
    gc.collect()  # every measured block starts from a collected heap; the GC stays on while timing
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


USED = Usage.of(input_uncached=800, output_visible=100)
"""What a settlement is given in the gateway and the SDK: the metered Usage of the answer."""


@dataclass(slots=True)
class Cycle:
    """One block of reserve + settle, one request at a time, each call timed on its own."""

    reserve: Stats
    settle: Stats
    both: Stats
    collections: int
    """Young-generation collections of the cyclic GC during the block."""


def _cycle(guard: BudgetGuard, request: BudgetRequest, n: int, actual: Usage | int) -> Cycle:
    """Reserve then settle ``n`` times (the steady state: nothing stays reserved between requests)."""
    for _ in range(200):  # warm the price cards, accounts and caches
        found = guard.reserve(request)
        assert isinstance(found, Reservation | Downgrade), found
        guard.settle(found, actual)
    admit = cast(Callable[[BudgetRequest], Reservation | Downgrade], guard.reserve)
    reserve, settle, both = [], [], []
    clock = time.perf_counter_ns
    gc.collect()  # said in the output: each block starts from a collected heap; the GC stays on
    before = gc.get_stats()[0]["collections"]
    for _ in range(n):
        t0 = clock()
        admitted = admit(request)
        t1 = clock()
        guard.settle(admitted, actual)
        t2 = clock()
        reserve.append(t1 - t0)
        settle.append(t2 - t1)
        both.append(t2 - t0)
    collections = gc.get_stats()[0]["collections"] - before
    return Cycle(_percentiles(reserve), _percentiles(settle), _percentiles(both), collections)


def _acycle(guard: BudgetGuard, request: BudgetRequest, n: int) -> Cycle:
    """:func:`_cycle` through ``areserve``/``asettle`` on an event loop (what the gateway calls)."""

    async def run() -> Cycle:
        reserve, settle, both = [], [], []
        clock = time.perf_counter_ns
        for i in range(n + 200):
            t0 = clock()
            found = await guard.areserve(request)
            t1 = clock()
            assert isinstance(found, Reservation | Downgrade), found
            await guard.asettle(found, USED)
            t2 = clock()
            if i == 199:
                gc.collect()
            if i >= 200:
                reserve.append(t1 - t0)
                settle.append(t2 - t1)
                both.append(t2 - t0)
        return Cycle(_percentiles(reserve), _percentiles(settle), _percentiles(both), -1)

    return asyncio.run(run())


class RawRedis:
    """A bare RESP client on one socket: the floor of a script call without redis-py's client."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self._sock.makefile("rb")

    @staticmethod
    def pack(*args: bytes) -> bytes:
        """One command in RESP."""
        return b"".join([b"*%d\r\n" % len(args), *(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)])

    def call(self, packed: bytes) -> Any:
        """Send a packed command and read its reply."""
        self._sock.sendall(packed)
        return self._read()

    def _read(self) -> Any:
        line = self._file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b":":
            return int(rest)
        if kind == b"*":
            return [self._read() for _ in range(int(rest))]
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._file.read(size + 2)[:-2]
        if kind == b"-":
            raise redis.exceptions.ResponseError(rest.decode())
        return rest

    def close(self) -> None:
        """Close the socket."""
        self._file.close()
        self._sock.close()


class _Recording(RedisLedger):
    """A Redis ledger that remembers the last reservation's arguments (for the raw floor)."""

    last: tuple[str, tuple[Line, ...], int, int, float] | None = None

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        self.last = (rid, tuple(lines), want, least, ttl)
        return super().reserve(rid, lines, want, least, ttl)


def _raw_floor(url: str, ledger: _Recording, n: int) -> tuple[Stats, Stats]:
    """The same reserve and settle scripts, with the same keys and arguments, sent raw (EVALSHA)."""
    assert ledger.last is not None
    _, lines, want, least, ttl = ledger.last
    raw = RawRedis(url)
    shas = [raw.call(RawRedis.pack(b"SCRIPT", b"LOAD", s.encode())) for s in (RESERVE_LUA, SETTLE_LUA)]
    keys = [k for ln in lines for k in (f"{PREFIX}{ln.key}".encode(), f"{PREFIX}{ln.key}:x".encode())]
    tail = [
        b"%d" % v for ln in lines for v in (ln.limit, ln.fixed, ln.per_token_milli, ln.hard, ln.expire_at)
    ]
    head = [b"EVALSHA", shas[0], b"%d" % len(keys), *keys]
    settle_head = [b"EVALSHA", shas[1], b"%d" % len(keys), *keys]
    fixed = [b"%d" % v for v in (want, least, int(ttl * 1000), len(lines))]
    reserve, settle = [], []
    gc.collect()
    for i in range(n):
        rid = b"raw-%d" % i
        t0 = time.perf_counter_ns()
        reply = raw.call(RawRedis.pack(*head, rid, *fixed, *tail))
        t1 = time.perf_counter_ns()
        raw.call(RawRedis.pack(*settle_head, rid, b"%d" % len(lines), b"120000", *[b"1"] * len(lines)))
        t2 = time.perf_counter_ns()
        assert reply[0] == 1, reply
        reserve.append(t1 - t0)
        settle.append(t2 - t1)
    raw.close()
    return _percentiles(reserve), _percentiles(settle)


def _row(name: str, found: Stats, floor: Stats | None = None, note: str = "") -> None:
    ratio = f"{found[0] / floor[0]:.1f}x" if floor else ""
    print(f"  {name:<46} {found[0]:9.1f} {found[1]:9.1f}  {ratio:>5}  {note}")


def _cycle_rows(name: str, cycle: Cycle, floor: Stats, settle_floor: Stats | None = None) -> None:
    gcs = f"{cycle.collections} GC gen-0 runs" if cycle.collections >= 0 else ""
    _row(f"{name}: reserve = ADMISSION", cycle.reserve, floor, gcs)
    _row(f"{name}: settle (a Usage)", cycle.settle, settle_floor or floor)
    _row(f"{name}: reserve + settle", cycle.both, floor)


def latency(redis_url: str, n: int) -> bool:
    """Print admission (reserve) and settlement latency against each ledger's floor.

    Returns True when both admission targets hold (reserve p99, in-process and Redis).
    """
    lock, counts = threading.Lock(), {"k": 0}

    def floor_step() -> None:
        with lock:
            counts["k"] += 1

    floor = _timed(n, floor_step)
    guard, request = _guard(MemoryLedger(create_missing=True))
    memory = _cycle(guard, request, n, USED)
    tokens = _cycle(guard, request, n // 2, 100)
    amemory = _acycle(guard, request, n // 2)
    gc.disable()  # a diagnostic only: what the collector adds to the tail (never in the judged rows)
    try:
        no_gc = _cycle(guard, request, n // 2, USED)
    finally:
        gc.enable()
    client = redis.Redis.from_url(redis_url)
    ping = _timed(n // 4, client.ping)
    recording = _Recording(redis_url)
    rguard, rrequest = _guard(recording)
    shared = _cycle(rguard, rrequest, n // 4, USED)
    raw_reserve, raw_settle = _raw_floor(redis_url, recording, n // 4)
    ashared = _acycle(rguard, rrequest, n // 4)
    print(
        "admission = reserve: the gateway reserves before sending upstream and settles after the "
        "client has\nits last byte, so a request waits for reserve only (the SDK settles before "
        "the call returns:\nreserve + settle). One request at a time; settle gets the metered Usage; "
        "gc.collect() before each\nblock, the GC on while timing (gen-0 runs counted)."
    )
    print(f"{'':<48} {'p50 us':>9} {'p99 us':>9}  {'p50/floor':>5}")
    _row("floor: lock + dict update", floor)
    _cycle_rows("in-process", memory, floor)
    _row("in-process: settle (output tokens, an int)", tokens.settle, floor)
    _row("in-process: areserve on an event loop", amemory.reserve, floor)
    _row("in-process: reserve, GC off (diagnostic)", no_gc.reserve, floor, "not judged")
    _row("floor: Redis PING round trip", ping)
    _row("floor: raw EVALSHA, reserve script", raw_reserve, ping, "same keys, args")
    _row("floor: raw EVALSHA, settle script", raw_settle, ping)
    _cycle_rows("Redis", shared, raw_reserve, raw_settle)
    _row("Redis: areserve on an event loop", ashared.reserve, raw_reserve)
    ok = memory.reserve[1] <= IN_PROCESS_P99_US and shared.reserve[1] <= REDIS_P99_US
    verdict = "met" if ok else "NOT met (see the floors: the machine's load sets the tail)"
    print(
        f"  targets (admission = reserve p99): in-process <= {IN_PROCESS_P99_US:.0f} us, "
        f"Redis <= {REDIS_P99_US:.0f} us: {verdict}"
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
