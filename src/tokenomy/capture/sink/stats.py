"""A sink's counters: what :meth:`~tokenomy.capture.sink.core.Sink.stats` answers, and the counts
behind it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SinkStats:
    """A sink's counters since it was created (or since the fork that made this process).

    Attributes:
        enqueued: Events accepted by :meth:`Sink.submit`.
        sent: Events the target took on first try.
        spooled: Events written to the disk spool.
        replayed: Events sent from the spool.
        dropped: Events lost: the queue was full (with the spool full or absent), the sink was
            shut down, or they could not be saved at exit.
        rejected: Events the target refused as invalid (kept aside in ``.bad`` files).
        errors: Failed deliveries and other problems (each also logged, rate-limited).
        queued: Events waiting in memory now.
        held: Events held in memory because the spool could not take them.
        spool_files: Batch files in the spool folder now.
        spool_bytes: Bytes of those files.
    """

    enqueued: int = 0
    sent: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    rejected: int = 0
    errors: int = 0
    queued: int = 0
    held: int = 0
    spool_files: int = 0
    spool_bytes: int = 0


@dataclass(slots=True)
class Counters:
    """The counts behind :class:`SinkStats` (changed under the sink's lock)."""

    enqueued: int = 0
    sent: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    rejected: int = 0
    errors: int = 0
