"""``tokenomy report``: spend by any dimensions and time bucket, KPIs, cost drivers, the HTML report.

A thin shell over :mod:`tokenomy.analysis`. Without ``--by``, ``--bucket``, ``--where``,
``--compare`` or a metric option, the table is the short default report
(:mod:`tokenomy.analysis.summary`: KPIs, spend per day, the costliest models) and JSON and CSV
keep the first report's rows (totals by UTC day, provider and model, each day's charges in its
row with no provider and no model, and ``spend`` = calls' cost + charges, the table's Spend);
``--format html`` writes the full self-contained report.

With ``--server`` the same output comes from a running collector's ``GET /api/v1/report``, which
runs these analyses on its store (cli/collector_report.py); what it does not compute is refused.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import click

from tokenomy.analysis import html_report, serialize, terminal
from tokenomy.analysis import metrics as metrics_module
from tokenomy.analysis.attribution import AttributionTable
from tokenomy.analysis.baselines import intent_baselines
from tokenomy.analysis.dimensions import Grouping, Scope, parse_bucket, parse_dimensions, parse_where
from tokenomy.analysis.drivers import cost_drivers
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import Kpi, spend_report
from tokenomy.analysis.overview import overview
from tokenomy.analysis.periods import Period, baseline_period, current_period
from tokenomy.analysis.report import Report, ReportRow, daily_totals
from tokenomy.analysis.report_wire import grouped_json
from tokenomy.analysis.results import MetricResult, metric_json
from tokenomy.analysis.sources import Sources, detect
from tokenomy.analysis.summary import summary
from tokenomy.cli import collector_report
from tokenomy.cli.collector_client import CollectorClient
from tokenomy.cli.options import check_period, collector_url, config_option, db_option, resolve, server_option
from tokenomy.native import money_text
from tokenomy.schema import BUCKETS
from tokenomy.store import CallFilter, open_store
from tokenomy.store.base import Store, TimeUnit

TIME_FORMATS: Final = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
_HEAD: Final = (
    "day",
    "provider",
    "model",
    "calls",
    *BUCKETS,
    "input_total",
    "output_total",
    "cost",
    "unpriced",
    "charges",
    "charge_cost",
    "spend",
)
"""The first report's columns: ``cost`` is the priced calls' cost (as before charges were carried),
``charge_cost`` the charges' (non-LLM costs), ``spend`` both: the table's Spend."""


@click.command(name="report")
@db_option
@server_option
@config_option
@click.option(
    "--since", type=click.DateTime(TIME_FORMATS), default=None, help="First UTC day (or time) to include."
)
@click.option(
    "--until", type=click.DateTime(TIME_FORMATS), default=None, help="UTC day (or time) to stop before."
)
@click.option(
    "--by", "by", default=None, help="Dimensions to group by, comma separated: team,feature,model,tag:env..."
)
@click.option(
    "--bucket", type=click.Choice(["hour", "day", "week", "month"]), default=None, help="Time bucket."
)
@click.option(
    "--where", "where", multiple=True, help="Keep only dim=value (repeatable; '(unattributed)' too)."
)
@click.option(
    "--compare",
    default=None,
    help="Explain the change from: previous | last-week | YYYY-MM-DD..YYYY-MM-DD (drivers, regressions).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="Regression threshold: the rise in tokens per call that flags an intent (0.25: +25%).",
)
@click.option("--metrics", is_flag=True, help="Also compute every efficiency metric for the grouping.")
@click.option(
    "--budget-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Token budget per group, for token utilization.",
)
@click.option("--parity", default=None, help="Latency-cost parity of two models per intent: MODEL_A,MODEL_B.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table", show_default=True
)
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to FILE."
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Sessions listed in the HTML report.",
)
def command(
    *,
    db: Path | None,
    server: str | None,
    config_file: Path | None,
    since: datetime | None,
    until: datetime | None,
    by: str | None,
    bucket: str | None,
    where: tuple[str, ...],
    compare: str | None,
    threshold: float,
    metrics: bool,
    budget_tokens: int | None,
    parity: str | None,
    fmt: str,
    out: Path | None,
    top: int,
) -> None:
    """Spend, tokens and efficiency by any dimensions and time bucket.

    Unpriced calls are counted, never shown as $0: a cost that is not known shows as "—".
    Examples: `tokenomy report --by team,feature --since 2026-10-01 --until 2026-11-01`,
    `tokenomy report --by team --compare previous`, `tokenomy report --format html -o report.html`.

    With --server (or $TOKENOMY_SERVER), read a running collector's API instead of the store file
    it owns: the same output for --since, --until, --by, --bucket and --where.
    """
    if out is not None and fmt == "table":
        raise click.UsageError("--out writes --format json, csv or html; the table goes to stdout")
    check_period(since, until)
    settings = resolve(config_file, db=db)
    plain = not (by or bucket or where or compare or metrics or budget_tokens or parity) and fmt != "html"
    url = collector_url(server, db)
    if url is not None:
        collector_report.unserved(
            compare=compare, metrics=metrics, budget_tokens=budget_tokens, parity=parity, fmt=fmt
        )
        scope = Scope(since, until, parse_where(where))
        grouping = Grouping(parse_dimensions(by), parse_bucket(bucket))
        with CollectorClient(url, settings.server_token) as client:
            _emit(_remote_report(client, Selection(scope, grouping), plain=plain, fmt=fmt), out)
        return
    with open_store(settings.db, read_only=True) as store:
        if plain and fmt == "table":
            console_for_stdout().print(terminal.summary_view(summary(store, Scope(since, until))))
            text = None
        elif plain:
            text = _first_report(daily_totals(store, CallFilter(since=since, until=until), charges=True), fmt)
        else:
            request = Request(
                scope=Scope(since, until, parse_where(where)),
                by=parse_dimensions(by),
                bucket=parse_bucket(bucket),
                compare=compare,
                threshold=threshold,
                metrics=metrics,
                budget_tokens=budget_tokens,
                parity=_pair(parity),
                fmt=fmt,
                top=top,
            )
            text = _analysis_report(store, request)
    _emit(text, out)


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked ``tokenomy report`` for (beyond the first report)."""

    scope: Scope
    by: tuple[str, ...]
    bucket: TimeUnit | None
    compare: str | None
    threshold: float
    metrics: bool
    budget_tokens: int | None
    parity: tuple[str, str] | None
    fmt: str
    top: int


