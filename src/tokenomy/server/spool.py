"""The server's spool: payloads acknowledged while the store could not take them, kept on disk in order.

A spool is a folder of segment files named by a growing number. Each frame holds a group of
payloads acknowledged together (the server writes one a group): a magic word, its length, its
CRC-32, a kind byte and the bytes. :meth:`Spool.append` writes a
group of payloads and fsyncs before returning (and fsyncs the folder when it starts a new
segment), so an acknowledged payload survives a crash of the process or the machine.

:meth:`Spool.replay` hands the frames of the oldest segment to a callback, then deletes the
segment; segments are replayed oldest first, so payloads reach the store in the order they
arrived. A crash between the store's commit and the deletion replays the segment again, which
is harmless because every record is idempotent by its id. A frame cut short by a crash (the
payload was never acknowledged) ends its segment. A segment that fails its checksum, or holds a
frame the replay callback cannot read (say, rows of a future version), is moved to ``bad/`` with
a note once its readable frames are stored: never deleted, and never under the name of a segment
already there.

The spool's own files (segments, ``bad/`` and the segments and notes in it) are the owner's only
(0600, ``bad/`` 0700, whatever the umask): what waits there is the events of other people's
requests. The folder is created 0700; an existing folder that others may enter is made 0700 when
this user owns it, and only logged otherwise (a volume mounted by another user); a segment an
earlier version left more open is tightened when the spool is opened. Nothing else
in the folder is touched: ``--spool`` may name a folder that holds other files (the database).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from tokenomy.errors import StoreError

log = logging.getLogger("tokenomy.server")
MAGIC: Final = b"TKSP"
_HEAD: Final = struct.Struct("<4sII")
SEGMENT_BYTES: Final = 8 * 1024 * 1024
"""A segment is closed, and a new one started, past this size. A segment is replayed in one
transaction, and frames are compressed (rows take several times their size once read), so this
bounds what one replay holds in memory."""
_SUFFIX: Final = ".spool"
_SEGMENT_NAME: Final = re.compile(r"[0-9]{12}\.spool")
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class Frame:
    """One spooled frame: what kind of bytes it holds, and the bytes."""

    kind: bytes
    """One byte: ``G`` a group's rows, compressed (what the server writes, see
    :mod:`tokenomy.server.payloads`), ``U`` the same uncompressed (where pyarrow lacks zstd); earlier
    versions wrote bodies: ``P`` OTLP protobuf, ``J`` OTLP JSON, ``E`` native JSON, ``N`` native NDJSON."""
    body: bytes


class Spool:
    """An append-only, fsync'd spool folder (see the module docstring). Not thread-safe: one owner."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            existed = folder.is_dir()
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{folder}: cannot create the spool folder ({exc}); pass another --spool"
            ) from exc
        if existed:
            _tighten_folder(folder)
        try:
            _tighten_files(folder)
        except OSError as exc:  # the folder cannot be listed: nor could it be replayed
            raise StoreError(f"{folder}: cannot read the spool folder ({exc}); pass another --spool") from exc
        self._current: Path | None = None
        self._size = 0

    def segments(self) -> list[Path]:
        """The segment files waiting to be replayed, oldest first."""
        return _segment_files(self.folder)

    def pending(self) -> bool:
        """True when payloads wait in the spool."""
        return bool(self.segments())

    def pending_bytes(self) -> int:
        """Bytes waiting in the spool."""
        return sum(p.stat().st_size for p in self.segments())

    def append(self, frames: Sequence[Frame]) -> None:
        """Write ``frames`` at the end of the spool and make them durable (fsync).

        A write that fails part-way (a full disk) would leave part of a frame in the segment, and
        the frames acknowledged after it would then follow a frame that fails its checksum and end
        in ``bad/`` on replay, never stored. So on any failure the segment is cut back to its size
        before the append (as far as the disk lets it), and the next append starts a new segment:
        a part of a frame that could not be cut stays last in its segment, where replay drops it.

        Raises:
            OSError: The disk refused the write (full, read-only...): nothing may be acknowledged.
        """
        data = b"".join(_encode(f) for f in frames)
        path: Path | None = None
        before: int | None = None
        try:
            path = self._segment_for(len(data))
            with _open_private(path, os.O_WRONLY | os.O_APPEND) as out:
                before = os.fstat(out.fileno()).st_size
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            self._current = None
            if path is not None and before is not None:  # after the close, which may write what was buffered
                _truncate(path, before)
            raise
        self._size += len(data)

    def replay(self, store_frames: Callable[[list[Frame]], str | None]) -> int:
        """Pass the oldest segment's frames to ``store_frames``, then delete the segment.

        ``store_frames`` stores what it can read and returns None, or what it could not read: then
        the segment is moved to ``bad/`` with that note instead of being deleted.

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
        unread = store_frames(frames)
        problems = [p for p in (unread, problem) if p is not None]  # problem: the frames after it are lost
        if problems:
            self._quarantine(oldest, "\n".join(problems))
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
        """Move ``path`` to ``bad/`` with a note, under a name no earlier quarantined segment has (the
        numbering starts again at 1 once the spool is empty)."""
        bad = self.folder / "bad"
        bad.mkdir(mode=DIR_MODE, exist_ok=True)
        _tighten_folder(bad)
        target = bad / path.name
        n = 0
        while target.exists() or target.with_name(target.name + ".txt").exists():
            n += 1
            target = bad / f"{path.stem}-{n}{_SUFFIX}"
        path.rename(target)
        with _open_private(target.with_name(target.name + ".txt"), os.O_WRONLY | os.O_TRUNC) as note:
            note.write((problem + "\n").encode())
        _fsync_dir(bad)
        _fsync_dir(self.folder)


def _open_private(path: Path, flags: int) -> BinaryIO:
    """``path`` opened for writing (``flags``), created owner-only: mode 0600, which a umask can only
    narrow (files an earlier version left more open are tightened by :func:`_tighten_files`)."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_BINARY", 0), FILE_MODE)
    return os.fdopen(fd, "wb")


