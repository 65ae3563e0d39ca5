"""The audit as one self-contained HTML page: inline CSS, no script, nothing fetched.

Every finding row carries its id and exact wasted dollars in ``data-`` attributes, as in the JSON
report, so that tests and scripts can read them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Final

from tokenomy.analysis.cache_advisor import route_name
from tokenomy.analysis.formats import UNKNOWN, money_short, percent, tokens
from tokenomy.cli.audit_json import AuditReport, cache_overlap_note
from tokenomy.cli.audit_text import costliest_session, finding_route, money_range, plan_caption
from tokenomy.native import money_text

CSS: Final = """
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:#1d2430;
       background:#f6f7f9; }
main { max-width:1180px; margin:0 auto; padding:24px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:16px; margin:0 0 12px; }
.sub, .notes, caption { color:#5b6472; font-size:12px; }
section { background:#fff; border:1px solid #e3e6eb; border-radius:8px; padding:16px; margin-bottom:20px;
          overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
caption { caption-side:bottom; text-align:left; padding-top:8px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid #e3e6eb; vertical-align:top; }
th { color:#5b6472; font-weight:600; font-size:12px; }
td.num, th.num { text-align:right; white-space:nowrap; }
.sev-high { color:#b3400a; font-weight:600; } .sev-medium { color:#8a6100; } .sev-low { color:#5b6472; }
td.wrap { overflow-wrap:anywhere; min-width:24ch; }
@media print {
  body { background:#fff; }
  main { max-width:none; padding:0; }
  section { overflow:visible; }
  tr { break-inside:avoid; }
}
"""
LONG_WORD: Final = 40
"""Longest word a table cell keeps whole."""


def _cells(values: Sequence[str], numeric: Iterable[int] = ()) -> str:
    """Table cells of escaped ``values``; a text cell holding a word longer than :data:`LONG_WORD`
    characters may break it anywhere (one long name would else widen its table past the page)."""
    nums = set(numeric)
    out = []
    for i, v in enumerate(values):
        if i in nums:
            out.append(f'<td class="num">{v}</td>')
        elif any(len(word) > LONG_WORD for word in v.split()):
            out.append(f'<td class="wrap">{v}</td>')
        else:
            out.append(f"<td>{v}</td>")
    return "".join(out)


def _table(head: Sequence[str], rows: Sequence[str], numeric: Iterable[int] = (), caption: str = "") -> str:
    nums = set(numeric)
    ths = "".join(
        f'<th class="num">{escape(h)}</th>' if i in nums else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _findings(report: AuditReport) -> str:
    rows = []
    for rank, f in enumerate(report.result.findings[: report.top], start=1):
        values = [
            str(rank),
            escape(f.category),
            f'<span class="sev-{f.severity.value}">{f.severity.value}</span>',
            escape(finding_route(f)),
            f"{len(f.session_ids):,}",
            tokens(f.wasted_tokens),
            escape(money_short(f.wasted_cost)),
            escape(money_range(f.monthly_savings_low, f.monthly_savings_high)),
            escape(f.fix),
            escape(costliest_session(f) or UNKNOWN),
        ]
        cost = "" if f.wasted_cost is None else money_text(f.wasted_cost)
        rows.append(
            f'<tr data-finding="{escape(f.id)}" data-wasted="{cost}">{_cells(values, (0, 4, 5, 6))}</tr>'
        )
    head = (
        "#",
        "category",
        "severity",
        "route",
        "sessions",
        "wasted tokens",
        "wasted $",
        "monthly",
        "fix",
        "costliest session",
    )
    title = f"<h2>Findings, ranked by dollars ({len(report.result.findings):,} in all)</h2>"
    return f"<section id='findings'>{title}{_table(head, rows, (0, 4, 5, 6))}</section>"


def _by(report: AuditReport) -> str:
    if report.by is None:
        return ""
    rows = [
        "<tr>"
        + _cells(
            [
                escape(r.value),
                escape(r.category),
                f"{r.findings:,}",
                f"{r.sessions:,}",
                escape(money_short(r.wasted_cost)),
                escape(money_range(r.monthly_low, r.monthly_high)),
            ],
            (2, 3, 4),
        )
        + "</tr>"
        for r in report.by_rows
    ]
    head = (report.by, "category", "findings", "sessions", "wasted $", "monthly")
    return f"<section id='by'><h2>Waste by {escape(report.by)}</h2>{_table(head, rows, (2, 3, 4))}</section>"


def _plan(report: AuditReport) -> str:
    plan = report.plan
    rows = []
    for rank, e in enumerate(plan.entries, start=1):
        f = e.finding
        assumes = "; ".join(a.removeprefix("fix: ") for a in f.assumptions)
        values = [
            str(rank),
            escape(f"{f.category}: {f.fix}"),
            escape(finding_route(f)),
            escape(money_short(e.saving)),
            escape(money_range(e.monthly_low, e.monthly_high)),
            escape(assumes),
        ]
        rows.append(f"<tr>{_cells(values, (0, 3))}</tr>")
    text = plan_caption(report)
    caption = text[:1].upper() + text[1:] + "."
    head = ("#", "fix", "route", "saves (period)", "monthly", "assumes")
    return f"<section id='plan'><h2>Savings plan</h2>{_table(head, rows, (0, 3), caption)}</section>"


def _cache(report: AuditReport) -> str:
    rows = []
    for r in report.advice.routes:
        gaps = UNKNOWN if r.gap_p50_s is None else f"{r.gap_p50_s:.0f} / {(r.gap_p90_s or 0):.0f}"
        values = [
            escape(route_name(r.route)),
            f"{r.calls:,}",
            tokens(r.prefix_tokens),
            tokens(r.min_tokens),
            percent(r.repeat_share, 0),
            gaps,
            percent(r.hit_ratio, 0),
            escape(", ".join(f"{m.reason} {m.calls:,}" for m in r.misses) or "none"),
            escape(money_short(r.expected_saving)),
            escape(r.advice),
        ]
        rows.append(f"<tr>{_cells(values, (1, 2, 3, 4, 5, 6, 8))}</tr>")
    head = (
        "route",
        "calls",
        "prefix",
        "min",
        "repeats",
        "gap p50 / p90 s",
        "hit ratio",
        "misses",
        "saving",
        "advice",
    )
    saving = escape(money_short(report.advice.expected_saving))
    title = f"<h2>Prompt-cache advisor (expected saving over the period {saving})</h2>"
    text = cache_overlap_note(report)
    caption = text[:1].upper() + text[1:] + "."
    return f"<section id='cache'>{title}{_table(head, rows, (1, 2, 3, 4, 5, 6, 8), caption)}</section>"


def _walks(report: AuditReport) -> str:
    out = []
    for walk in report.walks:
        rows = []
        for s in walk.steps:
            waste = "<br>".join(
                escape(
                    f"{w.category} ({w.role.value}): {tokens(w.tokens)} tok, {money_short(w.cost)}: {w.why}"
                )
                for w in s.wastes
            )
            values = [
                UNKNOWN if s.step is None else str(s.step),
                escape(s.agent or UNKNOWN),
                escape(s.model or UNKNOWN),
                escape(f"{s.status}/{s.finish_reason or UNKNOWN}"),
                tokens(s.input_tokens),
                tokens(s.output_tokens),
                escape(money_short(s.cost)),
                waste,
            ]
            rows.append(f"<tr>{_cells(values, (0, 4, 5, 6))}</tr>")
        title = (
            f"Session {walk.session_id}: stratum {walk.stratum} of {len(report.walks)}, "
            f"{money_short(walk.cost)}, {money_short(walk.wasted_cost)} wasted"
        )
        head = ("step", "agent", "model", "status", "in", "out", "cost", "waste")
        caption = "; ".join(walk.findings) or "no waste found"
        out.append(
            f"<section class='walk'><h2>{escape(title)}</h2>"
            f"{_table(head, rows, (0, 4, 5, 6), caption)}</section>"
        )
    return "".join(out)


def render(report: AuditReport) -> str:
    """The report as a complete HTML document."""
    result, period = report.result, report.result.period
    span = UNKNOWN if period.days is None else f"{period.days:.1f} days"
    sub = (
        f"Audit {result.audit_id}: {period.calls:,} calls in {period.sessions:,} sessions over {span}, "
        f"{period.spend_text}."
    )
    notes = (*result.notes, *report.plan.notes, *report.advice.notes)
    notes_html = "".join(f"<p class='notes'>{escape(n)}</p>" for n in notes)
    body = (
        f"<h1>tokenomy audit</h1><p class='sub'>{escape(sub)}</p>"
        + (_findings(report) + _by(report) + _plan(report) if result.findings else "<p>No waste found.</p>")
        + (_cache(report) if report.advice.routes else "")
        + _walks(report)
        + notes_html
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>tokenomy audit</title><style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
