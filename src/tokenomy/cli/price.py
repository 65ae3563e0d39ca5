"""``tokenomy price``: price one usage for a model and show where every cent comes from."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokenomy.cli import options
from tokenomy.pricing import Pricer, Rates
from tokenomy.pricing.rates import MONEY_QUANTUM
from tokenomy.schema import BUCKETS, COST_PARTS, MODAL_KEYS, MODALITIES, Cost, Usage

ZERO_MONEY = Decimal(0).quantize(MONEY_QUANTUM)
_BUCKET_OPTIONS = {bucket: "--" + bucket.replace("_", "-") for bucket in BUCKETS}


class _When(click.ParamType[date | datetime]):
    """A date, or an ISO 8601 instant (naive means UTC) for prices that vary by time of day."""

    name = "DATE|DATETIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> date | datetime:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if len(text) == len("YYYY-MM-DD"):
                return date.fromisoformat(text)
            when = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{value!r} is neither a date (2025-06-10) nor an instant (2025-06-10T16:30, "
                "2025-06-10T16:30:00+08:00)",
                param,
                ctx,
            )
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _bucket_options(func: Any) -> Any:
    for bucket, flag in reversed(_BUCKET_OPTIONS.items()):
        func = click.option(
            flag,
            bucket,
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help=f"Tokens in the {bucket} bucket.",
        )(func)
    return func


@click.command("price")
@click.option("--model", "-m", required=True, help="Model name, as the provider reports it.")
@click.option(
    "--provider", "-p", default=None, help="Provider id or alias (openai, anthropic, google, aws...)."
)
@_bucket_options
@click.option(
    "--at",
    "at",
    type=_When(),
    default=None,
    help="Price date (YYYY-MM-DD), or an instant (YYYY-MM-DDTHH:MM[:SS], UTC unless an offset is given) "
    "for prices that change during the day. [default: today]",
)
@click.option(
    "--modality",
    "modalities",
    multiple=True,
    metavar="BUCKET.MODALITY=N",
    help="Of a bucket's tokens, N were audio, image or video (input_uncached.audio=400, "
    "output_visible.image=1290); repeat for more. The rest of the bucket is text.",
)
@click.option("--batch", is_flag=True, help="Price as a batch-API call.")
@click.option("--service-tier", default=None, help="Service tier (flex, priority...).")
@click.option(
    "--latency-ms", type=click.FloatRange(min=0), default=None, help="Latency, for per-second overhead."
)
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Price overrides file (TOML). [default: $TOKENOMY_OVERRIDES or tokenomy.toml's]",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(
    *,
    model: str,
    provider: str | None,
    at: date | datetime | None,
    batch: bool,
    service_tier: str | None,
    latency_ms: float | None,
    overrides: Path | None,
    fmt: str,
    modalities: tuple[str, ...],
    **buckets: int,
) -> None:
    """Price a usage for a model, with the rate of every bucket, the source and the price date.

    Exits with 1 when the model cannot be priced.
    """
    if latency_ms is not None and not math.isfinite(latency_ms):
        raise click.BadParameter(f"{latency_ms} is not a finite number of ms", param_hint="--latency-ms")
    pricer = Pricer(options.resolve(overrides=overrides).overrides)
    day = at if at is not None else datetime.now(UTC).date()
    usage = Usage.of(
        input_uncached=buckets["input_uncached"],
        cache_read=buckets["cache_read"],
        cache_write_5m=buckets["cache_write_5m"],
        cache_write_1h=buckets["cache_write_1h"],
        output_visible=buckets["output_visible"],
        reasoning=buckets["reasoning"],
        modalities=_parse_modalities(modalities),
    )
    cost = pricer.price_usage(
        usage,
        model=model,
        provider=provider,
        at=day,
        batch=batch,
        service_tier=service_tier,
        latency_ms=latency_ms,
    )
    rates = pricer.resolve(model=model, provider=provider, at=day, batch=batch, service_tier=service_tier)
    if fmt == "json":
        click.echo(json.dumps(_as_json(model, provider, usage, cost, rates), indent=2))
    elif cost.priced and rates is not None:
        Console().print(_as_table(model, usage, cost, rates))
        for line in _provenance(cost):
            click.echo(line)
    if not cost.priced:
        raise click.ClickException(f"unpriced: {cost.reason}")


def _parse_modalities(given: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in given:
        key, sep, value = item.partition("=")
        key = key.strip()
        count = value.strip()
        if not sep or key not in MODAL_KEYS or not (count.isascii() and count.isdigit()):
            raise click.BadParameter(
                f"{item!r} is not BUCKET.MODALITY=N with a whole N >= 0; BUCKET.MODALITY is one of "
                + ", ".join(MODAL_KEYS),
                param_hint="--modality",
            )
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _modal_rows(rates: Rates, usage: Usage, bucket: str) -> list[tuple[str, int, Decimal]]:
    """(modality, tokens, $/MTok) of the bucket's modalities that have tokens or a price of their own."""
    tier = rates.tier_for(usage.input_total or 0)
    tokens = usage.modal_tokens(bucket)
    return [
        (m, tokens.get(m, 0), tier.per_mtok(f"{bucket}.{m}"))
        for m in MODALITIES
        if tokens.get(m) or f"{bucket}.{m}" in tier.modal
    ]


