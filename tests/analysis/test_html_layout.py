"""The HTML report with odd names, an empty period and long tables: escaped, said, and kept readable."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from tests.analysis.builders import T0, call, cost, usage
from tokenomy.analysis import html_report
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.overview import overview
from tokenomy.store import open_store

SCRIPT = "<script>alert(1)</script>"
QUOTES = "R&D \"quotes\" 'single'"
LONG = "a-very-long-team-name-" + "x" * 100
SESSION = "<img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """Tags with their attributes, the text of every ``td``, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[tuple[str | None, str]] = []
        self.text: list[str] = []
        self._cell: tuple[str | None, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = (dict(attrs).get("class"), [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], "".join(self._cell[1])))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell[1].append(data)


def parse(page: str) -> Page:
    """The page read by :class:`Page` (the audit page's tests read it too)."""
    parser = Page()
    parser.feed(page)
    return parser


def _odd_store(path: Path, teams: list[str], *, days: int = 1) -> None:
    with open_store(path) as store:
        calls = [
            call(
                f"c{i}-{d}",
                team=team,
                feature=f"f{i}",
                session_id=SESSION if i == 0 else f"s{i}",
                started_at=T0 + timedelta(days=d, minutes=i),
                usage=usage(1000 + 10 * i, 0, 0, 0, 100, 0),
                cost=cost(f"{0.01 * (i + 1) * (d + 1):.4f}"),
            )
            for i, team in enumerate(teams)
            for d in range(days)
        ]
        store.insert_calls(calls)


def test_odd_names_are_text_everywhere_and_long_ones_wrap(tmp_path: Path) -> None:
    db = tmp_path / "odd.duckdb"
    names = [SCRIPT, QUOTES, "日本語チーム 🚀", LONG]
    _odd_store(db, names)
    with open_store(db, read_only=True) as store:
        page = html_report.render(overview(store, by=("team", "feature")))
    assert "<script" not in page
    assert "<img" not in page
    parsed = parse(page)
    assert not {"script", "img"} & {tag for tag, _ in parsed.tags}
    texts = {text for _, text in parsed.cells}
    assert set(names) <= texts
    assert SESSION in texts
    series = {a["data-series"] for t, a in parsed.tags if t == "rect" and a.get("data-series")}
    assert set(names) <= series
    classes = {text: css for css, text in parsed.cells}
    assert classes[LONG] == "wrap"  # may wrap: it cannot widen its table past the page
    assert classes[SCRIPT] is None
    assert ".card { overflow-x:auto; }" in page  # a table wider than a phone scrolls inside its card


def test_an_empty_period_says_there_is_nothing_rather_than_blaming_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    _odd_store(db, ["a", "b"])
    with open_store(db, read_only=True) as store:
        page = html_report.render(overview(store, Scope(datetime(2027, 1, 1), datetime(2027, 1, 8))))
    text = " ".join(parse(page).text)
    assert "No cost drivers: this period holds no calls." in text
    assert "previous period" not in text.split("Why spend changed")[1].split("Most expensive")[0]
    assert "no sessions in this period" in text
    assert "no calls or charges in this period" in text
    assert "<table><thead><tr><th>session" not in page  # no empty table under the title
    sub = re.search(r'<p class="sub">(.*?)</p>', page)
    assert sub is not None
    assert sub.group(1) == "2027-01-01..2027-01-08 · no calls to compare with in 2026-12-25..2027-01-01"


def test_cut_tables_say_how_much_they_show(tmp_path: Path) -> None:
    db = tmp_path / "many.duckdb"
    _odd_store(db, [f"team{i:02d}" for i in range(60)], days=14)
    with open_store(db, read_only=True) as store:
        data = overview(
            store, Scope(T0.replace(hour=0) + timedelta(days=7), T0.replace(hour=0) + timedelta(days=14))
        )
    page = html_report.render(data)
    assert "<h2>Spend by team (the 50 most expensive of 60 rows)</h2>" in page
    spend = re.search(r'id="spend">(.*?)</section>', page)
    assert spend is not None
    assert spend.group(1).count("<tr><td>") == 50
    assert data.drivers is not None
    assert len(data.drivers.groups["team"]) == 60
    assert "<li>by team: the 8 largest changes of 60 values</li>" in page
    drivers = re.search(r'id="drivers">(.*?)</section>', page)
    assert drivers is not None
    assert drivers.group(1).count("<tr><td>team</td>") == 8


def test_the_subtitle_names_the_baseline_only_when_there_are_trends(tmp_path: Path) -> None:
    db = tmp_path / "two.duckdb"
    _odd_store(db, ["a", "b"], days=14)
    day = T0.replace(hour=0)
    with open_store(db, read_only=True) as store:
        week = html_report.render(overview(store, Scope(day + timedelta(days=7), day + timedelta(days=14))))
        whole = html_report.render(overview(store))
    assert '<p class="sub">2026-10-12..2026-10-19 · compared with 2026-10-05..2026-10-12</p>' in week
    assert (
        '<p class="sub">2026-10-05..2026-10-19 · no calls to compare with in 2026-09-21..2026-10-05</p>'
        in whole
    )
