"""What a sink target is: something that takes a batch of records, or raises :class:`SinkError`.

Three targets exist (see :func:`tokenomy.capture.sink.settings.target_for`): the local DuckDB
store, a tokenomy server's native events endpoint, and an OTLP/HTTP traces endpoint. A target
is called from the sink's own thread only, one batch at a time, but for one case: a shutdown whose
time runs out while ``send`` is still busy prepares what is left on the thread shutting down
(:meth:`tokenomy.capture.sink.core.Sink.shutdown`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Protocol, TypeVar, runtime_checkable

from tokenomy.capture.records import Record
from tokenomy.errors import SinkError

T = TypeVar("T")
HAND_OVER: Final = 0.0002
"""Seconds of work after which the sink's thread hands the GIL to the application's threads (at
the next item's end). A thread woken by its socket waits for the GIL until then, so this bounds
what the sink adds to each of the application's waits (every streamed chunk is one): 0.2 ms,
where the interpreter's own switch interval is 5 ms. Handing over when nobody waits costs about a
microsecond (one system call), about one percent of a streamed call's building."""

_pacing = threading.local()


class PartlyRefusedError(SinkError):
    """The target took a batch but these records of it, which it refused (sending them again cannot
    succeed): the sink sets them aside alone and counts the others as delivered."""

    def __init__(self, message: str, refused: Sequence[Record]) -> None:
        super().__init__(message, retryable=False)
        self.refused = list(refused)


def set_pacing(on: bool) -> None:
    """Whether :func:`paced` hands the GIL over on this thread (the sink's thread sets it per batch).

    Handing over keeps the sink out of the application's way only while the sink keeps up. An
    application thread that never waits on anything (a busy loop, pure computation) gets the GIL
    straight back each time and keeps it for the interpreter's whole switch interval, so the
    sink would then work 0.2 ms in every 5 and fall behind until its queue filled and events were
    dropped. A sink whose queue backs up therefore stops handing over until it has caught up."""
    _pacing.off = not on


def paced(items: Iterable[T], interval: float | None = None) -> Iterator[T]:
    """``items`` one by one, the GIL handed over (``time.sleep(0)``) between two of them once
    ``interval`` seconds (None: :data:`HAND_OVER`) have passed since the last hand-over; the
    sink's thread iterates its per-record work (building, pricing, converting) through this."""
    if getattr(_pacing, "off", False):
        yield from items
        return
    if interval is None:
        interval = HAND_OVER
    clock = time.perf_counter
    handed = clock()
    for item in items:
        yield item
        if clock() - handed >= interval:
            time.sleep(0)
            handed = clock()


class Target(Protocol):
    """Where a sink delivers its batches."""

    @property
    def description(self) -> str:
        """What the target is, for messages (never with credentials)."""
        ...

    def prepare(self, records: list[Record]) -> list[Record]:
        """Make a new batch ready before it is sent or spooled (the store and OTLP targets price calls).

        It may run on the thread shutting the sink down while ``send`` is still busy on the sink's
        thread (a shutdown whose time ran out), so it must not rely on ``send`` being idle.
        """
        ...

    def send(self, records: Sequence[Record]) -> None:
        """Deliver a batch; return only once the target has it.

        Raises:
            SinkError: The target did not take it (``retryable`` says whether to try again).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def after_fork(self) -> None:
        """Forget connections inherited from the parent process (without closing them)."""
        ...


@runtime_checkable
class Idling(Protocol):
    """A target holding something costly between batches (the DuckDB file) that it can release."""

    def idle(self, *, now: bool = False) -> None:
        """Nothing waits to be sent: release what is costly to hold, at once when ``now``.

        Called after each cycle that left nothing waiting; ``now`` after an explicit flush.
        """
        ...
