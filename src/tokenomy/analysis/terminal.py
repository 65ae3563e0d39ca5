"""The analyses drawn for a terminal with rich: KPI tiles, spend tables, drivers, sessions, trees.

Colour carries meaning only: a KPI trend is green when it moved the better way and red when it
moved the worse way; a regression is red; an unknown value is a dim "—". Without a terminal, rich
prints the same tables as plain text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tokenomy.analysis.attribution import UNATTRIBUTED, AttributionTable
from tokenomy.analysis.baselines import IntentBaseline
from tokenomy.analysis.cost_split import CostSplit
from tokenomy.analysis.drivers import PARTS, CostDrivers, with_residue
from tokenomy.analysis.formats import (
    UNKNOWN,
    bucket_label,
    change,
    half_up,
    money,
    money_short,
    percent,
    tokens,
)
from tokenomy.analysis.kpis import Kpi
from tokenomy.analysis.overview import CHARGES
from tokenomy.analysis.periods import Period, open_label
from tokenomy.analysis.results import MetricResult, MetricRow
from tokenomy.analysis.session_tree import SessionTree, Step
from tokenomy.analysis.sessions import SessionList, main_part_text
from tokenomy.analysis.summary import Summary
from tokenomy.schema import INPUT_BUCKETS, MODALITIES, OUTPUT_BUCKETS

ROUNDED: Final = (
    "each amount is rounded to $0.0001 on its own, so the rows can differ from the total by a few $0.0001"
    " (JSON and CSV keep 12 places)"
)
"""The note under the tables of a report: shown amounts need not add up to the shown total."""


def kpi_value(kpi: Kpi) -> str:
    """A KPI's value for people."""
    if kpi.value is None:
        return UNKNOWN
    if kpi.unit == "USD":
        return money_short(Decimal(kpi.value))
    if kpi.unit == "ratio":
        return percent(float(kpi.value))
    return f"{int(kpi.value):,}"


def kpi_tiles(kpis: Sequence[Kpi]) -> RenderableType:
    """One small panel per KPI, with its trend coloured by whether it improved."""
    panels = []
    for kpi in kpis:
        body = Text(kpi_value(kpi), style="bold")
        if kpi.change is not None:
            style = {True: "green", False: "red", None: "dim"}[kpi.improved]
            body.append(f"\n{'▲' if kpi.change > 0 else '▼'} {change(kpi.change)}", style=style)
        elif kpi.reason:
            body.append(f"\n{kpi.reason}", style="dim")
        if kpi.note:
            body.append(f"\n{kpi.note}", style="dim")
        panels.append(Panel(body, title=kpi.label, title_align="left", expand=True, width=26))
    return Columns(panels)


def attribution_table(table: AttributionTable, title: str | None = None) -> Table:
    """Spend per group: calls, charges, tokens, LLM cost, charges' cost, total, share, unpriced, and the
    calls that left some usage unreported when there are any (a token figure none of a row's calls
    reported is "—", never 0)."""
    if title is None:
        title = (
            "spend"
            + (f" by {', '.join(table.by)}" if table.by else "")
            + (f" per {table.bucket}" if table.bucket else "")
        )
    caption = None
    if table.bucket and table.by:  # each share is of the whole table's spend: a month's rows add to less
        caption = f"share: of the total over every {table.bucket} shown, not of its own {table.bucket}'s"
    out = Table(title=title, show_footer=True, caption=caption)
    total = table.total
    for name in table.by:
        out.add_column(name, footer="total" if name == table.by[0] else "")
    if table.bucket:
        out.add_column(table.bucket, footer="" if table.by else "total")
    unknown = total.usage_unknown > 0
    numbers: tuple[tuple[str, str], ...] = (
        ("calls", f"{total.calls:,}"),
        ("charges", f"{total.charges:,}"),
        ("input", tokens(total.input_total)),
        ("incl. cache read", tokens(total.tokens["cache_read"])),  # (a part of the input, not beside it)
        ("output", tokens(total.output_total)),
        ("LLM cost", money(total.llm_cost)),
        ("charges $", money(total.charge_cost)),
        ("cost", money(total.cost)),
        ("share", percent(total.cost_share)),
        ("unpriced", f"{total.unpriced:,}"),
    )
    if unknown:
        numbers += (("usage unknown", f"{total.usage_unknown:,}"),)
    for name, foot in numbers:
        out.add_column(name, footer=foot, justify="right")
    for row in table.rows:
        cells: list[str | Text] = [row.group[name] for name in table.by]
        if table.bucket:
            cells.append(bucket_label(row.bucket, table.bucket))
        cells += [
            f"{row.calls:,}",
            f"{row.charges:,}",
            tokens(row.input_total),
            tokens(row.tokens["cache_read"]),
            tokens(row.output_total),
            money(row.llm_cost),
            money(row.charge_cost),
            money(row.cost),
            percent(row.cost_share),
            Text(f"{row.unpriced:,}", style="yellow" if row.unpriced else ""),
        ]
        if unknown:
            cells.append(Text(f"{row.usage_unknown:,}", style="yellow" if row.usage_unknown else ""))
        out.add_row(*cells)
    return out


