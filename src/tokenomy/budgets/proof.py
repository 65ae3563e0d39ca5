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

With ``outage`` set, the shared-Redis run stalls the redis-server (SIGSTOP) for that many seconds
once ``outage_at`` of the budget is spent. A stream that meets ``budget_unavailable`` (fail
closed) waits a little and asks again; with ``fail_open`` the guard admits it unenforced, and the
run reports how many requests went out so and what they cost (their settlements reach the ledger
when Redis answers again).

The same load against a *count-after-response* ledger (admit while recorded spend is under the
budget, add the cost when the answer is complete: what most tools do) shows the overshoot that
reservations prevent. :func:`run_against_gateways` sends the same load through tokenomy gateways
(a list of base URLs) against a mock upstream, reading the ground truth from the streams' usage.
"""

from __future__ import annotations

import asyncio
import enum
import math
import multiprocessing
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Final, Protocol

from tokenomy.budgets.admission import BUDGET_UNAVAILABLE, BudgetRequest, Rejection, Reservation
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.ledger import Ledger
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import Policy, Unit, Window
from tokenomy.budgets.prices import PICO, Card, PriceCards
from tokenomy.budgets.settings import BudgetSettings, FailMode

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
        outage: Seconds the shared Redis is stalled mid-run (0: none; shared-Redis runs only).
        outage_at: Share of the budget spent when the outage starts.
        fail_open: Admit unenforced while Redis is unreachable (else refuse with 503 and retry).
        retry_after: Seconds a stream waits after a 503 before asking again.
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
    outage: float = 0.0
    outage_at: float = 0.4
    fail_open: bool = False
    retry_after: float = 0.02


@dataclass(slots=True)
class StreamLog:
    """What one process saw: per admitted request (admitted at, cost), refusals, latencies.

    ``unavailable`` counts 503 answers (ledger unreachable, fail closed); ``unenforced`` holds the
    cost of each request admitted with enforcement off (fail open).
    """

    admitted: list[tuple[float, Decimal]] = field(default_factory=list)
    first_rejection: float | None = None
    rejections: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    unavailable: int = 0
    unenforced: list[Decimal] = field(default_factory=list)

    def merge(self, other: StreamLog) -> None:
        """Add another process's log to this one."""
        self.admitted += other.admitted
        self.rejections += other.rejections
        self.latencies_ns += other.latencies_ns
        self.unavailable += other.unavailable
        self.unenforced += other.unenforced
        if other.first_rejection is not None:
            mine = self.first_rejection
            self.first_rejection = other.first_rejection if mine is None else min(mine, other.first_rejection)


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The figures of one run (see the module docstring).

    ``recorded`` is what the shared Redis holds for the run at its end (dollars spent, still
    reserved); None for in-process runs.
    """

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
    unavailable: int = 0
    unenforced: int = 0
    unenforced_cost: Decimal = Decimal(0)
    recorded: tuple[Decimal, Decimal] | None = None
    streams: int = 0

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
    def bound(self) -> Decimal:
        """The overshoot allowed: max(0.1% of B, one request's worst-case reservation)."""
        return max(self.budget / 1000, self.max_reservation)

    @property
    def holds(self) -> bool:
        """Overshoot within :attr:`bound` (plus what went out unenforced) and at least 97% usable."""
        return self.overshoot <= self.bound + self.unenforced_cost and self.usable_share >= 0.97

    def line(self) -> str:
        """One line of figures."""
        text = (
            f"{self.name:<34} used {self.used / self.budget:7.2%} of B  overshoot ${self.overshoot:.6f} "
            f"({self.overshoot_share:.3%})  usable before 1st rejection {self.usable_share:6.2%}  "
            f"requests {self.requests:>6}  admission p50 {self.latency_p50_us:7.1f} us  "
            f"p99 {self.latency_p99_us:8.1f} us  [{self.seconds:.1f} s]"
        )
        if self.rejections < self.streams:
            text += f"  STOPPED AT THE DEADLINE ({self.streams - self.rejections} streams still running)"
        if self.recorded is not None:
            spent, reserved = self.recorded
            text += f"  ledger: spent ${spent:.6f} (truth ${self.used:.6f}), reserved ${reserved:.6f}"
        if self.unavailable or self.unenforced:
            text += (
                f"  outage: {self.unavailable} refused 503, {self.unenforced} unenforced "
                f"(${self.unenforced_cost:.6f})"
            )
        return text


class Refusal(enum.Enum):
    """Why a request was not admitted."""

    BUDGET = "budget_exceeded"
    UNAVAILABLE = "budget_unavailable"


@dataclass(frozen=True, slots=True)
class Grant:
    """An admission: the max_tokens granted, a handle for :meth:`Admitter.done`, enforced or not."""

    max_tokens: int
    handle: object
    enforced: bool = True


class Admitter(Protocol):
    """One way of admitting: a guard with a ledger, or count-after-response."""

    async def admit(self, request: BudgetRequest) -> Grant | Refusal:
        """The grant, or why the request was refused."""
        ...

    async def done(self, handle: object, used_tokens: int, cost: Decimal) -> None:
        """The request used ``used_tokens`` output tokens costing ``cost``."""
        ...


class GuardAdmitter:
    """Admits through a BudgetGuard (reserve before, settle after)."""

    def __init__(self, guard: BudgetGuard) -> None:
        self.guard = guard

    async def admit(self, request: BudgetRequest) -> Grant | Refusal:
        """Reserve."""
        found = await self.guard.areserve(request)
        if isinstance(found, Rejection):
            return Refusal.UNAVAILABLE if found.type == BUDGET_UNAVAILABLE else Refusal.BUDGET
        reservation = found if isinstance(found, Reservation) else found.reservation
        return Grant(reservation.max_tokens, reservation, reservation.enforced)

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

    async def admit(self, request: BudgetRequest) -> Grant | Refusal:
        """Admit when the spend recorded so far is under the budget."""
        if await self._spent() >= self.budget:
            return Refusal.BUDGET
        return Grant(request.max_tokens or 0, None)

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

    client = aredis.Redis(connection_pool=aredis.BlockingConnectionPool.from_url(url, max_connections=64))

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
        if admitted is Refusal.UNAVAILABLE:
            log.unavailable += 1
            await asyncio.sleep(config.retry_after)
            continue
        if not isinstance(admitted, Grant):
            log.rejections += 1
            now = time.time()
            log.first_rejection = now if log.first_rejection is None else min(log.first_rejection, now)
            return
        admitted_at = time.time()
        used = min(admitted.max_tokens, max(1, round(draws.lognormvariate(mu, config.sigma))))
        for _ in range(0, used, _CHUNK):
            await asyncio.sleep(0)
        cost = cost_of(card, config.input_tokens, used)
        log.admitted.append((admitted_at, cost))
        if not admitted.enforced:
            log.unenforced.append(cost)
        await admitter.done(admitted.handle, used, cost)


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
        unavailable=log.unavailable,
        unenforced=len(log.unenforced),
        unenforced_cost=sum(log.unenforced, Decimal(0)),
        streams=config.streams,
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

    guard: BudgetGuard | None = None

    async def main() -> StreamLog:
        nonlocal guard
        if job.naive:
            counter = redis_counter(job.url, f"proof-naive:{job.name}")
            admitter: Admitter = NaiveAdmitter(config.budget_usd, *counter)
        else:
            # a short timeout when the run stalls Redis on purpose; a long one otherwise (a busy
            # machine must not pass for an outage)
            ledger = RedisLedger(job.url, timeout=0.25 if config.outage else 5.0, retry_interval=0.05)
            settings = BudgetSettings(fail=FailMode.OPEN if config.fail_open else FailMode.CLOSED)
            guard = BudgetGuard(
                [proof_policy(config, job.name)],
                ledger=ledger,
                settings=settings,
                alerter=Alerter(quiet=True),
            )
            admitter = GuardAdmitter(guard)
        return await run_streams(admitter, config, job.numbers)

    log = asyncio.run(main())
    if guard is not None:
        guard.close()  # sends settlements still kept from an outage
    out.put(log)


def run_processes(
    config: ProofConfig, url: str, *, naive: bool = False, server: Stallable | None = None
) -> ProofResult:
    """The streams spread over ``config.processes`` OS processes sharing the Redis at ``url``.

    The caller's main module must be importable without side effects (``if __name__ ==
    "__main__":``), since the processes are spawned.

    Args:
        config: The load (``outage`` > 0 stalls ``server`` mid-run; needs ``server``).
        url: The shared Redis.
        naive: Count after the response instead of reserving.
        server: The redis-server at ``url``, to stall for the outage.
    """
    if config.outage and (server is None or naive):
        raise ValueError("an outage run needs the redis-server to stall, and a guard (not the naive ledger)")
    name = f"proof-{uuid.uuid4().hex[:12]}"
    if not naive:
        _open_account(config, url, name)
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
    outage = _Outage(config, url, name, server) if config.outage and server is not None else None
    try:
        for _ in procs:
            log.merge(out.get(timeout=config.deadline + 60))
    finally:
        if outage is not None:
            outage.stop()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    kind = "count-after-response" if naive else "reserve/settle"
    if config.outage:
        kind += f" ({config.outage:g} s outage, fail {'open' if config.fail_open else 'closed'})"
    result = result_of(
        f"{kind}, {config.processes} processes + Redis", config, log, time.monotonic() - started
    )
    return replace(result, recorded=recorded_spend(url, name, naive=naive))


def _open_account(config: ProofConfig, url: str, name: str) -> None:
    """Create the run's account at zero before the streams start, as a gateway's first request would.

    A settlement never creates an account (a missing one is rebuilt from the store), so without
    this the settlements of requests admitted unenforced before the first seeding would be lost.
    """
    from tokenomy.budgets.accounts import Account, Matcher  # noqa: PLC0415
    from tokenomy.budgets.redis_ledger import RedisLedger  # noqa: PLC0415

    request = BudgetRequest(model=config.model, provider=config.provider, input_tokens=config.input_tokens)
    now = time.time()
    account = Matcher(proof_policy(config, name)).account(request, now)
    assert isinstance(account, Account)
    ledger = RedisLedger(url, timeout=5.0)
    try:
        ledger.seed(account.key, 0, account.expire_at(now))
    finally:
        ledger.close()


def recorded_spend(url: str, name: str, *, naive: bool = False) -> tuple[Decimal, Decimal]:
    """What the shared Redis recorded for run ``name``: dollars spent and still reserved."""
    import redis  # noqa: PLC0415  (only runs that use Redis load it)

    from tokenomy.budgets.redis_ledger import PREFIX  # noqa: PLC0415

    with redis.Redis.from_url(url, socket_timeout=5.0) as client:
        if naive:
            return Decimal(int(client.get(f"proof-naive:{name}") or 0)) / PICO, Decimal(0)
        spent = reserved = 0
        for key in client.scan_iter(match=f"{PREFIX}{name}:*"):
            if not key.endswith(b":x"):
                spent += int(client.hget(key, "spent") or 0)
                reserved += int(client.hget(key, "reserved") or 0)
    return Decimal(spent) / 10**9, Decimal(reserved) / 10**9


class Stallable(Protocol):
    """A server the proof can stall (:class:`tokenomy.budgets.redis_process.RedisProcess`)."""

    def pause(self) -> None:
        """Stop answering."""
        ...

    def resume(self) -> None:
        """Answer again."""
        ...


class _Outage:
    """Stalls the server for ``config.outage`` seconds once ``outage_at`` of the budget is spent."""

    def __init__(self, config: ProofConfig, url: str, name: str, server: Stallable) -> None:
        import redis  # noqa: PLC0415  (only runs that use Redis load it)

        from tokenomy.budgets.redis_ledger import PREFIX  # noqa: PLC0415

        self._client = redis.Redis.from_url(url, socket_timeout=5.0)
        self._pattern = f"{PREFIX}{name}:*"
        self._mark = int(
            config.budget_usd * Decimal(str(config.outage_at)) * 10**9
        )  # the ledger counts nano-dollars
        self._config, self._server = config, server
        self._done = threading.Event()
        self.started: float | None = None
        self._thread = threading.Thread(target=self._run, name="proof-outage", daemon=True)
        self._thread.start()

    def _spent(self) -> int:
        keys = [k for k in self._client.scan_iter(match=self._pattern) if not k.endswith(b":x")]
        return max((int(self._client.hget(k, "spent") or 0) for k in keys), default=0)

    def _run(self) -> None:
        while not self._done.wait(0.005):
            if self._spent() >= self._mark:
                break
        if self._done.is_set():
            return
        self.started = time.monotonic()
        self._server.pause()
        try:
            self._done.wait(self._config.outage)
        finally:
            self._server.resume()

    def stop(self) -> None:
        """End the outage (if running) and the watcher."""
        self._done.set()
        self._thread.join(10)
        self._client.close()


def scaled(config: ProofConfig, **changes: Any) -> ProofConfig:
    """``config`` with some fields changed."""
    return replace(config, **changes)
