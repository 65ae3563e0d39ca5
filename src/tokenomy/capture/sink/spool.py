"""The disk spool: batches the target could not take, as files replayed in order once it is back.

A spool is a folder of NDJSON files, one per batch, named ``<time ns>-<pid>-<seq>.ndjson`` so
that sorting the names gives the order they were written in. Each file is written to a hidden
temporary name, fsync'd and renamed into place, so a reader never sees half a batch (a crash
leaves at most a temporary file, removed later). Before replaying a file a process *claims* it: it
opens the file, takes an exclusive ``flock`` on it and renames it to ``<name>.claimed-<pid>``,
holding the lock until the file is done with. A rename is atomic and the lock is taken first, so
two processes sharing the folder (a parent and its forked child, several workers, containers on
one host) never send the same file twice. The kernel lets go of a lock when its process ends
however it ends, so a claim whose lock can be taken is one whose process is gone (killed in the
middle of a replay): it is handed back whenever a process next claims, and counts as waiting
meanwhile (:meth:`Spool.pending`), so a flush does not say all was delivered before it is. A pid
alone cannot tell that: it is given to a new process (a container's first process is pid 1 in
every run), and means nothing in another pid namespace. Where there is no ``flock`` (Windows), a
claim whose pid no process has is handed back. A file that cannot be read as records is renamed
``<name>.bad`` and left for a person to look at.

The spool never grows past ``max_bytes``: :meth:`Spool.write` refuses a batch that would not fit.

The folder is created owner-only (0700) and every file the spool writes too (0600, whatever the
umask): a batch holds the application's events, prompts included when content capture is on. A
folder an earlier version left more open is made 0700 on the next write when this user owns it,
and the spool's own files there (batches, claims, temporaries, set-aside ``.bad`` files) are
made 0600 when a process first claims from the folder. Nothing else in the folder is touched.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

_flock: Callable[[int, int], None] | None
try:
    import fcntl

    _flock, _EXCLUSIVE = fcntl.flock, fcntl.LOCK_EX | fcntl.LOCK_NB
except ImportError:  # Windows: claims are judged by their pid
    _flock, _EXCLUSIVE = None, 0

SUFFIX: Final = ".ndjson"
_CLAIM: Final = ".claimed-"
BAD: Final = ".bad"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class Claim:
    """A spool file this process has claimed for replay, and the descriptor holding its lock (-1:
    none, where there is no ``flock``)."""

    path: Path
    original: Path
    lock: int = -1


@dataclass(frozen=True, slots=True)
class SpoolUsage:
    """What the spool holds: batch files (claimed ones included) and their bytes."""

    files: int
    bytes: int


class Spool:
    """A folder of batch files with a size cap (see the module docstring).

    Args:
        directory: The folder; created on first write.
        max_bytes: The most bytes the batch files may take together.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._recovered = False
        self._held: set[int] = set()  # the descriptors holding this process's claim locks

    def after_fork(self) -> None:
        """Start fresh in a forked child (the parent's lock may have been held when it forked), closing
        the child's copies of the parent's claim locks: a lock lasts while any copy is open, so a
        child that outlived its parent would keep the parent's claims from ever being handed back
        (closing a copy does not release the parent's lock)."""
        self._lock = threading.Lock()
        held, self._held = self._held, set()
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)

    def usage(self) -> SpoolUsage:
        """Files and bytes in the spool now (all processes' files)."""
        files = size = 0
        for entry in self._entries():
            if _is_batch(entry.name):
                files += 1
                size += _size(entry)
        return SpoolUsage(files, size)

    def pending(self) -> bool:
        """True when batch files wait to be replayed: unclaimed ones, or claimed by a process that is
        gone (handed back by the next :meth:`claim`)."""
        return any(e.name.endswith(SUFFIX) or _orphaned(e) for e in self._entries())

    def write(self, data: bytes) -> bool:
        """Store one batch durably; False (and nothing written) when it would pass the cap.

        Raises:
            OSError: The folder cannot be created or written.
        """
        with self._lock:
            if self.usage().bytes + len(data) > self.max_bytes:
                return False
            self._make_directory()
            name = f"{time.time_ns():020d}-{os.getpid():08d}-{next(self._seq):08d}{SUFFIX}"
            temporary = self.directory / f".{name}.tmp"
            with _create_private(temporary) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.directory / name)
            _sync_directory(self.directory)
            return True

    def set_aside(self, data: bytes) -> bool:
        """Keep a batch the target refused as ``<name>.ndjson.bad``, for a person to look at.

        Set-aside files have a cap of their own (``max_bytes``); False when it is reached.
        """
        with self._lock:
            kept = sum(_size(e) for e in self._entries() if e.name.endswith(BAD))
            if kept + len(data) > self.max_bytes:
                return False
            self._make_directory()
            name = f"{time.time_ns():020d}-{os.getpid():08d}-{next(self._seq):08d}{SUFFIX}{BAD}"
            with _create_private(self.directory / name) as handle:
                handle.write(data)
            return True

    def claim(self) -> Claim | None:
        """Claim the oldest unclaimed batch file, or None when there is none."""
        with self._lock:
            entries = self._entries()
            if self._recover(entries, first=not self._recovered):
                entries = self._entries()  # (files were handed back)
            names = sorted(e.name for e in entries if e.name.endswith(SUFFIX))
            for name in names:
                original = self.directory / name
                claimed = self.directory / f"{name}{_CLAIM}{os.getpid()}"
                lock = _locked(original)
                if lock is None:  # claimed (or being claimed) by another process, or gone
                    continue
                try:
                    os.rename(original, claimed)
                except FileNotFoundError:  # another process claimed it first
                    _let_go(lock)
                    continue
                if lock >= 0:
                    self._held.add(lock)
                return Claim(claimed, original, lock)
            return None

    def read(self, claim: Claim) -> bytes:
        """The bytes of a claimed file."""
        return claim.path.read_bytes()

    def done(self, claim: Claim) -> None:
        """Remove a claimed file whose batch the target took."""
        with contextlib.suppress(FileNotFoundError):
            claim.path.unlink()
        self._let_go(claim)

    def release(self, claim: Claim) -> None:
        """Hand a claimed file back (the target failed; it is replayed later)."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, claim.original)
        self._let_go(claim)

    def _let_go(self, claim: Claim) -> None:
        """Release a claim's lock, once its file is renamed or removed."""
        if claim.lock in self._held:
            self._held.discard(claim.lock)
            _let_go(claim.lock)

    def quarantine(self, claim: Claim) -> Path:
        """Set aside a file that cannot be read as records (``<name>.bad``); returns its new path."""
        bad = claim.original.with_name(claim.original.name + BAD)
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, bad)
        self._let_go(claim)
        return bad

    def _make_directory(self) -> None:
        """Create the folder owner-only, or make it so when this user owns it (a folder an earlier
        version left 0755); another user's folder keeps its mode, the files are owner-only still."""
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # a file system that refuses: the files are owner-only still
            info = self.directory.stat()
            if info.st_mode & 0o077 and _owned(info):
                os.chmod(self.directory, DIR_MODE)

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.directory) as found:
                return list(found)
        except FileNotFoundError:
            return []

    def _recover(self, entries: list[os.DirEntry[str]], *, first: bool) -> bool:
        """Hand back the files claimed by processes that are gone; True when there were any. The
        first time, also make the spool's files an earlier version left open owner-only and remove
        the half-written temporaries of processes that are gone."""
        self._recovered = True
        handed = False
        for entry in entries:
            name = entry.name
            if first and _is_own(name):
                with contextlib.suppress(OSError):  # gone meanwhile, or another user's file
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mode & 0o077:
                        os.chmod(entry.path, FILE_MODE)  # left open by an earlier version
            if _orphaned(entry):
                with contextlib.suppress(FileNotFoundError):  # another process handed it back first
                    os.rename(entry.path, self.directory / name.rpartition(_CLAIM)[0])
                    handed = True
            elif first and name.startswith(".") and name.endswith(".tmp"):
                pid = name[1:].split("-")[1] if name.count("-") >= 2 else ""
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        return handed


