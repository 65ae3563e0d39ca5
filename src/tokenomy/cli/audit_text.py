"""The audit for a terminal: ranked findings, the savings plan, the cache advice and sampled sessions."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table

from tokenomy.analysis.audit import route_label
from tokenomy.analysis.cache_advisor import route_name
from tokenomy.analysis.formats import UNKNOWN, money_short, percent, tokens
from tokenomy.analysis.waste.base import Route
from tokenomy.cli.audit_json import AuditReport, cache_overlap_note
from tokenomy.schema import Finding, WasteRole

_CACHE_ROUTES = 8


def money_range(low: Decimal | None, high: Decimal | None) -> str:
    """``$12.30–$15.00`` a month, or "—"."""
    if low is None or high is None:
        return UNKNOWN
    return f"{money_short(low)}–{money_short(high)}"


def finding_route(finding: Finding) -> str:
    """The finding's route for people (feature / agent on provider model)."""
    return route_label(Route(**{k: finding.scope.get(k) for k in Route.__slots__}))


def findings_table(report: AuditReport) -> Table:
    """The findings ranked by wasted dollars (the top ``report.top``)."""
    findings = report.result.findings
    table = Table(title=f"waste findings, ranked by dollars ({len(findings):,} in all)")
    for name in ("#", "category", "sev", "route", "sessions", "wasted tokens", "wasted $", "monthly savings"):
        table.add_column(
            name, justify="right" if name in ("#", "sessions", "wasted tokens", "wasted $") else "left"
        )
    for rank, f in enumerate(findings[: report.top], start=1):
        cost = money_short(f.wasted_cost) + (f" (+{f.unpriced_calls} unpriced)" if f.unpriced_calls else "")
        table.add_row(
            str(rank),
            f.category,
            f.severity.value,
            finding_route(f),
            f"{len(f.session_ids):,}",
            tokens(f.wasted_tokens),
            cost,
            money_range(f.monthly_savings_low, f.monthly_savings_high),
        )
    return table


def costliest_session(finding: Finding) -> str | None:
    """The session that wasted the most dollars in ``finding`` (else the most tokens), the first to open."""
    dollars: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for call in finding.calls:
        if call.session_id is None or call.role is WasteRole.CONTEXT:
            continue
        dollars[call.session_id] = dollars.get(call.session_id, Decimal(0)) + (call.cost or Decimal(0))
        counts[call.session_id] = counts.get(call.session_id, 0) + call.tokens
    return max(dollars, key=lambda s: (dollars[s], counts[s]), default=None)


def where_table(report: AuditReport) -> Table:
    """Where to look: each listed finding's id, its costliest session and the detector's first example."""
    table = Table(title="where to look (all sessions and calls: --format json)")
    for name in ("#", "finding", "costliest session", "example"):
        table.add_column(name, justify="right" if name == "#" else "left")
    for rank, f in enumerate(report.result.findings[: report.top], start=1):
        session = costliest_session(f)
        more = len(f.session_ids) - 1
        examples = f.evidence.get("examples") or [""]
        table.add_row(
            str(rank),
            f.id,
            UNKNOWN if session is None else session + (f" (+{more:,} more)" if more > 0 else ""),
            str(examples[0]),
        )
    return table


def by_table(report: AuditReport) -> Table:
    """The findings summed per value of the ``--by`` dimension and category."""
    table = Table(title=f"waste by {report.by}")
    for name in (report.by or "", "category", "findings", "sessions", "wasted $", "monthly savings"):
        table.add_column(name, justify="right" if name in ("findings", "sessions", "wasted $") else "left")
    for row in report.by_rows:
        table.add_row(
            row.value,
            row.category,
            f"{row.findings:,}",
            f"{row.sessions:,}",
            money_short(row.wasted_cost),
            money_range(row.monthly_low, row.monthly_high),
        )
    return table


def plan_caption(report: AuditReport) -> str:
    """The plan's totals in words, saying when they cover more fixes than the table lists."""
    plan = report.plan
    scope = ""
    if plan.fixes > len(plan.entries):
        scope = f"all {plan.fixes:,} fixes (the {len(plan.entries):,} listed: {money_short(plan.listed)}): "
    return (
        f"{scope}total {money_short(plan.total)} over the period, "
        f"{money_range(plan.monthly_low, plan.monthly_high)} a month; "
        f"{money_short(plan.overlap)} of overlapping waste counted once"
    )


