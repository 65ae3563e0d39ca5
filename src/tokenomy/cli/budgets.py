"""``tokenomy budgets set|list|status|delete``: budget policies and where they stand."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from tokenomy.budgets.messages import shown
from tokenomy.budgets.policy import Policy, Scope, Unit, parse_policy
from tokenomy.budgets.settings import BudgetConfig, BudgetSettings, load_budgets
from tokenomy.budgets.setup import ledger_for, merged_policies, save_policy, stored_policies
from tokenomy.budgets.spend import StoreSpend
from tokenomy.budgets.status import StatusRow, status
from tokenomy.cli.options import UTC_TIME, config_option, db_option, resolve
from tokenomy.cli.report import console_for_stdout
from tokenomy.errors import ConfigError
from tokenomy.pricing.rates import MONEY_QUANTUM
from tokenomy.store import open_store


@click.group(name="budgets")
def command() -> None:
    """Token budgets: define policies, list them, see spend against them, delete them.

    Policies come from [[budget]] tables of tokenomy.toml and from the store (set here).
    See docs/budgets.md.
    """


@command.command(name="set")
@click.argument("name")
@db_option
@config_option
@click.option(
    "--scope", default="global", show_default=True, help="global, team, user, key, session, feature, agent."
)
@click.option(
    "--match", default=None, help="Only this value of the scope (default: each value its own budget)."
)
@click.option("--limit-usd", default=None, help="Limit in dollars per window, e.g. 50.00.")
@click.option("--limit-tokens", type=click.IntRange(min=1), default=None, help="Limit in tokens per window.")
@click.option("--window", default="day", show_default=True, help="request, session, day, week or month.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="Where windows reset (IANA name).")
@click.option("--mode", default="hard", show_default=True, help="hard (refuse) or soft (downgrade).")
@click.option(
    "--soft-threshold", default=None, help="Share of the limit where soft steps start (0.8 or 80%)."
)
@click.option(
    "--downgrade",
    "steps",
    multiple=True,
    help="A soft step, e.g. model=gpt-4o-mini or max_tokens=512,reasoning_effort=low (repeat, in order).",
)
@click.option("--min-output-tokens", type=click.IntRange(min=1), default=None, help="Smallest useful answer.")
def set_command(
    *,
    name: str,
    db: Path | None,
    config_file: Path | None,
    scope: str,
    match: str | None,
    limit_usd: str | None,
    limit_tokens: int | None,
    window: str,
    zone: str,
    mode: str,
    soft_threshold: str | None,
    steps: tuple[str, ...],
    min_output_tokens: int | None,
) -> None:
    """Define (or replace) the budget NAME in the store."""
    table: dict[str, Any] = {"name": name, "scope": scope, "window": window, "timezone": zone, "mode": mode}
    optional = {
        "match": match,
        "limit_usd": limit_usd,
        "limit_tokens": limit_tokens,
        "soft_threshold": soft_threshold,
        "min_output_tokens": min_output_tokens,
    }
    table.update({k: v for k, v in optional.items() if v is not None})
    if steps:
        table["downgrade"] = [_step(text) for text in steps]
    try:
        policy = parse_policy(table, "tokenomy budgets set")
    except ConfigError as exc:  # the options given make no policy: a usage error
        raise click.UsageError(str(exc)) from exc
    budgets = load_budgets(config_file)
    with open_store(resolve(config_file, db=db).db) as store:
        replaced = save_policy(store, policy, budgets)
    verb = "replaced" if replaced else "set"
    click.echo(
        f"{verb} budget '{policy.name}': {policy.describe_scope()}, {policy.describe_limit()}, "
        f"{policy.mode.value}"
    )


def _step(text: str) -> dict[str, Any]:
    step: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise click.BadParameter(
                f"{text!r}: write steps as key=value, e.g. model=gpt-4o-mini", param_hint="--downgrade"
            )
        step[key] = int(value) if key == "max_tokens" and value.isdigit() else value
    return step


@command.command(name="list")
@db_option
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(*, db: Path | None, config_file: Path | None, fmt: str) -> None:
    """List every policy, from the config file and the store."""
    budgets = load_budgets(config_file)
    sourced = merged_policies(budgets, _store_policies(config_file, db))
    if fmt == "json":
        click.echo(json.dumps([{**s.policy.to_mapping(), "source": s.source} for s in sourced], indent=2))
        return
    if not sourced:
        click.echo("no budgets defined; add [[budget]] tables to tokenomy.toml or run `tokenomy budgets set`")
        return
    table = Table("budget", "scope", "limit", "mode", "downgrade", "source")
    for s in sourced:
        p = s.policy
        chain = " → ".join(step.describe() for step in p.downgrade) if p.downgrade else "-"
        mode = f"soft from {p.soft_threshold:.0%}" if p.downgrade else p.mode.value
        table.add_row(p.name, p.describe_scope(), p.describe_limit(), mode, chain, s.source)
    console_for_stdout().print(table)


def _store_policies(config_file: Path | None, db: Path | None) -> list[Policy]:
    path = resolve(config_file, db=db).db
    if not path.exists():
        return []
    with open_store(path, read_only=True) as store:
        return stored_policies(store)


@command.command(name="delete")
@click.argument("name")
@db_option
@config_option
def delete_command(*, name: str, db: Path | None, config_file: Path | None) -> None:
    """Delete the budget NAME from the store."""
    budgets = load_budgets(config_file)
    if any(p.name == name for p in budgets.policies):
        raise ConfigError(f"budget '{name}' is defined in {budgets.path}; remove its [[budget]] table there")
    with open_store(resolve(config_file, db=db).db) as store:
        if not store.delete_budget_policy(name):
            raise ConfigError(f"no budget named '{name}' in the store; `tokenomy budgets list` shows them")
    click.echo(f"deleted budget '{name}'")


@command.command(name="status")
@click.argument("names", nargs=-1)
@db_option
@config_option
@click.option(
    "--at",
    "at",
    type=UTC_TIME,
    default=None,
    help="Status as of this UTC time: calls that started at or after it are not counted (default: now).",
)
@click.option(
    "--ledger", default=None, help="A redis:// ledger to read reservations from (default: [budgets])."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status_command(
    *,
    names: tuple[str, ...],
    db: Path | None,
    config_file: Path | None,
    at: datetime | None,
    ledger: str | None,
    fmt: str,
) -> None:
    """Limit, spent, reserved, remaining and projected exhaustion of each budget (or of NAMES).

    Spent is the recorded LLM calls of the window until --at (or now). Charges (non-LLM costs,
    `tokenomy.charge`) are not in it: budgets bound LLM requests, so `tokenomy report`'s spend,
    which adds the charges, can be higher.
    """
    budgets = load_budgets(config_file)
    path = resolve(config_file, db=db).db
    if not path.exists():  # nothing recorded yet: nothing spent (a status never creates a store)
        click.echo(f"note: no store at {path} yet: nothing has been spent", err=True)
    with open_store(path if path.exists() else Path(":memory:"), read_only=path.exists()) as store:
        policies = [s.policy for s in merged_policies(budgets, stored_policies(store))]
        chosen = _chosen(policies, names)
        live = ledger_for(_with_ledger(budgets, ledger))
        try:
            rows = status(
                chosen, StoreSpend(store), now=(at.replace(tzinfo=UTC) if at else None), ledger=live
            )
        finally:
            if live is not None:
                live.close()
    if live is not None and any(
        r.reserved is None and (r.span or r.session) is not None and not r.none_spent for r in rows
    ):
        url = getattr(live, "url", "the ledger")
        click.echo(
            f"warning: {url} did not answer: reserved is unknown (-) and remaining ignores it", err=True
        )
    if fmt == "json":
        click.echo(json.dumps([_row_json(r) for r in rows], indent=2))
    else:
        _print(rows)


def _chosen(policies: list[Policy], names: tuple[str, ...]) -> list[Policy]:
    if not names:
        return policies
    known = {p.name: p for p in policies}
    missing = [n for n in names if n not in known]
    if missing:
        names_shown = ", ".join(f"'{n}'" for n in missing)
        raise ConfigError(f"no budget named {names_shown}; `tokenomy budgets list` shows them")
    return [known[n] for n in names]


def _with_ledger(budgets: BudgetConfig, ledger: str | None) -> BudgetSettings:
    if ledger is None:
        return budgets.settings
    if not (ledger == "memory" or ledger.startswith(("redis://", "rediss://", "unix://"))):
        # checked here: the Redis client's own ValueError was a traceback
        raise click.BadParameter(
            f"{ledger!r} is not a Redis ledger; give a redis://, rediss:// or unix:// URL",
            param_hint="'--ledger'",
        )
    return replace(budgets.settings, ledger=ledger)


def _money(value: Decimal | None, unit: Unit) -> str:
    return "-" if value is None else shown(value, unit)


def _exhaustion(row: StatusRow) -> str:
    if row.remaining <= 0:
        return "exhausted"  # already: a projection would print "now"
    if row.exhausted_at is None:
        return "-"
    when = row.exhausted_at.astimezone(row.policy.zone).strftime("%Y-%m-%d %H:%M %Z")
    return when if row.exhausts_this_window else f"{when} (after reset)"


def _print(rows: list[StatusRow]) -> None:
    if not rows:
        click.echo("no budgets defined; add [[budget]] tables to tokenomy.toml or run `tokenomy budgets set`")
        return
    table = Table(
        "budget",
        "scope",
        "window",
        "limit",
        "LLM spent",
        "reserved",
        "remaining",
        "used",
        "burn/day",
        "exhausts",
        caption="LLM spent: the recorded LLM calls of the window until now (or --at); charges (non-LLM "
        "costs) are not in it; * marks a dollar spend that leaves out calls it could not price",
        caption_justify="left",
    )
    for r in rows:
        unit = r.policy.unit
        window = f"{r.span.id[1:]}" if r.span is not None else r.policy.window.value
        scope = r.policy.describe_scope(r.value)
        if r.none_spent and r.span is not None:
            scope = f"{scope} (none spent yet)"  # each value gets a row once it spends
        table.add_row(
            r.policy.name,
            scope
            if r.session is None or r.policy.scope is Scope.SESSION
            else f"{scope}, session '{r.session}'",
            window,
            shown(r.policy.limit, unit),
            shown(r.spent, unit) + (f" *{r.unpriced:,} unpriced" if r.unpriced and unit is Unit.USD else ""),
            _money(r.reserved, unit),
            shown(r.remaining, unit),
            f"{r.used_share:.1%}",
            _money(r.burn_per_day, unit),
            _exhaustion(r),
        )
    console_for_stdout().print(table)


def _burn(rate: Decimal, unit: Unit) -> Decimal:
    """A burn rate as spend is kept: dollars to 12 places (MONEY_QUANTUM), tokens to 2 (the division
    gave 28 digits)."""
    return rate.quantize(MONEY_QUANTUM if unit is Unit.USD else Decimal("0.01"), rounding=ROUND_HALF_UP)


def _row_json(row: StatusRow) -> dict[str, Any]:
    return {
        "budget": row.policy.name,
        "scope": row.policy.scope.value,
        "value": row.value,
        "session": row.session,
        "unit": row.policy.unit.value,
        "window_start": row.span.start.isoformat() if row.span else None,
        "window_end": row.span.end.isoformat() if row.span else None,
        "limit": str(row.policy.limit),
        "spent": str(row.spent),
        "spent_includes_charges": False,  # LLM calls only: budgets do not bound charges
        "reserved": None if row.reserved is None else str(row.reserved),
        "remaining": str(row.remaining),
        "used_share": row.used_share,
        "calls": row.calls,
        "unpriced_calls": row.unpriced,
        "burn_per_day": None if row.burn_per_day is None else str(_burn(row.burn_per_day, row.policy.unit)),
        "exhausted_at": row.exhausted_at.isoformat() if row.exhausted_at else None,
        "exhausts_this_window": row.exhausts_this_window,
    }
