"""Opening a store file: what DuckDB's refusals become, above all a file another process holds."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from tests.store.holder import held
from tokenomy.errors import StoreError, StoreLockedError
from tokenomy.store import open_store
from tokenomy.store.duckdb_open import refusal

_WRITER_HOLDS = (
    'IO Error: Could not set lock on file "/x/t.duckdb": Conflicting lock is held in '
    "/usr/bin/python3.11 (PID 13472). See also https://duckdb.org/docs/current/connect/concurrency"
)
_READER_HOLDS = (
    'IO Error: Could not set lock on file "/x/t.duckdb": Conflicting lock is held in '
    "/usr/bin/python3.11 (PID 977). However, you would be able to open this database in read-only "
    "mode, e.g. by using the -readonly parameter in the CLI. See also "
    "https://duckdb.org/docs/current/connect/concurrency"
)


@pytest.mark.integration
def test_a_second_writer_process_gets_the_holders_pid_and_program(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    with held(path) as holder, pytest.raises(StoreLockedError) as info:
        open_store(path)
    error = info.value
    assert (error.path, error.pid, error.reading) == (path, holder.pid, False)
    assert error.process is not None
    assert "python" in Path(error.process).name.lower()  # the holder's program, as DuckDB names it
    assert str(error).startswith(f"{path} is open for writing in another process (pid {holder.pid}: ")
    assert isinstance(error, StoreError)  # callers that catch StoreError still catch it


@pytest.mark.integration
def test_a_reader_held_by_a_writer_gets_the_same_error(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    with held(path) as holder, pytest.raises(StoreLockedError) as info:
        open_store(path, read_only=True)
    assert (info.value.pid, info.value.reading) == (holder.pid, False)


@pytest.mark.integration
def test_a_writer_held_by_a_reader_is_told_the_holder_reads(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    with held(path, read_only=True) as holder:
        with pytest.raises(StoreLockedError) as info:
            open_store(path)
        with open_store(path, read_only=True) as store:  # readers share the file
            assert store.count() == 0
    assert (info.value.pid, info.value.reading) == (holder.pid, True)
    assert f"is open for reading in another process (pid {holder.pid}: " in str(info.value)
    assert "DuckDB lets no process write a file another has open: wait for it to finish" in str(info.value)


def test_a_held_file_says_how_to_read_a_collectors_store_meanwhile() -> None:
    error = refusal(Path("t.duckdb"), _WRITER_HOLDS)
    assert isinstance(error, StoreLockedError)
    assert (error.pid, error.process, error.reading) == (13472, "/usr/bin/python3.11", False)
    assert error.holder == "another process (pid 13472: /usr/bin/python3.11)"
    found = str(error)
    assert found.startswith(
        "t.duckdb is open for writing in another process (pid 13472: /usr/bin/python3.11); "
        "DuckDB lets no other process open a file one process writes: wait for it to finish "
    )
    assert "lets go of the file after 5 idle seconds" in found
    assert "read it through the collector's API (GET /api/v1/report" in found
    assert "`tokenomy report --server http://127.0.0.1:4318`" in found
    assert "`tokenomy sessions --server http://127.0.0.1:4318`" in found
    assert "`tokenomy session ID --server http://127.0.0.1:4318`" in found
    assert found.endswith("or stop the collector first")


def test_a_file_a_reader_holds_is_told_apart_by_duckdbs_read_only_hint() -> None:
    error = refusal(Path("t.duckdb"), _READER_HOLDS)
    assert isinstance(error, StoreLockedError)
    assert (error.pid, error.process, error.reading) == (977, "/usr/bin/python3.11", True)
    assert str(error).endswith("close the file when they are done), or stop it")


def test_the_error_survives_pickling_and_copying_whole() -> None:
    """A ``multiprocessing`` worker sends its errors to its parent pickled."""
    error = refusal(Path("t.duckdb"), _READER_HOLDS)
    assert isinstance(error, StoreLockedError)
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert isinstance(again, StoreLockedError)
        assert (again.path, again.pid, again.process, again.reading, again.advice) == (
            error.path,
            977,
            "/usr/bin/python3.11",
            True,
            error.advice,
        )
        assert str(again) == str(error)


def test_a_lock_message_without_a_holder_still_explains() -> None:
    error = refusal(Path("t.duckdb"), 'IO Error: Could not set lock on file "t.duckdb"')
    assert isinstance(error, StoreLockedError)
    assert (error.pid, error.process, error.holder) == (None, None, "another process")
    assert str(error).startswith("t.duckdb is open for writing in another process; DuckDB lets no other")


@pytest.mark.parametrize(
    ("duckdb_says", "expected"),
    [
        (
            "IO Error: The file is not a valid DuckDB database file!",
            "t.duckdb is not a DuckDB database; pass another --db path, or move this file away",
        ),
        (
            "IO Error: Could not read from file: block 12 is out of range",
            "t.duckdb: cannot open the store: IO Error: Could not read from file: block 12 is out of range",
        ),
    ],
)
def test_other_refusals_are_plain_store_errors(duckdb_says: str, expected: str) -> None:
    error = refusal(Path("t.duckdb"), duckdb_says)
    assert type(error) is StoreError
    assert str(error) == expected
