"""Our rates reproduce genai-prices' own calc_price for the same usage, across the whole catalog.

If this fails after a genai-prices upgrade, the catalog's decomposition rules changed: read its
``ModelPrice.calc_price`` and ``decompose.compute_leaf_values`` and update
``tokenomy.pricing.catalog`` to match.
"""

from __future__ import annotations

import random
import warnings
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from genai_prices.data import providers
from genai_prices.types import ModelPrice

from tokenomy.pricing import Pricer
from tokenomy.schema import MODALITIES, Usage

ROUNDING_SLACK = Decimal("5e-12")  # at most nine parts, each rounded once to 12 places


def _catalog_models() -> list[tuple[str, str]]:
    pairs = []
    for provider in providers:
        for model in provider.models:
            prices = (
                [model.prices] if isinstance(model.prices, ModelPrice) else [p.prices for p in model.prices]
            )
            priced = any(vars(p).get("input_mtok") is not None for p in prices)
            if priced and provider.find_model(model.id) is model:  # a few ids miss their own match rule
                pairs.append((provider.id, model.id))
    return pairs


def _random_usage(rng: random.Random) -> Usage:
    big = rng.random() < 0.3  # a third cross long-context thresholds
    return Usage.of(
        input_uncached=rng.randint(0, 400_000 if big else 5_000),
        cache_read=rng.choice([0, rng.randint(0, 300_000 if big else 50_000)]),
        cache_write_5m=rng.choice([0, rng.randint(0, 20_000)]),
        cache_write_1h=rng.choice([0, 0, rng.randint(0, 20_000)]),
        output_visible=rng.randint(0, 8_000),
        reasoning=rng.choice([0, rng.randint(0, 30_000)]),
        server_tools={"web_searches": rng.choice([0, 0, 1, 4])},
    )


