"""Oversized models: simple requests sent to a model many times pricier than the one that handles them.

Rule. A request is simple when its intent is one a small model answers well (``simple_intents``:
classify, extract, route, tag, moderate... compared in lower case); requests without an intent are
not judged. For each simple intent, the models serving at least ``oversized_min_share`` (5%) of its
calls are its references, and the cheapest of them (by dollars per token actually paid) sets the
bar. A model that costs at least ``oversized_ratio`` (25x) that much per token is oversized for
the intent, unless the outcomes say the cheap model does worse: with at least 20 outcomes on each
side, the reference's success rate must be within 5 points of the big model's.

Waste: the difference between what each call cost and the same usage priced (catalog rates, the
call's date) on the cheapest reference; the conservative figure prices it on the priciest
reference that is not itself oversized. Token counts are taken as they are, though tokenizers
differ by a few percent between model families.

Evidence kept: the intent, the model, the reference models and their dollars per million tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, in_list
from tokenomy.schema import INPUT_BUCKETS, OUTPUT_BUCKETS, WasteEffect, WasteRole

_MIN_OUTCOMES: Final = 20
_SUCCESS_SLACK: Final = 0.05


@dataclass(frozen=True, slots=True)
class ModelUse:
    """One model's share of one simple intent, and what it cost per token."""

    task: str
    provider: str | None
    model: str
    calls: int
    per_token: Decimal | None
    outcomes: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        """Share of recorded outcomes that succeeded (None below the minimum count)."""
        return self.successes / self.outcomes if self.outcomes >= _MIN_OUTCOMES else None

    def per_mtok(self) -> float | None:
        """Dollars per million tokens, for the evidence."""
        return None if self.per_token is None else round(float(self.per_token) * 1e6, 4)


def uses_sql(ctx: Context) -> str:
    """Per simple intent and model: calls, priced dollars and tokens, outcomes."""
    return f"""
        , simple AS (
            SELECT *, lower(intent) AS task FROM audited
            WHERE status = 'ok' AND lower(intent) IN {in_list(ctx.options.simple_intents)})
        SELECT task, provider, model, count(*) AS calls, sum(cost_total) AS cost,
               sum(coalesce(input_total, 0) + coalesce(output_total, 0)) FILTER (WHERE cost_total IS NOT NULL)
                 AS priced_tokens,
               count(success) AS outcomes, count(*) FILTER (WHERE success) AS successes
        FROM simple WHERE model IS NOT NULL GROUP BY ALL ORDER BY task, model
    """


CALLS_SQL: Final = f"""
    SELECT id, session, started_at, {ROUTE_COLUMNS}, cost_total,
           {", ".join((*INPUT_BUCKETS, *OUTPUT_BUCKETS))}, input_total, output_total, modalities
    FROM audited WHERE status = 'ok' AND lower(intent) = ? AND model = ?
    ORDER BY session, started_at NULLS FIRST, step NULLS FIRST, id
"""


