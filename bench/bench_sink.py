"""The capture sink in front of a target that is up but slower than the application, side by side.

Run: ``python -m bench sink`` (``python -m bench.bench_sink --events 60000 --rate 20000
--send-ms 50`` for other loads). One thread submits ``--events`` calls at ``--rate`` a second (the
application); the sink's target takes each batch after ``--send-ms`` milliseconds (a collector far
away, or a busy one: it is up, it only takes its time). The same load runs twice, in one process:

* spilling (the sink as shipped): once half the queue arrived during one send, the waiting events
  go to the disk spool and reach the target from there, in order;
* queue only (spilling switched off, as before): the queue fills while the target works and new
  events are dropped although the spool has room.

For each it prints what was submitted, dropped, spooled, delivered (sent directly or replayed
from the spool) and how long the sink took to deliver everything after the last submit. The
target is ``--send-ms`` per batch whatever the batch, so the sink's own time is what differs.
Exit status 1 when the spilling sink lost or reordered an event. Spilling has a rate of its own
(each event is encoded and each batch file synced to disk on the sink's thread): an application
submitting faster than that still fills the queue (docs/capture.md gives the figures).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tokenomy.capture.records import Record
from tokenomy.capture.sink import core
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.schema import Call, Usage

STARTED = datetime(2026, 11, 23, 9, 0)


class SlowTarget:
    """Takes every batch after a fixed delay, keeping only the ids' count and their order's check."""

    description = "slow in-memory target"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.taken = 0
        self.in_order = True
        self._last = -1

    def prepare(self, records: list[Record]) -> list[Record]:
        return records

    def send(self, records: Sequence[Record]) -> None:
        time.sleep(self.seconds)
        for record in records:
            if isinstance(record, Call):
                number = int(record.id[1:])
                self.in_order = self.in_order and number > self._last
                self._last = number
                self.taken += 1

    def close(self) -> None:
        """Nothing to release."""

    def after_fork(self) -> None:
        """Nothing inherited."""


@dataclass(frozen=True)
class Outcome:
    submitted: int
    dropped: int
    spooled: int
    sent: int
    replayed: int
    taken: int
    in_order: bool
    drain_seconds: float
    spool_peak_bytes: int


def _call(number: int) -> Call:
    return Call(
        id=f"c{number:09d}",
        provider="openai",
        request_model="gpt-4o-mini",
        started_at=STARTED,
        usage=Usage.of(
            input_uncached=900,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=120,
            reasoning=0,
        ),
        source="sdk",
    )


def run(events: int, rate: float, send_seconds: float, *, spill: bool, folder: Path) -> Outcome:
    """Submit ``events`` calls at ``rate`` a second to a sink over a :class:`SlowTarget`."""
    target = SlowTarget(send_seconds)
    settings = SinkSettings(flush_interval=1.0)
    spool = Spool(folder, settings.spool_max_bytes)
    saved = core.SPILL
    setattr(core, "SPILL", saved if spill else float("inf"))  # noqa: B010  (a Final, switched for this run)
    try:
        sink = Sink(target, settings, spool=spool)
        calls = [_call(i) for i in range(events)]
        peak = 0
        start = time.perf_counter()
        for i, record in enumerate(calls):
            sink.submit(record)
            if i % 1000 == 999:
                peak = max(peak, spool.usage().bytes)
                ahead = (i + 1) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        done = time.perf_counter()
        delivered = sink.flush(timeout=600)
        drain = time.perf_counter() - done
        stats = sink.stats()
        sink.shutdown(timeout=5)
    finally:
        setattr(core, "SPILL", saved)  # noqa: B010
    if not delivered and stats.dropped == 0:  # with drops, flush() is False however fast it drained
        print("  (the sink did not deliver everything within 10 minutes)")
    return Outcome(
        submitted=events,
        dropped=stats.dropped,
        spooled=stats.spooled,
        sent=stats.sent,
        replayed=stats.replayed,
        taken=target.taken,
        in_order=target.in_order,
        drain_seconds=drain,
        spool_peak_bytes=peak,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sink", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000, help="calls the application submits")
    parser.add_argument("--rate", type=float, default=10_000.0, help="calls a second it submits")
    parser.add_argument("--send-ms", type=float, default=200.0, help="milliseconds the target takes a batch")
    args = parser.parse_args(argv)
    settings = SinkSettings()
    print(
        f"{args.events:,} calls at {args.rate:,.0f}/s; the target takes {args.send_ms:g} ms a batch of "
        f"{settings.batch_size}; queue {settings.queue_size:,}, "
        f"spool cap {settings.spool_max_bytes >> 20} MiB"
    )
    print(
        f"{'sink':<14} {'dropped':>8} {'spooled':>8} {'sent':>8} {'replayed':>9} {'delivered':>10} "
        f"{'in order':>9} {'drain s':>8} {'spool peak':>11}"
    )
    outcomes = {}
    for name, spill in (("spilling", True), ("queue only", False)):
        with tempfile.TemporaryDirectory(prefix="tokenomy-bench-sink-") as folder:
            found = run(args.events, args.rate, args.send_ms / 1000, spill=spill, folder=Path(folder))
        outcomes[name] = found
        print(
            f"{name:<14} {found.dropped:>8,} {found.spooled:>8,} {found.sent:>8,} {found.replayed:>9,} "
            f"{found.taken:>10,} {found.in_order!s:>9} {found.drain_seconds:>8.2f} "
            f"{found.spool_peak_bytes / 2**20:>8.1f} MiB"
        )
    shipped = outcomes["spilling"]
    ok = shipped.dropped == 0 and shipped.in_order and shipped.taken == shipped.submitted
    print(f"spilling sink: {'nothing dropped, every call delivered once, in order' if ok else 'EVENTS LOST'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
