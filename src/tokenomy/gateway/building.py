"""Building the gateway's calls off the request path: the loop's builder, and the metrics' counters.

The request path hands each finished :class:`~tokenomy.gateway.metering.Exchange` to the
:class:`LoopBuilder`, which queues it in the capture sink at once and builds it on the event
loop's thread shortly after (a run of exchanges together, a slice at a time between the loop's
I/O), so the sink's thread only delivers the calls (it builds one itself only when it gets there
first). Each built call is added to the metrics' token and cost counters (:class:`CallCounters`).
Compiled with the metering path (:mod:`tokenomy.compiled`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from decimal import Decimal
from typing import Final

from tokenomy.capture.records import Record
from tokenomy.capture.sink.core import Pending, Sink
from tokenomy.schema import BUCKETS, Call


class CallCounters:
    """The metrics' token and cost counters, added to as each call is built (the loop's thread or
    the sink's), under the metrics' lock. Here, compiled with the build, rather than in
    :mod:`tokenomy.gateway.metrics`, and one native integer an exclusive bucket rather than a dict
    of them: a call's counting costs about 3,600 instructions, where the metrics' own method took 5,800
    and a dict of counts here 4,700."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.input_uncached = 0
        self.cache_read = 0
        self.cache_write_5m = 0
        self.cache_write_1h = 0
        self.output_visible = 0
        self.reasoning = 0
        self.input_unsplit = 0
        """Input tokens of calls whose total came without its split."""
        self.output_unsplit = 0
        """Output tokens of calls whose total came without its split."""
        self.cost_usd = Decimal(0)
        """Dollars metered, summed exactly (a float only in the exposition text)."""

    @property
    def tokens(self) -> dict[str, int]:
        """Tokens by exclusive bucket, and ``input_unsplit``/``output_unsplit`` for totals without
        their split (the buckets with none left out). Read under the lock for counts of the same
        moment (the metrics' exposition holds it; it is not reentrant, so this does not take it)."""
        counted = (
            self.input_uncached,
            self.cache_read,
            self.cache_write_5m,
            self.cache_write_1h,
            self.output_visible,
            self.reasoning,
            self.input_unsplit,
            self.output_unsplit,
        )
        return {name: n for name, n in zip(_COUNTED, counted, strict=True) if n}

    def add(self, call: Call) -> None:
        """Add a built call's tokens and cost."""
        usage, cost = call.usage, call.cost
        uncached, visible = usage.input_uncached, usage.output_visible
        cached, five, hour, reasoning = (
            usage.cache_read,
            usage.cache_write_5m,
            usage.cache_write_1h,
            usage.reasoning,
        )
        unsplit_in = usage.input_total if uncached is None else None
        unsplit_out = usage.output_total if visible is None else None
        total = None if cost is None else cost.total
        with self.lock:
            if uncached:
                self.input_uncached += uncached
            if cached:
                self.cache_read += cached
            if five:
                self.cache_write_5m += five
            if hour:
                self.cache_write_1h += hour
            if visible:
                self.output_visible += visible
            if reasoning:
                self.reasoning += reasoning
            if unsplit_in:
                self.input_unsplit += unsplit_in
            if unsplit_out:
                self.output_unsplit += unsplit_out
            if total is not None:
                self.cost_usd += total  # exact, and a fifth of float(total)'s cost


_COUNTED: Final = (*BUCKETS, "input_unsplit", "output_unsplit")
"""The names of :attr:`CallCounters.tokens`' counts, in the order it reads them."""


BUILD_DELAY: Final = 0.01
"""Seconds an exchange waits before the loop builds it: the exchanges that finish meanwhile are then
built one after another, which costs about a third less CPU each than builds scattered between
requests (the interpreter's caches stay warm; docs/gateway.md, "Builds in runs")."""

BUILD_SLICE: Final = 32
"""Exchanges built in one loop callback; the rest wait for the loop's next turn, after its I/O, so
a run of builds holds other requests up by about a millisecond at most."""


