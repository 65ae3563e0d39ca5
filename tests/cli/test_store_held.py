"""A command whose store file another process holds: one line that says so and what to do, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.holder import held
from tokenomy.cli.main import main
from tokenomy.store import open_store

pytestmark = pytest.mark.integration  # a second process holds the file


def test_commands_on_a_file_another_process_writes_print_the_advice_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # hermetic: no tokenomy.toml from the working directory
    db = tmp_path / "held.duckdb"
    open_store(db).close()
    calls = tmp_path / "calls.jsonl"
    calls.write_text("", encoding="utf-8")
    commands = {
        "report": ["report", "--db", str(db)],  # a read-only open
        "keys": ["keys", "revoke", "k1", "--db", str(db)],  # a writing open
        "import": ["import", str(calls), "--db", str(db)],
    }
    with held(db) as holder:
        said = {name: (main(args), capsys.readouterr()) for name, args in commands.items()}
    for name, (code, out) in said.items():
        assert code == 1, name
        assert out.out == "", name
        assert "Traceback" not in out.err, name
        lines = out.err.splitlines()
        assert len(lines) == 1, name
        assert lines[0].startswith(f"error: {db} is open for writing in another process (pid {holder.pid}: ")
        assert lines[0].endswith(
            "`tokenomy report --server http://127.0.0.1:4318`, `tokenomy sessions --server "
            "http://127.0.0.1:4318` or `tokenomy session ID --server http://127.0.0.1:4318`, "
            "or stop the collector first"
        ), name


def test_an_import_into_a_file_a_report_reads_says_the_holder_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "read.duckdb"
    open_store(db).close()
    calls = tmp_path / "calls.jsonl"
    calls.write_text("", encoding="utf-8")
    with held(db, read_only=True) as holder:
        code = main(["import", str(calls), "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: {db} is open for reading in another process (pid {holder.pid}: ")
    assert "DuckDB lets no process write a file another has open: wait for it to finish" in err
    assert "Traceback" not in err