def _rate_per_mtok(rates: Rates, usage: Usage, bucket: str) -> Decimal:
    tier = rates.tier_for(usage.input_total or 0)
    return tier.per_mtok(bucket)


def _as_json(
    model: str, provider: str | None, usage: Usage, cost: Cost, rates: Rates | None
) -> dict[str, Any]:
    buckets: dict[str, Any] = {}
    for bucket in BUCKETS:
        rate = _rate_per_mtok(rates, usage, bucket) if rates is not None else None
        amount = cost.parts.get(bucket, ZERO_MONEY) if cost.priced else None
        buckets[bucket] = {
            "tokens": getattr(usage, bucket),
            "rate_per_mtok": None if rate is None else f"{rate:f}",
            "amount": None if amount is None else f"{amount:f}",
        }
        modal = _modal_rows(rates, usage, bucket) if rates is not None else []
        if modal:
            buckets[bucket]["modalities"] = {m: {"tokens": n, "rate_per_mtok": f"{r:f}"} for m, n, r in modal}
    return {
        "model": model,
        "provider": provider,
        "catalog_provider": rates.provider if rates else None,
        "catalog_model": rates.model if rates else None,
        "priced": cost.priced,
        "total": None if cost.total is None else f"{cost.total:f}",
        "currency": cost.currency,
        "parts": {part: f"{cost.parts[part]:f}" for part in COST_PARTS if part in cost.parts},
        "buckets": buckets,
        "source": cost.source,
        "price_date": cost.price_date.isoformat() if cost.price_date else None,
        "estimated": cost.estimated,
        "reason": cost.reason,
    }


def _as_table(model: str, usage: Usage, cost: Cost, rates: Rates) -> Table:
    title = f"{model} ({rates.provider}/{rates.model}) at {cost.price_date}"
    table = Table(title=title, title_justify="left")
    table.add_column("part")
    table.add_column("tokens", justify="right")
    table.add_column("$/MTok", justify="right")
    table.add_column("amount $", justify="right")
    for bucket in BUCKETS:
        tokens = getattr(usage, bucket) or 0
        amount = cost.parts.get(bucket, ZERO_MONEY)
        table.add_row(bucket, f"{tokens:,}", f"{_rate_per_mtok(rates, usage, bucket):f}", f"{amount:f}")
        for modality, n, rate in _modal_rows(rates, usage, bucket):
            table.add_row(f"  of which {modality}", f"{n:,}", f"{rate:f}", "")
    for part in ("server_tools", "requests", "overhead"):
        if part in cost.parts:
            table.add_row(part, "", "", f"{cost.parts[part]:f}")
    table.add_section()
    table.add_row("total", f"{usage.total or 0:,}", "", f"{cost.total:f}", style="bold")
    return table


def _provenance(cost: Cost) -> list[str]:
    """The lines under the table: source, price date, and why the cost is estimated, if it is.

    Printed as plain lines, not as the table's caption, so that a long source or reason is never
    wrapped to the table's width (mid-word) and can be copied whole.
    """
    lines = [f"source: {cost.source}", f"price date: {cost.price_date}"]
    if cost.estimated:
        lines.append("estimated: " + (cost.reason or "yes"))
    elif cost.reason:
        lines.append(f"note: {cost.reason}")
    return lines
