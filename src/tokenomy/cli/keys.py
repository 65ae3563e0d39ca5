"""``tokenomy keys``: issue, list and revoke the gateway's virtual keys (stored hashed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.table import Table

from tokenomy.cli.options import config_option, db_option, resolve
from tokenomy.cli.report import console_for_stdout
from tokenomy.gateway.attribution import MAX_TAGS, parse_tags
from tokenomy.gateway.key_store import AmbiguousKeyError, create_key, read_keys, revoke_key
from tokenomy.gateway.keys import VirtualKey
from tokenomy.native import attribution_to_native
from tokenomy.schema import Attribution, utc_now
from tokenomy.store import open_store


@click.group(name="keys")
def command() -> None:
    """Virtual keys for the gateway: each stands for a team, user... and only its hash is stored."""


@command.command(name="create")
@db_option
@config_option
@click.option("--name", default=None, help="A label, usable with `keys revoke` (not unique: ids are).")
@click.option("--team", default=None, help="Attribute the key's calls to this team (a budget's team scope).")
@click.option("--user", default=None, help="... to this user.")
@click.option("--project", default=None, help="... to this project.")
@click.option("--feature", default=None, help="... to this feature.")
@click.option("--environment", default=None, help="... to this environment (prod, staging).")
@click.option("--agent", default=None, help="... to this agent.")
@click.option("--tags", default=None, metavar="K=V,K=V", help="Tags on the key's calls, comma-separated.")
@click.option("--expires", default=None, help="Lifetime (30d, 12h) or an ISO date/time in UTC.")
def create(
    *,
    db: Path | None,
    config_file: Path | None,
    name: str | None,
    expires: str | None,
    tags: str | None,
    **fields: str | None,
) -> None:
    """Issue a key; it is printed once and cannot be shown again."""
    attribution = Attribution(**fields, tags=_tags(tags))
    expires_at = _expiry(expires)  # checked before the store is opened (or made)
    store = open_store(config=resolve(config_file, db=db))
    try:
        issued = create_key(store, attribution, name=name, expires_at=expires_at)
    finally:
        store.close()
    click.echo(issued.key)
    click.echo(
        f"key id {issued.record.key_id}: store the key now, it is not kept (only its hash is)", err=True
    )


@command.command(name="list")
@db_option
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(*, db: Path | None, config_file: Path | None, fmt: str) -> None:
    """List issued keys (ids, never the keys): id, name, state, attribution, and when a valid key expires."""
    settings = resolve(config_file, db=db)
    keys = read_keys(settings)  # read-only: listing never creates a store
    rows = [
        {
            "key_id": k.key_id,
            "name": k.name,
            "attribution": attribution_to_native(k.attribution),
            "created_at": k.created_at.isoformat() if k.created_at else None,
            "expires_at": k.expires_at.isoformat() if k.expires_at else None,
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            "valid": k.valid(),
        }
        for k in keys
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not keys:
        where = "" if settings.db.exists() else f" (no store at {settings.db} yet)"
        click.echo(f"no keys issued yet{where}; issue one with `tokenomy keys create`", err=True)
        return
    table = Table("id", "name", "state", "attribution", "expires")
    for key in keys:
        until = f"{key.expires_at:%Y-%m-%d %H:%M} UTC" if key.valid() and key.expires_at else "-"
        table.add_row(key.key_id, key.name or "-", _state(key), _who(key.attribution), until)
    console_for_stdout().print(table)


def _state(key: VirtualKey) -> str:
    return "valid" if key.valid() else ("revoked" if key.revoked_at else "expired")


def _who(attribution: Attribution) -> str:
    """``team=search,tags=env=prod;tier=gold``: the fields as given at creation, tags as k=v, not a dict."""
    shown = attribution_to_native(attribution)
    tags = shown.pop("tags", None) or {}
    parts = [f"{k}={v}" for k, v in shown.items()]
    if tags:
        parts.append("tags=" + ";".join(f"{k}={v}" for k, v in tags.items()))
    return ",".join(parts)


@command.command(name="revoke")
@db_option
@config_option
@click.option(
    "--all", "every", is_flag=True, help="Revoke every key the name or id prefix matches, not only one."
)
@click.argument("key_id")
def revoke(*, db: Path | None, config_file: Path | None, key_id: str, every: bool) -> None:
    """Revoke a key by its id (or an 8+ character prefix of it) or its name.

    Names are not unique: one that several keys have (other teams' keys too) is refused, with the
    keys it matches; revoke one by its id, or all of them with --all.
    """
    if not key_id.strip():
        raise click.UsageError("give at least 8 characters of the key id, or the key's name")
    store = open_store(config=resolve(config_file, db=db))
    try:
        revoked = revoke_key(store, key_id, every=every)
    except AmbiguousKeyError as exc:
        raise click.ClickException(_ambiguous(exc)) from None
    finally:
        store.close()
    if not revoked:
        raise click.ClickException(f"no valid key has the id or name {key_id!r}; see `tokenomy keys list`")
    click.echo(f"revoked {', '.join(revoked)}")


def _ambiguous(exc: AmbiguousKeyError) -> str:
    """The refusal of a name or prefix several keys match: each key, and how to pick."""
    lines = [f"{exc.given!r} matches {len(exc.matches)} keys; nothing was revoked:"]
    lines += [f"  {k.key_id}  {k.name or '-':<16} {_state(k):<8} {_who(k.attribution)}" for k in exc.matches]
    lines.append(
        f"revoke one by its id (`tokenomy keys revoke {exc.matches[0].key_id}`), "
        f"or all {len(exc.matches)} with `tokenomy keys revoke --all {exc.given}`"
    )
    return "\n".join(lines)


def _tags(text: str | None) -> dict[str, str]:
    """The key's tags: every item must be ``k=v`` (a key's tags attribute all its spend: none is dropped)."""
    items = [item for item in (text or "").split(",") if item.strip()]
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item.strip()!r} is not k=v", param_hint="--tags")
    tags = parse_tags(text or "")
    if len(tags) < len(items):
        raise click.BadParameter(
            f"give each tag once, and at most {MAX_TAGS} tags (got {len(items)})", param_hint="--tags"
        )
    return tags


def _expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    now = utc_now()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1] in units:
        amount = int(text[:-1])
        if amount == 0:  # a key born expired is never what was meant
            raise click.BadParameter(f"{text!r} is no lifetime: give more than 0", param_hint="--expires")
        try:
            return now + timedelta(**{units[text[-1]]: amount})
        except OverflowError:
            raise click.BadParameter(
                f"{text!r} ends after the year 9999; leave --expires out for a key that does not expire",
                param_hint="--expires",
            ) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is neither a lifetime (30d, 12h) nor an ISO date", param_hint="--expires"
        ) from exc
    expires = parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    if expires <= now:  # a key born expired is never what was meant
        raise click.BadParameter(
            f"{text!r} is already past (now {now:%Y-%m-%d %H:%M} UTC)", param_hint="--expires"
        )
    return expires
