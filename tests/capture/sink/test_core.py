"""The sink: ordering, spool and replay, the caps, flush and shutdown, and never raising."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.capture.support import MemoryTarget, call, sink_with
from tokenomy.capture.records import Record
from tokenomy.capture.sink import target as sink_target
from tokenomy.schema import Call, Charge


def _ids(count: int, start: int = 0) -> list[str]:
    return [f"c{i:05d}" for i in range(start, start + count)]


def test_events_reach_the_target_in_the_order_they_were_submitted() -> None:
    target = MemoryTarget()
    sink = sink_with(target, batch_size=64)
    accepted = [sink.submit(call(i)) for i in range(1000)]
    assert all(accepted)
    assert sink.flush() is True
    assert target.ids == _ids(1000)
    assert max(len(b) for b in target.batches) == 64
    stats = sink.stats()
    assert (stats.enqueued, stats.sent, stats.spooled, stats.dropped, stats.errors) == (1000, 1000, 0, 0, 0)


def test_a_down_target_sends_batches_to_the_spool_and_they_are_replayed_once(tmp_path: Path) -> None:
    target = MemoryTarget()
    target.down = True
    sink = sink_with(target, tmp_path / "spool", batch_size=50)
    for i in range(300):
        sink.submit(call(i))
    assert sink.flush() is False
    stats = sink.stats()
    assert (stats.spooled, stats.sent, stats.dropped) == (300, 0, 0)
    files = sorted((tmp_path / "spool").glob("*.ndjson"))
    assert stats.spool_files == len(files) >= 6  # at least 300 / 50 batches (more if a cycle ran mid-way)
    assert stats.spool_bytes == sum(f.stat().st_size for f in files)
    assert stats.errors >= 1
    target.down = False
    assert sink.flush() is True
    assert target.ids == _ids(300)
    stats = sink.stats()
    assert (stats.replayed, stats.spool_files, stats.spool_bytes) == (300, 0, 0)


def test_new_events_wait_behind_the_spool_so_the_order_holds(tmp_path: Path) -> None:
    target = MemoryTarget()
    target.down = True
    sink = sink_with(target, tmp_path / "spool", batch_size=20)
    for i in range(40):
        sink.submit(call(i))
    assert sink.flush() is False
    target.down = False
    for i in range(40, 90):
        sink.submit(call(i))
    assert sink.flush() is True
    assert target.ids == _ids(90)
    assert sink.stats().replayed == 40
    assert sink.stats().sent == 50


def test_when_the_spool_is_full_one_batch_is_held_then_the_queue_fills_then_events_drop(
    tmp_path: Path,
) -> None:
    target = MemoryTarget()
    target.down = True
    one_batch = len(_encoded(10))
    sink = sink_with(target, tmp_path / "spool", spool_bytes=one_batch + 100, batch_size=10, queue_size=50)
    submitted = 400
    accepted = [f"c{i:05d}" for i in range(submitted) if sink.submit(call(i))]
    assert sink.flush() is False
    stats = sink.stats()
    assert stats.dropped > 0
    assert stats.dropped == submitted - stats.enqueued
    assert (stats.spooled, stats.held) == (10, 10)
    assert stats.enqueued == stats.spooled + stats.held + stats.queued
    target.down = False
    assert sink.flush() is True
    assert target.ids == accepted  # every accepted event once, in order; the dropped ones never
    assert len(accepted) == stats.enqueued
    assert sink.stats().dropped == stats.dropped


def test_a_flush_after_events_were_dropped_on_a_full_queue_says_false_once() -> None:
    """Drops at submit happen before the flush's own cycle: they still make its answer False (the
    events never reach the target), and the next flush, with nothing lost since, is True."""
    target = MemoryTarget()
    sink = sink_with(target, batch_size=10, queue_size=5, flush_interval=60)
    accepted = [sink.submit(call(i)) for i in range(10)]
    assert accepted == [True] * 5 + [False] * 5
    assert sink.flush(10) is False
    assert (sink.stats().sent, sink.stats().dropped) == (5, 5)
    assert sink.flush(10) is True
    sink.submit(call(99))
    assert sink.flush(10) is True
    assert target.ids == [*_ids(5), "c00099"]
    sink.shutdown(10)


def test_without_a_spool_one_batch_is_held_in_memory_and_sent_when_the_target_is_back() -> None:
    target = MemoryTarget()
    target.down = True
    sink = sink_with(target, batch_size=25, queue_size=100)
    for i in range(60):
        sink.submit(call(i))
    assert sink.flush() is False
    assert sink.stats().held == 25
    target.down = False
    assert sink.flush() is True
    assert target.ids == _ids(60)
    assert sink.stats().dropped == 0


@pytest.mark.parametrize("spooled", [True, False])
def test_the_log_says_where_a_failed_batch_waits(
    spooled: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It said "kept in the spool" for a sink without a spool too, whose batch waits in memory and
    whose later events are dropped once the queue is full."""
    target = MemoryTarget()
    target.down = True
    sink = sink_with(target, tmp_path / "spool" if spooled else None)
    with caplog.at_level("WARNING", logger="tokenomy.capture"):
        sink.submit(call(1))
        assert sink.flush(5) is False
    sink.shutdown(0)
    (message,) = [r.getMessage() for r in caplog.records if "memory target is down" in r.getMessage()]
    if spooled:
        assert message == "tokenomy capture: memory target is down; batches are kept in the spool and retried"
    else:
        assert message == (
            "tokenomy capture: memory target is down; no spool: one batch is held in memory and retried, "
            "and once the queue is full new events are dropped"
        )


