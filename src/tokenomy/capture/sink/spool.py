"""The disk spool: batches the target could not take, as files replayed in order once it is back.

A spool is a folder of NDJSON files, one per batch, named ``<time ns>-<pid>-<seq>.ndjson`` so
that sorting the names gives the order they were written in. Each file is written to a hidden
temporary name, fsync'd and renamed into place, so a reader never sees half a batch (a crash
leaves at most a temporary file, removed later). Before replaying a file a process *claims* it
by renaming it to ``<name>.claimed-<pid>-<start>``: a rename is atomic, so two processes sharing
the folder (a parent and its forked child, several workers) never send the same file twice.
``<start>`` is when the process started (Linux: in clock ticks since boot, from ``/proc``; absent
elsewhere), so a claim outlives neither its process nor a new process given the same pid (a
container's first process is pid 1 in every run). A claim whose process is gone is handed back
whenever a process next claims, and counts as waiting meanwhile (:meth:`Spool.pending`), so a
long-lived process replays what a killed worker had claimed, and its flush does not say all was
delivered before that. A file that cannot be read as records is renamed ``<name>.bad`` and left
for a person to look at.

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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

SUFFIX: Final = ".ndjson"
_CLAIM: Final = ".claimed-"
BAD: Final = ".bad"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class Claim:
    """A spool file this process has claimed for replay."""

    path: Path
    original: Path


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

    def after_fork(self) -> None:
        """Start fresh in a forked child (the parent's lock may have been held when it forked)."""
        self._lock = threading.Lock()

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
        return any(e.name.endswith(SUFFIX) or _orphaned(e.name) for e in self._entries())

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
            if not self._recovered:
                self._recover()
            else:
                self._hand_back()
            names = sorted(e.name for e in self._entries() if e.name.endswith(SUFFIX))
            owner = _owner(os.getpid())
            for name in names:
                original = self.directory / name
                claimed = self.directory / f"{name}{_CLAIM}{owner}"
                try:
                    os.rename(original, claimed)
                except FileNotFoundError:  # another process claimed it first
                    continue
                return Claim(claimed, original)
            return None

    def read(self, claim: Claim) -> bytes:
        """The bytes of a claimed file."""
        return claim.path.read_bytes()

    def done(self, claim: Claim) -> None:
        """Remove a claimed file whose batch the target took."""
        with contextlib.suppress(FileNotFoundError):
            claim.path.unlink()

    def release(self, claim: Claim) -> None:
        """Hand a claimed file back (the target failed; it is replayed later)."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, claim.original)

    def quarantine(self, claim: Claim) -> Path:
        """Set aside a file that cannot be read as records (``<name>.bad``); returns its new path."""
        bad = claim.original.with_name(claim.original.name + BAD)
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, bad)
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

    def _hand_back(self) -> None:
        """Hand back the files claimed by processes that are gone."""
        for entry in self._entries():
            if _orphaned(entry.name):
                with contextlib.suppress(FileNotFoundError):  # another process handed it back first
                    os.rename(entry.path, self.directory / entry.name.rpartition(_CLAIM)[0])

    def _recover(self) -> None:
        """Once a spool: the spool's files left open by an earlier version made owner-only, claims
        of processes that are gone handed back, their half-written temporaries removed."""
        self._recovered = True
        for entry in self._entries():
            name = entry.name
            with contextlib.suppress(OSError):  # gone meanwhile, or another user's file
                if _is_own(name) and entry.is_file(follow_symlinks=False) and entry.stat().st_mode & 0o077:
                    os.chmod(entry.path, FILE_MODE)  # left open by an earlier version
            if _orphaned(name):
                with contextlib.suppress(FileNotFoundError):
                    os.rename(entry.path, self.directory / name.rpartition(_CLAIM)[0])
            elif name.startswith(".") and name.endswith(".tmp"):
                pid = name[1:].split("-")[1] if name.count("-") >= 2 else ""
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)


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


def _started(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat``'s 22nd field);
    None where that cannot be read (no such process, or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # after the name, which may hold spaces and ")"
    return fields[19].decode("ascii") if len(fields) > 19 and fields[19].isdigit() else None


def _owner(pid: int) -> str:
    """What a claim is named after: the pid and, where it can be read, when the process started."""
    start = _started(pid)
    return f"{pid}" if start is None else f"{pid}-{start}"


def _orphaned(name: str) -> bool:
    """True for a claim whose process is gone: no process has its pid, or the one that has it now
    started at another time than the claim says (the pid was given to a new process). A claim
    named by the pid alone (an earlier version's, or made where start times cannot be read) is
    this process's own only where start times cannot be read: this process names its claims with
    one where it can."""
    if _CLAIM not in name or name.endswith(BAD):
        return False
    pid_text, _, start = name.rpartition(_CLAIM)[2].partition("-")
    if not pid_text.isdigit() or (start and not start.isdigit()):
        return False  # not a name the spool gives: left alone
    pid = int(pid_text)
    if start:
        now = _started(pid)
        return not _alive(pid) if now is None and not Path("/proc/self/stat").exists() else now != start
    if pid == os.getpid():
        return _started(pid) is not None
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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