def split_table(split: CostSplit, title: str = "where the LLM cost goes (priced calls)") -> Table:
    """Where the LLM cost goes: each part's tokens, cost, share and the rate it was paid at (per
    million tokens), over the priced calls; the costs add up to the footer's."""
    out = Table(title=title, show_footer=True)
    out.add_column("part", footer="LLM cost")
    out.add_column("tokens", justify="right")
    out.add_column("cost", footer=money(split.total), justify="right")
    out.add_column("share", footer=percent(1.0 if split.total else None), justify="right")
    out.add_column("per 1M tokens", justify="right")
    for row in split.rows:
        rate = row.per_million
        out.add_row(
            row.label,
            tokens(row.tokens) if row.tokens is not None else "",
            money(row.cost),
            percent(row.share),
            "" if rate is None else money_short(rate),
        )
    return out


PARTS_HINT: Final = "--parts (where the LLM cost goes) · "
"""The hint's suggestion of ``--parts``, left out once it was given."""
HINT: Final = (
    "more: --by team,feature (any dimensions) · --bucket day --by provider,model (every row) · "
    "--compare previous (why spend changed) · " + PARTS_HINT + "--metrics · --format html -o report.html · "
    "tokenomy sessions"
)
"""What the default report suggests next."""


def heading(period: Period, previous: Period | None) -> Text:
    """``tokenomy report · <period> · trends against <previous>``."""
    head = Text(f"tokenomy report · {period.label()}", style="bold")
    if previous is not None:
        head.append(f" · trends against {previous.label()}", style="dim")
    return head


def scope_heading(since: datetime | None, until: datetime | None) -> Text:
    """``tokenomy report · <period>`` for a period that may lack a bound (``from 2026-10-01``,
    ``all time``): a grouped table's heading, which says what it read."""
    return Text(f"tokenomy report · {open_label(since, until)}", style="bold")


def summary_view(data: Summary) -> Group:
    """The default report: period, KPI tiles, spend over time, the costliest models, where the LLM
    cost goes, a hint."""
    parts: list[RenderableType] = []
    if data.period is not None:
        parts.append(heading(data.period, data.previous))
    parts.append(kpi_tiles(data.kpis))
    if not data.over_time.rows:
        parts.append(Text("no calls or charges in the store for this selection"))
        parts.extend(Text(f"note: {note}", style="dim") for note in data.over_time.notes)
        return Group(*parts)
    parts.append(attribution_table(data.over_time, title=f"spend per {data.over_time.bucket}"))
    shown = len(data.models.rows) - (1 if data.folded else 0)
    title = "spend by provider and model" + (
        f" (the {shown} costliest, then the other {data.folded})" if data.folded else ""
    )
    models, named = _charges_named(data.models)
    parts.append(attribution_table(models, title=title))
    if data.split is not None and data.split.rows:
        parts.append(split_table(data.split))
    notes = list(data.over_time.notes)
    if data.models.total.charges:
        row = CHARGES if named else "(unattributed)"
        notes.append(f"charges (non-LLM costs) have no provider or model: they are in the {row} row")
    notes.append(ROUNDED)
    parts.extend(Text(f"note: {note}", style="dim") for note in notes)
    parts.append(Text(HINT if data.split is None else HINT.replace(PARTS_HINT, ""), style="dim"))
    return Group(*parts)


