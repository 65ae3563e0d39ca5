"""Charts as inline SVG text, drawn here so a report is one self-contained file (no script, no fetch).

Two charts: stacked bars (a value per series per x label, e.g. spend per day stacked by team) and
a waterfall (a start value, signed steps, an end value, e.g. cost drivers). Every bar is a
``<rect>`` with ``data-series`` and ``data-x`` attributes and a ``<title>`` tooltip, so a browser
test can count bars and series. Colours come from a colour-blind-safe palette (Okabe-Ito). When
a waterfall's steps are small next to its totals, its value axis starts above zero (the axis
says where) so that the steps stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Final

from tokenomy.analysis.formats import half_up

PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#999999",
    "#000000",
    "#882255",
)
"""Okabe-Ito colours (grey eighth: the ``(other)`` series of a report); series beyond reuse them."""
UP: Final = "#D55E00"
DOWN: Final = "#009E73"
TOTAL: Final = "#0072B2"
WIDTH: Final = 960
_PLOT_H: Final = 240
_LEFT: Final = 70
_RIGHT: Final = 16
_TOP: Final = 22
_AXIS_H: Final = 26
_LEGEND_ROW: Final = 18
_CHAR_W: Final = 6.6
_LABEL_GAP: Final = 10
"""Room kept between two x labels, in chart units."""
LEGEND_CHARS: Final = 40
"""Longest series name a legend writes out; a longer one is cut with "…" (its tooltip has it whole)."""


def short(text: str, limit: int = LEGEND_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis, when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def money_label(value: float) -> str:
    """A short dollar label for an axis or a bar: ``$1.2K``, ``$35``, ``$0.42``, ``-$3.10``; rounded
    a half up, as every amount shown, before the unit is chosen ($999.50 is ``$1K``, not ``$1000``)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if not math.isfinite(value):
        return f"{sign}${value}"
    exact = Decimal(repr(value))
    cents = half_up(exact, Decimal("0.01"))
    if cents < 100:
        return f"{sign}${cents}"
    shown, suffix = half_up(exact, Decimal(1)), ""
    for size, unit in _UNITS:
        if shown < 1000:
            break
        scaled = exact / size
        shown, suffix = half_up(scaled, Decimal(1).scaleb(scaled.adjusted() - 2)), unit  # 3 digits
    return f"{sign}${shown.normalize():f}{suffix}"


_UNITS: Final = ((Decimal(10) ** 3, "K"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 9, "B"))


def nice_step(span: float, count: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``count`` steps over ``span``."""
    raw = span / count if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


@dataclass(frozen=True, slots=True)
class _Scale:
    """Maps values in ``[low, high]`` to the plot's y coordinates."""

    low: float
    high: float

    def y(self, value: float) -> float:
        """The y coordinate of ``value``."""
        span = self.high - self.low or 1.0
        return _TOP + (self.high - value) / span * _PLOT_H

    def ticks(self) -> list[float]:
        """Round values between the low and high ends, for the axis."""
        step = nice_step(self.high - self.low)
        first = math.ceil(self.low / step) * step
        return [first + i * step for i in range(int((self.high - first) / step + 1e-9) + 1)]


def _frame(title: str, body: list[str], height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{escape(title)}" class="chart">' + "".join(body) + "</svg>"
    )


def _axis(scale: _Scale) -> list[str]:
    out = []
    for tick in scale.ticks():
        y = scale.y(tick)
        out.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{money_label(tick)}</text>'
        )
    return out


def _x_label(x: float, text: str) -> str:
    """A label centred below ``x``, kept inside the plot so it never runs into the value axis."""
    y = _TOP + _PLOT_H + 16
    half = _CHAR_W * len(text) / 2
    anchor = "middle"
    if x - half < _LEFT:
        x, anchor = float(_LEFT), "start"
    elif x + half > WIDTH - _RIGHT:
        x, anchor = float(WIDTH - _RIGHT), "end"
    return f'<text x="{x:.1f}" y="{y}" class="tick" text-anchor="{anchor}">{escape(text)}</text>'