def _remote_report(client: CollectorClient, selection: Selection, *, plain: bool, fmt: str) -> str | None:
    """What the store path prints (or returns to write), from the collector's report."""
    scope = selection.scope
    if plain and fmt == "table":
        console_for_stdout().print(terminal.summary_view(collector_report.summary(client, scope)))
        return None
    if plain:
        return _first_report(collector_report.first_report(client, scope.since, scope.until), fmt)
    table, items = collector_report.grouped(client, selection)
    return _render(table, items, {}, fmt)


def _analysis_report(store: Store, request: Request) -> str | None:
    """Attribution with KPIs (and drivers, baselines, metrics when asked), or the HTML report."""
    if request.fmt == "html":
        data = overview(
            store,
            request.scope,
            by=request.by or ("team",),
            compare=request.compare,
            top=request.top,
        )
        return html_report.render(data)
    src = detect(store)
    periods = _periods(store, request)
    scope = request.scope  # with --compare, the table and KPIs cover the current period
    if periods is not None:
        scope = scope.between(periods[0].since, periods[0].until)
    selection = Selection(scope, Grouping(request.by, request.bucket))
    baseline = None if periods is None else scope.between(periods[1].since, periods[1].until)
    table, items = spend_report(store, selection, baseline=baseline, sources=src)
    return _render(table, items, _extras(store, request, selection, periods, src), request.fmt)


def _render(table: AttributionTable, items: tuple[Kpi, ...], extras: dict[str, Any], fmt: str) -> str | None:
    """The table and KPIs (and extras) as JSON or CSV text, or printed (None) for the table format."""
    if fmt == "json":
        return json.dumps(_json(table, items, extras), indent=2)
    if fmt == "csv":
        return serialize.attribution_csv(table)
    _print(table, items, extras)
    return None


def _periods(store: Store, request: Request) -> tuple[Period, Period] | None:
    if request.compare is None:
        return None
    current = current_period(store, request.scope.since, request.scope.until)
    if current is None:
        return None
    return current, baseline_period(current, request.compare)


