"""The proof that budgets hold under concurrency and streaming: many streams against one budget.

Each run starts ``streams`` concurrent asyncio tasks (spread over ``processes`` OS processes
sharing one ledger). A task loops: reserve a request (counted input, max_tokens 1024), "stream"
an answer whose length is drawn log-normally (cut at the granted max_tokens), yielding to the
other tasks every few tokens, then settle what it used. It stops at its first rejection. The
ground truth is the exact dollar cost of everything streamed. A run reports:

* **overshoot**: ground truth above the budget, in dollars and as a share of the budget (the
  bar: at most 0.1% of the budget, or one request's worst-case reservation if that is larger);
* **usable before the first rejection**: the cost of the requests admitted before the first
  refusal, as a share of the budget (the bar: at least 97%);
* admission latency (p50, p99) seen by the tasks.

The same load against a *count-after-response* ledger (admit while recorded spend is under the
budget, add the cost when the answer is complete: what most tools do) shows the overshoot that
reservations prevent. :func:`run_against_gateways` sends the same load through tokenomy gateways
(a list of base URLs) against a mock upstream, reading the ground truth from the streams' usage.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Final, Protocol

from tokenomy.budgets.admission import BudgetRequest, Rejection, Reservation
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.ledger import Ledger
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import Policy, Unit, Window
from tokenomy.budgets.prices import PICO, Card, PriceCards

_CHUNK: Final = 32
"""Tokens "streamed" between two yields to the event loop."""


@dataclass(frozen=True, slots=True)
class ProofConfig:
    """One proof run's load.

    Attributes:
        budget_usd: The budget B.
        streams: Concurrent streams in all.
        processes: OS processes the streams are spread over (more than one needs Redis).
        max_tokens: max_tokens of every request.
        input_tokens: Counted input of every request.
        median_output: Median of the log-normal output length (before the max_tokens cut).
        sigma: Log-normal shape (1.0: a long tail; many answers hit max_tokens).
        model: The model priced.
        provider: Its provider.
        seed: Seeds the draws (each stream draws from ``seed`` and its number).
        deadline: Seconds after which the run stops whatever happens (a safety bound).
    """

    budget_usd: Decimal = Decimal("5")
    streams: int = 128
    processes: int = 1
    max_tokens: int = 1024
    input_tokens: int = 400
    median_output: int = 250
    sigma: float = 1.0
    model: str = "gpt-4o-mini"
    provider: str = "openai"
    seed: int = 7
    deadline: float = 300.0


@dataclass(slots=True)
class StreamLog:
    """What one process saw: per admitted request (admitted at, cost), rejections, latencies."""

    admitted: list[tuple[float, Decimal]] = field(default_factory=list)
    first_rejection: float | None = None
    rejections: int = 0
    latencies_ns: list[int] = field(default_factory=list)

    def merge(self, other: StreamLog) -> None:
        """Add another process's log to this one."""
        self.admitted += other.admitted
        self.rejections += other.rejections
        self.latencies_ns += other.latencies_ns
        if other.first_rejection is not None:
            mine = self.first_rejection
            self.first_rejection = other.first_rejection if mine is None else min(mine, other.first_rejection)


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The figures of one run (see the module docstring)."""

    name: str
    budget: Decimal
    used: Decimal
    used_before_first_rejection: Decimal
    requests: int
    rejections: int
    max_reservation: Decimal
    latency_p50_us: float
    latency_p99_us: float
    seconds: float

    @property
    def overshoot(self) -> Decimal:
        """Dollars spent above the budget (0 when under)."""
        return max(Decimal(0), self.used - self.budget)

    @property
    def overshoot_share(self) -> float:
        """Overshoot over the budget."""
        return float(self.overshoot / self.budget)

    @property
    def usable_share(self) -> float:
        """Cost admitted before the first rejection, over the budget."""
        return float(self.used_before_first_rejection / self.budget)

    @property
    def holds(self) -> bool:
        """Overshoot within max(0.1% of B, one reservation) and at least 97% usable."""
        bound = max(self.budget / 1000, self.max_reservation)
        return self.overshoot <= bound and self.usable_share >= 0.97

    def line(self) -> str:
        """One line of figures."""
        return (
            f"{self.name:<34} used {self.used / self.budget:7.2%} of B  overshoot ${self.overshoot:.6f} "
            f"({self.overshoot_share:.3%})  usable before 1st rejection {self.usable_share:6.2%}  "
            f"requests {self.requests:>6}  admission p50 {self.latency_p50_us:7.1f} us  "
            f"p99 {self.latency_p99_us:8.1f} us  [{self.seconds:.1f} s]"
        )


class Admitter(Protocol):
    """One way of admitting: a guard with a ledger, or count-after-response."""

    async def admit(self, request: BudgetRequest) -> tuple[int, object] | None:
        """The granted max_tokens and a handle for :meth:`done`, or None when refused."""
        ...

    async def done(self, handle: object, used_tokens: int, cost: Decimal) -> None:
        """The request used ``used_tokens`` output tokens costing ``cost``."""
        ...


class GuardAdmitter:
    """Admits through a BudgetGuard (reserve before, settle after)."""

    def __init__(self, guard: BudgetGuard) -> None:
        self.guard = guard

    async def admit(self, request: BudgetRequest) -> tuple[int, object] | None:
        """Reserve; None when refused."""
        found = await self.guard.areserve(request)
        if isinstance(found, Rejection):
            return None
        reservation = found if isinstance(found, Reservation) else found.reservation
        return reservation.max_tokens, reservation

    async def done(self, handle: object, used_tokens: int, cost: Decimal) -> None:
        """Settle the reservation with the output tokens streamed."""
        assert isinstance(handle, Reservation)
        await self.guard.asettle(handle, used_tokens)


class NaiveAdmitter:
    """Count-after-response: admit while recorded spend is under the budget, add the cost at the end.

    ``spent`` and ``add`` reach the shared counter (memory, or Redis for several processes).
    """

    def __init__(
        self,
        budget: Decimal,
        spent: Callable[[], Awaitable[Decimal]],
        add: Callable[[Decimal], Awaitable[None]],
    ) -> None:
        self.budget = budget
        self._spent = spent
        self._add = add

    async def admit(self, request: BudgetRequest) -> tuple[int, object] | None:
        """Admit when the spend recorded so far is under the budget."""
        if await self._spent() >= self.budget:
            return None
        return request.max_tokens or 0, None

    async def done(self, handle: object, used_tokens: int, cost: Decimal) -> None:
        """Record the cost."""
        await self._add(cost)


def memory_counter() -> tuple[Callable[[], Awaitable[Decimal]], Callable[[Decimal], Awaitable[None]]]:
    """An in-process spend counter for :class:`NaiveAdmitter`."""
    total = [Decimal(0)]

    async def spent() -> Decimal:
        return total[0]

    async def add(cost: Decimal) -> None:
        total[0] += cost

    return spent, add


def redis_counter(
    url: str, key: str
) -> tuple[Callable[[], Awaitable[Decimal]], Callable[[Decimal], Awaitable[None]]]:
    """A spend counter in Redis (pico-dollars) for :class:`NaiveAdmitter` across processes."""
    import redis.asyncio as aredis  # noqa: PLC0415  (only runs that use Redis load it)

    client = aredis.Redis.from_url(url)

    async def spent() -> Decimal:
        value = await client.get(key)
        return Decimal(int(value or 0)) / PICO

    async def add(cost: Decimal) -> None:
        await client.incrby(key, int(cost * PICO))

    return spent, add


def card_for(config: ProofConfig) -> Card:
    """The worst-case card of the proof's model (its exact per-token rates)."""
    found = PriceCards().card(config.provider, config.model, date.today(), config.input_tokens)
    if isinstance(found, str):
        raise ValueError(f"the proof's model cannot be priced: {found}")
    return found


