"""The disk spool: atomic batch files replayed oldest first, claims, the cap, crash leftovers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tokenomy.capture.sink import spool as spool_module
from tokenomy.capture.sink.spool import Spool


def _dead_pid() -> int:
    """A pid that no process has (the largest the kernel hands out, plus one)."""
    return (
        int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
        if Path("/proc/sys/kernel/pid_max").exists()
        else 2**22 + 1
    )


def test_batches_come_back_oldest_first_and_leave_when_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    for n in range(3):
        assert spool.write(f"batch {n}\n".encode()) is True
    assert spool.usage().files == 3
    seen = []
    while (claim := spool.claim()) is not None:
        seen.append(spool.read(claim))
        spool.done(claim)
    assert seen == [b"batch 0\n", b"batch 1\n", b"batch 2\n"]
    assert spool.usage().files == 0
    assert spool.pending() is False


def test_a_released_claim_is_replayed_again_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.write(b"first\n")
    spool.write(b"second\n")
    claim = spool.claim()
    assert claim is not None
    assert claim.path.name.endswith(f".claimed-{os.getpid()}")
    assert spool.pending() is True  # the second file still waits
    spool.release(claim)
    again = spool.claim()
    assert again is not None
    assert spool.read(again) == b"first\n"


def test_a_claimed_file_is_not_claimed_twice(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.write(b"only\n")
    other = Spool(tmp_path, 10_000)  # another process sharing the folder
    assert spool.claim() is not None
    assert other.claim() is None


def test_the_cap_refuses_a_batch_that_would_not_fit_and_counts_claimed_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 100)
    assert spool.write(b"x" * 60) is True
    assert spool.write(b"y" * 60) is False
    assert spool.claim() is not None  # claimed files still take room until they are done
    assert spool.write(b"z" * 50) is False
    assert spool.usage().bytes == 60
    assert sorted(p.name.startswith(".") for p in tmp_path.iterdir()) == [False]


def test_claims_and_temporaries_left_by_a_dead_process_are_recovered(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / f"00000000000000000001-{dead:08d}-00000000.ndjson.claimed-{dead}").write_bytes(b"orphan\n")
    (tmp_path / f".00000000000000000002-{dead:08d}-00000001.ndjson.tmp").write_bytes(b"half a bat")
    spool = Spool(tmp_path, 10_000)
    claim = spool.claim()
    assert claim is not None
    assert spool.read(claim) == b"orphan\n"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


HOLD: str = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(30)
"""
"""A process that holds a claim's lock, as a process replaying it does."""


@pytest.mark.skipif(sys.platform == "win32", reason="claims are judged by flock where there is one")
def test_a_claim_whose_lock_a_live_process_holds_is_kept_and_handed_back_once_it_is_gone(
    tmp_path: Path,
) -> None:
    """Its pid says nothing: another pid namespace (a container), or a pid given to a new process."""
    live = _claimed(tmp_path, "1")  # pid 1: alive here, and the first process of every container
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(live)], stdout=subprocess.PIPE, text=True
    ) as other:
        try:
            assert other.stdout is not None
            assert other.stdout.readline().strip() == "held"
            spool = Spool(tmp_path, 10_000)
            assert (spool.pending(), spool.claim(), live.exists()) == (False, None, True)
        finally:
            other.kill()
    other.wait()
    assert spool.pending() is True  # its process is gone: the lock went with it
    claim = spool.claim()
    assert claim is not None
    assert spool.read(claim) == b"claimed\n"


def _claimed(folder: Path, owner: str, data: bytes = b"claimed\n") -> Path:
    path = folder / f"00000000000000000001-00000001-00000000.ndjson.claimed-{owner}"
    path.write_bytes(data)
    return path


def test_a_claim_left_by_a_process_killed_later_is_handed_back_to_a_spool_already_running(
    tmp_path: Path,
) -> None:
    """A worker killed mid-replay left its claim; the long-lived process that had recovered the
    folder at its start never looked again, and its flush said everything was delivered."""
    spool = Spool(tmp_path, 10_000)
    assert spool.claim() is None  # the folder's leftovers were recovered once, at the start
    _claimed(tmp_path, f"{_dead_pid()}", b"orphan\n")
    assert spool.pending() is True
    claim = spool.claim()
    assert claim is not None
    assert spool.read(claim) == b"orphan\n"
    spool.done(claim)
    assert spool.pending() is False


