"""``tokenomy export``: stored calls and charges in the native schema, as JSONL, CSV or Parquet."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import click

from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection, grouped_charges
from tokenomy.analysis.report import CHARGE_SUMS
from tokenomy.cli.options import config_option, db_option, period_options, resolve
from tokenomy.cli.progress import percent_bar
from tokenomy.store import EXPORT_FORMATS, CallFilter, open_store
from tokenomy.store.base import Store


@click.command(name="export")
@db_option
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS)),
    default="jsonl",
    show_default=True,
    help="jsonl: calls and charges; csv, parquet: calls only (one row per call).",
)
@click.option("--out", "-o", "out", default="-", show_default=True, help="Output file, or - for stdout.")
@period_options(" to include")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (there is one on a terminal's stderr).")
def command(
    *,
    db: Path | None,
    config_file: Path | None,
    fmt: str,
    out: str,
    since: datetime | None,
    until: datetime | None,
    quiet: bool,
) -> None:
    """Write stored calls (and, as JSONL, charges) in the native schema (docs/store.md).

    JSONL holds the calls and the charges (non-LLM costs, `"type": "charge"` lines) of the period,
    the objects `tokenomy import` reads back, so an export imports into another store unchanged
    and reports the same spend. CSV and Parquet hold the calls only, one row per call with the
    columns docs/store.md lists: their cost is the LLM cost, without the charges. Records are
    ordered by time (a charge's time), then id.
    """
    if fmt == "parquet" and out == "-" and _terminal():
        raise click.UsageError("parquet is binary: write it to a file with --out FILE (or pipe stdout)")
    settings = resolve(config_file, db=db)
    with open_store(settings.db, read_only=True) as store, percent_bar("exporting", quiet=quiet) as shown:
        charges, charge_cost = _charges(store, since, until)
        selected = CallFilter(since=since, until=until)
        count = store.export(out, fmt, selected, progress=shown)  # type: ignore[arg-type]
    if fmt == "jsonl":
        if out != "-":
            click.echo(f"{count - charges:,} calls and {charges:,} charges written to {out}", err=True)
        return
    if out != "-":
        click.echo(f"{count:,} calls written to {out}", err=True)
    if charges:
        click.echo(
            f"note: {fmt} holds calls only; the {charges:,} charges (non-LLM costs, "
            f"${charge_cost:,.2f}) of the period are not in it: --format jsonl carries them",
            err=True,
        )


def _terminal() -> bool:
    """Whether standard output is a terminal (Parquet's bytes would garble it)."""
    return sys.stdout.isatty()


def _charges(store: Store, since: datetime | None, until: datetime | None) -> tuple[int, Decimal]:
    """How many charges the period holds and their cost (as the report counts them)."""
    sums = grouped_charges(store, Selection(Scope(since, until)), CHARGE_SUMS).total
    return int(sums["charges"] or 0), sums["charge_cost"] or Decimal(0)
