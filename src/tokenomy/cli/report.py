"""``tokenomy report``: totals by day, provider and model (a thin shell over analysis.report)."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import click

from tokenomy.analysis.report import Report, ReportRow, daily_totals
from tokenomy.cli.options import config_option, db_option, resolve
from tokenomy.schema import BUCKETS
from tokenomy.store import CallFilter, open_store

UNPRICED: Final = "—"
"""How a cost that is not known is shown (never as $0)."""
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
)


@click.command(name="report")
@db_option
@config_option
@click.option(
    "--since", type=click.DateTime(TIME_FORMATS), default=None, help="First UTC day (or time) to include."
)
@click.option(
    "--until", type=click.DateTime(TIME_FORMATS), default=None, help="UTC day (or time) to stop before."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
def command(
    db: Path | None, config_file: Path | None, since: datetime | None, until: datetime | None, fmt: str
) -> None:
    """Totals by UTC day, provider and model: calls, tokens per bucket, cost, unpriced calls.

    Unpriced calls are counted, never shown as $0: a cost that is not known shows as "—".
    """
    settings = resolve(config_file, db=db)
    with open_store(settings.db, read_only=True) as store:
        report = daily_totals(store, CallFilter(since=since, until=until))
    if fmt == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    elif fmt == "csv":
        click.echo(report_csv(report), nl=False)
    else:
        print_table(report)


def _cells(row: ReportRow) -> list[Any]:
    return [
        row.day.isoformat() if row.day else None,
        row.provider,
        row.model,
        row.calls,
        *[row.tokens.get(b, 0) for b in BUCKETS],
        row.input_total,
        row.output_total,
        None if row.cost is None else str(row.cost),
        row.unpriced,
    ]


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: money as decimal strings, unknown cost as null."""
    return {
        "since": _iso(report.filters.since),
        "until": _iso(report.filters.until),
        "rows": [dict(zip(_HEAD, _cells(r), strict=True)) for r in report.rows],
        "total": dict(zip(_HEAD[3:], _cells(report.total)[3:], strict=True)),
    }


def report_csv(report: Report) -> str:
    """The report rows as CSV (one header line; an unknown cost is an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEAD)
    for row in report.rows:
        writer.writerow(["" if v is None else v for v in _cells(row)])
    return out.getvalue()


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def money(value: Decimal | None) -> str:
    """Dollars for people: ``$12.3457`` (4 places; smaller amounts keep 2 significant digits), or "—"."""
    if value is None:
        return UNPRICED
    if value != 0 and abs(value) < Decimal("0.0001"):
        return f"${value:.2g}"
    return f"${value:,.4f}"


def tokens(n: int) -> str:
    """A token count for people: ``950``, ``12.3K``, ``4.56M``, ``7.89B``."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def _table_cells(row: ReportRow, label: str | None = None) -> list[str]:
    if label is not None:
        cells = [label, "", ""]
    else:
        cells = [
            row.day.isoformat() if row.day else UNPRICED,
            row.provider or UNPRICED,
            row.model or UNPRICED,
        ]
    cells.append(f"{row.calls:,}")
    cells += [tokens(row.tokens.get(b, 0)) for b in BUCKETS]
    cells += [tokens(row.input_total), tokens(row.output_total), money(row.cost), f"{row.unpriced:,}"]
    return cells


def print_table(report: Report) -> None:
    """Draw the report as a rich table (plain text when not a terminal)."""
    from rich.console import Console  # noqa: PLC0415  (rich only when drawing)
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="tokenomy report: totals by UTC day, provider and model (tokens)", show_footer=True)
    for name, foot in zip(_HEAD, _table_cells(report.total, label="total"), strict=True):
        numeric = name not in ("day", "provider", "model")
        table.add_column(name.replace("_", " "), footer=foot, justify="right" if numeric else "left")
    for row in report.rows:
        table.add_row(*_table_cells(row))
    # A terminal folds to its width; a pipe or file gets the whole table.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 250)
    if not report.rows:
        console.print("no calls in the store for this period")
        return
    console.print(table)
