"""The sink: a bounded in-memory queue drained by one background thread, in batches, into a target.

The caller's side is :meth:`Sink.submit`: an append to a bounded queue, never a wait. When the
queue is full the event is dropped and counted. The sink's thread wakes every ``flush_interval``
(or as soon as a batch is full), turns queued captures into records (:meth:`Pending.build`),
lets the target prepare them (pricing) and sends the batch. While it keeps up it hands the GIL to
the application's threads every 0.2 ms of that work; once a quarter of the queue is waiting it
works through at the interpreter's own pace, so a busy application thread cannot starve it into
dropping events.

When the target fails, the batch goes to the disk spool and the target is retried after a
growing wait (0.5 s, doubled each time, at most 30 s). While anything waits in the spool, new
batches are appended to it too, and the spool is replayed oldest first before anything new is
sent, so the target receives events in the order they were submitted. A target that is up but
slower than the application (half the queue waiting after a send) is treated the same way: the
waiting events are built and written to the spool at once, and reach the target from there, in
order, at its own pace. When the spool is full (or there is none), one batch is held in memory
and the queue is no longer drained: it fills, and only then are new events dropped (and
counted). A batch the target refuses as invalid (``SinkError(retryable=False)``) cannot succeed
later: it is counted as rejected, logged, and set aside in the spool folder as a ``.bad`` file.

A shutdown waits for the sink's thread at most its ``timeout``. When the time runs out with the
thread still busy (a collector that took the connection and never answers keeps it inside one
send for up to ``send_timeout``), the shutting-down thread takes over: it writes the batch being
sent, the held one and the queued events to the spool itself, and the sink's thread, when its
call returns, finds its batch taken and stops without touching anything
(:mod:`tokenomy.capture.sink.takeover`).

Nothing here raises into the caller: failures are counted (:class:`SinkStats`) and logged once
per kind and minute. The sink survives ``os.fork``: the child starts with an empty queue and no
thread (the parent's pending events stay the parent's) and starts its own thread on first use.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from tokenomy.capture.log import RateLimitedLog, brief
from tokenomy.capture.records import AgentSpan, Record, clean_text, decode, encode, unpaired
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Claim, Spool
from tokenomy.capture.sink.stats import Counters, SinkStats
from tokenomy.capture.sink.takeover import TAKE_OVER, Flight, Retired, ShutdownTakeover
from tokenomy.capture.sink.target import Idling, PartlyRefusedError, Target, paced, set_pacing
from tokenomy.errors import SinkError
from tokenomy.native import FieldError
from tokenomy.schema import Call, Charge, OutcomeEvent

_RECORDS = (Call, Charge, OutcomeEvent, AgentSpan)
_IS_RECORD: dict[type, bool] = {}
"""Whether items of a type are records (built already) or pending items, by type: ``isinstance``
on a pending item fails its four class tests and then looks up ``__class__`` for each, about 1,200
instructions an item on the sink's thread, where this costs one dict lookup."""
_forks = 0
"""How many forks this process descends from (counted in each child): a sink made before the
latest one starts afresh on first use (:meth:`Sink.after_fork`). Read on every submit, in place
of ``os.getpid()``, a system call."""


def _counted_fork() -> None:
    global _forks  # noqa: PLW0603  (the one module-level counter, written only in a forked child)
    _forks += 1


os.register_at_fork(after_in_child=_counted_fork)
BACKLOG: Final = 0.25
"""The share of ``queue_size`` from which the sink's thread works without handing the GIL over
between records (:func:`tokenomy.capture.sink.target.set_pacing`) until it has caught up."""
SPILL: Final = 0.5
"""The share of ``queue_size`` waiting after a send (or a replayed spool file) from which the
sink's thread writes the queue to the spool rather than wait for a slow target (:meth:`Sink._spill`)."""


class Pending(Protocol):
    """Something captured on the caller's path that becomes a record on the sink's thread."""

    def build(self) -> Record:
        """The record (called once, on the sink's thread)."""
        ...


Item = Record | Pending


