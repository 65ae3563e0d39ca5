"""``tokenomy audit``: waste findings ranked by dollars, a savings plan, cache advice, sampled sessions.

A thin shell over :mod:`tokenomy.analysis.audit`, :mod:`tokenomy.analysis.savings`,
:mod:`tokenomy.analysis.cache_advisor` and :mod:`tokenomy.analysis.waste.walkthrough`. The findings
are saved in the store (``--no-save`` to only look), where the dashboard, alerts and the efficiency
metrics read them.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from tokenomy.analysis.audit import run_audit, save_audit
from tokenomy.analysis.cache_advisor import advise
from tokenomy.analysis.dimensions import Scope, parse_where, scope_sql
from tokenomy.analysis.savings import build_plan, call_costs
from tokenomy.analysis.waste.base import ROUTE_KEYS, AuditOptions, Context
from tokenomy.analysis.waste.registry import DETECTORS
from tokenomy.analysis.waste.walkthrough import SessionWalk, sample_sessions, walk
from tokenomy.cli.audit_json import AuditReport, group_by, report_json
from tokenomy.cli.options import (
    config_option,
    db_option,
    option_value,
    out_option,
    period_options,
    resolve,
)
from tokenomy.cli.progress import steps_bar
from tokenomy.pricing import Pricer
from tokenomy.store import open_store
from tokenomy.store.duckdb_open import missing_store


@click.command(name="audit")
@db_option
@config_option
@period_options(" to audit")
@click.option(
    "--by", type=click.Choice(ROUTE_KEYS), default=None, help="Also sum the findings per this dimension."
)
@click.option("--where", multiple=True, metavar="DIM=VALUE", help="Audit only these calls (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Walk through N sessions stratified by cost, step by step.",
)
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="Findings to list.")
@click.option("--save/--no-save", default=True, show_default=True, help="Store the findings.")
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Price overrides.",
)
@out_option("the audit (any format)")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (there is one on a terminal's stderr).")
def command(
    *,
    db: Path | None,
    config_file: Path | None,
    since: datetime | None,
    until: datetime | None,
    by: str | None,
    where: tuple[str, ...],
    fmt: str,
    sample: int,
    top: int,
    save: bool,
    overrides: Path | None,
    out: Path | None,
    quiet: bool,
) -> None:
    """Find the waste in agent traffic: retries, repeats, bloat, missed caching, oversized models...

    Findings are ranked by wasted dollars, each with a monthly savings range, its assumptions and a
    concrete fix; the savings plan adds every fix up (the top ones listed) without counting the same
    money twice.
    """
    settings = resolve(config_file, db=db, overrides=overrides)
    scope = Scope(since, until, option_value(parse_where, where))
    pricer = Pricer(overrides=settings.overrides)
    if not settings.db.exists():  # a mistyped --db: saving would create an empty store and audit it
        raise missing_store(settings.db)
    steps = len(DETECTORS) + 2 + (1 if sample else 0)  # the detectors, the plan, the cache advice
    with (
        open_store(settings.db, read_only=not save) as store,
        steps_bar("auditing", steps, quiet=quiet) as step,
    ):
        result = run_audit(store, scope=scope, pricer=pricer, progress=step)
        step("the savings plan")
        ids = [c.call_id for f in result.findings for c in f.calls]
        plan = build_plan(result.findings, call_costs(store, ids))
        step("the prompt-cache advisor")
        advice = advise(store, scope=scope, pricer=pricer)
        walks: tuple[SessionWalk, ...] = ()
        if sample:
            step("the sessions sampled")
            ctx = Context(store, scope_sql(scope, store.dialect), pricer, AuditOptions())
            walks = tuple(walk(ctx, sample_sessions(ctx, sample), result.hits))
        replaced = save_audit(store, result) if save else None
    by_rows = group_by(result.findings, by) if by else ()
    report = AuditReport(result, plan, advice, walks, by, top, replaced, by_rows)
    _emit(report, fmt, out)


def _emit(report: AuditReport, fmt: str, out: Path | None) -> None:
    if fmt == "json":
        text = json.dumps(report_json(report), indent=2, default=str) + "\n"
    elif fmt == "html":
        from tokenomy.cli.audit_html import render  # noqa: PLC0415  (only when asked for)

        text = render(report)
    else:
        text = None
    if text is not None:
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            click.echo(f"wrote {out}", err=True)
        return
    from rich.console import Console  # noqa: PLC0415  (rich only when drawing)

    from tokenomy.cli.audit_text import print_report  # noqa: PLC0415

    if out is None:
        print_report(report, Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200))
        return
    with out.open("w", encoding="utf-8") as handle:
        print_report(report, Console(file=handle, width=200))
    click.echo(f"wrote {out}", err=True)
