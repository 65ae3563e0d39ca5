"""The report and audit pages at a laptop's and a phone's width, with a very long team name.

In Debian's chromium (as tests/integration/test_html_report.py): the page never scrolls sideways
(a wide table or chart scrolls inside its own card), and no request leaves the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli
from tokenomy.pricing import Pricer
from tokenomy.simulate import SimulationConfig, run
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

LONG = "a-very-long-team-name-" + "x" * 120
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def odd_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated week whose platform team has a very long name and search team a tag for a name."""
    folder = tmp_path_factory.mktemp("layout")
    raw, data = folder / "raw.jsonl", folder / "calls.jsonl"
    with raw.open("wb") as out:
        run(SimulationConfig(calls=2000, days=7, seed=5), out)
    names = {"platform": LONG, "search": "<script>alert(1)</script>"}
    with data.open("w") as out:
        for line in raw.read_text().splitlines():
            record = json.loads(line)
            team = record.get("attribution", {}).get("team")
            if team in names:
                record["attribution"]["team"] = names[team]
            out.write(json.dumps(record) + "\n")
    db = folder / "store.duckdb"
    with open_store(db) as store:
        store.import_native_jsonl(data, pricer=Pricer())
    return db


def _at_width(browser: Any, page_path: Path, width: int) -> dict[str, Any]:
    """The page's scroll width, console errors and requests at one viewport width."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri())
    sizes = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, view: window.innerWidth})")
    page.close()
    return {"width": width, **sizes, "errors": errors, "requests": requests}


def _widths(page_path: Path) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: run scripts/system-deps test")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            return [_at_width(browser, page_path, width) for width in WIDTHS]
        finally:
            browser.close()


def _write(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["report", "audit"])
def test_a_long_team_name_never_widens_the_page(odd_store: Path, tmp_path: Path, command: str) -> None:
    page_path = tmp_path / f"{command}.html"
    extra = ["--by", "team,feature"] if command == "report" else ["--no-save", "--by", "team"]
    _write(command, "--db", str(odd_store), *extra, "--format", "html", "--out", str(page_path))
    assert LONG in page_path.read_text()
    found = _widths(page_path)
    assert [(f["width"], f["scroll"], f["view"]) for f in found] == [(w, w, w) for w in WIDTHS]
    assert [f["errors"] for f in found] == [[], []]
    assert [f["requests"] for f in found] == [[page_path.as_uri()]] * 2
