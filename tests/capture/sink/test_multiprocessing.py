"""Children of ``multiprocessing`` keep what they recorded: they end with ``os._exit`` (no atexit),
and a ``Pool``'s ``with`` block ends its workers by SIGTERM; both now shut the sinks down first."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.capture.support import call, run_python
from tokenomy.capture import runtime
from tokenomy.capture.records import encode
from tokenomy.capture.sink import targets
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

_SCRIPT = """
import multiprocessing, os, signal, sys, time
import tokenomy

db, how, method = sys.argv[1], sys.argv[2], sys.argv[3]
tokenomy.configure("duckdb:" + db, spool_dir=os.path.join(os.path.dirname(db), "spool"))


def work(i):
    tokenomy.charge("0.01", "search_api", session="s", feature=f"task-{i}")
    return i


def own_handler(signum, frame):
    raise SystemExit(0)


def keeps_inherited_handler():
    tokenomy.charge("0.01", "search_api", session="s", feature="own")
    sys.exit(0 if signal.getsignal(signal.SIGTERM) is own_handler else 1)


def stuck_at_exit(queue):
    tokenomy.charge("0.01", "search_api", session="s", feature="stuck")
    queue.put(b"x" * 1_000_000)  # nobody reads it: the child's exit waits on its feeder thread


