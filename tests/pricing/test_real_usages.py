"""Real usage bodies (genai-prices' own dataset): our totals equal the prices genai-prices recorded.

For every body and every provider/API flavour for which genai-prices recorded an input and an
output price, the same usage is rebuilt in tokenomy's exclusive buckets (genai-prices'
``input_tokens`` includes cache reads and writes; ``output_tokens`` includes reasoning) and
priced; the total must equal ``input_price + output_price`` to one part in a million.

Two differences are expected and explained case by case, never waved through:

* modality: tokenomy's buckets do not split audio, image or video tokens, so a model with a
  separate audio/image/video price is priced at its text rate; those cases must still equal
  genai-prices' own result for the same usage without the modality split;
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
    return Usage.of(
        input_uncached=fields.get("input_tokens", 0) - cache_read - cache_write,
        cache_read=cache_read,
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        output_visible=fields.get("output_tokens", 0) - reasoning,
        reasoning=reasoning,
        server_tools={"web_searches": fields["web_searches"]} if "web_searches" in fields else {},
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
    has_modality = any(m in key for key in fields for m in MODALITIES)
    if has_modality and cost.total is not None:
        text_only = {k: v for k, v in fields.items() if not any(m in k for m in MODALITIES)}
        if _close(cost.total, genai_total(text_only, provider, model)):
            return "modality"
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
