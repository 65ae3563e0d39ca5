"""The full report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Sections: KPI tiles with their trend against the previous period, spend over time stacked by
team and by model, where the LLM cost goes (by usage part, with the rate each was paid at), the
cost-driver waterfall with the dominant driver per team and feature, the most expensive sessions,
and spend by the requested dimensions. Every KPI tile carries its exact
value in ``data-value`` (as in the JSON report) so that tests and scripts can read it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape
from typing import Final

from tokenomy.analysis.cost_split import CostSplit
from tokenomy.analysis.drivers import DRIVERS, PARTS, CostDrivers
from tokenomy.analysis.formats import UNKNOWN, change, money_short, percent, tokens
from tokenomy.analysis.kpis import Kpi
from tokenomy.analysis.overview import Overview, Series
from tokenomy.analysis.periods import Period
from tokenomy.analysis.sessions import SessionList, main_part_text
from tokenomy.analysis.svg import stacked_bars, waterfall

SHORT: Final = {
    "volume": "volume",
    "model_mix": "model mix",
    "input_tokens_per_call": "input/call",
    "output_tokens_per_call": "output/call",
    "cache_hit_rate": "cache hits",
    "prices": "prices",
    "charges": "charges",
    "untracked": "untracked",
}
"""Short names of the cost-driver parts, for chart labels."""
WRAP_CHARS: Final = 40
"""Text cells longer than this may wrap onto several lines."""
SPEND_ROWS: Final = 50
"""Rows of the spend table shown, the most expensive first."""
BAR_PX: Final = 240
"""Length of the bar of a part that is the whole LLM cost."""
DRIVER_ROWS: Final = 8
"""Rows of the cost-driver table shown per dimension, the largest changes first."""

CSS: Final = """
:root { --ink:#1d2430; --muted:#5b6472; --line:#e3e6eb; --bg:#f6f7f9; --good:#007a55; --bad:#b3400a; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink);
       background:var(--bg); }
main { max-width:1120px; margin:0 auto; padding:24px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:16px; margin:0 0 12px; }
.sub { color:var(--muted); margin:0 0 20px; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:12px;
         margin-bottom:20px; }
