"""``tokenomy sessions``: sessions ranked by cost (a thin shell over analysis.sessions), from the store
or, with ``--server``, through a running collector's API (cli/collector_reads.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from tokenomy.analysis import serialize, terminal
from tokenomy.analysis.dimensions import Grouping, Scope, parse_dimensions, parse_where
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.sessions import SessionRow, top_sessions
from tokenomy.cli import collector_reads
from tokenomy.cli.collector_client import CollectorClient
from tokenomy.cli.options import (
    collector_url,
    config_option,
    db_option,
    option_value,
    period_options,
    resolve,
    server_option,
)
from tokenomy.cli.report import console_for_stdout
from tokenomy.schema import BUCKETS
from tokenomy.store import open_store


@click.command(name="sessions")
@db_option
@server_option
@config_option
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Sessions to list (per group)."
)
@click.option("--by", "by", default=None, help="Rank within each group of these dimensions: team,feature...")
@click.option("--where", "where", multiple=True, help="Keep only dim=value (repeatable).")
@period_options()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
def command(
    *,
    db: Path | None,
    server: str | None,
    config_file: Path | None,
    top: int,
    by: str | None,
    where: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    fmt: str,
) -> None:
    """Sessions ranked by cost (calls and charges, sub-agents included), with calls, tokens,
    duration and outcome. Show one of them with `tokenomy session ID`.

    With --server (or $TOKENOMY_SERVER), read a running collector's API instead of the store file
    it owns: the collector ranks its sessions as the store path does (every option works).
    """
    settings = resolve(config_file, db=db)
    url = collector_url(server, db)
    # a bad --by or --where is a usage error (exit 2), as in `tokenomy report`
    scope = Scope(since, until, option_value(parse_where, where))
    selection = Selection(scope, Grouping(option_value(parse_dimensions, by)))
    if url is not None:
        with CollectorClient(url, settings.server_token) as client:
            sessions = collector_reads.top_sessions(client, selection, top=top)
    else:
        with open_store(settings.db, read_only=True) as store:
            sessions = top_sessions(store, selection, top=top)
    if fmt == "json":
        click.echo(json.dumps(serialize.sessions_json(sessions), indent=2))
    elif fmt == "csv":
        rows = [serialize.session_row_json(r) for r in sessions.rows]
        click.echo(serialize.to_csv(rows, header=csv_header(sessions.by)), nl=False)
    else:
        console = console_for_stdout()
        if not sessions.rows:
            console.print("no sessions in the store for this selection")
            return
        console.print(terminal.sessions_table(sessions))
        if sessions.no_session_calls:
            console.print(f"note: {sessions.no_session_calls:,} call(s) belong to no session", style="dim")
        untotalled = sum(r.untotalled for r in sessions.rows)
        if untotalled:
            console.print(
                f"note: {untotalled:,} call(s) of the sessions listed did not report their input or output "
                "total: the input and output columns count only the totals that were reported "
                "(`tokenomy session ID` shows each call's partial floor)",
                style="dim",
            )
        estimated = [r for r in sessions.rows if r.estimated]
        if estimated:
            calls = sum(r.estimated for r in estimated)
            console.print(
                f"note: {len(estimated):,} of the sessions listed have estimated figures ({calls:,} call(s):"
                " tokens counted locally, or a cost at an assumed price; `tokenomy session ID` says which)",
                style="dim",
            )


def csv_header(by: tuple[str, ...]) -> list[str]:
    """The CSV's columns, written even when no session is listed (a script reading it finds its
    columns either way): those of :func:`~tokenomy.analysis.serialize.session_row_json`."""
    blank = SessionRow(
        session_id="",
        group=dict.fromkeys(by, ""),
        calls=0,
        charges=0,
        tokens=dict.fromkeys(BUCKETS, 0),
        input_total=0,
        output_total=0,
        llm_cost=None,
        charge_cost=None,
        unpriced=0,
        started_at=None,
        ended_at=None,
        success=None,
        action=None,
        agents=0,
        sub_calls=0,
    )
    return list(serialize.session_row_json(blank))
