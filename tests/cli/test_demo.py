"""``tokenomy demo`` runs simulate, import, report and audit, writes the HTML pages, and is idempotent."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tokenomy.cli import report
from tokenomy.cli.demo import command
from tokenomy.store import open_store


def test_demo_simulates_imports_and_reports_once(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    args = ["--db", str(db), "--out", str(tmp_path / "data"), "--calls", "400", "--days", "3"]
    first = CliRunner().invoke(command, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "1/4" in first.output
    assert first.output.index("3/4  waste audit") < first.output.index("4/4  report")
    assert "where the LLM cost goes (priced calls)" in first.output  # the report runs with --parts
    assert (tmp_path / "data" / "traffic.jsonl").exists()
    for page in ("report.html", "audit.html"):
        html = (tmp_path / "data" / page).read_text(encoding="utf-8")
        assert html.lower().startswith("<!doctype html>"), page
        assert "<script src=" not in html, page
        assert "http://" not in html.split("</head>")[0], page
    # the page shows what `tokenomy report` shows from then on: the audit's findings were saved before it
    later = tmp_path / "later.html"
    assert (
        CliRunner().invoke(report.command, ["--db", str(db), "--format", "html", "-o", str(later)]).exit_code
        == 0
    )
    assert later.read_text(encoding="utf-8") == (tmp_path / "data" / "report.html").read_text(
        encoding="utf-8"
    )
    with open_store(db, read_only=True) as store:
        assert store.count() == 400
    again = CliRunner().invoke(command, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    with open_store(db, read_only=True) as store:
        assert store.count() == 400