def _create_private(path: Path) -> BinaryIO:
    """A new file at ``path``, open for writing, owner-only (0600, which a umask can only narrow)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), FILE_MODE)
    return os.fdopen(fd, "wb")


def _is_own(name: str) -> bool:
    """True for the names the spool gives its files: batches, claims, set-aside files, temporaries."""
    return _is_batch(name) or name.endswith(BAD) or (name.startswith(".") and name.endswith(f"{SUFFIX}.tmp"))


def _owned(info: os.stat_result) -> bool:
    """True when this process's user owns the file (always on systems without user ids)."""
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


def _is_batch(name: str) -> bool:
    return name.endswith(SUFFIX) or (_CLAIM in name and not name.endswith(BAD))


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0


def _locked(path: Path) -> int | None:
    """A descriptor of ``path`` holding an exclusive ``flock`` on it; None when another process holds
    one (or the file is gone); -1 where there is no ``flock`` (nothing is held)."""
    if _flock is None:
        return -1 if path.exists() else None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        _flock(fd, _EXCLUSIVE)
    except OSError:
        os.close(fd)
        return None
    return fd


def _let_go(fd: int) -> None:
    """Close a lock's descriptor (which releases it), if there is one."""
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _orphaned(entry: os.DirEntry[str]) -> bool:
    """True for a claim whose process is gone: nobody holds its lock (where there is no ``flock``,
    no process has its pid)."""
    name = entry.name
    if _CLAIM not in name or name.endswith(BAD):
        return False
    if _flock is None:
        pid = name.rpartition(_CLAIM)[2]
        return pid.isdigit() and not _alive(int(pid))
    fd = _locked(Path(entry.path))
    if fd is None:
        return False  # held: its process is alive (or the file is gone)
    _let_go(fd)
    return True


def _alive(pid: int) -> bool:
    """Whether a process has ``pid`` (a pid out of range has none)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, OSError):  # not a pid this system can have
        return False
    return True


def _sync_directory(directory: Path) -> None:
    """fsync the folder so that the rename itself survives a crash (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
