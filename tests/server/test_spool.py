"""The spool keeps frames in order across segments, survives a torn tail, quarantines damage, and is
the owner's only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tokenomy.server import spool as spool_module
from tokenomy.server.spool import Frame, Spool, read_segment


def test_frames_come_back_in_order_and_segments_are_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([Frame(b"E", b"one"), Frame(b"P", b"two")])
    spool.append([Frame(b"N", b"three")])
    assert spool.pending()
    seen: list[Frame] = []
    assert spool.replay(seen.extend) == 3
    assert [f.body for f in seen] == [b"one", b"two", b"three"]
    assert [f.kind for f in seen] == [b"E", b"P", b"N"]
    assert not spool.pending()
    assert spool.replay(seen.extend) == 0


def test_a_new_segment_starts_past_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 100)
    spool = Spool(tmp_path)
    for i in range(5):
        spool.append([Frame(b"E", bytes([65 + i]) * 60)])
    assert len(spool.segments()) == 5
    seen: list[bytes] = []
    while spool.replay(lambda frames: seen.extend(f.body[:1] for f in frames)):
        pass
    assert seen == [b"A", b"B", b"C", b"D", b"E"]


def test_a_failed_replay_keeps_the_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([Frame(b"E", b"keep me")])

    def refuse(frames: list[Frame]) -> None:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        spool.replay(refuse)
    assert spool.pending()
    seen: list[Frame] = []
    spool.replay(seen.extend)
    assert [f.body for f in seen] == [b"keep me"]


def test_a_torn_last_frame_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([Frame(b"E", b"complete"), Frame(b"E", b"torn frame")])
    segment = spool.segments()[0]
    segment.write_bytes(segment.read_bytes()[:-4])  # a crash in the middle of writing
    frames, problem = read_segment(segment)
    assert problem is None
    assert [f.body for f in frames] == [b"complete"]


def test_a_damaged_segment_is_quarantined_after_its_good_frames(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([Frame(b"E", b"good"), Frame(b"E", b"flipped")])
    segment = spool.segments()[0]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    seen: list[Frame] = []
    assert spool.replay(seen.extend) == 1
    assert [f.body for f in seen] == [b"good"]
    assert not spool.pending()
    note = (tmp_path / "bad" / (segment.name + ".txt")).read_text()
    assert "checksum" in note
    assert (tmp_path / "bad" / segment.name).exists()


def test_a_spool_that_cannot_be_created_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from tokenomy.errors import StoreError

    with pytest.raises(StoreError, match="cannot create the spool folder"):
        Spool(blocker / "spool")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_spool_and_its_damaged_segments_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which leaves new files readable by all
    try:
        spool = Spool(tmp_path / "spool")
        spool.append([Frame(b"R", b"good"), Frame(b"R", b"flipped")])
        segment = spool.segments()[0]
        assert (_mode(spool.folder), _mode(segment)) == (0o700, 0o600)
        data = bytearray(segment.read_bytes())
        data[-1] ^= 0xFF
        segment.write_bytes(bytes(data))
        assert spool.replay(lambda frames: None) == 1
    finally:
        os.umask(old)
    bad = spool.folder / "bad"
    assert _mode(bad) == 0o700
    assert sorted((p.name, _mode(p)) for p in bad.iterdir()) == [
        (segment.name, 0o600),
        (segment.name + ".txt", 0o600),
    ]


def test_a_spool_left_open_by_an_earlier_version_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    (folder / "bad").mkdir(parents=True)
    for path in (folder / "000000000001.spool", folder / "bad" / "000000000000.spool"):
        path.write_bytes(b"old body")
        path.chmod(0o644)
    folder.chmod(0o755)
    (folder / "bad").chmod(0o755)
    Spool(folder)
    modes = {p.relative_to(folder).as_posix(): _mode(p) for p in [folder, *folder.rglob("*")]}
    assert modes == {
        ".": 0o700,
        "bad": 0o700,
        "000000000001.spool": 0o600,
        "bad/000000000000.spool": 0o600,
    }


def test_only_the_spools_own_files_are_tightened(tmp_path: Path) -> None:
    """``--spool data`` with the database in it: the database keeps its mode (it was made 0600)."""
    folder = tmp_path / "data"
    (folder / "bad").mkdir(parents=True)
    outside = tmp_path / "elsewhere.txt"
    for path in (
        folder / "t.duckdb",
        folder / "README",
        folder / "000000000001.spool",
        folder / "bad" / "000000000001.spool",
        folder / "bad" / "000000000001.spool.txt",
        outside,
    ):
        path.write_bytes(b"x")
        path.chmod(0o644)
    (folder / "000000000002.spool").symlink_to(outside)  # never followed
    (folder / "sub").mkdir(mode=0o755)
    folder.chmod(0o755)
    Spool(folder)
    modes = {p.relative_to(tmp_path).as_posix(): _mode(p) for p in [folder, *tmp_path.rglob("*")]}
    assert {k: v for k, v in modes.items() if not k.endswith("000000000002.spool")} == {
        "data": 0o700,  # ours, and others could enter it
        "data/t.duckdb": 0o644,
        "data/README": 0o644,
        "data/sub": 0o755,
        "data/000000000001.spool": 0o600,
        "data/bad": 0o700,
        "data/bad/000000000001.spool": 0o600,
        "data/bad/000000000001.spool.txt": 0o600,
        "elsewhere.txt": 0o644,
    }


def test_a_new_spool_folder_is_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        spool = Spool(tmp_path / "a" / "spool")
    finally:
        os.umask(old)
    assert _mode(spool.folder) == 0o700


def test_another_users_spool_folder_is_used_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A volume mounted by another user: the server starts (it refused to), the folder keeps its mode."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "theirs.txt").write_text("x")
    monkeypatch.setattr(spool_module, "_owned", lambda info: False)
    spool = Spool(folder)
    assert _mode(folder) == 0o755
    assert "open to other users" in caplog.text
    assert "another user owns it" in caplog.text
    spool.append([Frame(b"R", b"rows")])
    assert _mode(spool.segments()[0]) == 0o600


def test_a_mode_that_cannot_be_changed_is_logged_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / "000000000001.spool").write_bytes(b"")
    (folder / "000000000001.spool").chmod(0o644)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "chmod", refuse)
    spool = Spool(folder)  # raised StoreError before: the server did not start
    assert "cannot be made owner-only" in caplog.text
    assert spool.pending()


def test_a_quarantined_segment_never_replaces_an_earlier_one(tmp_path: Path) -> None:
    """Numbering starts again at 1 once the spool is empty: the second bad segment 1 kept the first's name."""
    spool = Spool(tmp_path)
    for body in (b"first", b"second"):
        spool.append([Frame(b"R", body)])
        assert spool.segments()[0].name == "000000000001.spool"
        assert spool.replay(lambda frames: "does not read") == 1
    bad = tmp_path / "bad"
    kept = {p.name: read_segment(p)[0][0].body for p in bad.glob("*.spool")}
    assert kept == {"000000000001.spool": b"first", "000000000001-1.spool": b"second"}
    assert (bad / "000000000001-1.spool.txt").read_text() == "does not read\n"