def stacked_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Decimal | float]]) -> str:
    """Bars per x label, each stacked from the series' values (zero values draw nothing).

    Args:
        title: The chart's accessible name.
        labels: The x labels (time buckets), in order.
        series: Series name -> one value per label (dollars).
    """
    names = list(series)
    totals = [sum(float(series[n][i]) for n in names) for i in range(len(labels))]
    tallest = max(totals, default=0.0) or 1.0
    step = nice_step(tallest)
    scale = _Scale(0.0, math.ceil(tallest / step - 1e-9) * step)  # up to a round, labelled line
    slot = (WIDTH - _LEFT - _RIGHT) / max(len(labels), 1)
    bar_w = max(slot * 0.72, 1.0)
    widest = max((_CHAR_W * len(label) for label in labels), default=0.0)
    fits = max(int((WIDTH - _LEFT - _RIGHT) // (widest + _LABEL_GAP)), 1)
    every = max(math.ceil(len(labels) / fits), 1)  # every label drawn has room: none runs into the next
    body = _axis(scale)
    for i, label in enumerate(labels):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        level = 0.0
        for j, name in enumerate(names):
            value = float(series[name][i])
            if value <= 0:
                continue
            top, bottom = scale.y(level + value), scale.y(level)
            level += value
            tip = f"{label} · {name}: {money_label(value)}"
            body.append(
                f'<rect class="bar" data-series="{escape(name)}" data-x="{escape(label)}" x="{x:.1f}" '
                f'y="{top:.1f}" width="{bar_w:.1f}" height="{bottom - top:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(tip)}</title></rect>'
            )
        if i % every == 0:
            body.append(_x_label(x + bar_w / 2, label))
    legend, rows = _legend(names, _TOP + _PLOT_H + _AXIS_H + 12)
    body.extend(legend)
    return _frame(title, body, _TOP + _PLOT_H + _AXIS_H + rows * _LEGEND_ROW + 8)


def _legend(names: Sequence[str], y: float) -> tuple[list[str], int]:
    """Legend items, wrapped onto as many rows as the width needs; returns them and the row count.

    A name longer than :data:`LEGEND_CHARS` is cut short (the item's tooltip gives it whole), so
    that one long name cannot run off the chart.
    """
    out: list[str] = []
    x, row = float(_LEFT), 0
    for j, name in enumerate(names):
        shown = short(name)
        width = 24 + _CHAR_W * len(shown)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            x, row = float(_LEFT), row + 1
        top = y + row * _LEGEND_ROW
        out.append(
            f'<g class="legend-item" data-series="{escape(name)}"><title>{escape(name)}</title>'
            f'<rect x="{x:.1f}" y="{top - 9:.1f}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{x + 14:.1f}" y="{top:.1f}" class="legend">{escape(shown)}</text></g>'
        )
        x += width
    return out, row + 1 if names else 0


def _waterfall_scale(levels: Sequence[float]) -> _Scale:
    high, low = max([*levels, 0.0]), min([*levels, 0.0])
    moving = max(levels) - min(levels)
    if low >= 0 and 0 < moving < 0.2 * high:  # small steps on large totals: start the axis higher
        step = nice_step(moving * 3)
        low = max(0.0, math.floor((min(levels) - moving) / step) * step)
    return _Scale(low, high * 1.05 if high > 0 else 1.0)


def waterfall(
    title: str, start: tuple[str, Decimal], steps: Sequence[tuple[str, Decimal]], end: tuple[str, Decimal]
) -> str:
    """A waterfall: the start bar, one floating bar per signed step, the end bar.

    The steps must add up from ``start`` to ``end`` (cost drivers do, exactly).
    """
    levels = [float(start[1])]
    for _, value in steps:
        levels.append(levels[-1] + float(value))
    scale = _waterfall_scale([*levels, float(end[1])])
    bars = [(start[0], scale.low, float(start[1]), TOTAL, "total")]
    bars += [
        (label, before, before + float(value), UP if value > 0 else DOWN, "step")
        for (label, value), before in zip(steps, levels, strict=False)
    ]
    bars.append((end[0], scale.low, float(end[1]), TOTAL, "total"))
    slot = (WIDTH - _LEFT - _RIGHT) / len(bars)
    bar_w = slot * 0.6
    body = _axis(scale)
    if scale.low > 0:
        body.append(
            f'<text x="{_LEFT}" y="{_TOP - 8}" class="tick">axis starts at {money_label(scale.low)}</text>'
        )
    for i, (label, lo, hi, colour, kind) in enumerate(bars):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        top, bottom = scale.y(max(lo, hi)), scale.y(min(lo, hi))
        delta = hi - lo if kind == "step" else hi
        shown = ("+" if kind == "step" and delta > 0 else "") + money_label(delta)
        body.append(
            f'<rect class="bar {kind}" data-series="{kind}" data-x="{escape(label)}" x="{x:.1f}" '
            f'y="{top:.1f}" width="{bar_w:.1f}" height="{max(bottom - top, 1):.1f}" fill="{colour}">'
            f"<title>{escape(f'{label}: {shown}')}</title></rect>"
        )
        body.append(_x_label(x + bar_w / 2, label))
        body.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top - 5:.1f}" class="value" text-anchor="middle">'
            f"{escape(shown)}</text>"
        )
    return _frame(title, body, _TOP + _PLOT_H + _AXIS_H)
