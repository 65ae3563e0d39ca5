from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from tokenomy.analysis.svg import money_label, nice_step, stacked_bars, waterfall

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{NS}rect") if "bar" in (r.get("class") or "")]


def test_stacked_bars_draw_one_rect_per_nonzero_value() -> None:
    svg = stacked_bars(
        "spend",
        ["d1", "d2", "d3"],
        {"a <team>": [Decimal(1), Decimal(0), Decimal(2)], "b": [Decimal("0.5"), Decimal(3), Decimal(0)]},
    )
    bars = _bars(svg)
    assert len(bars) == 4
    assert {b.get("data-series") for b in bars} == {"a <team>", "b"}
    tallest = max(float(b.get("height") or 0) for b in bars)
    assert tallest == max(float(b.get("height") or 0) for b in bars if b.get("data-x") == "d2")
    assert "<title>d1 · a &lt;team&gt;: $1.00</title>" in svg
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", svg)


def test_a_long_legend_wraps() -> None:
    names = {f"model-with-a-rather-long-name-{i}": [Decimal(1)] for i in range(8)}
    svg = stacked_bars("spend", ["d1"], names)
    ys = {g.find(f"{NS}text").get("y") for g in ET.fromstring(svg).iter(f"{NS}g")}  # type: ignore[union-attr]
    assert len(ys) > 1


def test_waterfall_steps_float_between_levels() -> None:
    svg = waterfall(
        "drivers",
        ("before", Decimal(100)),
        [("volume", Decimal(10)), ("prices", Decimal(-4))],
        ("now", Decimal(106)),
    )
    bars = _bars(svg)
    assert [b.get("data-x") for b in bars] == ["before", "volume", "prices", "now"]
    assert [b.get("fill") for b in bars][1:3] == ["#D55E00", "#009E73"]
    assert "axis starts at" in svg  # small steps on large totals: the axis does not start at 0


def test_labels_and_steps() -> None:
    assert money_label(1234.0) == "$1.23K"
    assert money_label(-3.1) == "-$3.10"
    assert nice_step(100) == 25
    assert nice_step(7) == 2


def test_x_labels_stay_inside_the_plot() -> None:
    labels = [f"2026-10-{d:02d}" for d in range(1, 31)]
    svg = stacked_bars("spend", labels, {"a": [Decimal(1)] * 30})
    ticks = [t for t in ET.fromstring(svg).iter(f"{NS}text") if t.text in labels]
    first, last = ticks[0], ticks[-1]
    # the first bar sits close to the value axis: its label starts at the axis instead of crossing it
    assert (first.get("text-anchor"), first.get("x")) == ("start", "70.0")
    assert all(t.get("text-anchor") == "middle" for t in ticks[1:-1])
    assert last.text == "2026-10-28"  # every third day is labelled
    assert last.get("text-anchor") == "middle"


def test_the_value_axis_ends_on_a_round_labelled_line() -> None:
    svg = stacked_bars("spend", ["d1", "d2"], {"a": [Decimal("3.9"), Decimal("1")]})
    labels = [t.text for t in ET.fromstring(svg).iter(f"{NS}text") if (t.text or "").startswith("$")]
    assert labels == ["$0.00", "$1.00", "$2.00", "$3.00", "$4.00"]  # 3.9 is drawn below the $4 line


def _x_ticks(svg: str, labels: list[str]) -> list[ET.Element]:
    return [t for t in ET.fromstring(svg).iter(f"{NS}text") if t.text in labels]


def test_two_weeks_of_daily_labels_never_touch() -> None:
    labels = [f"2026-10-{d:02d}" for d in range(5, 19)]  # 14 days: 62 units a bar, 66 a label
    svg = stacked_bars("spend", labels, {"a": [Decimal(1)] * 14})
    ticks = _x_ticks(svg, labels)
    assert [t.text for t in ticks] == labels[::2]  # every other day: each label has a free slot
    centres = [float(t.get("x") or 0) for t in ticks[1:-1]]
    assert min(b - a for a, b in itertools.pairwise(centres)) > 66 + 8


def test_a_long_series_name_is_cut_in_the_legend_and_whole_in_its_tooltip() -> None:
    long_name = "team-" + "x" * 120
    svg = stacked_bars("spend", ["d1"], {long_name: [Decimal(1)], "<b>&</b>": [Decimal(2)]})
    items = [g for g in ET.fromstring(svg).iter(f"{NS}g") if g.get("class") == "legend-item"]
    shown = [g.find(f"{NS}text").text for g in items]  # type: ignore[union-attr]
    assert shown == ["team-" + "x" * 34 + "…", "<b>&</b>"]
    assert [g.findtext(f"{NS}title") for g in items] == [long_name, "<b>&</b>"]
    assert [g.get("data-series") for g in items] == [long_name, "<b>&</b>"]
    right = float(items[1].find(f"{NS}text").get("x") or 0)  # type: ignore[union-attr]
    assert right + 6.6 * len("<b>&</b>") < 960 - 16  # the second item still starts inside the chart
