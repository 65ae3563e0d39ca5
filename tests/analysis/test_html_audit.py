"""The audit's HTML page with odd names: every name is text, and a very long one may wrap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from tests.analysis.test_html_layout import parse
from tests.analysis.waste.factory import Conversation, store_of
from tokenomy.cli.main import cli
from tokenomy.schema import Call

LONG = "a-very-long-team-name-" + "x" * 100
SCRIPT = "<script>alert(1)</script>"


def _caching(session: str, team: str, after: float) -> list[Call]:
    chat = Conversation(
        session, provider="anthropic", model="claude-sonnet-4-5", agent="coder", feature="review", team=team
    )
    chat.clock += timedelta(seconds=after)
    return [chat.ask(f"{session}-{i}", (f"turn-{i}", 200)) for i in range(4)]


def test_long_and_odd_names_in_the_audit_page(tmp_path: Path) -> None:
    calls = [*_caching("k1", LONG, 60), *_caching("k2", LONG, 86_400), *_caching("k3", SCRIPT, 3_600)]
    store_of(tmp_path, calls).close()
    target = tmp_path / "audit.html"
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "--db",
            str(tmp_path / "audit.duckdb"),
            "--format",
            "html",
            "--no-save",
            "--by",
            "team",
            "--out",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    page = target.read_text()
    assert "<script" not in page
    parsed = parse(page)
    assert "script" not in {tag for tag, _ in parsed.tags}
    by_text = {text: css for css, text in parsed.cells}
    assert by_text[LONG] == "wrap"  # the "Waste by team" row: may break, never widens the page
    assert by_text[SCRIPT] is None  # short names stay as they are
    routes = [css for css, text in parsed.cells if text.startswith(LONG + " / ")]
    assert routes
    assert set(routes) == {"wrap"}
    assert "td.wrap { overflow-wrap:anywhere; min-width:24ch; }" in page