def test_only_its_own_segment_files_are_segments(tmp_path: Path) -> None:
    """``--spool`` may name a folder holding other files: a database's folder holds its default spool
    folder (``<db>.spool``), and a user may keep a ``notes.spool``. Neither is a segment: the spool
    was taken as never empty (every payload spooled) and the next segment's number failed on them."""
    (tmp_path / "tokenomy.db.spool").mkdir()
    (tmp_path / "notes.spool").write_text("not a segment")
    (tmp_path / "000000000007.spool").mkdir()  # a folder named like one is not one either
    spool = Spool(tmp_path)
    assert spool.segments() == []
    assert not spool.pending()
    spool.append([Frame(b"P", b"first")])
    [segment] = spool.segments()
    assert segment.name == "000000000001.spool"
    assert [f.body for f in read_segment(segment)[0]] == [b"first"]
    assert (tmp_path / "notes.spool").read_text() == "not a segment"


class _HalfWriter:
    """A segment file on a disk that fills up half-way through the next write (ENOSPC)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.close()

    def write(self, data: bytes) -> int:
        self.out.write(data[: len(data) // 2])
        self.out.flush()
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        self.out.flush()

    def fileno(self) -> int:
        return int(self.out.fileno())


def _replay_all(spool: Spool) -> list[bytes]:
    seen: list[bytes] = []
    for _ in range(10):  # bounded: a few segments at most
        if not spool.replay(lambda frames: seen.extend(f.body for f in frames)):
            break
    return seen


def test_a_failed_append_leaves_nothing_before_later_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half of an unacknowledged frame stayed in the segment: the acknowledged frames after it
    followed a frame failing its checksum, and went to ``bad/`` on replay, never stored."""
    spool = Spool(tmp_path)
    spool.append([Frame(b"R", b"first")])
    [segment] = spool.segments()
    size = segment.stat().st_size
    real = spool_module._open_private
    monkeypatch.setattr(spool_module, "_open_private", lambda p, flags: _HalfWriter(real(p, flags)))
    with pytest.raises(OSError, match="No space left"):
        spool.append([Frame(b"R", b"second" * 20)])
    assert segment.stat().st_size == size  # cut back
    monkeypatch.setattr(spool_module, "_open_private", real)
    spool.append([Frame(b"R", b"third")])
    assert [p.name for p in spool.segments()] == ["000000000001.spool", "000000000002.spool"]
    assert _replay_all(spool) == [b"first", b"third"]
    assert not (tmp_path / "bad").exists()


def test_a_failed_append_that_cannot_be_cut_back_ends_its_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the part cannot be cut away, it stays last in its segment (replay drops a frame cut
    short there), and later frames go to a new segment."""
    spool = Spool(tmp_path)
    spool.append([Frame(b"R", b"first")])
    real = spool_module._open_private
    monkeypatch.setattr(spool_module, "_open_private", lambda p, flags: _HalfWriter(real(p, flags)))

    def refuse(fd: int, size: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", refuse)
    with pytest.raises(OSError, match="No space left"):
        spool.append([Frame(b"R", b"second" * 20)])
    monkeypatch.undo()
    spool.append([Frame(b"R", b"third")])
    assert _replay_all(spool) == [b"first", b"third"]
    assert not (tmp_path / "bad").exists()
