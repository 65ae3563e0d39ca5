"""``tokenomy session ID``: one session as a tree of steps (a thin shell over analysis.session_tree), from
the store or, with ``--server``, through a running collector's API (cli/collector_reads.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tokenomy.analysis import serialize, terminal
from tokenomy.analysis.session_tree import session_tree
from tokenomy.cli import collector_reads
from tokenomy.cli.collector_client import CollectorClient
from tokenomy.cli.options import collector_url, config_option, db_option, resolve, server_option
from tokenomy.cli.report import console_for_stdout
from tokenomy.store import open_store


@click.command(name="session")
@db_option
@server_option
@config_option
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(
    *, db: Path | None, server: str | None, config_file: Path | None, session_id: str, fmt: str
) -> None:
    """Show session SESSION_ID as a tree: calls, tool uses, sub-agents, spans and charges, with
    tokens per bucket, cost, latency and the running total, then where its LLM cost goes by part.

    With --server (or $TOKENOMY_SERVER), read it through a running collector's API instead of the
    store file it owns.
    """
    settings = resolve(config_file, db=db)
    url = collector_url(server, db)
    if url is not None:
        with CollectorClient(url, settings.server_token) as client:
            tree = collector_reads.session_tree(client, session_id)
    else:
        with open_store(settings.db, read_only=True) as store:
            tree = session_tree(store, session_id)
    if fmt == "json":
        click.echo(json.dumps(serialize.tree_json(tree), indent=2))
        return
    console = console_for_stdout()
    console.print(terminal.session_tree(tree))
    if tree.attribution:
        console.print("  " + ", ".join(f"{k}: {v}" for k, v in tree.attribution.items()), style="dim")
    if tree.split is not None and tree.split.rows:
        console.print(terminal.split_table(tree.split, "where this session's LLM cost goes (priced calls)"))
    for note in tree.notes:
        console.print(f"note: {note}", style="dim")
