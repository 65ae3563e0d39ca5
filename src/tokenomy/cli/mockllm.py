"""``tokenomy mock-llm``: run the mock OpenAI/Anthropic upstream until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import click

from tokenomy.errors import ConfigError
from tokenomy.mockllm import FAULTS, Latency, Lengths, MockLLMConfig, MockLLMServer
from tokenomy.mockllm.server import new_loop

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _rates(values: tuple[str, ...], what: str, default_key: str | None) -> dict[str, float]:
    rates: dict[str, float] = {}
    for value in values:
        key, sep, rate = value.partition("=")
        if not sep:
            if default_key is None:
                raise click.BadParameter(f"write NAME=RATE, e.g. hangup=0.01; got {value!r}", param_hint=what)
            key, rate = default_key, value
        try:
            rates[key.strip()] = float(rate)
        except ValueError:
            raise click.BadParameter(
                f"{rate!r} is not a probability between 0 and 1", param_hint=what
            ) from None
    return rates


def build_config(
    *,
    output_tokens: str,
    reasoning_tokens: str,
    seed: int,
    latency_ms: float | None,
    ttft_ms: float,
    chunk_delay_ms: float,
    error_rate: tuple[str, ...],
    fault: tuple[str, ...],
    chunk_tokens: int,
    cache_ttl_s: float,
    auto_tool_call: bool,
    chunked_json: bool,
    header_overrides: bool,
) -> MockLLMConfig:
    """The MockLLMConfig the command-line options describe.

    Raises:
        click.BadParameter: An option's value cannot be read.
        ConfigError: The values are readable but not valid together.
    """
    errors = _rates(error_rate, "--error-rate", "500")
    try:
        error_rates = {int(k): v for k, v in errors.items()}
    except ValueError:
        raise click.BadParameter(
            "write STATUS=RATE, e.g. 429=0.02, or a bare RATE for 500", param_hint="--error-rate"
        ) from None
    return MockLLMConfig(
        output_tokens=Lengths.parse(output_tokens),
        reasoning_tokens=Lengths.parse(reasoning_tokens),
        seed=seed,
        latency=Latency(ttft_ms=ttft_ms, inter_chunk_ms=chunk_delay_ms, total_ms=latency_ms),
        error_rates=error_rates,
        fault_rates=_rates(fault, "--fault", None),
        chunk_tokens=chunk_tokens,
        openai_cache_ttl_s=cache_ttl_s,
        auto_tool_call=auto_tool_call,
        chunked_json=chunked_json,
        header_overrides=header_overrides,
    )


async def _serve(server: MockLLMServer, host: str, port: int) -> None:
    bound_host, bound_port = await server.start(host, port)
    base = f"http://{bound_host}:{bound_port}"
    click.echo(
        f"tokenomy mock-llm listening on {base}  (OpenAI base_url {base}/v1, Anthropic base_url {base})"
    )
    click.echo(f"stats: GET {base}/_mock/stats   reset: POST {base}/_mock/reset   stop: Ctrl-C")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers on the loop
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    totals = server.stats(with_requests=False)["totals"]
    click.echo(
        f"served {totals['requests']} requests: {totals['input_tokens']} input tokens "
        f"({totals['cached_tokens']} cached), {totals['output_tokens']} output tokens "
        f"({totals['reasoning_tokens']} reasoning), {totals['errors']} errors"
    )


@click.command(name="mock-llm")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default)."
)
@click.option(
    "--port",
    default=8900,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--output-tokens",
    default="16",
    show_default=True,
    help="Visible output length: N, fixed:N or lognormal:MEAN,SIGMA (capped by the request's max_tokens).",
)
@click.option(
    "--reasoning-tokens",
    default="64",
    show_default=True,
    help="Reasoning length for reasoning models (o-series, gpt-5) and Anthropic thinking; same forms.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the lengths and injected faults."
)
@click.option(
    "--latency-ms", type=float, default=None, help="Total latency of each response (streams spread it)."
)
@click.option("--ttft-ms", type=float, default=0.0, show_default=True, help="Time to the first output token.")
@click.option(
    "--chunk-delay-ms",
    type=float,
    default=0.0,
    show_default=True,
    help="Delay between streamed token chunks.",
)
@click.option(
    "--error-rate",
    multiple=True,
    metavar="[STATUS=]RATE",
    help="Answer this share of requests with an error status: 0.05 (500s) or 429=0.02. Repeatable.",
)
@click.option(
    "--fault",
    multiple=True,
    metavar="NAME=RATE",
    help=f"Inject a fault in this share of requests; NAME is one of {', '.join(FAULTS)}. Repeatable.",
)
@click.option(
    "--chunk-tokens", default=1, show_default=True, type=int, help="Output tokens per streamed delta."
)
@click.option(
    "--cache-ttl-s",
    default=300.0,
    show_default=True,
    type=float,
    help="OpenAI prompt-cache lifetime (seconds).",
)
@click.option(
    "--auto-tool-call", is_flag=True, help="Call a tool under tool_choice=auto when tools are offered."
)
@click.option("--chunked-json", is_flag=True, help="Send JSON bodies chunked, as the real APIs do.")
@click.option(
    "--header-overrides/--no-header-overrides",
    default=True,
    show_default=True,
    help="Honour X-Mock-* request headers (X-Mock-Error, X-Mock-Output-Tokens...).",
)
@click.option("--uvloop/--no-uvloop", default=True, show_default=True, help="Use uvloop when installed.")
@click.pass_context
def command(ctx: click.Context, /, *, host: str, port: int, uvloop: bool, **_options: Any) -> None:
    """Run a mock OpenAI/Anthropic upstream on 127.0.0.1 for tests, benchmarks and demos.

    It answers /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings,
    /v1/models and /v1/messages (plain and streamed) with usage it keeps as ground truth at
    GET /_mock/stats. Point an SDK at it with base_url http://HOST:PORT/v1 (OpenAI) or
    http://HOST:PORT (Anthropic) and any API key. See docs/mock-upstream.md.
    """
    options = {k: v for k, v in ctx.params.items() if k not in ("host", "port", "uvloop")}
    try:
        config = build_config(**options)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    if host not in _LOOPBACK:
        click.secho(
            f"warning: binding {host}, not loopback: anyone who can reach it can use it",
            fg="yellow",
            err=True,
        )
    loop = new_loop(uvloop)
    try:
        loop.run_until_complete(_serve(MockLLMServer(config), host, port))
    finally:
        loop.close()