if __name__ == "__main__":
    multiprocessing.set_start_method(method)
    if how == "close-join":
        pool = multiprocessing.Pool(2)
        pool.map(work, range(40))
        pool.close()
        pool.join()
    elif how == "with":  # the block's exit calls terminate(): SIGTERM to each worker
        with multiprocessing.Pool(2) as pool:
            pool.map(work, range(40))
    elif how == "executor":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(2) as executor:
            list(executor.map(work, range(40)))
    elif how == "process":
        children = [multiprocessing.Process(target=work, args=(i,)) for i in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        print("exit codes", [child.exitcode for child in children])
    elif how == "own-handler":  # set before the child starts: the child inherits it
        signal.signal(signal.SIGTERM, own_handler)
        child = multiprocessing.Process(target=keeps_inherited_handler)
        child.start()
        child.join()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print("exit codes", [child.exitcode])
    elif how == "stuck":
        queue = multiprocessing.Queue()
        child = multiprocessing.Process(target=stuck_at_exit, args=(queue,))
        child.start()
        time.sleep(1.5)  # its target has returned; its exit waits for the queue to be read
        child.terminate()
        child.join(20)
        print("exit codes", [child.exitcode])
    tokenomy.shutdown(30)
"""


def _run(db: Path, how: str, method: str = "fork") -> str:
    script = db.parent / "work.py"  # a file: spawn and forkserver children import the main module again
    script.write_text(_SCRIPT, encoding="utf-8")
    return run_python(str(script), str(db), how, method).stdout


def _features(db: Path) -> list[str]:
    with open_store(db, read_only=True) as store:
        rows = store.connection.execute("SELECT feature FROM charges ORDER BY feature").fetchall()
    return [feature for (feature,) in rows]


@pytest.mark.parametrize(
    ("how", "method"),
    [
        ("close-join", "fork"),
        ("with", "fork"),
        ("with", "forkserver"),
        ("with", "spawn"),  # a spawn child runs no after-fork functions: configure() hooks it itself
        ("executor", "fork"),
    ],
)
def test_every_charge_of_a_pools_workers_is_stored(tmp_path: Path, how: str, method: str) -> None:
    db = tmp_path / "pool.duckdb"
    _run(db, how, method)
    assert _features(db) == sorted(f"task-{i}" for i in range(40))
    assert not list((tmp_path / "spool").rglob("*.ndjson"))  # replayed by the parent's shutdown


def test_processes_ending_with_os_exit_keep_their_charges(tmp_path: Path) -> None:
    db = tmp_path / "process.duckdb"
    assert "exit codes [0, 0, 0, 0]" in _run(db, "process")
    assert _features(db) == [f"task-{i}" for i in range(4)]


def test_a_child_keeps_the_sigterm_handler_it_inherits(tmp_path: Path) -> None:
    db = tmp_path / "own.duckdb"
    assert "exit codes [0]" in _run(db, "own-handler")  # 1: the handler was replaced
    assert _features(db) == ["own"]


def test_a_child_stuck_after_its_exits_shutdown_can_still_be_terminated(tmp_path: Path) -> None:
    db = tmp_path / "stuck.duckdb"
    assert f"exit codes [{-signal.SIGTERM}]" in _run(db, "stuck")  # [None]: ignored, still alive
    assert _features(db) == ["stuck"]


def _spooled(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool", 1 << 20)
    assert spool.write(encode([call(1), call(2)]))  # a forked child's batch, say
    return spool


def test_a_shutdown_with_nothing_recorded_replays_the_spool_when_asked(tmp_path: Path) -> None:
    spool = _spooled(tmp_path)
    db = tmp_path / "s.duckdb"
    sink = Sink(DuckDBTarget(db), SinkSettings(flush_interval=60), spool=spool)
    sink.shutdown(10, replay_spool=True)
    assert sink.stats().replayed == 2
    assert not spool.pending()
    with open_store(db, read_only=True) as store:
        assert sorted(c.id for c in store.iter_calls()) == ["c00001", "c00002"]


def test_a_shutdown_with_nothing_recorded_leaves_the_spool_by_default(tmp_path: Path) -> None:
    spool = _spooled(tmp_path)  # a sink replaced by configure(), a child's: they do not wait on the target
    sink = Sink(DuckDBTarget(tmp_path / "s.duckdb"), SinkSettings(flush_interval=60), spool=spool)
    sink.shutdown(10)
    assert sink.stats().replayed == 0
    assert spool.pending()


def test_only_the_process_that_started_the_work_replays_at_its_exit() -> None:
    state = runtime.Runtime()
    assert state._owns_spool()  # pytest's process: no multiprocessing parent
    state.after_fork()
    assert not state._owns_spool()  # a forked child (a server's worker) leaves the spool to its parent


def test_the_exit_shuts_the_sinks_down_once_per_process() -> None:
    shut: list[tuple[float | None, bool]] = []

    class Counted:
        settings = SinkSettings(exit_timeout=2.5)

        def shutdown(self, timeout: float | None = None, *, replay_spool: bool = False) -> None:
            shut.append((timeout, replay_spool))

    sink = Counted()
    state = runtime.Runtime()
    state._sinks.add(sink)  # type: ignore[arg-type]
    state._at_exit()
    state._at_exit()  # atexit after multiprocessing's finalizer, or a SIGTERM during the exit
    assert shut == [(2.5, True)]


def test_sigterm_during_the_exits_shutdown_ends_the_process_right_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: killed.append((pid, signum)))
    monkeypatch.setattr(runtime.RUNTIME, "_exited_in", os.getpid())
    runtime._shut_down_then_end(signal.SIGTERM, None)
    assert killed == []  # the shutdown under way goes on
    previous = signal.signal(signal.SIGTERM, runtime._shut_down_then_end)
    try:
        runtime.RUNTIME._exit_done()  # the shutdown returns
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # terminate() works again
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert killed == [(os.getpid(), signal.SIGTERM)]
    assert runtime.RUNTIME._pending_signal == 0


def test_sigterm_shuts_the_sinks_down_then_ends_by_the_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)

    def fake_exit() -> None:
        events.append(f"shutdown on {threading.current_thread().name}")

    monkeypatch.setattr(runtime.RUNTIME, "_exited_in", 0)
    monkeypatch.setattr(runtime.RUNTIME, "_at_exit", fake_exit)
    monkeypatch.setattr(os, "kill", lambda pid, signum: events.append(f"kill {signum}"))
    try:
        runtime._shut_down_then_end(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["shutdown on tokenomy-exit", f"kill {int(signal.SIGTERM)}"]


def test_a_childs_exit_leaves_its_store_open_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    class Store:
        path = Path("unused.duckdb")

        def close(self) -> None:
            closed.append(True)  # DuckDB's close, which crashed or hung such a child now and then

    target = DuckDBTarget(Path("unused.duckdb"))
    kept = Store()
    monkeypatch.setattr(targets, "_left_open", False)
    kept_for_life: list[object] = []
    monkeypatch.setattr(targets, "_keep_for_life", kept_for_life.append)
    targets.leave_stores_open()
    target._store = kept  # type: ignore[assignment]
    target.close()
    assert target._store is None
    assert closed == []
    assert kept_for_life == [kept]


def test_a_store_is_closed_outside_a_childs_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    class Store:
        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(targets, "_left_open", False)
    target = DuckDBTarget(Path("unused.duckdb"))
    target._store = Store()  # type: ignore[assignment]
    target.close()
    assert closed == [True]