def test_this_process_keeps_its_own_claim_and_a_stray_claim_name_is_harmless(tmp_path: Path) -> None:
    """A claim named by this process's own pid and not held (left by an earlier process given the
    same pid) is handed back; one this process holds is not waiting; a pid no system has stopped
    the sink's thread (os.kill raised OverflowError)."""
    earlier = _claimed(tmp_path, str(os.getpid()), b"the earlier run's\n")
    stray = tmp_path / "00000000000000000009-00000001-00000000.ndjson.claimed-4294967297"
    stray.write_bytes(b"stray\n")
    spool = Spool(tmp_path, 10_000)
    assert spool.pending() is True
    seen = []
    while (claim := spool.claim()) is not None:
        seen.append(spool.read(claim))
        assert spool.pending() is (len(seen) < 2)  # the claim this process holds is not waiting
        spool.done(claim)
    assert seen == [b"the earlier run's\n", b"stray\n"]
    assert not earlier.exists()


def test_an_unreadable_file_is_set_aside_and_no_longer_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.write(b"not json\n")
    claim = spool.claim()
    assert claim is not None
    bad = spool.quarantine(claim)
    assert bad.name.endswith(".ndjson.bad")
    assert bad.read_bytes() == b"not json\n"
    assert spool.usage().files == 0
    assert spool.claim() is None


def test_set_aside_batches_have_their_own_cap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 100)
    assert spool.set_aside(b"a" * 80) is True
    assert spool.set_aside(b"b" * 80) is False
    assert len(list(tmp_path.glob("*.bad"))) == 1
    assert spool.write(b"c" * 90) is True  # refused batches do not take the spool's room


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_folder_and_its_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which leaves new files readable by all
    try:
        spool = Spool(tmp_path / "spool" / "target", 10_000)
        assert spool.write(b'{"prompt": "secret"}\n') is True
        assert spool.set_aside(b'{"prompt": "refused"}\n') is True
    finally:
        os.umask(old)
    files = sorted(spool.directory.iterdir())
    assert [p.name.endswith((".ndjson", ".ndjson.bad")) for p in files] == [True, True]
    assert (_mode(spool.directory), [_mode(p) for p in files]) == (0o700, [0o600, 0o600])


def test_a_folder_left_open_by_an_earlier_version_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "target"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    old = folder / f"{1:020d}-{_dead_pid():08d}-{0:08d}.ndjson"
    old.write_bytes(b"{}\n")
    old.chmod(0o644)
    spool = Spool(folder, 10_000)
    claim = spool.claim()
    assert claim is not None
    assert _mode(claim.path) == 0o600
    spool.release(claim)
    assert spool.write(b"{}\n") is True
    assert _mode(folder) == 0o700


def test_only_the_spools_own_files_are_tightened(tmp_path: Path) -> None:
    """Files the spool did not write keep their mode (every file in the folder was made 0600)."""
    folder = tmp_path / "target"
    folder.mkdir(mode=0o700)
    batch = folder / f"{1:020d}-{_dead_pid():08d}-{0:08d}.ndjson"
    names = [batch.name, f"{2:020d}-{_dead_pid():08d}-{0:08d}.ndjson.bad", "notes.txt", "app.db"]
    for name in names:
        (folder / name).write_bytes(b"{}\n")
        (folder / name).chmod(0o644)
    spool = Spool(folder, 10_000)
    claim = spool.claim()
    assert claim is not None
    assert claim.original == batch
    spool.release(claim)
    assert {p.name: _mode(p) for p in folder.iterdir()} == {
        names[0]: 0o600,
        names[1]: 0o600,
        "notes.txt": 0o644,
        "app.db": 0o644,
    }


def test_another_users_folder_keeps_its_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    monkeypatch.setattr(spool_module, "_owned", lambda info: False)
    spool = Spool(folder, 10_000)
    assert spool.write(b"{}\n") is True
    assert _mode(folder) == 0o755
    assert [_mode(p) for p in folder.iterdir()] == [0o600]