def _genai_total(
    usage: Usage, provider: str, model: str, at: datetime, context: dict[str, str] | None
) -> Decimal:
    cache_write = (usage.cache_write_5m or 0) + (usage.cache_write_1h or 0)
    genai_usage = GenaiUsage(
        input_tokens=usage.input_total,
        cache_read_tokens=usage.cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=usage.cache_write_5m,
        cache_write_1h_tokens=usage.cache_write_1h,
        output_tokens=usage.output_total,
        output_reasoning_tokens=usage.reasoning,
        web_searches=usage.server_tools.get("web_searches", 0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calc_price(
            genai_usage, model, provider_id=provider, genai_request_timestamp=at, price_context=context
        )
    return result.total_price


@pytest.mark.parametrize(
    ("at", "batch", "tier"),
    [
        (datetime(2025, 3, 14, 15, 9, tzinfo=UTC), False, None),
        (datetime(2025, 10, 1, 3, 0, tzinfo=UTC), False, None),
        (datetime(2026, 10, 20, 12, 0, tzinfo=UTC), True, None),
        (datetime(2026, 10, 20, 12, 0, tzinfo=UTC), False, "priority"),
    ],
)
def test_totals_equal_genai_prices_calc_price(at: datetime, batch: bool, tier: str | None) -> None:
    pricer = Pricer()
    rng = random.Random(f"{at}{batch}{tier}")
    models = _catalog_models()
    assert len(models) > 1_000
    compared = discounted = 0
    for provider, model in rng.sample(models, 400):
        usage = _random_usage(rng)
        cost = pricer.price_usage(
            usage, model=model, provider=provider, at=at, batch=batch, service_tier=tier
        )
        if batch and "published batch discount" in (cost.reason or ""):
            discounted += 1  # no batch price in the catalog: the provider's published discount, by design
            continue
        context = {"processing": "batch"} if batch else {}
        if tier:
            context["service_tier"] = tier
        expected = _genai_total(usage, provider, model, at, context or None)
        assert cost.total is not None, (provider, model, cost.reason)
        assert abs(cost.total - expected) <= ROUNDING_SLACK, (provider, model, usage, cost, expected)
        compared += 1
    assert compared + discounted == 400
    assert compared >= 200  # most are compared, the catalog's batch prices too


def test_date_level_prices_equal_calc_price_at_midnight_when_no_time_of_day_rule() -> None:
    pricer = Pricer()
    rng = random.Random(7)
    day = date(2025, 8, 1)
    for provider, model in rng.sample(_catalog_models(), 300):
        usage = _random_usage(rng)
        cost = pricer.price_usage(usage, model=model, provider=provider, at=day)
        if cost.reason and "time of day" in cost.reason:
            continue
        midnight = datetime(2025, 8, 1, tzinfo=UTC)
        assert cost.total is not None
        assert abs(cost.total - _genai_total(usage, provider, model, midnight, None)) <= ROUNDING_SLACK


def _modal_models() -> list[tuple[str, str]]:
    """The catalog's models with an audio, image or video token price of their own."""
    pairs = []
    for provider in providers:
        for model in provider.models:
            prices = (
                [model.prices] if isinstance(model.prices, ModelPrice) else [p.prices for p in model.prices]
            )
            modal = any(
                value is not None and key.endswith("_mtok") and any(m in key for m in MODALITIES)
                for p in prices
                for key, value in vars(p).items()
            )
            priced = any(vars(p).get("input_mtok") is not None for p in prices)
            if modal and priced and provider.find_model(model.id) is model:
                pairs.append((provider.id, model.id))
    return pairs


def _random_modal_usage(rng: random.Random) -> Usage:
    buckets = {
        "input_uncached": rng.randint(0, 60_000),
        "cache_read": rng.choice([0, rng.randint(0, 50_000)]),
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": rng.randint(0, 8_000),
        "reasoning": rng.choice([0, rng.randint(0, 3_000)]),
    }
    modalities: dict[str, int] = {}
    for bucket in ("input_uncached", "cache_read", "output_visible"):
        room = buckets[bucket]
        for m in rng.sample(MODALITIES, rng.randint(0, 3)):
            modalities[f"{bucket}.{m}"] = n = rng.randint(0, room)
            room -= n
    return Usage.of(**buckets, modalities=modalities)  # type: ignore[arg-type]


def _genai_modal_total(usage: Usage, provider: str, model: str, at: datetime) -> Decimal:
    fields: dict[str, int] = {
        "input_tokens": usage.input_total or 0,
        "cache_read_tokens": usage.cache_read or 0,
        "output_tokens": usage.output_total or 0,
        "output_reasoning_tokens": usage.reasoning or 0,
    }
    for m in MODALITIES:
        cached = usage.modalities.get(f"cache_read.{m}", 0)
        fields[f"input_{m}_tokens"] = usage.modalities.get(f"input_uncached.{m}", 0) + cached
        fields[f"cache_{m}_read_tokens"] = cached
        fields[f"output_{m}_tokens"] = usage.modalities.get(f"output_visible.{m}", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calc_price(
            GenaiUsage(**fields), model, provider_id=provider, genai_request_timestamp=at
        ).total_price


def test_modality_prices_equal_genai_prices_calc_price() -> None:
    """Random audio, image and video counts on every catalog model that prices them apart."""
    pricer = Pricer()
    rng = random.Random("modalities")
    models = _modal_models()
    assert len(models) >= 30
    compared = 0
    for provider, model in models:
        for at in (datetime(2025, 10, 1, 12, 0, tzinfo=UTC), datetime(2026, 10, 20, 12, 0, tzinfo=UTC)):
            usage = _random_modal_usage(rng)
            cost = pricer.price_usage(usage, model=model, provider=provider, at=at)
            expected = _genai_modal_total(usage, provider, model, at)
            assert cost.total is not None, (provider, model, cost.reason)
            assert abs(cost.total - expected) <= ROUNDING_SLACK, (provider, model, usage, cost, expected)
            compared += 1
    assert compared == 2 * len(models)
