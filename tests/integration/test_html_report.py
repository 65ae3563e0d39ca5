"""The HTML report in a real headless Chromium: no console errors, no requests, charts and KPIs right.

Debian's chromium is used (``scripts/system-deps test`` installs it; nothing is downloaded), driven
by the ``playwright`` package, with a fresh profile and every background service off. A screenshot
is saved in the test's folder, and also to ``$TOKENOMY_REPORT_SCREENSHOT`` when that is set.
"""

from __future__ import annotations

import json
import os
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

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PERIOD = ["--since", "2026-10-12", "--until", "2026-10-19"]


def _report(*args: str) -> str:
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("html")
    data = folder / "calls.jsonl"
    with data.open("wb") as out:
        run(SimulationConfig(calls=4000, days=14, seed=3), out)
    db = folder / "store.duckdb"
    with open_store(db) as store:
        store.import_native_jsonl(data, pricer=Pricer())
    return db


def _browse(page_path: Path, screenshot: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: run scripts/system-deps test")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(page_path.parent / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            found: dict[str, Any] = page.evaluate(
                """() => ({
                    teamBars: document.querySelectorAll('#spend-by-team rect.bar').length,
                    teamSeries: [...new Set([...document.querySelectorAll('#spend-by-team rect.bar')]
                        .map(r => r.dataset.series))].sort(),
                    teamLegend: document.querySelectorAll('#spend-by-team .legend-item').length,
                    modelSeries: new Set([...document.querySelectorAll('#spend-by-model rect.bar')]
                        .map(r => r.dataset.series)).size,
                    modelLegend: document.querySelectorAll('#spend-by-model .legend-item').length,
                    waterfall: [...document.querySelectorAll('#drivers rect.bar')].map(r => r.dataset.x),
                    tiles: Object.fromEntries([...document.querySelectorAll('[data-kpi]')]
                        .map(t => [t.dataset.kpi, t.dataset.value])),
                    sessions: document.querySelectorAll('#sessions tbody tr').length,
                    chartWidth: document.querySelector('#spend-by-team svg').getBoundingClientRect().width,
                })"""
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    found["errors"], found["requests"] = errors, requests
    return found


def test_the_report_renders_in_chromium(store_path: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    _report("--db", str(store_path), *PERIOD, "--by", "team", "--format", "html", "-o", str(page_path))
    shot = tmp_path / "report.png"
    found = _browse(page_path, shot)
    assert found["errors"] == []
    assert found["requests"] == [page_path.as_uri()]  # the page itself, nothing else
    assert shot.stat().st_size > 10_000
    if os.environ.get("TOKENOMY_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["TOKENOMY_REPORT_SCREENSHOT"])

    expected = json.loads(_report("--db", str(store_path), *PERIOD, "--by", "team", "--format", "json"))
    assert found["tiles"] == {
        name: "" if kpi["value"] is None else str(kpi["value"]) for name, kpi in expected["kpis"].items()
    }
    daily = json.loads(
        _report("--db", str(store_path), *PERIOD, "--by", "team", "--bucket", "day", "--format", "json")
    )
    priced = [r for r in daily["rows"] if r["cost"] is not None and float(r["cost"]) > 0]
    assert found["teamBars"] == len(priced)
    assert found["teamSeries"] == sorted({r["team"] for r in priced})
    assert found["teamLegend"] == len({r["team"] for r in daily["rows"]})
    models = json.loads(_report("--db", str(store_path), *PERIOD, "--by", "model", "--format", "json"))
    assert found["modelSeries"] == found["modelLegend"] == min(len(models["rows"]), 8)
    assert found["waterfall"][0] == "before"
    assert found["waterfall"][-1] == "now"
    assert {"volume", "model mix", "input/call", "output/call", "cache hits", "prices"} <= set(
        found["waterfall"]
    )
    assert found["sessions"] == 10
    assert found["chartWidth"] > 900