def _use(row: Mapping[str, Any]) -> ModelUse:
    return ModelUse(
        task=row["task"],
        provider=row["provider"],
        model=row["model"],
        calls=int(row["calls"]),
        per_token=money.rate(row["cost"], row["priced_tokens"]),
        outcomes=int(row["outcomes"]),
        successes=int(row["successes"]),
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """An oversized model for an intent, with the references its waste is priced against."""

    big: ModelUse
    cheapest: ModelUse
    upper: ModelUse


def verdicts(uses: list[ModelUse], ratio: float, min_share: float) -> list[Verdict]:
    """The oversized models of one intent's model uses."""
    total = sum(u.calls for u in uses)
    refs = [u for u in uses if u.per_token is not None and u.calls >= min_share * total]
    if not refs:
        return []
    cheapest = min(refs, key=lambda u: u.per_token or Decimal(0))
    bar = (cheapest.per_token or Decimal(0)) * Decimal(str(ratio))
    fair = [u for u in refs if (u.per_token or Decimal(0)) < bar]
    upper = max(fair, key=lambda u: u.per_token or Decimal(0))
    found = []
    for use in uses:
        if use.per_token is None or use.per_token < bar or cheapest.per_token == 0:
            continue
        ref_rate, big_rate = cheapest.success_rate, use.success_rate
        if ref_rate is not None and big_rate is not None and ref_rate < big_rate - _SUCCESS_SLACK:
            continue  # the cheap model does measurably worse: not a like-for-like swap
        found.append(Verdict(use, cheapest, upper))
    return found


class OversizedModel:
    """Oversized models for simple requests (see the module docstring)."""

    category: Final = "oversized_model"
    version: Final = 1
    title: Final = "Oversized model for simple requests"
    fix: Final = (
        "Route this intent to the small model that already serves most of it (or a router that "
        "sends only the hard cases up); keep the large model as a fallback on low confidence."
    )
    fix_share: Final = (Decimal(1), Decimal(1))
    assumption: Final = (
        "the same tokens billed on the priciest reference model that is not oversized (low) or on "
        "the cheapest one (high), both already serving this intent"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find simple-intent calls on models far pricier than the intent's cheapest reference."""
        by_task: dict[str, list[ModelUse]] = {}
        for row in ctx.rows(uses_sql(ctx)):
            by_task.setdefault(row["task"], []).append(_use(row))
        hits: list[Hit] = []
        evidence: dict[str, Any] = {"ratio": ctx.options.oversized_ratio, "verdicts": []}
        for uses in by_task.values():
            for verdict in verdicts(uses, ctx.options.oversized_ratio, ctx.options.oversized_min_share):
                hits += self._hits(ctx, verdict)
                evidence["verdicts"].append(_describe(verdict))
        return Detection(hits, evidence)

    def _hits(self, ctx: Context, verdict: Verdict) -> list[Hit]:
        by_session: dict[str, list[HitCall]] = {}
        first: dict[str, Mapping[str, Any]] = {}
        for row in ctx.rows(CALLS_SQL, [verdict.big.task, verdict.big.model]):
            call = _call(ctx, row, verdict)
            by_session.setdefault(row["session"], []).append(call)
            first.setdefault(row["session"], row)
        article = "an" if verdict.big.task[:1] in "aeiou" else "a"
        note = (
            f"{article} {verdict.big.task} request on {verdict.big.model} "
            f"(${verdict.big.per_mtok()}/Mtok paid) where {verdict.cheapest.model} "
            f"(${verdict.cheapest.per_mtok()}/Mtok) serves the same intent"
        )
        return [Hit(self.category, s, Route.of(first[s]), tuple(c), note) for s, c in by_session.items()]


def _call(ctx: Context, row: Mapping[str, Any], verdict: Verdict) -> HitCall:
    usage = money.usage_of(row)
    tokens = (row["input_total"] or 0) + (row["output_total"] or 0)
    cost = row["cost_total"]
    high = low = None
    if cost is not None:
        on = {}
        for ref in {verdict.cheapest.model: verdict.cheapest, verdict.upper.model: verdict.upper}.values():
            repriced = ctx.pricer.price_usage(
                usage, model=ref.model, provider=ref.provider, at=money.day_of(row["started_at"])
            )
            on[ref.model] = repriced.total
        cheap, upper = on[verdict.cheapest.model], on[verdict.upper.model]
        high = None if cheap is None else max(cost - cheap, Decimal(0))
        low = None if upper is None else max(cost - upper, Decimal(0))
    return HitCall(
        row["id"],
        WasteRole.PARTIAL,
        int(tokens),
        low if low is not None else high,
        high,
        WasteEffect.PRICE,
        f"would cost ${cost - high:.6f} on {verdict.cheapest.model}"
        if cost is not None and high is not None
        else None,
        row["started_at"],
    )


def _describe(verdict: Verdict) -> dict[str, Any]:
    return {
        "intent": verdict.big.task,
        "model": verdict.big.model,
        "usd_per_mtok": verdict.big.per_mtok(),
        "cheapest": verdict.cheapest.model,
        "cheapest_usd_per_mtok": verdict.cheapest.per_mtok(),
        "upper_reference": verdict.upper.model,
        "upper_usd_per_mtok": verdict.upper.per_mtok(),
    }