.tile { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.tile .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.tile .value { font-size:22px; font-weight:600; margin:4px 0; font-variant-numeric:tabular-nums; }
.trend { font-size:12px; color:var(--muted); }
.trend.good { color:var(--good); } .trend.bad { color:var(--bad); }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px; margin-bottom:20px; }
svg.chart { width:100%; height:auto; display:block; }
svg .grid { stroke:var(--line); } svg .tick, svg .legend { font-size:11px; fill:var(--muted); }
svg .value { font-size:10px; fill:var(--ink); }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; }
td.num, th.num { text-align:right; }
.notes { color:var(--muted); font-size:12px; } .pill { padding:1px 6px; border-radius:9px; font-size:12px; }
.pill.success { background:#e3f4ec; color:var(--good); }
.pill.failure { background:#fbe9e1; color:var(--bad); }
.pill.unknown { background:#eceef1; color:var(--muted); }
.card { overflow-x:auto; }
svg.chart { min-width:720px; }
td.wrap { white-space:normal; overflow-wrap:anywhere; min-width:24ch; }
span.bar { display:block; height:10px; background:#4a78c2; border-radius:2px; }
@media print {
  body { background:#fff; print-color-adjust:exact; -webkit-print-color-adjust:exact; }
  main { max-width:none; padding:0; }
  .card, .tile, tr { break-inside:avoid; }
  .card { overflow:visible; }
  svg.chart { min-width:0; }
  table { font-size:11px; } th, td { padding:4px 5px; } td.wrap { min-width:16ch; }
}
"""


def render(data: Overview) -> str:
    """The report as a complete HTML document (UTF-8, self-contained)."""
    period = data.period.label() if data.period else "all time"
    previous = data.previous.label() if data.previous else None
    trends = any(k.previous is not None for k in data.kpis)
    filters = ", ".join(f"{k} = {' | '.join(v)}" for k, v in data.scope.where)
    subtitle = (
        f"{period}"
        + (f" · compared with {previous}" if previous and trends else "")
        + (f" · no calls to compare with in {previous}" if previous and not trends else "")
        + (f" · {filters}" if filters else "")
    )
    body = [
        "<header><h1>tokenomy report</h1>",
        f'<p class="sub">{escape(subtitle)}</p></header>',
        _tiles(data.kpis),
        _chart_card("spend-by-team", "Spend over time by team", data.over_time["team"]),
        _chart_card("spend-by-model", "Spend over time by model", data.over_time["model"]),
        _split(data.split),
        _drivers(data.drivers, data.previous, empty=not data.table.total.calls),
        _sessions(data.sessions),
        _spend_table(data),
        _notes(data.notes),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tokenomy report · {escape(period)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _kpi_value(kpi: Kpi) -> str:
    if kpi.value is None:
        return UNKNOWN
    if kpi.unit == "USD":
        return money_short(Decimal(kpi.value))
    if kpi.unit == "ratio":
        return percent(float(kpi.value))
    return f"{int(kpi.value):,}"


def _tiles(items: Sequence[Kpi]) -> str:
    tiles = []
    for kpi in items:
        raw = "" if kpi.value is None else str(kpi.value)
        if kpi.change is None:
            trend, css = ("no previous data" if kpi.previous is None else "no change"), ""
        else:
            arrow = "▲" if kpi.change > 0 else "▼"
            css = {True: "good", False: "bad", None: ""}[kpi.improved]
            trend = f"{arrow} {change(kpi.change)} vs previous"
        said = kpi.reason or kpi.note
        title = f' title="{escape(said)}"' if said else ""
        if kpi.note:
            trend = f"{trend} · {kpi.note}"
        tiles.append(
            f'<div class="tile" data-kpi="{kpi.name}" data-value="{escape(raw)}"{title}>'
            f'<div class="label">{escape(kpi.label)}</div><div class="value">{_kpi_value(kpi)}</div>'
            f'<div class="trend {css}">{escape(trend)}</div></div>'
        )
    return f'<section class="tiles" id="kpis">{"".join(tiles)}</section>'


def _chart_card(ident: str, title: str, series: Series) -> str:
    if not series.labels or not series.values:
        chart = '<p class="notes">no spend in this period</p>'
    else:
        chart = stacked_bars(title, series.labels, series.values)
    return f'<section class="card" id="{ident}"><h2>{escape(title)} (per {series.unit})</h2>{chart}</section>'


def _drivers(drivers: CostDrivers | None, previous: Period | None, *, empty: bool = False) -> str:
    if drivers is None:
        before = f" ({previous.label()})" if previous else ""
        text = (
            "No cost drivers: this period holds no calls."
            if empty
            else f"No cost drivers: the previous period{before} holds no calls to compare with. "
            "Choose a period with --since/--until, or a baseline with --compare."
        )
        body = f'<h2>Why spend changed</h2><p class="notes">{escape(text)}</p>'
        return f'<section class="card" id="drivers">{body}</section>'
    total = drivers.total
    title = f"Why spend changed: {drivers.baseline.label()} → {drivers.current.label()}"
    steps = [(SHORT[name], total.parts[name]) for name in PARTS if name in DRIVERS or total.parts[name]]
    chart = waterfall(title, ("before", total.baseline_cost), steps, ("now", total.current_cost))
    rows, cut = [], []
    for dim, group_rows in drivers.groups.items():
        if len(group_rows) > DRIVER_ROWS:
            cut.append(f"by {dim}: the {DRIVER_ROWS} largest changes of {len(group_rows):,} values")
        for row in group_rows[:DRIVER_ROWS]:
            dominant = SHORT.get(row.dominant or "", UNKNOWN)
            rows.append(
                _tr(
                    [
                        dim,
                        row.group[dim],
                        money_short(row.baseline_cost),
                        money_short(row.current_cost),
                        _signed(row.change),
                        dominant,
                        _signed(row.parts[row.dominant]) if row.dominant else UNKNOWN,
                    ],
                    numeric=(2, 3, 4, 6),
                )
            )
    table = _table(
        ["by", "value", "before", "now", "change", "dominant driver", "its effect"], rows, (2, 3, 4, 6)
    )
    notes = _notes([*drivers.notes, *cut])
    return f'<section class="card" id="drivers"><h2>{escape(title)}</h2>{chart}{table}{notes}</section>'


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + money_short(value)


def _sessions(sessions: SessionList) -> str:
    rows = []
    for s in sessions.rows:
        duration = UNKNOWN if s.duration_s is None else f"{s.duration_s:,.1f} s"
        rows.append(
            _tr(
                [
                    s.session_id,
                    s.calls,
                    s.charges,
                    tokens(_known_sum(s.input_total, s.output_total)),
                    duration,
                    f'<span class="pill {s.outcome}">{s.outcome}</span>',
                    money_short(s.cost),
                    main_part_text(s),
                    s.unpriced,
                ],
                numeric=(1, 2, 3, 4, 6, 8),
                raw=(5,),
            )
        )
    head = ["session", "calls", "charges", "tokens", "duration", "outcome", "cost", "mostly", "unpriced"]
    title = f"Most expensive sessions (of {sessions.sessions:,})"
    table = (
        _table(head, rows, (1, 2, 3, 4, 6, 8)) if rows else '<p class="notes">no sessions in this period</p>'
    )
    return f'<section class="card" id="sessions"><h2>{escape(title)}</h2>{table}</section>'


def _split(split: CostSplit | None) -> str:
    """Where the LLM cost goes: a row per part with its tokens, cost, share (drawn as a bar) and the
    rate it was paid at; nothing when no call was priced."""
    if split is None or not split.rows:
        return ""
    rows = []
    for row in split.rows:
        rate = row.per_million
        cells: list[object] = [
            row.label,
            "" if row.tokens is None else tokens(row.tokens),
            money_short(row.cost),
            percent(row.share),
            "" if rate is None else money_short(rate),
            f'<span class="bar" style="width:{min(max(row.share or 0, 0), 1) * BAR_PX:.0f}px"></span>',
        ]
        rows.append(_tr(cells, numeric=range(1, 5), raw=(5,)))
    head = ["part", "tokens", "cost", "share", "per 1M tokens", ""]
    title = f"Where the LLM cost goes ({money_short(split.total)}, priced calls)"
    table = _table(head, rows, range(1, 5))
    return f'<section class="card" id="cost-split"><h2>{escape(title)}</h2>{table}</section>'


def _spend_table(data: Overview) -> str:
    """The costliest rows; with a column ``usage unknown`` (as the terminal's table) when some call
    left its usage unreported, so a row's tokens that leave those calls out say so."""
    by = list(data.table.by)
    unknown = data.table.total.usage_unknown > 0
    rows = []
    ranked = sorted(data.table.rows, key=lambda r: -(r.cost or Decimal(0)))
    for r in ranked[:SPEND_ROWS]:
        cells: list[object] = [r.group[d] for d in by]
        cells += [
            r.calls,
            r.charges,
            tokens(r.tokens_processed),  # "—" when none of the row's calls reported a total, never 0
            money_short(r.cost),
            percent(r.cost_share),
            r.unpriced,
            *([r.usage_unknown] if unknown else []),
        ]
        rows.append(_tr(cells, numeric=tuple(range(len(by), len(cells)))))
    head = [
        *by,
        "calls",
        "charges",
        "tokens",
        "cost",
        "share",
        "unpriced",
        *(["usage unknown"] if unknown else []),
    ]
    title = "Spend by " + (", ".join(by) if by else "everything")
    if len(ranked) > SPEND_ROWS:
        title += f" (the {SPEND_ROWS} most expensive of {len(ranked):,} rows)"
    table = (
        _table(head, rows, range(len(by), len(head)))
        if rows
        else '<p class="notes">no calls or charges in this period</p>'
    )
    return f'<section class="card" id="spend"><h2>{escape(title)}</h2>{table}</section>'


def _tr(cells: Sequence[object], numeric: Iterable[int] = (), raw: Iterable[int] = ()) -> str:
    """A table row; a text cell longer than :data:`WRAP_CHARS` may wrap (one long name would else
    widen its table past the page)."""
    nums, raws = set(numeric), set(raw)
    out = []
    for i, cell in enumerate(cells):
        text = str(cell) if i in raws else escape(f"{cell:,}" if isinstance(cell, int) else str(cell))
        if i in nums:
            out.append(f'<td class="num">{text}</td>')
        elif i not in raws and len(str(cell)) > WRAP_CHARS:
            out.append(f'<td class="wrap">{text}</td>')
        else:
            out.append(f"<td>{text}</td>")
    return f"<tr>{''.join(out)}</tr>"


def _table(head: Sequence[str], rows: Sequence[str], numeric: Iterable[int]) -> str:
    nums = set(numeric)
    th = "".join(
        f'<th class="num">{escape(h)}</th>' if i in nums else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"


def _known_sum(first: int | None, second: int | None) -> int | None:
    """The sum of the counts that are known; None when neither is."""
    if first is None and second is None:
        return None
    return (first or 0) + (second or 0)