def _charges_named(table: AttributionTable) -> tuple[AttributionTable, bool]:
    """``table`` (by provider and model) with its row of charges alone, which has neither, named
    :data:`CHARGES` (as the HTML report names it) rather than ``(unattributed)`` twice, which reads
    as spend nobody was named for; True when there is such a row."""
    rows, named = [], False
    first = table.by[0] if table.by else None
    for row in table.rows:
        if row.calls == 0 and row.charges and all(value == UNATTRIBUTED for value in row.group.values()):
            rows.append(
                dataclasses.replace(row, group={n: (CHARGES if n == first else "") for n in row.group})
            )
            named = True
        else:
            rows.append(row)
    return (dataclasses.replace(table, rows=tuple(rows)), named) if named else (table, False)


def drivers_tables(drivers: CostDrivers) -> list[Table]:
    """The total decomposition, then the dominant driver of each group value."""
    period = f"{drivers.baseline.label()} → {drivers.current.label()}"
    parts = Table(title=f"why spend changed ({period})")
    parts.add_column("part")
    parts.add_column("effect", justify="right")
    total = drivers.total
    baseline, current = _as_shown(total.baseline_cost), _as_shown(total.current_cost)
    shown = _shown_parts(total.parts, current - baseline)
    parts.add_row("baseline cost", money(baseline))
    for name in PARTS:
        parts.add_row(name.replace("_", " "), _signed(shown[name]))
    parts.add_row(Text("current cost", style="bold"), Text(money(current), style="bold"))
    groups = Table(title="dominant driver per group")
    for head in ("dimension", "value", "before", "now", "change", "dominant driver", "its effect"):
        groups.add_column(
            head, justify="right" if head in ("before", "now", "change", "its effect") else "left"
        )
    for dim, rows in drivers.groups.items():
        for row in rows:
            dominant = row.dominant
            before, now = _as_shown(row.baseline_cost), _as_shown(row.current_cost)
            groups.add_row(
                dim,
                row.group[dim],
                money(before),
                money(now),
                _signed(now - before),  # the change shown is that of the amounts shown
                (dominant or UNKNOWN).replace("_", " "),
                _signed(row.parts[dominant]) if dominant else UNKNOWN,
            )
    return [parts, groups]


_SHOWN: Final = Decimal("0.0001")
"""The places :func:`money` shows amounts at."""


def _as_shown(value: Decimal) -> Decimal:
    """An amount rounded to the places it is shown at."""
    return half_up(value, _SHOWN)  # as money() shows it


def _shown_parts(parts: Mapping[str, Decimal], change: Decimal) -> dict[str, Decimal]:
    """The drivers' effects rounded to the places shown, the rounding residue given to the largest,
    so the parts shown add up to the change shown (the JSON keeps the 12 places, which add up too)."""
    return with_residue({name: _as_shown(parts[name]) for name in PARTS}, parts, change)


def _signed(value: Decimal) -> Text:
    style = "red" if value > 0 else ("green" if value < 0 else "")
    return Text(("+" if value > 0 else "") + money(value), style=style)


def baselines_table(items: Sequence[IntentBaseline]) -> Table:
    """Per intent: tokens and cost per call before and now, and regressions in red."""
    out = Table(title="intent baselines (tokens per call)")
    for head in ("intent", "calls", "input/call", "Δ", "output/call", "Δ", "cost/call", "Δ", "verdict"):
        out.add_column(head, justify="left" if head in ("intent", "verdict") else "right")
    for b in items:
        now = b.current
        verdict = Text(b.reason, style="bold red" if b.regression else "dim")
        out.add_row(
            b.intent,
            f"{now.calls:,}",
            _per_call(now.input_per_call),
            change(b.input_change),
            _per_call(now.output_per_call),
            change(b.output_change),
            money(now.cost_per_call),
            change(b.cost_change),
            verdict,
        )
    return out