class Sink(ShutdownTakeover):
    """Delivers records to a target from a background thread (see the module docstring).

    Args:
        target: Where batches go.
        settings: Queue, batch, interval and retry settings.
        spool: The disk spool for batches the target could not take (None: memory only).
        clock: Monotonic clock in seconds (tests may pass their own).
    """

    def __init__(
        self,
        target: Target,
        settings: SinkSettings | None = None,
        *,
        spool: Spool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.settings = settings or SinkSettings()
        self.spool = spool
        self._clock = clock
        self._log = RateLimitedLog()
        self._reset()

    def _reset(self) -> None:
        """Fresh per-process state (at construction, and in a forked child)."""
        self._forks = _forks  # forks this process descends from (a child resets itself: _counted_fork)
        self._queue: deque[Item] = deque()
        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._held: list[Record] = []
        self._counts = Counters()
        self._closed = self._stopping = False
        self._flush_requested = self._flush_served = 0
        self._flush_ok = True
        self._refused_at_flush = 0
        """Events the target had refused when the last flush was answered: a flush is False when it
        refused more since, in the flush's own cycle or before it, as the sink's thread sent batches on
        its own schedule."""
        self._dropped_at_flush = 0
        """The same for events dropped at ``submit`` on a full queue: a flush is False when any was
        dropped since the last one was answered, however long before its cycle (after ``shutdown``,
        flush answers how the shutdown ended, as the docs say)."""
        self._retry_at = 0.0
        self._backoff = self.settings.retry_initial
        # a shutdown taking over (_take_over): the batch inside the target now, the one the thread
        # stopped with, and whether the thread was told to stop, has stopped, or must save its own
        self._flight: Flight | None = None
        self._left: Flight | None = None
        self._retired = self._stopped = self._abandoned = False

    # -- the caller's side -------------------------------------------------------------------

    def submit(self, item: Item) -> bool:
        """Queue one event; False (and counted as dropped) when the queue is full or the sink closed."""
        if self._forks != _forks:  # in a forked child (no system call: _counted_fork)
            self.after_fork()
        queue = self._queue
        if self._closed or len(queue) >= self.settings.queue_size:
            with self._lock:
                self._counts.dropped += 1
            self._log.note("dropped", f"tokenomy capture: {self._why_dropped()}; events are being dropped")
            return False
        queue.append(item)  # no lock: deque appends are atomic, and the count is derived (stats)
        if self._thread is None:
            self._start()
        if len(queue) >= self.settings.batch_size:
            self._wake.set()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True when it all reached the target (not only the spool).

        Args:
            timeout: Seconds to wait at most (None: until done).

        Returns:
            False when the timeout expired, some events are still in the spool or held, were dropped
            meanwhile, or were refused by the target since the previous flush was answered.
        """
        if self._forks != _forks:  # in a forked child (no system call: _counted_fork)
            self.after_fork()
        if threading.current_thread() is self._thread:
            return False
        if self._closed:  # True only when the shutdown delivered everything (nothing spooled or dropped)
            return not self._queue and not self._held and self._flush_ok and not self._spool_pending()
        if self._thread is None and not self._queue and not self._held and not self._spool_pending():
            return True
        self._start()
        with self._lock:
            self._flush_requested += 1
            request = self._flush_requested
        self._wake.set()
        deadline = None if timeout is None else self._clock() + timeout
        with self._lock:
            while self._flush_served < request:
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    return False
                self._flushed.wait(remaining)
            return self._flush_ok

    def shutdown(self, timeout: float | None = None, *, replay_spool: bool = False) -> None:
        """Flush, save what the target did not take to the spool, stop the thread, close the target.

        Later submissions are dropped (and counted). Waits ``timeout`` seconds at most: when the
        target is still busy with a batch by then, that batch and everything still waiting are
        written to the spool from this thread (:meth:`_take_over`). With ``replay_spool``, a sink
        that recorded nothing (no thread) still replays what waits in the spool (batches of forked
        children, or of an earlier run) within that time; the process's own exit asks for it in the
        process that started the work (``tokenomy.shutdown()`` and atexit).
        """
        if self._forks != _forks:  # in a forked child (no system call: _counted_fork)
            self.after_fork()
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is None and replay_spool and self._spool_pending():  # the last cycle replays them
            self._stopping = True
            self._start()
            thread = self._thread
        if thread is None:
            self.target.close()
            return
        self._stopping = True
        self._wake.set()
        if thread is threading.current_thread():  # called from a target's code: the thread ends its cycle
            return
        if timeout is None:
            thread.join()
        else:
            deadline = self._clock() + timeout
            thread.join(timeout - min(TAKE_OVER, timeout / 4))
            if thread.is_alive():
                self._take_over(thread, deadline)
                return
        self.target.close()

    def stats(self) -> SinkStats:
        """The counters now (see :class:`SinkStats`)."""
        if self._forks != _forks:  # in a forked child (no system call: _counted_fork)
            self.after_fork()
        usage = self.spool.usage() if self.spool is not None else None
        with self._lock:
            counts = self._counts
            queued = len(self._queue)
            return SinkStats(
                enqueued=counts.enqueued + queued,
                sent=counts.sent,
                spooled=counts.spooled,
                replayed=counts.replayed,
                dropped=counts.dropped,
                rejected=counts.rejected,
                errors=counts.errors,
                queued=queued,
                held=len(self._held),
                spool_files=usage.files if usage else 0,
                spool_bytes=usage.bytes if usage else 0,
            )

    def after_fork(self) -> None:
        """Start afresh in a forked child: the parent's queued events are the parent's to send."""
        self._reset()
        self._log.after_fork()
        self.target.after_fork()
        if self.spool is not None:
            self.spool.after_fork()

    # -- the sink's thread -------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or (self._closed and not self._stopping):
                return
            self._thread = threading.Thread(target=self._run, name="tokenomy-sink", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                wait = self._wait_time()
            except Exception as exc:  # (it reads the spool folder) the thread must never die
                self._problem("cycle", f"tokenomy capture: unexpected error in the sink ({brief(exc)})")
                wait = self.settings.flush_interval
            self._wake.wait(wait)
            self._wake.clear()
            stopping = self._stopping
            try:
                self._cycle(stopping)
                if stopping:
                    self._save_rest()
            except Retired:  # a shutdown took over: what this thread had is that shutdown's now
                break
            except Exception as exc:  # the thread must never die: count, log, carry on
                self._problem("cycle", f"tokenomy capture: unexpected error in the sink ({brief(exc)})")
            if stopping:
                self._serve_flushes()
                break
        self._end()

    def _wait_time(self) -> float:
        interval = self.settings.flush_interval
        if self._held or self._spool_pending():
            return max(0.01, min(interval, self._retry_at - self._clock()))
        return interval

    def _cycle(self, stopping: bool) -> None:
        with self._lock:
            request = self._flush_requested
            lost_before = self._counts.rejected + self._counts.dropped
        flushing = request > self._flush_served
        force = flushing or stopping
        if stopping and self._clock() < self._retry_at:
            force = False  # the target failed lately: at exit, save to the spool rather than wait on it
        ok = self._drain_backlog(force)
        budget = len(self._queue)
        while budget > 0 and not self._held:
            take = min(budget, self.settings.batch_size)
            budget -= take
            set_pacing(len(self._queue) < self.settings.queue_size * BACKLOG)
            batch = self._build(self._take(take))
            waiting = len(self._queue)
            ok = self._deliver(batch) and ok
            if not force:
                self._spill(waiting)
        with self._lock:
            refused, dropped = self._counts.rejected, self._counts.dropped
            lost = refused + dropped > lost_before
            delivered = ok and not lost and not self._held and not self._spool_pending()
            # events refused, or dropped on a full queue before this cycle began, since the last
            # flush was answered make this one's answer False too: they never reach the target
            self._flush_ok = (
                delivered and refused == self._refused_at_flush and dropped == self._dropped_at_flush
            )
            if flushing:
                self._refused_at_flush, self._dropped_at_flush = refused, dropped
        if not self._queue and delivered and isinstance(self.target, Idling):
            self.target.idle(now=flushing)  # after an explicit flush, the DuckDB file is free to read
        self._serve_flushes(request)

    def _serve_flushes(self, request: int | None = None) -> None:
        with self._lock:
            served = self._flush_requested if request is None else request
            self._flush_served = max(self._flush_served, served)
            self._flushed.notify_all()

    def _take(self, count: int) -> list[Item]:
        """Pop ``count`` queued items, counting them as enqueued (``stats`` adds those still queued).

        Raises:
            Retired: A shutdown took over (the queue is its to save).
        """
        queue = self._queue
        with self._lock:
            if self._retired:
                raise Retired
            items = [queue.popleft() for _ in range(min(count, len(queue)))]
            self._counts.enqueued += len(items)
        return items

    def _build(self, items: list[Item]) -> list[Record]:
        records: list[Record] = []
        is_record = _IS_RECORD
        for item in paced(items):  # the GIL is handed to the application's threads between records
            kind = type(item)
            known = is_record.get(kind)
            if known is None:
                known = is_record[kind] = issubclass(kind, _RECORDS)
            if known:  # no typing.cast here: it is a call a record, on the sink's busiest loop
                records.append(item)  # type: ignore[arg-type]
                continue
            try:
                records.append(item.build())  # type: ignore[union-attr]
            except Exception as exc:  # a bug in reading a response must not stop the others
                self._count(dropped=1)
                self._problem(
                    "build", f"tokenomy capture: could not build a record ({brief(exc)}); it was dropped"
                )
        try:
            return self.target.prepare(records)
        except Exception as exc:
            self._problem(
                "prepare", f"tokenomy capture: {self.target.description} could not price ({brief(exc)})"
            )
            return records

    def _deliver(self, records: list[Record]) -> bool:
        if not records:
            return True
        if self._held or self._spool_pending() or self._clock() < self._retry_at:
            self._park(records)
            return False
        if self._send(records):
            self._count(sent=len(records))
            return True
        return False

    def _send(self, records: list[Record]) -> bool:
        """Send a batch: park it on a retryable failure, set it aside on a refusal. True when taken."""
        outcome, reason, refused = self._attempt(records)
        if outcome == "retry":
            self._failed(reason)
            self._park(records)
        elif outcome == "refused":
            self._reject(refused, reason)
            self._count(sent=len(records) - len(refused))  # a part refused: the rest was taken
        return outcome == "sent"

    def _attempt(self, records: list[Record], claim: Claim | None = None) -> tuple[str, str, list[Record]]:
        """Hand ``records`` (read from ``claim``, for a replay) to the target once: ("sent", ""),
        ("retry", why) or ("refused", why), with the records refused (all of them, or those a
        :class:`PartlyRefusedError` names: the target took the others).

        A failure the target does not call retryable, or an unexpected exception (which would
        repeat forever), is a refusal; a success resets the backoff.

        Raises:
            Retired: A shutdown took over, before the call (the batch is left to it) or during it
                (the shutdown saved the batch): the answer no longer counts.
        """
        flight = Flight(records, claim)
        with self._lock:
            if self._retired:
                self._left = flight
                raise Retired
            self._flight = flight
        refused = records
        try:
            try:
                self.target.send(records)
            except ValueError:  # a lone surrogate in some text (UnicodeEncodeError; pure-Python
                if not unpaired(records):  # protobuf raises a ValueError): sent once more, replaced
                    raise
                refused = records = clean_text(records)
                self.target.send(records)
        except PartlyRefusedError as exc:
            outcome, refused = ("refused", str(exc)), exc.refused
        except SinkError as exc:
            outcome = ("retry" if exc.retryable else "refused"), str(exc)
        except Exception as exc:
            outcome = "refused", f"{self.target.description}: {brief(exc)}"
        else:
            outcome = "sent", ""
        with self._lock:
            if flight.taken:
                raise Retired
            self._flight = None
        if outcome[0] == "sent":
            self._backoff, self._retry_at = self.settings.retry_initial, 0.0
        return (*outcome, refused)

    def _drain_backlog(self, force: bool) -> bool:
        """Replay the spool, then the held batch; True when nothing is left waiting.

        Forced (a flush, or shutdown), the whole spool is replayed and nothing is spilled, so that
        a flush delivers what was queued before it. Otherwise the queue may be spilled between
        two files (:meth:`_spill`), and only the files there at the start are replayed: what was
        spilled meanwhile waits for the next cycle, so a cycle ends even while a slow target and
        a busy application keep the spool from emptying.
        """
        if not force and self._clock() < self._retry_at:
            return not self._held and not self._spool_pending()
        if self.spool is not None:
            left = None if force else self.spool.usage().files
            while left is None or left > 0:
                claim = self.spool.claim()
                if claim is None:
                    break
                waiting = len(self._queue)
                if not self._replay(claim):
                    return False
                if left is not None:
                    left -= 1
                    self._spill(waiting)
            if left is not None and self._spool_pending():
                return False  # the held batch comes after the spool's files
        if self._held:
            held, self._held = self._held, []
            if not self._send_held(held):
                return False
        return True

    def _send_held(self, held: list[Record]) -> bool:
        """Send the held batch; False (and held again) only on a retryable failure."""
        outcome, reason, refused = self._attempt(held)
        if outcome == "retry":
            self._failed(reason)
            self._held = held + self._held
            return False
        if outcome == "refused":
            self._reject(refused, reason)
        self._count(sent=len(held) - len(refused) if outcome == "refused" else len(held))
        return True

    def _replay(self, claim: Claim) -> bool:
        assert self.spool is not None
        try:
            records = decode(self.spool.read(claim))
        except (OSError, FieldError) as exc:
            bad = self.spool.quarantine(claim)
            self._problem("spool", f"tokenomy capture: spool file {bad} is unreadable ({exc}); set aside")
            return True
        outcome, reason, refused = self._attempt(records, claim)
        if outcome == "retry":
            self.spool.release(claim)
            self._failed(reason)
            return False
        if outcome == "refused":  # the file is set aside whole; the records the target took are stored
            self.spool.quarantine(claim)
            self._count(rejected=len(refused), replayed=len(records) - len(refused))
            self._problem("rejected", f"tokenomy capture: {reason}; the spool file was set aside (.bad)")
            return True
        self.spool.done(claim)
        self._count(replayed=len(records))
        return True

    def _spill(self, before: int) -> None:
        """Write the queue to the spool when it grew during a send to half its size (:data:`SPILL`).

        ``before`` is the queue's length when the send began. A target that is up but slower than
        the application would otherwise let the queue fill and events be dropped while the spool
        has room. Everything waiting then is spilled (what arrives meanwhile waits for the next
        check); it reaches the target from the spool, behind what is already there, so the order
        holds. A queue that did not grow (a backlog the target is working through, say after an
        outage) is sent as usual. When the spool is full a batch is held, as for a down target,
        and spilling stops.
        """
        waiting = len(self._queue)
        if self.spool is None or waiting <= before or waiting < self.settings.queue_size * SPILL:
            return
        set_pacing(False)
        while waiting > 0 and not self._held:
            records = self._build(self._take(min(waiting, self.settings.batch_size)))
            waiting -= self.settings.batch_size
            if records:
                self._park(records)

    def _park(self, records: list[Record]) -> None:
        """Save a batch the target has not taken: to the spool, else held in memory."""
        if self.spool is not None:
            try:
                if self.spool.write(encode(records)):
                    self._count(spooled=len(records))
                    return
                self._problem("spool_full", f"tokenomy capture: the spool {self.spool.directory} is full")
            except OSError as exc:
                self._problem(
                    "spool", f"tokenomy capture: cannot write the spool {self.spool.directory}: {exc}"
                )
        self._held.extend(records)

    def _save_rest(self) -> None:
        """At shutdown: whatever is still queued or held goes to the spool, or is counted dropped."""
        rest = self._held + self._build(self._take(len(self._queue)))
        self._held = []
        self._keep(rest)

    def _reject(self, records: list[Record], why: str) -> None:
        self._count(rejected=len(records))
        if self.spool is not None:
            with contextlib.suppress(OSError):
                self.spool.set_aside(encode(records))
        self._problem("rejected", f"tokenomy capture: {len(records)} events refused ({why}); kept as .bad")

    def _failed(self, why: str) -> None:
        self._retry_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.settings.retry_max)
        kept = (
            "batches are kept in the spool and retried"
            if self.spool is not None
            else "no spool: one batch is held in memory and retried, and once the queue is full new events "
            "are dropped"
        )
        self._problem("target", f"tokenomy capture: {why}; {kept}")

    def _problem(self, kind: str, message: str) -> None:
        self._count(errors=1)
        self._log.note(kind, message)

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self._counts, name, getattr(self._counts, name) + amount)

    def _spool_pending(self) -> bool:
        return self.spool is not None and self.spool.pending()

    def _why_dropped(self) -> str:
        if self._closed:
            return "the sink was shut down"
        return f"the queue is full ({self.settings.queue_size} events) and the target is not keeping up"
