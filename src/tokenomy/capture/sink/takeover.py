"""A shutdown that keeps to its timeout: taking over from a sink's thread still busy when it ends.

A shutdown waits for the sink's thread at most its ``timeout``. When the time runs out with the
thread still busy (a collector that took the connection and never answers keeps it inside one send
for up to ``send_timeout``), the shutting-down thread takes over (:meth:`ShutdownTakeover._take_over`):
it writes the batch being sent, the held one and the queued events to the spool itself, and the
sink's thread, when its call returns, finds its batch taken and stops without touching anything.
:class:`~tokenomy.capture.sink.core.Sink` takes these steps from :class:`ShutdownTakeover`; they use
the sink's own state, declared here for the type checker.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tokenomy.capture.log import brief
from tokenomy.capture.records import Record, encode
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Claim, Spool
from tokenomy.capture.sink.target import Target

if TYPE_CHECKING:
    from tokenomy.capture.sink.core import Item
    from tokenomy.capture.sink.stats import Counters

TAKE_OVER: Final = 0.5
"""Seconds of a shutdown's ``timeout`` (a quarter of it when that is less) kept for taking over
from a sink's thread still busy when the rest has passed (:meth:`ShutdownTakeover._take_over`):
writing what it has to the spool, so that the shutdown, and the exit it runs in, end within the
``timeout``."""


class Retired(Exception):  # noqa: N818  (not an error: the thread is told to stop)
    """Raised on the sink's thread once a shutdown has taken over from it
    (:meth:`ShutdownTakeover._take_over`): the thread stops where it is and leaves what it has to
    that shutdown."""


@dataclass(slots=True)
class Flight:
    """A batch handed to the target: the records, and the spool file they were read from (None
    for a new or held batch). ``taken`` once a shutdown saved it while the target kept it waiting."""

    records: list[Record]
    claim: Claim | None = None
    taken: bool = False


class ShutdownTakeover:
    """The take-over steps of :class:`~tokenomy.capture.sink.core.Sink` (see the module docstring)."""

    target: Target
    settings: SinkSettings
    spool: Spool | None
    _clock: Callable[[], float]
    _lock: threading.Lock
    _queue: deque[Item]
    _held: list[Record]
    _counts: Counters
    _flush_ok: bool
    _flight: Flight | None
    """The batch inside the target now."""
    _left: Flight | None
    """The batch the sink's thread stopped with, once told to stop."""
    _retired: bool
    """The thread was told to stop."""
    _stopped: bool
    """The thread has stopped."""
    _abandoned: bool
    """The shutdown has gone without the thread, which saves its own batch (:meth:`_end`)."""

    if TYPE_CHECKING:  # the sink's own steps

        def _build(self, items: list[Item]) -> list[Record]: ...
        def _count(self, **amounts: int) -> None: ...
        def _problem(self, kind: str, message: str) -> None: ...
        def _serve_flushes(self, request: int | None = None) -> None: ...

    def _end(self) -> None:
        """The thread's last step. When a shutdown took over and has gone without waiting for it
        (:meth:`_take_over`), what the thread still had is its own to save, and the target its own
        to close (it may have been using it until now)."""
        with self._lock:
            self._stopped = True
            if not self._abandoned:
                return
            left, self._left = self._left, None
            held, self._held = self._held, []
        self._save(left, held, [], None)
        self.target.close()

    def _take_over(self, thread: threading.Thread, deadline: float) -> None:
        """The shutdown's time is up and the sink's thread is still busy: save what it has to the spool.

        A thread inside the target (a collector that took the connection and never answers) may
        stay there for ``send_timeout``, past the exit, and the batch it sends, the held one and
        the queue would go with it. So the retired thread is never waited on again: everything
        it had is written to the spool from here, and when its call returns it finds its batch
        taken and stops, touching nothing (:meth:`_attempt`); it closes the target then. Should
        that call have delivered after all, the replay stores nothing twice: the DuckDB store and
        a tokenomy server key every record (calls and charges by id, outcomes by target, id and
        time, agent spans by trace and span id), and over OTLP a replayed span has the same ids.
        A replayed spool file the target was busy with is handed back to the spool as it is; the
        queued events are built and prepared here (so ``prepare`` may then run on this thread
        while the target's ``send`` is still busy), and those not built by ``deadline`` are
        counted as dropped.

        A thread doing anything else (building, writing the spool) stops at its next step, which
        half the time left is given for, and leaves its batch here, saved before the queue so
        that the order holds. One still busy then saves that batch itself when it gets there
        (:meth:`_end`), if the process lives that long: behind the queue, the one case where the
        spool's order differs from the order of submission.
        """
        try:
            with self._lock:
                self._retired = True
                flight, self._flight = self._flight, None
                held: list[Record] = []
                if flight is not None:  # the thread waits inside the target: what it holds is ours now
                    flight.taken = self._abandoned = True
                    held, self._held = self._held, []
                queue = self._queue
                items = [queue.popleft() for _ in range(len(queue))]
                self._counts.enqueued += len(items)
            stopped = False
            if flight is None:
                thread.join(max(0.0, deadline - self._clock()) / 2)
                with self._lock:
                    stopped = self._stopped
                    self._abandoned = not stopped  # else it saves what it has itself (_end)
                    if stopped:
                        flight, self._left = self._left, None
                        held, self._held = self._held, []
            self._save(flight, held, items, deadline)
            if stopped:  # the thread is done with the target
                self.target.close()
            with self._lock:
                self._flush_ok = False
        except Exception as exc:  # a shutdown never raises into the application
            self._problem(
                "exit", f"tokenomy capture: could not save what was left at shutdown ({brief(exc)})"
            )
        self._serve_flushes()

    def _save(
        self, flight: Flight | None, held: list[Record], items: list[Item], deadline: float | None
    ) -> None:
        """Save a batch taken from the target, held records and queued items (built here, until
        ``deadline``; None: all) to the spool, in the order they were submitted."""
        records = held
        if flight is not None and flight.claim is not None and self.spool is not None:
            with contextlib.suppress(OSError):  # else it stays claimed until the next process starts
                self.spool.release(flight.claim)  # a spool file still: replayed as it is
        elif flight is not None:
            records = flight.records + held
        size = self.settings.batch_size
        done = 0  # one batch is built whatever the time left (a shutdown(0) keeps a small queue)
        while done < len(items) and (done == 0 or deadline is None or self._clock() < deadline):
            records = records + self._build(items[done : done + size])
            done += size
        self._keep(records, unbuilt=max(0, len(items) - done))

    def _keep(self, records: list[Record], unbuilt: int = 0) -> None:
        """At shutdown: ``records`` go to the spool, else are counted dropped, as are ``unbuilt`` items."""
        lost = unbuilt
        size = self.settings.batch_size
        for at in range(0, len(records), size):  # a file a batch: each replayed (or set aside) alone
            chunk = records[at : at + size]
            try:
                if self.spool is not None and self.spool.write(encode(chunk)):
                    self._count(spooled=len(chunk))
                    continue
            except OSError as exc:
                self._problem("spool", f"tokenomy capture: cannot write the spool at exit: {exc}")
            lost += len(chunk)
        if lost:
            self._count(dropped=lost)
            self._problem("exit", f"tokenomy capture: {lost} events could not be delivered or saved at exit")
