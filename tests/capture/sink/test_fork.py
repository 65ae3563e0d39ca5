"""A forked child gets a fresh queue and thread; the parent's pending events are not sent twice."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.capture.support import call, run_python
from tokenomy.capture.records import Record
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.schema import Call
from tokenomy.store import open_store

pytestmark = pytest.mark.integration


class FileTarget:
    """Appends ``<pid> <id>`` per record to a file, so two processes' deliveries can be told apart."""

    description = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.forks = 0

    def prepare(self, records: list[Record]) -> list[Record]:
        return records

    def send(self, records: Sequence[Record]) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            out.writelines(f"{os.getpid()} {r.id}\n" for r in records if isinstance(r, Call))

    def close(self) -> None:
        """Nothing to close."""

    def after_fork(self) -> None:
        self.forks += 1


def _child(sink: Sink, target: FileTarget) -> int:
    fresh = sink.stats().queued == 0 and sink.stats().enqueued == 0
    sink.submit(call(900))
    delivered = sink.flush(timeout=30)
    stats = sink.stats()
    ok = fresh and delivered and target.forks == 1 and stats.enqueued == 1 and stats.sent == 1
    return 0 if ok else 1


def test_fork_child_records_on_its_own_and_the_parent_is_unaffected(tmp_path: Path) -> None:
    out = tmp_path / "delivered.txt"
    target = FileTarget(out)
    sink = Sink(target, SinkSettings(flush_interval=60, batch_size=1000))
    for i in range(5):
        sink.submit(call(i))  # queued in the parent, its thread started and waiting
    assert sink.stats().queued == 5
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = _child(sink, target)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sink.stats().queued == 5  # the fork took nothing from the parent
    sink.submit(call(5))
    assert sink.flush(timeout=30) is True
    lines = [line.split() for line in out.read_text(encoding="utf-8").splitlines()]
    parent = [ident for who, ident in lines if int(who) == os.getpid()]
    child = [ident for who, ident in lines if int(who) == pid]
    assert parent == [f"c{i:05d}" for i in range(6)]
    assert child == ["c00900"]


def test_the_fork_check_on_each_call_asks_the_system_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FileTarget(tmp_path / "delivered.txt")
    sink = Sink(target, SinkSettings(flush_interval=60, batch_size=1000))

    def no_system_call() -> int:
        raise AssertionError("os.getpid() called on the caller's path")

    with monkeypatch.context() as patch:
        patch.setattr(os, "getpid", no_system_call)
        assert all(sink.submit(call(i)) for i in range(3))
        assert sink.stats().queued == 3
    assert target.forks == 0  # no fork seen: the sink was not started afresh
    assert sink.flush(timeout=30) is True
    sink.shutdown(10)
    assert len((tmp_path / "delivered.txt").read_text(encoding="utf-8").splitlines()) == 3


_FORK_WHILE_OPEN = """
import multiprocessing, os, sys
from pathlib import Path
from tests.capture.support import call
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.targets import DuckDBTarget
from tokenomy.config import Config
from tokenomy.errors import SinkError

target = DuckDBTarget(Path(sys.argv[1]))
RUNTIME.configure(Sink(target), config=Config())  # as tokenomy.configure() does: renewed at each fork
target.send(target.prepare([call(1)]))  # the file stays open from here on (keep_open)
untold = DuckDBTarget(Path(sys.argv[2]))  # in no sink: nothing tells it of the fork
untold.send(untold.prepare([call(4)]))
worker = multiprocessing.get_context("fork").Process(target=os.getpid)
worker.start()
worker.join(60)
print("worker", worker.exitcode, flush=True)
pid = os.fork()
if pid == 0:
    try:
        target.send(target.prepare([call(2)]))
        print("child wrote", flush=True)
    except SinkError as exc:
        print("child waits", exc.retryable, flush=True)
    sys.exit(0)  # the interpreter's own exit, which frees what is left
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
target.send(target.prepare([call(3)]))
target.close()
untold.close()
"""


def test_a_child_forked_while_the_store_is_open_neither_crashes_nor_writes_through_the_parents_copy(
    tmp_path: Path,
) -> None:
    db = tmp_path / "open.duckdb"
    done = run_python("-c", _FORK_WHILE_OPEN, str(db), str(tmp_path / "untold.duckdb"))
    assert done.stdout.splitlines() == ["worker 0", "child waits True", "child 0"], done.stderr
    with open_store(db, read_only=True) as store:
        assert sorted(c.id for c in store.iter_calls()) == ["c00001", "c00003"]
    with open_store(tmp_path / "untold.duckdb", read_only=True) as store:
        assert [c.id for c in store.iter_calls()] == ["c00004"]