def _extras(
    store: Store, request: Request, selection: Selection, periods: tuple[Period, Period] | None, src: Sources
) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if periods is not None:
        current, base = periods
        dims = request.by or ("team", "feature")
        extras["drivers"] = cost_drivers(store, current, base, scope=request.scope, by=dims, sources=src)
        extras["baselines"] = intent_baselines(
            store, current, base, scope=request.scope, threshold=request.threshold, sources=src
        )
    if request.metrics or request.budget_tokens or request.parity:
        extras["metrics"] = _metrics(store, selection, request, src)
    return extras


def _metrics(store: Store, selection: Selection, request: Request, src: Sources) -> list[MetricResult]:
    results = []
    if request.metrics:
        results = [metric(store, selection, sources=src) for metric in metrics_module.METRICS.values()]
    if request.budget_tokens:
        results.append(metrics_module.token_utilization(store, request.budget_tokens, selection, sources=src))
    if request.parity:
        a, b = request.parity
        results.append(metrics_module.latency_cost_parity(store, a, b, selection, sources=src))
    return results


def _json(table: AttributionTable, items: tuple[Kpi, ...], extras: dict[str, Any]) -> dict[str, Any]:
    data = grouped_json(table, items)
    if "drivers" in extras:
        data["drivers"] = serialize.drivers_json(extras["drivers"])
        data["baselines"] = serialize.baselines_json(extras["baselines"])
    if "metrics" in extras:
        data["metrics"] = [metric_json(m) for m in extras["metrics"]]
    return data


def _print(table: AttributionTable, items: tuple[Kpi, ...], extras: dict[str, Any]) -> None:
    console = console_for_stdout()
    if "drivers" in extras:
        current, baseline = extras["drivers"].current, extras["drivers"].baseline
        console.print(terminal.heading(current, baseline))
    elif table.scope.since is not None and table.scope.until is not None:
        console.print(terminal.heading(Period(table.scope.since, table.scope.until), None))
    console.print(terminal.kpi_tiles(items))
    if not table.rows:
        console.print("no calls or charges in the store for this selection")
    else:
        console.print(terminal.attribution_table(table))
    for note in table.notes:
        console.print(f"note: {note}", style="dim")
    if "drivers" in extras:
        for part in terminal.drivers_tables(extras["drivers"]):
            console.print(part)
        console.print(terminal.baselines_table(extras["baselines"]))
    if "metrics" in extras:
        console.print(terminal.metrics_table(extras["metrics"]))


def _pair(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise click.BadParameter(f"expected two models, MODEL_A,MODEL_B; got {text!r}", param_hint="--parity")
    return parts[0], parts[1]


def _emit(text: str | None, out: Path | None) -> None:
    if text is None:
        return
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


def _first_report(report: Report, fmt: str) -> str:
    """The first report's rows for scripts (the table is the short default report instead)."""
    return json.dumps(report_json(report), indent=2) if fmt == "json" else report_csv(report)


def _cells(row: ReportRow) -> list[Any]:
    return [
        row.day.isoformat() if row.day else None,
        row.provider,
        row.model,
        row.calls,
        *[row.tokens.get(b, 0) for b in BUCKETS],
        row.input_total,
        row.output_total,
        _money(row.cost),
        row.unpriced,
        row.charges,
        _money(row.charge_cost),
        _money(row.spend),
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else money_text(value)


def report_json(report: Report) -> dict[str, Any]:
    """The first report as JSON-ready data: money as decimal strings, unknown cost as null."""
    return {
        "since": _iso(report.filters.since),
        "until": _iso(report.filters.until),
        "rows": [dict(zip(_HEAD, _cells(r), strict=True)) for r in report.rows],
        "total": dict(zip(_HEAD[3:], _cells(report.total)[3:], strict=True)),
    }


def report_csv(report: Report) -> str:
    """The first report's rows as CSV (one header line; an unknown cost is an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEAD)
    for row in report.rows:
        writer.writerow(["" if v is None else v for v in _cells(row)])
    return out.getvalue()


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def console_for_stdout() -> Any:
    """A rich console on stdout: a terminal folds to its width, a pipe or file gets the whole table."""
    from rich.console import Console  # noqa: PLC0415

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 250)