class LoopBuilder:
    """Builds finished exchanges on the event loop's thread, ahead of the sink's thread.

    :meth:`submit` queues the exchange in the sink at once, wrapped so that whichever comes first
    builds it: this builder, ``delay`` seconds after the first exchange of a run was queued (at most
    ``per_turn`` a callback, the rest on the loop's next turns, so the loop's I/O runs between them), or
    the sink's thread (a batch that filled first, a flush, a loop that ended before its callback
    ran). Building a run of exchanges together costs less than building each as it finishes, and
    the wait changes nothing a client sees: the sink delivers at its own pace (every second by
    default). The sink's guarantees hold as before: its queue is the bound (a full one drops and
    counts the exchange, which is then not built), nothing raises into the request path, and an
    exchange that fails to build is counted and logged by the sink as its own failed builds are
    (the error is raised again when the sink takes the record). Building on the loop spares the
    process the GIL hand-overs between the two threads; the sink's thread only delivers the built
    calls.

    Args:
        sink: Where the calls go.
        delay: Seconds between the first exchange of a run and its build (0: the loop's next turn).
        per_turn: Most exchanges built in one callback of the loop.
    """

    def __init__(self, sink: Sink, *, delay: float = BUILD_DELAY, per_turn: int = BUILD_SLICE) -> None:
        if delay < 0 or per_turn < 1:
            raise ValueError(f"LoopBuilder needs delay >= 0 and per_turn >= 1, not {delay} and {per_turn}")
        self.sink = sink
        self.delay, self.per_turn = delay, per_turn
        self._waiting: deque[Ahead] = deque()
        self._building = threading.Lock()
        """Held by whichever thread builds: the loop for a slice, the sink's thread for one item."""
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        """The loop a build callback is scheduled on (a loop that stopped first leaves it set)."""

    @property
    def waiting(self) -> int:
        """Exchanges queued in the sink that the loop has not built yet."""
        return len(self._waiting)

    def submit(self, item: Pending) -> None:
        """Queue ``item`` in the sink and build it on this loop soon (call from the loop's thread)."""
        ahead = Ahead(item, self._building)
        if not self.sink.submit(ahead):
            return  # dropped and counted by the sink
        self._waiting.append(ahead)
        loop = asyncio.get_running_loop()
        if self._scheduled_on is not loop:
            self._scheduled_on = loop
            if self.delay:
                loop.call_later(self.delay, self._build)
            else:
                loop.call_soon(self._build)

    def drain(self) -> None:
        """Build everything waiting now (at shutdown, before the sink is flushed)."""
        self._build_some(len(self._waiting), wait=True)

    def _build(self) -> None:
        more: bool | None = True
        try:
            more = self._build_some(self.per_turn)
        finally:
            loop = asyncio.get_running_loop()
            if more is None:  # the sink's thread is building one: try again shortly, not at once
                loop.call_later(self.delay or _BUSY_RETRY, self._build)
            elif more:
                loop.call_soon(self._build)
            else:
                self._scheduled_on = None

    def _build_some(self, count: int, *, wait: bool = False) -> bool | None:
        """Build up to ``count`` waiting exchanges; True when some are left, None when the sink's
        thread held the lock (nothing built; with ``wait``, wait for it instead).

        One lock for the whole slice rather than one per exchange: the sink's thread takes it only
        for an exchange the loop has not built when it gets there (:meth:`Ahead.build`)."""
        waiting = self._waiting
        if not self._building.acquire(blocking=wait):
            return None
        try:
            for _ in range(min(count, len(waiting))):
                ahead = waiting.popleft()
                if ahead._item is not None:
                    ahead._run()
        finally:
            self._building.release()
        return bool(waiting)


_BUSY_RETRY: Final = 0.001
"""Seconds before a builder without a delay tries again when the sink's thread holds its lock."""


class Ahead:
    """A sink item built by whichever thread comes first: the event loop ahead, or the sink's own.

    Both build under their :class:`LoopBuilder`'s one lock, so an item is built once; it is built
    when ``_item`` is None, which :meth:`_run` sets last, after the record or the error, so the
    sink's thread reads a built item without taking the lock.
    """

    __slots__ = ("_building", "_error", "_item", "_record")

    def __init__(self, item: Pending, building: threading.Lock) -> None:
        self._item: Pending | None = item
        self._record: Record | None = None
        self._error: Exception | None = None
        self._building = building

    def build(self) -> Record:
        """The record (the sink's thread): built ahead, or built now; a failed build raises its error."""
        if self._item is not None:
            with self._building:
                if self._item is not None:
                    self._run()
        if self._error is not None:
            raise self._error
        assert self._record is not None
        return self._record

    def _run(self) -> None:
        """Build (the caller holds the builder's lock); ``_item`` becomes None last, whatever happens."""
        item = self._item
        assert item is not None
        try:
            self._record = item.build()
        except Exception as exc:  # raised again on the sink's thread, which counts and logs it
            self._error = exc
        finally:
            self._item = None