def _truncate(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes, best effort: an append that failed part-way leaves no part
    of its frames behind (see :meth:`Spool.append`)."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # the part stays last in its segment, which no later append extends
        log.warning("tokenomy server: a failed append to %s cannot be cut back (%s)", path.name, exc)


def _tighten_folder(folder: Path) -> None:
    """Make an existing folder owner-only when others may enter it and this user owns it; otherwise
    (another user's folder, a file system that refuses) say so and go on: the spool's files are
    owner-only still."""
    try:
        info = folder.stat()
        if not info.st_mode & 0o077:
            return
        if _owned(info):
            os.chmod(folder, DIR_MODE)
            return
        why = "another user owns it"
    except OSError as exc:
        why = str(exc)
    log.warning(
        "tokenomy server: the spool folder %s is open to other users and cannot be made owner-only (%s); "
        "its segments are owner-only",
        folder,
        why,
    )


def _tighten_files(folder: Path) -> None:
    """Make the spool's own files owner-only: segments, ``bad/`` and what it holds (earlier versions
    left them 0644). Nothing else in ``folder`` is touched, and no symbolic link is followed."""
    bad = folder / "bad"
    if bad.is_dir() and not bad.is_symlink():
        _tighten_folder(bad)
        own = [*_segment_files(folder), *bad.iterdir()]
    else:
        own = _segment_files(folder)
    for path in own:
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
                os.chmod(path, FILE_MODE)
        except OSError as exc:  # another user's file: replay reads it if it can
            log.warning("tokenomy server: %s cannot be made owner-only (%s)", path, exc)


def _segment_files(folder: Path) -> list[Path]:
    """The segments in ``folder``, oldest first: regular files named as :meth:`Spool._segment_for`
    names them (twelve digits and ``.spool``). Anything else there is not the spool's (``--spool``
    may name a folder that holds other files: a database's folder holds its default spool folder,
    ``<db>.spool``, which is no segment)."""
    found = []
    for path in folder.glob(f"*{_SUFFIX}"):
        if _SEGMENT_NAME.fullmatch(path.name) and not path.is_symlink() and path.is_file():
            found.append(path)
    return sorted(found)


def _owned(info: os.stat_result) -> bool:
    """True when this process's user owns the file (always on systems without user ids)."""
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


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
