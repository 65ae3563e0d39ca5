"""``tokenomy session ID``: one session as a tree of steps (a thin shell over analysis.session_tree)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tokenomy.analysis import serialize, terminal
from tokenomy.analysis.session_tree import session_tree
from tokenomy.cli.options import config_option, db_option, resolve
from tokenomy.cli.report import console_for_stdout
from tokenomy.store import open_store


@click.command(name="session")
@db_option
@config_option
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(*, db: Path | None, config_file: Path | None, session_id: str, fmt: str) -> None:
    """Show session SESSION_ID as a tree: calls, tool uses, sub-agents, spans and charges, with
    tokens per bucket, cost, latency and the running total.
    """
    settings = resolve(config_file, db=db)
    with open_store(settings.db, read_only=True) as store:
        tree = session_tree(store, session_id)
    if fmt == "json":
        click.echo(json.dumps(serialize.tree_json(tree), indent=2))
        return
    console = console_for_stdout()
    console.print(terminal.session_tree(tree))
    if tree.attribution:
        console.print("  " + ", ".join(f"{k}: {v}" for k, v in tree.attribution.items()), style="dim")
    for note in tree.notes:
        console.print(f"note: {note}", style="dim")
