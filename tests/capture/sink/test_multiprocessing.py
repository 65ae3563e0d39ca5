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
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

_SCRIPT = """
import multiprocessing, os, signal, sys
import tokenomy

db, how = sys.argv[1], sys.argv[2]
tokenomy.configure("duckdb:" + db, spool_dir=os.path.join(os.path.dirname(db), "spool"))


def work(i):
    tokenomy.charge("0.01", "search_api", session="s", feature=f"task-{i}")
    return i


def own_handler(signum, frame):
    raise SystemExit(0)


def keeps_own_handler():
    signal.signal(signal.SIGTERM, own_handler)
    tokenomy.charge("0.01", "search_api", session="s", feature="own")
    assert signal.getsignal(signal.SIGTERM) is own_handler


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
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
    elif how == "own-handler":
        child = multiprocessing.Process(target=keeps_own_handler)
        child.start()
        child.join()
        print("exit codes", [child.exitcode])
    tokenomy.shutdown(30)
"""


def _features(db: Path) -> list[str]:
    with open_store(db, read_only=True) as store:
        rows = store.connection.execute("SELECT feature FROM charges ORDER BY feature").fetchall()
    return [feature for (feature,) in rows]


@pytest.mark.parametrize("how", ["close-join", "with", "executor"])
def test_every_charge_of_a_pools_workers_is_stored(tmp_path: Path, how: str) -> None:
    db = tmp_path / "pool.duckdb"
    run_python("-c", _SCRIPT, str(db), how)
    assert _features(db) == sorted(f"task-{i}" for i in range(40))
    assert not list((tmp_path / "spool").rglob("*.ndjson"))  # replayed by the parent's shutdown


def test_processes_ending_with_os_exit_keep_their_charges(tmp_path: Path) -> None:
    db = tmp_path / "process.duckdb"
    done = run_python("-c", _SCRIPT, str(db), "process")
    assert "exit codes [0, 0, 0, 0]" in done.stdout
    assert _features(db) == [f"task-{i}" for i in range(4)]


def test_a_childs_own_sigterm_handler_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "own.duckdb"
    done = run_python("-c", _SCRIPT, str(db), "own-handler")
    assert "exit codes [0]" in done.stdout, done.stderr  # its assertion held
    assert _features(db) == ["own"]


def test_a_shutdown_with_nothing_recorded_replays_what_waits_in_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    assert spool.write(encode([call(1), call(2)]))  # a forked child's batch, say
    db = tmp_path / "s.duckdb"
    sink = Sink(DuckDBTarget(db), SinkSettings(flush_interval=60), spool=spool)
    sink.shutdown(10)
    assert sink.stats().replayed == 2
    assert not spool.pending()
    with open_store(db, read_only=True) as store:
        assert sorted(c.id for c in store.iter_calls()) == ["c00001", "c00002"]


def test_the_exit_shuts_the_sinks_down_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    shut: list[float | None] = []

    class Counted:
        settings = SinkSettings(exit_timeout=2.5)

        def shutdown(self, timeout: float | None = None) -> None:
            shut.append(timeout)

    sink = Counted()
    state = runtime.Runtime()
    state._sinks.add(sink)  # type: ignore[arg-type]
    state._at_exit()
    state._at_exit()  # atexit after multiprocessing's finalizer, or a SIGTERM during the exit
    assert shut == [2.5]


def test_sigterm_during_the_exits_shutdown_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: killed.append((pid, signum)))
    monkeypatch.setattr(runtime.RUNTIME, "_exited_in", os.getpid())
    runtime._shut_down_then_end(signal.SIGTERM, None)
    assert killed == []  # the exit under way ends the process itself


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