def cost_of(card: Card, input_tokens: int, output_tokens: int) -> Decimal:
    """Exact dollars of a request at the card's rates."""
    return Decimal(card.fixed_pico + input_tokens * card.input_pico + output_tokens * card.output_pico) / PICO


async def _stream(
    number: int, admitter: Admitter, config: ProofConfig, *, card: Card, log: StreamLog, stop_at: float
) -> None:
    draws = random.Random(config.seed * 100_003 + number)
    mu = math.log(config.median_output)
    request = BudgetRequest(
        model=config.model,
        provider=config.provider,
        input_tokens=config.input_tokens,
        max_tokens=config.max_tokens,
    )
    while time.monotonic() < stop_at:
        t0 = time.perf_counter_ns()
        admitted = await admitter.admit(request)
        log.latencies_ns.append(time.perf_counter_ns() - t0)
        if admitted is None:
            log.rejections += 1
            now = time.time()
            log.first_rejection = now if log.first_rejection is None else min(log.first_rejection, now)
            return
        admitted_at, (granted, handle) = time.time(), admitted
        used = min(granted, max(1, round(draws.lognormvariate(mu, config.sigma))))
        for _ in range(0, used, _CHUNK):
            await asyncio.sleep(0)
        cost = cost_of(card, config.input_tokens, used)
        log.admitted.append((admitted_at, cost))
        await admitter.done(handle, used, cost)


