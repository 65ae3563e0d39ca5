"""Real usage bodies (genai-prices' own dataset): our totals equal the prices genai-prices recorded.

For every body and every provider/API flavour for which genai-prices recorded an input and an
output price, the same usage is rebuilt in tokenomy's exclusive buckets (genai-prices'
``input_tokens`` includes cache reads and writes; ``output_tokens`` includes reasoning) and
priced; the total must equal ``input_price + output_price`` to one part in a million.

Audio, image and video tokens (genai-prices' ``input_audio_tokens``, ``cache_image_read_tokens``,
``output_image_tokens``...) become ``Usage.modalities`` and are priced at the catalog's modality
rates. One difference is expected and explained case by case, never waved through:

* catalog drift: the dataset was priced with an older genai-prices; where the installed
  catalog's own calc_price disagrees with the recorded price, the catalog changed, not us.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from tests.conftest import real_data_path
from tokenomy.pricing import Pricer
from tokenomy.schema import Usage

pytestmark = pytest.mark.realdata

# The recorded prices match the installed catalog best at this date (the catalog has since
# added later price changes that the dataset predates).
PRICED_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOLERANCE = Decimal("1e-6")
MODALITIES = ("audio", "image", "video")


def to_buckets(fields: dict[str, int]) -> Usage:
    """genai-prices' extracted usage (inclusive totals) as tokenomy's exclusive buckets."""
    cache_read = fields.get("cache_read_tokens", 0)
    cache_write = fields.get("cache_write_tokens", 0)
    write_1h = fields.get("cache_write_1h_tokens", 0)
    write_5m = fields.get("cache_write_5m_tokens", cache_write - write_1h)
    reasoning = fields.get("output_reasoning_tokens", 0)
    modalities = {}
    for m in MODALITIES:
        cached = fields.get(f"cache_{m}_read_tokens", 0)
        written = fields.get(f"cache_{m}_write_tokens", 0)
        modalities[f"input_uncached.{m}"] = fields.get(f"input_{m}_tokens", 0) - cached - written
        modalities[f"cache_read.{m}"] = cached
        modalities[f"cache_write_5m.{m}"] = written
        modalities[f"output_visible.{m}"] = fields.get(f"output_{m}_tokens", 0)
    return Usage.of(
        input_uncached=fields.get("input_tokens", 0) - cache_read - cache_write,
        cache_read=cache_read,
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        output_visible=fields.get("output_tokens", 0) - reasoning,
        reasoning=reasoning,
        server_tools={"web_searches": fields["web_searches"]} if "web_searches" in fields else {},
        modalities=modalities,
    )


def genai_total(fields: dict[str, int], provider: str, model: str) -> Decimal:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calc_price(
            GenaiUsage(**fields), model, provider_id=provider, genai_request_timestamp=PRICED_AT
        )
    return result.total_price


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(b), Decimal("1e-6"))


def _cases() -> list[tuple[str, str, dict[str, int], Decimal]]:
    data: list[dict[str, Any]] = json.loads(
        real_data_path("genai-prices-usages", "usages_dataset.json").read_text(encoding="utf-8")
    )
    cases = []
    for body in data:
        model = body.get("model")
        for group in body["extracted"]:
            for extractor in group["extractors"]:
                if "input_price" not in extractor or model is None:
                    continue
                recorded = Decimal(extractor.get("total_price") or 0) or (
                    Decimal(extractor["input_price"]) + Decimal(extractor["output_price"])
                )
                cases.append((extractor["provider_id"], model, group["usage"], recorded))
    return cases


def classify(pricer: Pricer, provider: str, model: str, fields: dict[str, int], recorded: Decimal) -> str:
    """'match', or the explanation of a difference, or 'unexplained'."""
    cost = pricer.price_usage(to_buckets(fields), model=model, provider=provider, at=PRICED_AT)
    if cost.total is not None and _close(cost.total, recorded):
        return "match"
    if not _close(genai_total(fields, provider, model), recorded):
        return "catalog drift"
    return "unexplained"


def test_real_usage_bodies_price_like_genai_prices() -> None:
    pricer = Pricer()
    outcomes: Counter[str] = Counter()
    unexplained = []
    for provider, model, fields, recorded in _cases():
        outcome = classify(pricer, provider, model, fields, recorded)
        outcomes[outcome] += 1
        if outcome == "unexplained":
            unexplained.append((provider, model, fields, recorded))
    assert not unexplained, unexplained[:5]
    assert sum(outcomes.values()) >= 3_400
    assert outcomes["match"] >= 0.95 * sum(outcomes.values()), outcomes
    assert outcomes["catalog drift"] <= 10, outcomes


def test_modality_tokens_price_at_their_own_rates() -> None:
    """Bodies with audio, image or video tokens match the recorded price, modality rates and all."""
    pricer = Pricer()
    outcomes: Counter[str] = Counter()
    differs_from_text = 0
    for provider, model, fields, recorded in _cases():
        if not any(m in key and n for key, n in fields.items() for m in MODALITIES):
            continue
        outcome = classify(pricer, provider, model, fields, recorded)
        outcomes[outcome] += 1
        text_only = {k: v for k, v in fields.items() if not any(m in k for m in MODALITIES)}
        if outcome == "match" and not _close(recorded, genai_total(text_only, provider, model)):
            differs_from_text += 1
    assert outcomes["unexplained"] == 0, outcomes
    assert outcomes["match"] >= 120, outcomes
    # the cases where a modality rate changes the price: priced as text, these would not match
    assert differs_from_text >= 40, differs_from_text
