"""``tokenomy demo`` runs simulate, import and report, and is idempotent."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tokenomy.cli.demo import command
from tokenomy.store import open_store


def test_demo_simulates_imports_and_reports_once(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    args = ["--db", str(db), "--out", str(tmp_path / "data"), "--calls", "400", "--days", "3"]
    first = CliRunner().invoke(command, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "1/3" in first.output
    assert "3/3  report" in first.output
    assert (tmp_path / "data" / "traffic.jsonl").exists()
    with open_store(db, read_only=True) as store:
        assert store.count() == 400
    again = CliRunner().invoke(command, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    with open_store(db, read_only=True) as store:
        assert store.count() == 400
