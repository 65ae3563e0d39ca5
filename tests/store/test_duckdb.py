"""DuckDBStore: what opening a store file says when DuckDB refuses it."""

from __future__ import annotations

from pathlib import Path

from tokenomy.store.duckdb import _explain


def test_a_locked_file_names_the_holder_and_when_it_lets_go() -> None:
    duckdb_says = (
        'IO Error: Could not set lock on file "/x/t.duckdb": Conflicting lock is held in '
        "/usr/bin/python3.11 (PID 13472). See also https://duckdb.org/docs/current/connect/concurrency"
    )
    found = _explain(Path("t.duckdb"), duckdb_says)
    assert found.startswith("t.duckdb is open for writing in another process (pid 13472) ")
    assert "lets go of the file after 5 idle seconds" in found
    assert "read it through the collector's API (GET /api/v1/report" in found
    assert "`tokenomy report --server http://127.0.0.1:4318`" in found
    assert "`tokenomy sessions --server http://127.0.0.1:4318`" in found
    assert "`tokenomy session ID --server http://127.0.0.1:4318`" in found
    assert found.endswith("or stop the collector first")


def test_a_lock_message_without_a_pid_still_explains() -> None:
    found = _explain(Path("t.duckdb"), "IO Error: Could not set lock on file")
    assert found.startswith("t.duckdb is open for writing in another process (DuckDB allows")
