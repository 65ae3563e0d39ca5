"""Opening a store's DuckDB file, and DuckDB's refusals as errors that say what to do next.

DuckDB lets one process write a database file at a time; any number may read it while nobody
writes. A file another process holds is refused with DuckDB's words, for example::

    IO Error: Could not set lock on file "/srv/t.duckdb": Conflicting lock is held in
    /usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency

(a holder that reads adds "However, you would be able to open this database in read-only
mode"), which :func:`connect` raises as a :class:`~tokenomy.errors.StoreLockedError` carrying
the path and the holder, so that callers read attributes rather than DuckDB's text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import duckdb

from tokenomy.errors import StoreError, StoreLockedError

_LOCKED: Final = ("could not set lock on file", "conflicting lock is held")
_HOLDER: Final = re.compile(r"lock is held in (?P<process>\S.*?) \(PID (?P<pid>\d+)\)")
_READER: Final = "you would be able to open this database in read-only mode"
"""DuckDB's hint when the holder reads: a read-only open would succeed, a writing one cannot."""


def connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to the store file ``path``.

    Raises:
        StoreLockedError: Another process holds the file.
        StoreError: There is no file to read, the path is a directory, the file is not a DuckDB
            database or was written by a newer DuckDB.
    """
    if read_only and not path.exists():
        raise missing_store(path)
    if path.exists() and path.is_dir():
        raise StoreError(f"{path} is a directory; pass the path of a DuckDB file with --db")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise refusal(path, str(exc)) from exc


def missing_store(path: Path) -> StoreError:
    """The error for a store file that does not exist where a command must read one."""
    return StoreError(
        f"{path}: no store here yet; import something first (`tokenomy import FILE --db {path}`)"
    )


def refusal(path: Path, message: str) -> StoreError:
    """DuckDB's refusal to open ``path`` (its ``message``) as an error that says what to do."""
    if any(words in message.lower() for words in _LOCKED):
        return locked(path, message)
    if "not a valid DuckDB database" in message:
        return StoreError(f"{path} is not a DuckDB database; pass another --db path, or move this file away")
    if "newer version" in message.lower() or "version number" in message.lower():
        return StoreError(
            f"{path} was written by a newer DuckDB; upgrade tokenomy (and duckdb) to open it: {message}"
        )
    return StoreError(f"{path}: cannot open the store: {message}")


def locked(path: Path, message: str) -> StoreLockedError:
    """The error for ``path`` held by another process, read from DuckDB's lock ``message``."""
    found = _HOLDER.search(message)
    pid, process = (int(found["pid"]), found["process"]) if found else (None, None)
    if _READER in message:
        return StoreLockedError(path, pid=pid, process=process, reading=True, advice=_WAIT_FOR_READER)
    return StoreLockedError(path, pid=pid, process=process, advice=_WAIT_FOR_WRITER)


_WAIT_FOR_READER: Final = (
    "DuckDB lets no process write a file another has open: wait for it to finish (`tokenomy report`, "
    "`tokenomy sessions` and `tokenomy export` close the file when they are done), or stop it"
)
_WAIT_FOR_WRITER: Final = (
    "DuckDB lets no other process open a file one process writes: wait for it to finish (a gateway or "
    "an instrumented app lets go of the file after 5 idle seconds), or send events to the process that "
    "owns the store. A `tokenomy serve` collector keeps its store open while it runs: read it through "
    "the collector's API (GET /api/v1/report, /api/v1/sessions, /api/v1/calls; docs/server.md), e.g. "
    "`tokenomy report --server http://127.0.0.1:4318`, `tokenomy sessions --server "
    "http://127.0.0.1:4318` or `tokenomy session ID --server http://127.0.0.1:4318`, or stop the "
    "collector first"
)
