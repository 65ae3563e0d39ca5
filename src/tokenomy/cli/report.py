"""``tokenomy report``: spend by any dimensions and time bucket, KPIs, cost drivers, the HTML report.

A thin shell over :mod:`tokenomy.analysis`. Without ``--by``, ``--bucket``, ``--where``,
``--compare`` or a metric option, the table is the short default report
(:mod:`tokenomy.analysis.summary`: KPIs, spend per day, the costliest models) and JSON and CSV
keep the first report's rows (totals by UTC day, provider and model, each day's charges in its
row with no provider and no model, and ``spend`` = calls' cost + charges, the table's Spend);
``--format html`` writes the full self-contained report.

With ``--server`` the same output comes from a running collector's ``GET /api/v1/report``, which
runs these analyses on its store (cli/collector_report.py) and answers them in the JSON read back
into the same results: :class:`Reports` is the one interface of both sources.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Protocol

import click

from tokenomy.analysis import html_report, serialize, terminal
from tokenomy.analysis.dimensions import Grouping, Scope, parse_bucket, parse_dimensions, parse_where
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import Overview, overview
from tokenomy.analysis.periods import check_compare
from tokenomy.analysis.report import Report, ReportRow, daily_totals
from tokenomy.analysis.report_analyses import Analyses, AnalysisReport, analysis_report, parity_pair
from tokenomy.analysis.report_wire import analysis_json
from tokenomy.analysis.results import jsonable
from tokenomy.analysis.summary import Summary, summary
from tokenomy.cli import collector_report
from tokenomy.cli.collector_client import CollectorClient
from tokenomy.cli.options import (
    collector_url,
    config_option,
    db_option,
    option_value,
    out_option,
    period_options,
    resolve,
    server_option,
)
from tokenomy.native import money_text
from tokenomy.schema import BUCKETS
from tokenomy.store import CallFilter, open_store
from tokenomy.store.base import Store

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
    "llm_cost",
    "usage_unknown",
)
"""The first report's columns: ``cost`` is the priced calls' cost (as before charges were carried),
also written ``llm_cost`` (the name the grouped report gives it, whose ``cost`` is the spend),
``charge_cost`` the charges' (non-LLM costs), ``spend`` both: the table's Spend; a token figure none
of a row's calls reported is null (an empty CSV cell), never 0, and ``usage_unknown`` counts the
calls that left a bucket or a total unreported (as the report table's column of that name)."""


@click.command(name="report")
@db_option
@server_option
@config_option
@period_options(" to include")
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
    "--parts",
    is_flag=True,
    help="Also show where the LLM cost goes, by part: uncached input, cache reads and writes, visible "
    "output, reasoning, fees (the HTML report and `tokenomy session ID` always do).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table", show_default=True
)
@out_option("JSON, CSV or HTML (not the table, which goes to stdout)")
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
    parts: bool,
    fmt: str,
    out: Path | None,
    top: int,
) -> None:
    """Spend, tokens and efficiency by any dimensions and time bucket.

    Unpriced calls are counted, never shown as $0: a cost that is not known shows as "—".
    Examples: `tokenomy report --by team,feature --since 2026-10-01 --until 2026-11-01`,
    `tokenomy report --by team --compare previous`, `tokenomy report --format html -o report.html`.

    With --server (or $TOKENOMY_SERVER), read a running collector's API instead of the store file
    it owns: the same output, every option alike.
    """
    if out is not None and fmt == "table":
        raise click.UsageError("--out writes --format json, csv or html; the table goes to stdout")
    settings = resolve(config_file, db=db)
    if compare is not None:
        option_value(check_compare, compare)  # before anything is read, whichever source answers
    request = Request(
        scope=Scope(since, until, option_value(parse_where, where)),
        grouping=Grouping(option_value(parse_dimensions, by), option_value(parse_bucket, bucket)),
        analyses=Analyses(compare, threshold, metrics, budget_tokens, _pair(parity), parts),
        fmt=fmt,
        top=top,
    )
    if fmt == "csv" and (compare is not None or request.analyses.any_metric):
        raise click.UsageError(  # they were left out of the CSV without a word
            "--format csv writes the spend table's rows only: --compare and --metrics (--budget-tokens,"
            " --parity) have no CSV form; use --format json, or the table"
        )
    url = collector_url(server, db)
    if url is not None:
        with CollectorClient(url, settings.server_token) as client:
            _emit(_report(collector_report.CollectorReports(client), request), out)
        return
    with open_store(settings.db, read_only=True) as store:
        text = _report(StoreReports(store), request)
    _emit(text, out)


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked ``tokenomy report`` for."""

    scope: Scope
    grouping: Grouping
    analyses: Analyses
    fmt: str
    top: int

    @property
    def plain(self) -> bool:
        """No analysis option: the short default table, or the first report's rows (JSON, CSV)."""
        grouped = self.grouping.by or self.grouping.bucket or self.scope.where
        analysed = self.analyses.compare is not None or self.analyses.any_metric
        return not (grouped or analysed or self.fmt == "html")


