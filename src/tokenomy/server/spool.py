"""The server's spool: payloads acknowledged while the store could not take them, kept on disk in order.

A spool is a folder of segment files named by a growing number. Each payload is one frame:
a magic word, its length, its CRC-32, a kind byte and the bytes. :meth:`Spool.append` writes a
group of payloads and fsyncs before returning (and fsyncs the folder when it starts a new
segment), so an acknowledged payload survives a crash of the process or the machine.

:meth:`Spool.replay` hands the frames of the oldest segment to a callback, then deletes the
segment; segments are replayed oldest first, so payloads reach the store in the order they
arrived. A crash between the store's commit and the deletion replays the segment again, which
is harmless because every record is idempotent by its id. A frame cut short by a crash (the
payload was never acknowledged) ends its segment; a segment whose frames no longer decode is
moved to ``bad/`` with a note, never deleted.

The folder, ``bad/`` and every file in them are the owner's only (0700 and 0600, whatever the
umask): what waits there is the events of other people's requests. A folder or segments left
more open by an earlier version are tightened when the spool is opened.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from tokenomy.errors import StoreError

MAGIC: Final = b"TKSP"
_HEAD: Final = struct.Struct("<4sII")
SEGMENT_BYTES: Final = 64 * 1024 * 1024
"""A segment is closed, and a new one started, past this size."""
_SUFFIX: Final = ".spool"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class Frame:
    """One spooled payload: what kind of body it is, and the body."""

    kind: bytes
    """One byte: ``R`` rows (what the server writes, see :mod:`tokenomy.server.payloads`); earlier
    versions wrote bodies: ``P`` OTLP protobuf, ``J`` OTLP JSON, ``E`` native JSON, ``N`` native NDJSON."""
    body: bytes


class Spool:
    """An append-only, fsync'd spool folder (see the module docstring). Not thread-safe: one owner."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            _tighten(folder)
        except OSError as exc:
            raise StoreError(
                f"{folder}: cannot create the spool folder or make it owner-only ({exc}); "
                "pass another --spool"
            ) from exc
        self._current: Path | None = None
        self._size = 0

    def segments(self) -> list[Path]:
        """The segment files waiting to be replayed, oldest first."""
        return sorted(self.folder.glob(f"*{_SUFFIX}"))

    def pending(self) -> bool:
        """True when payloads wait in the spool."""
        return bool(self.segments())

    def pending_bytes(self) -> int:
        """Bytes waiting in the spool."""
        return sum(p.stat().st_size for p in self.segments())

    def append(self, frames: Sequence[Frame]) -> None:
        """Write ``frames`` at the end of the spool and make them durable (fsync).

        Raises:
            OSError: The disk refused the write (full, read-only...): nothing may be acknowledged.
        """
        data = b"".join(_encode(f) for f in frames)
        path = self._segment_for(len(data))
        with _open_private(path, os.O_WRONLY | os.O_APPEND) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self._size += len(data)

    def replay(self, store_frames: Callable[[list[Frame]], None]) -> int:
        """Pass the oldest segment's frames to ``store_frames``, then delete the segment.

        Returns:
            How many frames were replayed (0 when the spool is empty).

        Raises:
            Exception: Whatever ``store_frames`` raised; the segment stays for the next try.
        """
        segments = self.segments()
        if not segments:
            return 0
        oldest = segments[0]
        if oldest == self._current:
            self._current = None  # new payloads go to a new segment from now on
        frames, problem = read_segment(oldest)
        if problem is not None and not frames:
            self._quarantine(oldest, problem)
            return 0
        store_frames(frames)
        if problem is not None:
            self._quarantine(oldest, problem)  # the frames after the damage cannot be read
        else:
            oldest.unlink()
            _fsync_dir(self.folder)
        return len(frames)

    def _segment_for(self, size: int) -> Path:
        if self._current is None or self._size + size > SEGMENT_BYTES or not self._current.exists():
            segments = self.segments()
            number = int(segments[-1].stem) + 1 if segments else 1
            self._current = self.folder / f"{number:012d}{_SUFFIX}"
            _open_private(self._current, os.O_WRONLY).close()
            _fsync_dir(self.folder)
            self._size = 0
        return self._current

    def _quarantine(self, path: Path, problem: str) -> None:
        bad = self.folder / "bad"
        bad.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(bad, DIR_MODE)
        os.chmod(path, FILE_MODE)
        path.rename(bad / path.name)
        with _open_private(bad / (path.name + ".txt"), os.O_WRONLY | os.O_TRUNC) as note:
            note.write((problem + "\n").encode())
        _fsync_dir(self.folder)


def _open_private(path: Path, flags: int) -> BinaryIO:
    """``path`` opened for writing (``flags``), created owner-only: mode 0600, which a umask can only
    narrow (files an earlier version left more open are tightened by :func:`_tighten`)."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_BINARY", 0), FILE_MODE)
    return os.fdopen(fd, "wb")


def _tighten(folder: Path) -> None:
    """Make the spool folder, ``bad/`` and their files owner-only (earlier versions left them 0755/0644).

    Raises:
        OSError: A mode cannot be changed (another user owns the folder).
    """
    for directory in (folder, folder / "bad"):
        if not directory.is_dir():
            continue
        os.chmod(directory, DIR_MODE)
        for entry in directory.iterdir():
            if entry.is_file() and entry.stat().st_mode & 0o077:
                os.chmod(entry, FILE_MODE)


def _encode(frame: Frame) -> bytes:
    payload = frame.kind + frame.body
    return _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> tuple[list[Frame], str | None]:
    """The complete frames of a segment, and what stopped the reading early (None when nothing did).

    A last frame cut short (a crash while writing it, before it was acknowledged) is dropped.
    """
    data = path.read_bytes()
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEAD.size:
            return frames, None  # a header cut short: never acknowledged
        magic, size, crc = _HEAD.unpack_from(data, offset)
        start = offset + _HEAD.size
        if magic != MAGIC:
            return frames, f"{path.name}: no frame at byte {offset} (not a spool file, or damaged)"
        if start + size > len(data):
            return frames, None
        payload = data[start : start + size]
        if zlib.crc32(payload) != crc or not payload:
            return frames, f"{path.name}: the frame at byte {offset} fails its checksum"
        frames.append(Frame(kind=payload[:1], body=payload[1:]))
        offset = start + size
    return frames, None


def _fsync_dir(folder: Path) -> None:
    """Make a file's creation or removal in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