class _Slow(MemoryTarget):
    """Each send waits for the test's go-ahead: the test decides what arrives during a send."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.go = threading.Semaphore(0)

    def send(self, records: Sequence[Record]) -> None:
        self.entered.release()
        assert self.go.acquire(timeout=60), "the test never let this send finish"
        super().send(records)


def test_a_slow_target_gets_the_waiting_events_through_the_spool_instead_of_dropping_them(
    tmp_path: Path,
) -> None:
    """Half the queue arriving during one send means the target is slower than the application."""
    target = _Slow()
    sink = sink_with(target, tmp_path / "spool", batch_size=10, queue_size=40, flush_interval=60.0)
    assert all(sink.submit(call(i)) for i in range(10))  # a full batch wakes the sink: send 1 starts
    assert target.entered.acquire(timeout=60)
    assert all(sink.submit(call(i)) for i in range(10, 40))  # the queue is full while send 1 runs
    target.go.release()  # send 1 ends: the 30 waiting are spilled, then replayed: send 2 starts
    assert target.entered.acquire(timeout=60)
    stats = sink.stats()
    assert (stats.sent, stats.spooled, stats.queued, stats.dropped) == (10, 30, 0, 0)
    accepted = [sink.submit(call(i)) for i in range(40, 80)]  # 40 more fit: nothing is dropped
    assert all(accepted)
    target.go.release(1000)
    assert sink.flush() is True
    assert target.ids == _ids(80)  # each once, in the order submitted
    stats = sink.stats()
    # the 40 arrived while the first spool file was replayed, so they followed the 30 into the spool
    assert (stats.sent, stats.spooled, stats.replayed, stats.dropped, stats.spool_files) == (10, 70, 70, 0, 0)
    sink.shutdown()


def test_a_target_that_raises_never_reaches_the_caller_and_its_batch_is_set_aside(tmp_path: Path) -> None:
    class Broken(MemoryTarget):
        def send(self, records: object) -> None:
            raise RuntimeError("a bug in the target")

    target = Broken()
    sink = sink_with(target, tmp_path / "spool")
    assert sink.submit(call(1)) is True
    assert sink.flush() is False
    stats = sink.stats()
    assert (stats.rejected, stats.sent, stats.dropped) == (1, 0, 0)
    assert stats.errors == 1
    assert len(list((tmp_path / "spool").glob("*.bad"))) == 1


class _Strict(MemoryTarget):
    """Writes text as UTF-8, as the DuckDB (Arrow) and OTLP (protobuf) targets do: refusing a lone
    surrogate with a UnicodeEncodeError, or (``plain``) a ValueError, as pure-Python protobuf does."""

    def __init__(self, *, plain: bool = False) -> None:
        super().__init__()
        self.plain = plain

    def send(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, Charge):
                try:
                    (record.description or "").encode("utf-8")
                except UnicodeEncodeError:
                    if self.plain:
                        raise ValueError(f"{record.description!r} isn't a valid unicode string") from None
                    raise
        super().send(records)


@pytest.mark.parametrize("plain", [False, True])
def test_a_lone_surrogate_in_one_record_loses_nothing_and_is_not_logged(
    plain: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One description cut in the middle of an emoji made every record of its batch refused (and
    the log line held the whole batch); with the target down, the batch could not be spooled."""
    target = _Strict(plain=plain)
    target.down = True
    sink = sink_with(target, tmp_path / "spool")
    cut = Charge(
        id="cut", amount=Decimal("0.01"), kind="tool", at=datetime(2026, 1, 1), description="x\ud800y"
    )
    with caplog.at_level("WARNING", logger="tokenomy.capture"):
        sink.submit(call(1))
        sink.submit(cut)
        assert sink.flush(5) is False
        assert (sink.stats().spooled, sink.stats().rejected) == (2, 0)
        target.down = False
        sink.submit(call(2))
        sink.submit(dataclasses.replace(cut, id="cut-2"))
        assert sink.flush() is True
    stats = sink.stats()
    assert (stats.sent + stats.replayed, stats.rejected, stats.dropped) == (4, 0, 0)
    assert target.ids == ["c00001", "cut", "c00002", "cut-2"]
    assert {r.description for r in target.records if isinstance(r, Charge)} == {"x\ufffdy"}
    assert not list((tmp_path / "spool").glob("*.bad"))
    assert all("x\\ud800y" not in r.getMessage() and "c00001" not in r.getMessage() for r in caplog.records)