def plan_table(report: AuditReport) -> Table:
    """The top fixes by monthly dollars, counted without overlap."""
    plan = report.plan
    caption = plan_caption(report)
    table = Table(title="savings plan: top fixes", caption=caption)
    for name in ("#", "fix", "route", "saves (period)", "monthly", "assumes"):
        table.add_column(name, justify="right" if name in ("#", "saves (period)") else "left")
    for rank, entry in enumerate(plan.entries, start=1):
        f = entry.finding
        table.add_row(
            str(rank),
            f"{f.category}: {f.fix}",
            finding_route(f),
            money_short(entry.saving),
            money_range(entry.monthly_low, entry.monthly_high),
            f.assumptions[0].removeprefix("fix: ") if f.assumptions else "",
        )
    return table


def cache_table(report: AuditReport) -> Table:
    """The routes with the most to gain from caching; the caption says that the expected saving is the
    money of the missed_caching findings, not more."""
    routes = report.advice.routes[:_CACHE_ROUTES]
    saving = money_short(report.advice.expected_saving)
    table = Table(
        title=f"prompt-cache advisor (expected saving over the period {saving})",
        caption=cache_overlap_note(report),
    )
    for name in (
        "route",
        "calls",
        "prefix",
        "min",
        "repeats",
        "gap p50/p90 s",
        "hit ratio",
        "misses",
        "saving",
    ):
        table.add_column(name, justify="left" if name in ("route", "misses") else "right")
    for r in routes:
        gaps = UNKNOWN if r.gap_p50_s is None else f"{r.gap_p50_s:.0f}/{(r.gap_p90_s or 0):.0f}"
        misses = ", ".join(f"{m.reason} {m.calls:,}" for m in r.misses) or "none"
        table.add_row(
            route_name(r.route),
            f"{r.calls:,}",
            tokens(r.prefix_tokens),
            tokens(r.min_tokens),
            percent(r.repeat_share, 0),
            gaps,
            percent(r.hit_ratio, 0),
            misses,
            money_short(r.expected_saving),
        )
    return table


def walk_tables(report: AuditReport) -> list[Table]:
    """One table per sampled session: each step, what it cost and what was wasted on it."""
    tables = []
    for walk in report.walks:
        title = (
            f"session {walk.session_id} (cost stratum {walk.stratum} of {len(report.walks)}): "
            f"{money_short(walk.cost)}, {money_short(walk.wasted_cost)} wasted"
        )
        table = Table(title=title, caption="; ".join(walk.findings) or "no waste found")
        for name in ("step", "agent", "model", "status", "in", "out", "cost", "waste"):
            table.add_column(name, justify="right" if name in ("step", "in", "out", "cost") else "left")
        for step in walk.steps:
            waste = "; ".join(
                f"{w.category} {w.role.value}: {tokens(w.tokens)} tok {money_short(w.cost)} ({w.why})"
                for w in step.wastes
            )
            table.add_row(
                UNKNOWN if step.step is None else str(step.step),
                step.agent or UNKNOWN,
                step.model or UNKNOWN,
                f"{step.status}/{step.finish_reason or UNKNOWN}",
                tokens(step.input_tokens),
                tokens(step.output_tokens),
                money_short(step.cost),
                waste,
            )
        tables.append(table)
    return tables


def print_report(report: AuditReport, console: Console) -> None:
    """Draw the whole report."""
    result, period = report.result, report.result.period
    span = UNKNOWN if period.days is None else f"{period.days:.1f} days"
    console.print(
        f"[bold]tokenomy audit[/bold] {result.audit_id}: {period.calls:,} calls in "
        f"{period.sessions:,} sessions over {span}, {period.spend_text}"
    )
    if not result.findings:
        console.print("no waste found in this period")
    else:
        console.print(findings_table(report))
        console.print(where_table(report))
        if report.by is not None:
            console.print(by_table(report))
        console.print(plan_table(report))
    if report.advice.routes:
        console.print(cache_table(report))
    for table in walk_tables(report):
        console.print(table)
    for note in (*result.notes, *report.plan.notes, *report.advice.notes):
        console.print(f"note: {note}")
    if report.replaced is not None:
        console.print(f"findings saved to the store (replacing {report.replaced} earlier audit(s))")