def _per_call(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:,.0f}"


def metrics_table(results: Sequence[MetricResult]) -> Group:
    """Every metric: one line per group (value, coverage, reason when none), then its total.

    The total is labelled ``total`` in the first column; calls without a start time are the bucket
    ``(no time)``, as in the spend table (never a blank that reads like the total)."""
    tables: list[RenderableType] = []
    for result in results:
        tables.append(Text(f"{result.name}: {result.formula}", style="bold"))
        out = Table()
        for name in result.by:
            out.add_column(name)
        if result.bucket:
            out.add_column(result.bucket)
        for head in ("value", "coverage", "calls", "note"):
            out.add_column(head, justify="left" if head == "note" else "right")
        for row in (*result.rows, result.total):
            is_total = row is result.total
            cells: list[Any] = [
                "total" if is_total and i == 0 else row.group.get(name, "")
                for i, name in enumerate(result.by)
            ]
            if result.bucket:
                label = bucket_label(row.bucket, result.bucket)
                cells.append(("" if result.by else "total") if is_total else label)
            cells += [
                _metric_value(row, result.unit),
                percent(row.coverage),
                f"{row.calls:,}",
                row.reason or "",
            ]
            out.add_row(*cells)
        tables.append(out)
        for note in result.notes:
            tables.append(Text(f"  note: {note}", style="dim"))
    return Group(*tables)


def _metric_value(row: MetricRow, unit: str) -> str:
    if row.value is None:
        return UNKNOWN
    if unit == "USD":
        return money(Decimal(row.value))
    if unit == "USD/100ms":
        return money(Decimal(row.value)) + "/100ms"
    if unit == "x":
        return f"{float(row.value):,.2f}x"
    return percent(float(row.value), 2)


def sessions_table(sessions: SessionList) -> Table:
    """Sessions ranked by cost, with calls, tokens, duration, outcome and unpriced calls (whose cost
    the session's leaves out)."""
    title = f"most expensive sessions (of {sessions.sessions:,})"
    out = Table(title=title)
    for name in sessions.by:
        out.add_column(name)
    heads = (
        "session",
        "calls",
        "charges",
        "input",
        "output",
        "duration",
        "outcome",
        "action",
        "cost",
        "mostly",
        "unpriced",
    )
    for head in heads:
        # a long id is folded onto more lines, never cut short: it is what `tokenomy session ID` takes;
        # so are the words of "mostly", rather than the amounts beside them cut
        out.add_column(
            head,
            justify="left" if head in ("session", "outcome", "action", "mostly") else "right",
            overflow="fold" if head in ("session", "mostly") else "ellipsis",
            no_wrap=head not in ("session", "action", "mostly"),  # amounts and outcomes are never cut
        )
    for s in sessions.rows:
        duration = UNKNOWN if s.duration_s is None else f"{s.duration_s:,.1f} s"
        outcome = Text(s.outcome, style={"success": "green", "failure": "red"}.get(s.outcome, "dim"))
        out.add_row(
            *[s.group[n] for n in sessions.by],
            s.session_id,
            f"{s.calls:,}",
            f"{s.charges:,}",
            tokens(s.input_total),
            tokens(s.output_total),
            duration,
            outcome,
            s.action or "",
            money(s.cost),
            main_part_text(s),
            f"{s.unpriced:,}",
        )
    return out


def session_tree(tree: SessionTree) -> Tree:
    """A session's steps as a rich tree: tokens per bucket, cost, latency and running total per step."""
    outcome = "unknown" if tree.success is None else ("success" if tree.success else "failure")
    label = Text(f"session {tree.session_id}", style="bold")
    label.append(
        f"  {_n(tree.calls, 'call')}, {_n(tree.charges, 'charge')}, {money(tree.cost)}, outcome {outcome}"
    )
    if tree.unpriced:
        label.append(f", {tree.unpriced} unpriced", style="yellow")
    root = Tree(label)
    for step in tree.roots:
        _branch(root, step)
    return root