class Reports(Protocol):
    """Where the report's results come from: :class:`StoreReports` (a store file) or
    :class:`~tokenomy.cli.collector_report.CollectorReports` (a running collector's API)."""

    def summary(self, scope: Scope, *, parts: bool = False) -> Summary:
        """The default report over ``scope``'s period (``parts``: with the cost split by part)."""
        ...

    def first_report(self, since: datetime | None, until: datetime | None) -> Report:
        """The first report's rows with their charges."""
        ...

    def analysis(self, selection: Selection, analyses: Analyses) -> AnalysisReport:
        """The table and KPIs of ``selection``, with what ``analyses`` adds."""
        ...

    def overview(self, scope: Scope, *, by: tuple[str, ...], compare: str | None, top: int) -> Overview:
        """The HTML report's data."""
        ...


@dataclass(frozen=True, slots=True)
class StoreReports:
    """The report's results computed on a store file."""

    store: Store

    def summary(self, scope: Scope, *, parts: bool = False) -> Summary:
        """The default report over ``scope``'s period (``parts``: with the cost split by part)."""
        return summary(self.store, scope, parts=parts)

    def first_report(self, since: datetime | None, until: datetime | None) -> Report:
        """The first report's rows with their charges."""
        return daily_totals(self.store, CallFilter(since=since, until=until), charges=True)

    def analysis(self, selection: Selection, analyses: Analyses) -> AnalysisReport:
        """The table and KPIs of ``selection``, with what ``analyses`` adds."""
        return analysis_report(self.store, selection, analyses)

    def overview(self, scope: Scope, *, by: tuple[str, ...], compare: str | None, top: int) -> Overview:
        """The HTML report's data."""
        return overview(self.store, scope, by=by, compare=compare, top=top)


def _report(reports: Reports, request: Request) -> str | None:
    """What ``request`` asks for from ``reports``: printed (None) for a table, else the text to write."""
    scope, fmt = request.scope, request.fmt
    if request.plain and fmt == "table":
        console_for_stdout().print(
            terminal.summary_view(reports.summary(scope, parts=request.analyses.parts))
        )
        return None
    if request.plain and not request.analyses.parts:  # (the first report's rows cannot hold the split)
        return _first_report(reports.first_report(scope.since, scope.until), fmt)
    if fmt == "html":
        by = request.grouping.by or ("team",)
        data = reports.overview(scope, by=by, compare=request.analyses.compare, top=request.top)
        return html_report.render(data)
    return _render(reports.analysis(Selection(scope, request.grouping), request.analyses), fmt)


def _render(report: AnalysisReport, fmt: str) -> str | None:
    """The report as JSON or CSV text, or printed (None) for the table format."""
    if fmt == "json":
        return json.dumps(analysis_json(report), indent=2)
    if fmt == "csv":
        return serialize.attribution_csv(report.table)
    _print(report)
    return None


def _print(report: AnalysisReport) -> None:
    console = console_for_stdout()
    table, drivers = report.table, report.drivers
    if drivers is not None:
        console.print(terminal.heading(drivers.current, drivers.baseline))
    else:  # the period read, said as given: a grouped table never says it otherwise
        console.print(terminal.scope_heading(table.scope.since, table.scope.until))
    console.print(terminal.kpi_tiles(report.kpis))
    if not table.rows:
        console.print("no calls or charges in the store for this selection")
    else:
        console.print(terminal.attribution_table(table))
    if report.split is not None and report.split.rows:
        console.print(terminal.split_table(report.split))
    for note in (*table.notes, terminal.ROUNDED) if table.rows else table.notes:
        console.print(f"note: {note}", style="dim")
    if drivers is not None:
        for part in terminal.drivers_tables(drivers):
            console.print(part)
        for note in drivers.notes:
            console.print(f"note: {note}", style="dim")
        console.print(terminal.baselines_table(report.baselines))
    if report.metrics is not None:
        console.print(terminal.metrics_table(report.metrics))


def _pair(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    try:
        return parity_pair(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--parity") from exc


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
        *[row.tokens.get(b, 0) for b in BUCKETS],  # None (unknown) stays None: a row of charges has 0
        row.input_total,
        row.output_total,
        _money(row.cost),
        row.unpriced,
        row.charges,
        _money(row.charge_cost),
        _money(row.spend),
        _money(row.cost),  # llm_cost: added after the columns scripts read by position (usage_unknown last)
        row.usage_unknown,
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else money_text(value)


def report_json(report: Report) -> dict[str, Any]:
    """The first report as JSON-ready data: money as decimal strings, an unknown cost or token figure
    as null."""
    return {
        "since": _iso(report.filters.since),
        "until": _iso(report.filters.until),
        "rows": [dict(zip(_HEAD, _cells(r), strict=True)) for r in report.rows],
        "total": dict(zip(_HEAD[3:], _cells(report.total)[3:], strict=True)),
    }


def report_csv(report: Report) -> str:
    """The first report's rows as CSV (one header line; an unknown cost or token figure is an empty
    cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEAD)
    for row in report.rows:
        writer.writerow([serialize.csv_cell(v) for v in _cells(row)])
    return out.getvalue()


def _iso(value: date | None) -> str | None:
    """A bound in ISO 8601: a time in UTC with a ``Z``, as in every other JSON the report writes."""
    if value is None:
        return None
    return str(jsonable(value)) if isinstance(value, datetime) else value.isoformat()


def console_for_stdout() -> Any:
    """A rich console on stdout: a terminal folds to its width, a pipe or file gets the whole table."""
    from rich.console import Console  # noqa: PLC0415

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 250)
