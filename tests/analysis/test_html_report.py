"""The HTML report is one self-contained page: no script, nothing fetched, values as in the JSON."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from tests.analysis.builders import hand_store
from tests.analysis.conftest import SimStore
from tokenomy.analysis import html_report
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.overview import kpi_json, overview
from tokenomy.store import open_store


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_a_page_with_nothing_external(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        data = overview(store, Scope(datetime(2026, 10, 12), datetime(2026, 10, 19)))
    page = html_report.render(data)
    tags = _parse(page)
    names = {t for t, _ in tags}
    assert "script" not in names
    assert "link" not in names
    assert "img" not in names
    assert not re.search(r"(src|href)\s*=", page)
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * len(
        re.findall("<svg", page)
    )
    tiles = {a["data-kpi"]: a["data-value"] for t, a in tags if t == "div" and a.get("data-kpi")}
    expected = kpi_json(data.kpis)
    assert tiles == {name: ("" if k["value"] is None else str(k["value"])) for name, k in expected.items()}
    ids = {a.get("id") for _, a in tags}
    assert {"kpis", "spend-by-team", "spend-by-model", "drivers", "sessions", "spend"} <= ids
    team_bars = sum(1 for values in data.over_time["team"].values.values() for v in values if v > 0)
    assert page.count('<rect class="bar" data-series=') >= team_bars


def test_an_empty_store_still_renders(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        page = html_report.render(overview(store))
    assert "no spend in this period" in page
    assert page.startswith("<!DOCTYPE html>")


def test_unpriced_never_shows_as_zero(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        page = html_report.render(overview(store, by=("team",)))
    assert "1 unpriced call(s)" in page
    row_b = re.search(r"<tr><td>b</td>(.*?)</tr>", page)
    assert row_b is not None
    assert "$0.0020" in row_b.group(1)  # team b: its charge; its unpriced call adds nothing, and is counted


def test_a_session_with_an_unpriced_call_says_so(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        page = html_report.render(overview(store, by=("team",)))
    section = re.search(r'<section class="card" id="sessions">(.*?)</section>', page)
    assert section is not None
    assert '<th class="num">unpriced</th>' in section.group(1)
    s2 = re.search(r"<tr><td>s2</td>(.*?)</tr>", section.group(1))
    assert s2 is not None  # c3 failed at $0, c4 is unpriced: the $0 is not the whole cost
    # ... and a cost of $0 went to nothing ("mostly" is empty)
    assert s2.group(1).endswith('<td class="num">$0.0000</td><td></td><td class="num">1</td>')
    assert "<th>mostly</th>" in section.group(1)