def test_a_target_error_is_logged_by_its_type_and_message_not_its_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(MemoryTarget):
        def send(self, records: object) -> None:
            raise UnicodeDecodeError("utf-8", b"secret prompt text " * 50, 3, 4, "invalid start byte")

    sink = sink_with(Broken())
    with caplog.at_level("WARNING", logger="tokenomy.capture"):
        sink.submit(call(1))
        assert sink.flush() is False
    (message,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "UnicodeDecodeError: 'utf-8' codec can't decode byte" in message
    assert "secret prompt text" not in message


def test_a_refused_batch_is_not_retried(tmp_path: Path) -> None:
    target = MemoryTarget()
    target.refuse = True
    sink = sink_with(target, tmp_path / "spool")
    for i in range(5):
        sink.submit(call(i))
    assert sink.flush() is False
    target.refuse = False
    sink.submit(call(5))
    assert sink.flush() is True
    assert target.ids == ["c00005"]
    assert sink.stats().rejected == 5
    assert sink.stats().spool_files == 0


def test_a_flush_says_false_for_a_batch_refused_before_it_was_asked() -> None:
    """A batch the sink's thread sent, and the target refused, on its own schedule (before the
    application's flush) was not counted against that flush: it answered True, everything
    delivered, though the batch never reached the target."""
    target = MemoryTarget()
    target.refuse = True
    sink = sink_with(target, flush_interval=0.01)
    for i in range(3):
        sink.submit(call(i))  # the first starts the sink's thread
    deadline = time.monotonic() + 30
    while sink.stats().rejected < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.stats().rejected == 3  # refused in the background, no flush asked yet
    assert sink.flush(10) is False
    target.refuse = False
    sink.submit(call(3))
    assert sink.flush(10) is True  # the loss was reported once; what came after was delivered
    assert target.ids == ["c00003"]
    sink.shutdown(5)


def test_a_capture_that_cannot_be_built_is_dropped_and_counted_alone() -> None:
    class Broken:
        def build(self) -> Record:
            raise ValueError("cannot read this response")

    target = MemoryTarget()
    sink = sink_with(target)
    sink.submit(call(1))
    sink.submit(Broken())
    sink.submit(call(2))
    assert sink.flush() is False
    assert target.ids == ["c00001", "c00002"]
    stats = sink.stats()
    assert (stats.dropped, stats.errors, stats.sent) == (1, 1, 2)


def test_submit_never_waits_for_a_stuck_target() -> None:
    target = MemoryTarget()
    target.gate = threading.Event()  # the target hangs until the gate opens
    sink = sink_with(target, batch_size=5, queue_size=10)
    accepted = [f"c{i:05d}" for i in range(100) if sink.submit(call(i))]
    stats = sink.stats()
    assert len(accepted) == stats.enqueued
    assert stats.dropped == 100 - stats.enqueued
    assert 10 <= stats.enqueued <= 15  # the queue, plus at most the batch the target is stuck on
    assert sink.flush(timeout=0.05) is False
    target.gate.set()
    # False when the timed-out flush's own cycle had not yet answered the drops, else True: the
    # drops make one answer False (test_a_flush_after_events_were_dropped_on_a_full_queue_says_false_once)
    sink.flush()
    assert target.ids == accepted
    assert sink.flush() is True  # nothing lost since the last answer


def test_shutdown_saves_what_a_down_target_did_not_take_and_later_events_are_dropped(tmp_path: Path) -> None:
    target = MemoryTarget()
    target.down = True
    sink = sink_with(target, tmp_path / "spool", batch_size=10, flush_interval=30)
    sink.submit(call(0))
    assert sink.flush() is False  # the target is now known to be down (retry is backing off)
    for i in range(1, 25):
        sink.submit(call(i))
    sink.shutdown(timeout=10)
    stats = sink.stats()
    assert stats.spooled == 25
    assert target.closed is True
    assert sink.submit(call(99)) is False
    assert sink.stats().dropped == 1
    replay = MemoryTarget()
    later = sink_with(replay, tmp_path / "spool")
    later.submit(call(100))
    assert later.flush() is True
    assert replay.ids == [*_ids(25), "c00100"]


def test_shutdown_delivers_everything_to_a_working_target() -> None:
    target = MemoryTarget()
    sink = sink_with(target, flush_interval=30)
    for i in range(30):
        sink.submit(call(i))
    sink.shutdown(timeout=10)
    assert target.ids == _ids(30)
    assert target.closed is True
    assert sink.flush() is True


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``condition`` every millisecond for ``seconds`` at most; whether it came true."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _replayed(spool: Path) -> list[str]:
    """The call ids a new sink over a working target replays from ``spool`` (each once, in order)."""
    replay = MemoryTarget()
    later = sink_with(replay, spool)
    assert later.flush() is True
    assert later.stats().spool_files == 0
    later.shutdown()
    return replay.ids


@pytest.mark.parametrize("answer", ["delivered", "failed"])
def test_a_shutdown_whose_time_runs_out_mid_send_saves_that_batch_and_the_queue_to_the_spool(
    tmp_path: Path, answer: str
) -> None:
    """A target that keeps a batch (a collector that never answers) cannot keep the shutdown, nor
    those events: the shutting-down thread spools them, the thread finds its batch taken when the
    call ends, however it ends, and neither spools it again nor counts it sent."""
    target = _Slow()
    sink = sink_with(target, tmp_path / "spool", batch_size=10, flush_interval=60.0)
    assert all(sink.submit(call(i)) for i in range(10))  # a full batch: the send starts and stays
    assert target.entered.acquire(timeout=60)
    assert all(sink.submit(call(i)) for i in range(10, 15))  # queued behind it
    started = time.monotonic()
    sink.shutdown(timeout=0.4)
    assert time.monotonic() - started < 2.0  # 0.4 s, with room for a loaded machine
    stats = sink.stats()
    assert (stats.spooled, stats.sent, stats.dropped, stats.queued, stats.held) == (15, 0, 0, 0, 0)
    assert (stats.spool_files, stats.errors) == (2, 0)  # a file a batch (10): the one in flight, the queue
    closed_at_shutdown = target.closed  # no: the sink's thread is still using it
    target.down = answer == "failed"
    target.go.release()  # the call ends, long after the shutdown
    assert sink._thread is not None
    sink._thread.join(30)
    assert not sink._thread.is_alive()
    assert (closed_at_shutdown, target.closed) == (False, True)  # closed by its last user, the sink's thread
    assert len(target.batches) == (1 if answer == "delivered" else 0)
    assert sink.stats() == stats  # counted once: spooled, not sent, not spooled again, no error
    assert _replayed(tmp_path / "spool") == _ids(15)


def test_a_spool_file_whose_replay_hangs_at_shutdown_is_handed_back_to_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    down = MemoryTarget()
    down.down = True
    earlier = sink_with(down, spool, batch_size=5)
    for i in range(5):
        earlier.submit(call(i))
    earlier.shutdown(timeout=10)
    assert earlier.stats().spooled == 5
    target = _Slow()
    sink = sink_with(target, spool, batch_size=5, flush_interval=60.0)
    assert all(sink.submit(call(i)) for i in range(5, 10))  # the replay of 0-4 comes first, and hangs
    assert target.entered.acquire(timeout=60)
    assert [p.name.rpartition(".claimed-")[0] != "" for p in spool.iterdir()] == [True]
    sink.shutdown(timeout=0.4)
    stats = sink.stats()
    assert (stats.spooled, stats.replayed, stats.sent, stats.dropped, stats.spool_files) == (5, 0, 0, 0, 2)
    assert sorted(p.suffix for p in spool.iterdir()) == [".ndjson", ".ndjson"]  # none left claimed
    target.go.release()
    assert sink._thread is not None
    sink._thread.join(30)
    assert sorted(p.suffix for p in spool.iterdir()) == [
        ".ndjson",
        ".ndjson",
    ]  # the late answer changes nothing
    assert _replayed(spool) == _ids(10)


class _Gated:
    """A capture whose building waits (bounded) until ``ready()``: the test decides when it ends."""

    def __init__(self, number: int, ready: Callable[[], bool]) -> None:
        self.number, self.ready = number, ready

    def build(self) -> Record:
        assert _wait_for(self.ready), "the test never let this capture be built"
        return call(self.number)


@pytest.mark.parametrize("done", ["in time", "late"])
def test_a_sink_thread_busy_building_at_shutdown_stops_at_its_next_step_and_nothing_is_lost(
    tmp_path: Path, done: str
) -> None:
    """Not inside the target, the thread is only doing its own bounded work (building, writing the
    spool): told to stop, it leaves its batch to the shutdown at its next step; when that comes after
    the shutdown has given up waiting, the thread saves the batch itself."""
    target = MemoryTarget()
    sink = sink_with(target, tmp_path / "spool", batch_size=5, flush_interval=60.0)
    ready = (lambda: sink._retired) if done == "in time" else (lambda: sink._abandoned)
    sink.submit(call(0))
    sink.submit(_Gated(1, ready))
    for i in range(2, 5):
        sink.submit(call(i))  # a full batch: the thread builds it, and waits on number 1
    for i in range(5, 8):
        sink.submit(call(i))  # queued
    assert _wait_for(lambda: sink.stats().queued == 3)
    started = time.monotonic()
    sink.shutdown(timeout=0.4)
    assert time.monotonic() - started < 2.0
    assert sink._thread is not None
    sink._thread.join(30)
    assert not sink._thread.is_alive()
    stats = sink.stats()
    assert (stats.spooled, stats.sent, stats.dropped, stats.errors) == (8, 0, 0, 0)
    assert stats.spool_files == 2  # a file a batch (5): the thread's own, then the queue's
    assert (target.attempts, target.closed) == (0, True)
    # in order, but for a thread still busy when the shutdown gave up: its batch follows the queue then
    assert _replayed(tmp_path / "spool") == (_ids(8) if done == "in time" else [*_ids(3, 5), *_ids(5)])


def test_flush_with_nothing_submitted_is_immediate_and_true() -> None:
    target = MemoryTarget()
    sink = sink_with(target)
    assert sink.flush() is True
    assert target.attempts == 0


def _encoded(count: int) -> bytes:
    from tokenomy.capture.records import encode

    calls: list[Call] = [call(i) for i in range(count)]
    return encode(calls)


def test_paced_work_hands_the_gil_over_between_items_once_the_interval_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("tokenomy.capture.sink.target.time.sleep", slept.append)
    assert list(sink_target.paced(range(5), interval=0.0)) == [0, 1, 2, 3, 4]
    assert slept == [0, 0, 0, 0, 0]  # after every item: each one took longer than no time at all
    slept.clear()
    assert list(sink_target.paced(range(5), interval=3600.0)) == [0, 1, 2, 3, 4]
    assert slept == []  # never within an hour
    assert sink_target.HAND_OVER < 0.005  # finer than the interpreter's own switch interval


@pytest.mark.parametrize(("queued", "handed_over"), [(9, 9), (10, 0), (30, 0)])
def test_a_sink_that_falls_behind_stops_handing_the_gil_over_until_it_has_caught_up(
    monkeypatch: pytest.MonkeyPatch, queued: int, handed_over: int
) -> None:
    """A quarter of the queue waiting (10 of 40) means a busy application is starving the sink."""
    target = MemoryTarget()
    sink = sink_with(target, queue_size=40, batch_size=100, flush_interval=60.0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds == 0 and sink._thread is not None and threading.get_ident() == sink._thread.ident:
            slept.append(seconds)

    monkeypatch.setattr(sink_target, "HAND_OVER", 0.0)  # hand over after every record while pacing
    monkeypatch.setattr("tokenomy.capture.sink.target.time.sleep", sleep)
    assert all(sink.submit(call(i)) for i in range(queued))
    assert sink.flush() is True
    assert (target.ids, len(slept)) == (_ids(queued), handed_over)
    slept.clear()
    assert all(sink.submit(call(i)) for i in range(queued, queued + 3))
    assert sink.flush() is True
    assert (target.ids, len(slept)) == (_ids(queued + 3), 3)  # caught up: pacing again
    sink.shutdown()


class _Spinning:
    """A capture whose building costs ``spins`` turns of a Python loop (holding the GIL throughout)."""

    def __init__(self, number: int, spins: int) -> None:
        self.number, self.spins = number, spins

    def build(self) -> Record:
        total = 0
        for turn in range(self.spins):
            total += turn
        return call(self.number, request_model=f"m{total % 7}")


def test_a_caller_that_never_waits_cannot_starve_the_sink_into_dropping_events() -> None:
    """The caller's thread computes between submissions and never sleeps or reads a socket, so it
    takes the GIL straight back at every hand-over: a sink that kept handing over would get the GIL
    only at the interpreter's switch interval (about 0.2 ms in every 5), build fewer records than
    are submitted although one builds in a fraction of the caller's time per submission, fill its
    queue and drop events (about 1,500 of these 4,000 with the backlog rule switched off). Once a
    quarter of the queue waits it stops handing over, catches up, and loses nothing (the queue peaks
    at about a third of its size, leaving room for the sink's thread to be scheduled late)."""
    target = MemoryTarget()
    sink = sink_with(target, queue_size=2000, batch_size=16, flush_interval=0.01)
    accepted = 0
    for number in range(4000):
        total = 0
        for turn in range(4000):  # the caller's own work: several times the building of one record
            total += turn
        accepted += sink.submit(_Spinning(number, 500))
    assert sink.flush() is True
    stats = sink.stats()
    assert (accepted, stats.dropped, stats.sent, stats.errors) == (4000, 0, 4000, 0)
    assert target.ids == _ids(4000)
    sink.shutdown()


def test_a_shutdown_with_no_time_keeps_its_queue_and_flush_says_what_was_not_delivered(
    tmp_path: Path,
) -> None:
    """``shutdown(0)``: the shutdown takes over at once, and still builds one batch and spools it
    (before, it counted the whole queue as dropped); a flush afterwards is True only when the target
    had everything."""
    target = MemoryTarget()
    sink = sink_with(target, tmp_path / "spool", batch_size=512, flush_interval=60.0)
    for i in range(50):
        sink.submit(call(i))
    sink.shutdown(0)
    assert sink._thread is not None
    sink._thread.join(30)
    stats = sink.stats()
    assert (stats.sent + stats.spooled, stats.dropped, stats.errors) == (50, 0, 0)
    assert sink.flush(1) is (stats.spooled == 0)


def test_a_flush_replays_the_batch_a_killed_worker_had_claimed(tmp_path: Path) -> None:
    """Its flush said True while the batch a forked worker was replaying when killed sat unsent."""
    from tests.capture.sink.test_spool import _dead_pid
    from tokenomy.capture.records import encode

    target = MemoryTarget()
    sink = sink_with(target, tmp_path / "spool")
    sink.submit(call(1))
    assert sink.flush() is True
    (tmp_path / "spool").mkdir(exist_ok=True)
    left = tmp_path / "spool" / f"00000000000000000001-00000002-00000000.ndjson.claimed-{_dead_pid()}-7"
    left.write_bytes(encode([call(2), call(3)]))
    assert sink.flush() is True
    assert target.ids == ["c00001", "c00002", "c00003"]
    assert not left.exists()
