"""``tokenomy gateway``: the OpenAI/Anthropic-compatible proxy that meters every call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from tokenomy.cli.options import config_option


@click.command(name="gateway")
@config_option
@click.option("--host", default=None, help="Interface to bind. [default: [gateway] host or 127.0.0.1]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port; 0 picks a free one. [default: [gateway] port or 8800]",
)
@click.option(
    "--sink",
    default=None,
    help="Where calls go: duckdb:PATH, http://host:port (a tokenomy server), otlp+http://..., none "
    "(built for the metrics, kept nowhere) or off (not metered).",
)
@click.option(
    "--token",
    default=None,
    envvar="TOKENOMY_GATEWAY_TOKEN",
    help="The gateway token: /metrics needs it, and so do /v1/ paths when keys are not required. "
    "Needed (or require_keys) to bind beyond loopback. Prefer $TOKENOMY_GATEWAY_TOKEN: other users of "
    "the machine can read a process's arguments.",
)
@click.option(
    "--drain-seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="On Ctrl-C/SIGTERM, how long open streams may run before the gateway exits.",
)
def command(
    *,
    config_file: Path | None,
    host: str | None,
    port: int | None,
    sink: str | None,
    token: str | None,
    drain_seconds: float,
) -> None:
    """Run the gateway: POST /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/completions
    (OpenAI) and /v1/messages (Anthropic), forwarded by the [gateway] routes of tokenomy.toml and
    metered; GET /healthz, /readyz, /metrics. SIGTERM drains the open streams and exits 0; SIGHUP
    re-reads the virtual keys. See docs/gateway.md.
    """
    from tokenomy.gateway import gateway_from_config, serve  # noqa: PLC0415  (uvicorn loads only here)
    from tokenomy.gateway.settings import check_exposure, load_gateway  # noqa: PLC0415

    settings = load_gateway(config_file)
    if token:
        settings = dataclasses.replace(settings, token=token)
    host = host or settings.host
    check_exposure(settings, host)
    gateway = gateway_from_config(config_file, settings=settings, sink=sink)
    if not settings.routes:
        click.echo("warning: no [[gateway.route]] in the config: every model will get 404", err=True)

    def ready(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        budgets = "budgets on" if gateway.budget is not None else "no budgets"
        auth = "token" if settings.token else "open"
        if settings.require_keys:
            known = gateway.keys.known if gateway.keys is not None else 0
            auth = f"virtual keys required ({known} known)"
        click.echo(
            f"tokenomy gateway listening on http://{shown}:{bound_port}  (OpenAI base_url "
            f"http://{shown}:{bound_port}/v1, Anthropic base_url http://{shown}:{bound_port})  "
            f"{len(settings.routes)} route(s), {budgets}, auth {auth}, sink {gateway.sink_description}",
            err=True,
        )

    serve(
        gateway,
        host,
        settings.port if port is None else port,
        drain_seconds=drain_seconds,
        on_ready=ready,
    )
