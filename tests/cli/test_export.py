from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.test_report import fill
from tokenomy.cli import export
from tokenomy.cli.main import cli, main
from tokenomy.native import call_to_native
from tokenomy.store import open_store


def test_export_to_stdout_writes_native_lines(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--since", "2026-03-03"])
    assert result.exit_code == 0
    (line,) = result.output.splitlines()
    with open_store(db, read_only=True) as store:
        (call,) = [c for c in store.iter_calls() if c.id == "e"]
    assert json.loads(line) == json.loads(json.dumps(call_to_native(call)))


def test_export_formats_to_files(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"calls.{fmt}"
        result = CliRunner().invoke(cli, ["export", "--db", str(db), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 6
    assert (tmp_path / "calls.csv").read_text().splitlines()[0].startswith("id,started_at,ended_at,")


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["export", "--db", str(tmp_path / "s.duckdb"), "--format", "xml"]) == 2


def test_o_is_short_for_out_as_in_report_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    out = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "-o", str(out), "--since", "2026-03-03"])
    assert result.exit_code == 0, result.output
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["id"] == "e"
    assert f"1 calls and 0 charges written to {out}" in result.output


def test_parquet_is_not_written_to_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    monkeypatch.setattr(export, "_terminal", lambda: True)
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--format", "parquet"])
    assert result.exit_code == 2
    assert "parquet is binary: write it to a file with --out FILE" in result.output
    assert CliRunner().invoke(cli, ["export", "--db", str(db), "--format", "jsonl"]).exit_code == 0