async def run_streams(admitter: Admitter, config: ProofConfig, numbers: Sequence[int]) -> StreamLog:
    """Run the streams ``numbers`` against ``admitter`` in this event loop until each is refused."""
    card, log = card_for(config), StreamLog()
    stop_at = time.monotonic() + config.deadline
    await asyncio.gather(
        *(_stream(n, admitter, config, card=card, log=log, stop_at=stop_at) for n in numbers)
    )
    return log


def proof_policy(config: ProofConfig, name: str | None = None) -> Policy:
    """The hard global dollar budget the proof runs against (a fresh name: fresh accounts)."""
    return Policy(
        name=name or f"proof-{uuid.uuid4().hex[:12]}",
        limit=config.budget_usd,
        unit=Unit.USD,
        window=Window.MONTH,
    )


def result_of(name: str, config: ProofConfig, log: StreamLog, seconds: float) -> ProofResult:
    """The figures of a finished run."""
    card = card_for(config)
    first = log.first_rejection
    before = sum((c for at, c in log.admitted if first is None or at < first), Decimal(0))
    lat = sorted(log.latencies_ns) or [0]
    return ProofResult(
        name=name,
        budget=config.budget_usd,
        used=sum((c for _, c in log.admitted), Decimal(0)),
        used_before_first_rejection=before,
        requests=len(log.admitted),
        rejections=log.rejections,
        max_reservation=cost_of(card, config.input_tokens, config.max_tokens),
        latency_p50_us=lat[len(lat) // 2] / 1000,
        latency_p99_us=lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000,
        seconds=seconds,
    )


def run_local(config: ProofConfig, *, naive: bool = False, ledger: Ledger | None = None) -> ProofResult:
    """All streams in this process: a guard on ``ledger`` (in-memory by default), or the naive ledger."""
    started = time.monotonic()
    if naive:
        admitter: Admitter = NaiveAdmitter(config.budget_usd, *memory_counter())
        name = "count-after-response, in-process"
    else:
        chosen = ledger or MemoryLedger(create_missing=True)
        guard = BudgetGuard([proof_policy(config)], ledger=chosen, alerter=Alerter(quiet=True))
        admitter, name = GuardAdmitter(guard), f"reserve/settle, {type(guard.ledger).__name__}"
    log = asyncio.run(run_streams(admitter, config, range(config.streams)))
    return result_of(name, config, log, time.monotonic() - started)


@dataclass(frozen=True, slots=True)
class _Job:
    """What one OS process of a shared-Redis run does."""

    config: ProofConfig
    url: str
    name: str
    numbers: tuple[int, ...]
    naive: bool


def _process_main(job: _Job, out: Any) -> None:
    """One OS process of a shared-Redis run: its streams, its log sent back through ``out``."""
    from tokenomy.budgets.redis_ledger import RedisLedger  # noqa: PLC0415  (child process entry)

    config = job.config

    async def main() -> StreamLog:
        if job.naive:
            counter = redis_counter(job.url, f"proof-naive:{job.name}")
            admitter: Admitter = NaiveAdmitter(config.budget_usd, *counter)
        else:
            ledger = RedisLedger(job.url, timeout=5.0)
            guard = BudgetGuard([proof_policy(config, job.name)], ledger=ledger, alerter=Alerter(quiet=True))
            admitter = GuardAdmitter(guard)
        return await run_streams(admitter, config, job.numbers)

    out.put(asyncio.run(main()))


def run_processes(config: ProofConfig, url: str, *, naive: bool = False) -> ProofResult:
    """The streams spread over ``config.processes`` OS processes sharing the Redis at ``url``.

    The caller's main module must be importable without side effects (``if __name__ ==
    "__main__":``), since the processes are spawned.
    """
    name = f"proof-{uuid.uuid4().hex[:12]}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    jobs = [
        _Job(config, url, name, tuple(range(config.streams))[i :: config.processes], naive)
        for i in range(config.processes)
    ]
    started = time.monotonic()
    procs = [ctx.Process(target=_process_main, args=(job, out)) for job in jobs]
    for proc in procs:
        proc.start()
    log = StreamLog()
    try:
        for _ in procs:
            log.merge(out.get(timeout=config.deadline + 60))
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    kind = "count-after-response" if naive else "reserve/settle"
    return result_of(f"{kind}, {config.processes} processes + Redis", config, log, time.monotonic() - started)


def scaled(config: ProofConfig, **changes: Any) -> ProofConfig:
    """``config`` with some fields changed."""
    return replace(config, **changes)
