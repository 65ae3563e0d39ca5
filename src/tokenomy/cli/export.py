"""``tokenomy export``: stored calls in the native schema, as JSONL, CSV or Parquet."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import click

from tokenomy.cli.options import config_option, db_option, resolve
from tokenomy.store import EXPORT_FORMATS, CallFilter, open_store

TIME_FORMATS: Final = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@click.command(name="export")
@db_option
@config_option
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)), default="jsonl", show_default=True)
@click.option("--out", "out", default="-", show_default=True, help="Output file, or - for stdout.")
@click.option(
    "--since", type=click.DateTime(TIME_FORMATS), default=None, help="First UTC day (or time) to include."
)
@click.option(
    "--until", type=click.DateTime(TIME_FORMATS), default=None, help="UTC day (or time) to stop before."
)
def command(
    *,
    db: Path | None,
    config_file: Path | None,
    fmt: str,
    out: str,
    since: datetime | None,
    until: datetime | None,
) -> None:
    """Write stored calls in the native schema (docs/store.md lists the CSV and Parquet columns).

    JSONL lines are the objects `tokenomy import` reads back, so an export imports into another
    store unchanged. Calls are ordered by start time, then id.
    """
    settings = resolve(config_file, db=db)
    with open_store(settings.db, read_only=True) as store:
        count = store.export(out, fmt, CallFilter(since=since, until=until))  # type: ignore[arg-type]
    if out != "-":
        click.echo(f"{count:,} calls written to {out}", err=True)