def _branch(parent: Tree, step: Step) -> None:
    node = parent.add(_step_text(step))
    for child in step.children:
        _branch(node, child)


def _step_text(step: Step) -> Text:
    if step.kind == "tool":
        return Text(f"tool {step.label}", style="cyan")
    if step.kind == "subagent":
        partial = " (unpriced calls left out)" if step.partial and step.subtotal is not None else ""
        return Text(f"sub-agent {step.label}  subtotal {money(step.subtotal)}{partial}", style="magenta")
    if step.kind == "span":
        return Text(f"span {step.label}", style="blue")
    if step.kind == "charge":
        return Text(
            f"charge {step.label}  {money(step.cost)}  running {money(step.running_total)}", style="yellow"
        )
    text = Text(f"call {step.label}", style="bold" if step.status == "ok" else "red")
    if step.agent:
        text.append(f" ({step.agent})", style="dim")
    latency = UNKNOWN if step.latency_ms is None else f"{step.latency_ms:,.0f} ms"
    text.append(f"  {_step_tokens(step)}  {latency}  {money(step.cost)}  running {money(step.running_total)}")
    if step.status and step.status != "ok":
        text.append(f"  [{step.status}]", style="red")
    return text


_DETAIL_BUCKETS = ("cache_read", "cache_write_5m", "cache_write_1h", "reasoning")
_SHORT: Final = {"input_uncached": "uncached", "output_visible": "visible"}


def _step_tokens(step: Step) -> str:
    """``in 4.81K (cache read 2K) · out 130 (reasoning 80)``: totals, then the special buckets.

    A side whose total is unknown but some of whose buckets were reported shows their sum as a floor,
    ``in ≥900 (partial: uncached 900)``, naming each bucket it holds: "—" would hide what the
    provider did report, and a bare sum would pass for a total it is not. A bucket that holds audio,
    image or video tokens is named with them, ``in 1.2K (uncached 1.2K of which audio 800)``.
    """
    return " · ".join(
        [
            _side_tokens("in", INPUT_BUCKETS, step.input_total, step.tokens, step.modalities),
            _side_tokens("out", OUTPUT_BUCKETS, step.output_total, step.tokens, step.modalities),
        ]
    )


def _side_tokens(
    word: str,
    names: tuple[str, ...],
    total: int | None,
    counts: Mapping[str, int | None],
    modalities: Mapping[str, int],
) -> str:
    known = {b: n for b in names if (n := counts.get(b)) is not None}
    modal = {b: text for b in names if (text := _of_which(b, modalities))}
    if total is None and len(known) == len(names):
        total = sum(known.values())  # every bucket reported: their sum is the total (schema.py)
    if total is None and known:
        shown = [
            f"{_SHORT.get(b, b.replace('_', ' '))} {tokens(n)}{modal.get(b, '')}" for b, n in known.items()
        ]
        return f"{word} ≥{tokens(sum(known.values()))} (partial: {', '.join(shown)})"
    details = [
        f"{_SHORT.get(b, b.replace('_', ' '))} {tokens(counts.get(b))}{modal.get(b, '')}"
        for b in names
        if b in modal or (b in _DETAIL_BUCKETS and known.get(b))
    ]
    joined = ("; " if modal else ", ").join(details)
    return f"{word} {tokens(total)}" + (f" ({joined})" if details else "")


def _of_which(bucket: str, modalities: Mapping[str, int]) -> str:
    """`` of which audio 800, image 85``: a bucket's non-text tokens, or "" when it is all text."""
    found = [(m, n) for m in MODALITIES if (n := modalities.get(f"{bucket}.{m}"))]
    return " of which " + ", ".join(f"{m} {tokens(n)}" for m, n in found) if found else ""


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
