"""``tokenomy serve``: the collector (OTLP/HTTP, native events, the read-only API) owning the store."""

from __future__ import annotations

from pathlib import Path

import click

from tokenomy.cli.options import (
    capture_content_option,
    config_option,
    db_option,
    redact_hook,
    redact_option,
    resolve,
)
from tokenomy.server.settings import DEFAULT_HOST, DEFAULT_MAX_BODY, DEFAULT_PORT, ServerSettings, with_env


@click.command(name="serve")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind; beyond loopback a token is required.",
)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port (0 picks a free one).")
@db_option
@config_option
@click.option(
    "--token",
    default=None,
    help="Bearer token clients must send. Required beyond loopback. Prefer $TOKENOMY_SERVER_TOKEN: "
    "other users of the machine can read a process's arguments.",
)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for payloads the store cannot take right now. [default: <db>.spool]",
)
@click.option(
    "--max-body",
    type=int,
    default=DEFAULT_MAX_BODY,
    show_default=True,
    help="Largest request body in bytes, compressed or inflated (413 past it).",
)
@capture_content_option("the prompt and completion text clients send")
@redact_option
def command(
    *,
    host: str,
    port: int,
    db: Path | None,
    config_file: Path | None,
    token: str | None,
    spool: Path | None,
    max_body: int,
    capture_content: bool | None,
    redact: str | None,
) -> None:
    """Run the collector: POST /v1/traces (OTLP/HTTP) and /v1/events (native records), GET /api/v1/...

    It owns the store (DuckDB allows one writing process): other processes send it events and
    read through its API. A request is answered 200 only once its events are durable (in the
    store, or in the spool when the store cannot take them). See docs/server.md.
    """
    from tokenomy.server.run import serve  # noqa: PLC0415  (uvicorn loads only when serving)

    config = resolve(config_file, db=db, capture_content=capture_content, redact=redact)
    hook = redact_hook(config, redact)
    settings = with_env(
        ServerSettings(
            db=config.db,
            host=host,
            port=port,
            token=token,
            spool=spool,
            max_body=max_body,
            capture_content=config.capture_content,
            redact=hook,
            overrides=config.overrides,
        )
    )

    def ready(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        auth = "token required" if settings.token else "no token (loopback only)"
        content = "  content kept" if settings.capture_content else ""
        content += f" (redacted by {config.redact})" if hook is not None else ""
        click.echo(
            f"tokenomy serve listening on http://{shown}:{bound_port}  store {settings.db}  "
            f"spool {settings.spool_dir}  {auth}{content}",
            err=True,
        )

    serve(settings, on_ready=ready)
