"""Background work not using batch pricing: calls nobody waits for, billed at interactive rates.

Rule. A call is background work when (a) its route (feature, else agent) sends at least
``batch_share`` (half) of its successful calls through a batch API, or (b) it carries a tag from
``background_tags`` (``background``, ``batchable``) set to true/yes/1. Such a call that was not
batched and not streamed (a stream means someone watched it) could have been, provided its provider
offers batch pricing. Nothing else is guessed: a nightly job that never used batch and is not
tagged is not recognised (tag it, and the next audit will).

Waste: the call's cost minus its cost at batch rates: the catalog's batch price when it has one
for the model, else the provider's published batch discount (:data:`BATCH_DISCOUNTS`: 50% at
OpenAI, Azure OpenAI, Anthropic, Google and Bedrock).

Evidence kept: the route's batch share, or the tag; the discount and where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, in_list
from tokenomy.pricing.pricer import PUBLISHED_BATCH_DISCOUNTS
from tokenomy.schema import INPUT_BUCKETS, OUTPUT_BUCKETS, WasteEffect, WasteRole

BATCH_DISCOUNTS: Final = PUBLISHED_BATCH_DISCOUNTS
"""Published batch discounts by provider, which the pricer applies when the catalog has no batch price
for the model (:data:`tokenomy.pricing.pricer.PUBLISHED_BATCH_DISCOUNTS`)."""
_TRUE: Final = ("true", "yes", "1")


def background_sql(ctx: Context) -> str:
    """Unbatched, unstreamed successful calls of batch-heavy routes or tagged as background."""
    o = ctx.options
    tags = " OR ".join(
        f"lower({ctx.dialect.map_value('a.tags', k)}) IN {in_list(_TRUE)}" for k in o.background_tags
    )
    return f"""
        , shares AS (
            SELECT coalesce(feature, agent) AS owner, count(*) AS calls,
                   count(*) FILTER (WHERE batch) AS batched
            FROM audited WHERE status = 'ok' AND coalesce(feature, agent) IS NOT NULL GROUP BY 1)
        SELECT a.id, a.session, a.started_at, {", ".join(f"a.{c.strip()}" for c in ROUTE_COLUMNS.split(","))},
               a.cost_total, {", ".join(f"a.{b}" for b in (*INPUT_BUCKETS, *OUTPUT_BUCKETS))}, a.input_total,
               a.output_total, a.modalities, a.service_tier, s.calls AS route_calls,
               s.batched AS route_batched, ({tags or "FALSE"}) AS tagged
        FROM audited a LEFT JOIN shares s ON s.owner = coalesce(a.feature, a.agent)
        WHERE a.status = 'ok' AND NOT a.batch AND NOT coalesce(a.streamed, FALSE)
          AND a.provider IN {in_list(list(BATCH_DISCOUNTS))}
          AND ((s.calls >= {int(o.min_baseline)} AND s.batched >= {float(o.batch_share)} * s.calls)
               OR ({tags or "FALSE"}))
        ORDER BY a.session, a.started_at NULLS FIRST, a.step NULLS FIRST, a.id
    """


class MissedBatch:
    """Background work not using batch pricing (see the module docstring)."""

    category: Final = "missed_batch"
    version: Final = 1
    title: Final = "Background work not using batch pricing"
    fix: Final = (
        "Send this route's calls through the provider's batch API (OpenAI and Anthropic batches, "
        "Gemini batch mode, Bedrock batch inference): results within 24 hours at about half price."
    )
    fix_share: Final = (Decimal("0.9"), Decimal(1))
    assumption: Final = "90% to all of these calls can wait for a batch (results within 24 hours)"

    def detect(self, ctx: Context) -> Detection:
        """Find background calls billed at interactive rates."""
        by_session: dict[str, list[HitCall]] = {}
        first: dict[str, Mapping[str, Any]] = {}
        for row in ctx.rows(background_sql(ctx)):
            call = _call(ctx, row)
            if call is None:
                continue
            by_session.setdefault(row["session"], []).append(call)
            first.setdefault(row["session"], row)
        hits = [
            Hit(self.category, s, Route.of(first[s]), tuple(calls), _note(first[s]))
            for s, calls in by_session.items()
        ]
        evidence = {"batch_share": ctx.options.batch_share, "tags": list(ctx.options.background_tags)}
        return Detection(hits, evidence)


def batch_saving(ctx: Context, row: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """What batch pricing saves on a call, and where the rate came from; None when nothing."""
    cost, day = row["cost_total"], money.day_of(row["started_at"])
    if cost is None or row["model"] is None or day is None:
        return None
    standard = ctx.pricer.resolve(model=row["model"], provider=row["provider"], at=day)
    batched = ctx.pricer.resolve(model=row["model"], provider=row["provider"], at=day, batch=True)
    discount = BATCH_DISCOUNTS.get(row["provider"] or "")
    if standard is not None and batched is not None and batched.tiers != standard.tiers:
        repriced = ctx.pricer.price_usage(
            money.usage_of(row), model=row["model"], provider=row["provider"], at=day, batch=True
        )
        published = any("published batch discount" in note for note in batched.notes)
        source = (
            f"the provider's published {discount:.0%} batch discount"
            if published and discount is not None
            else "the catalog's batch price"
        )
        if repriced.total is not None:
            return max(cost - repriced.total, Decimal(0)), source
    if discount is None:
        return None
    return money.quantize(cost * discount), f"the provider's published {discount:.0%} batch discount"


def _call(ctx: Context, row: Mapping[str, Any]) -> HitCall | None:
    saving = batch_saving(ctx, row)
    if saving is None or saving[0] <= 0:
        return None
    tokens = (row["input_total"] or 0) + (row["output_total"] or 0)
    return HitCall(
        row["id"],
        WasteRole.PARTIAL,
        int(tokens),
        saving[0],
        effect=WasteEffect.PRICE,
        note=f"not batched; at {saving[1]} it would cost ${row['cost_total'] - saving[0]:.6f}",
        started_at=row["started_at"],
    )


def _note(row: Mapping[str, Any]) -> str:
    if row["tagged"]:
        return "tagged as background work but sent at interactive prices"
    share = int(row["route_batched"]) / max(int(row["route_calls"]), 1)
    return f"background route ({share:.0%} of its calls use batch pricing) sent at interactive prices"
