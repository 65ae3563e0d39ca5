"""Real usage bodies end to end: tokenomy's adapters and pricer against genai-prices on the same body.

``test_real_usages`` prices genai-prices' own extraction of each body; this test reads each body
with tokenomy's usage adapters instead, prices the result, and compares it with genai-prices'
extraction and price of the same body, for every provider the dataset priced with an extractor
of the same counting convention (Anthropic bodies at Anthropic, Azure, Vertex and Bedrock;
OpenAI bodies at OpenAI and Azure; OpenRouter, DeepSeek, Gemini...). Every difference must be
one of these explained kinds, checked case by case (audio, image and video tokens are read into
``Usage.modalities`` and priced at their own rates, so bodies with them must match):

* compaction: Anthropic's compaction iterations are billed on top of the top-level counts, which
  are all genai-prices reads (docs/usage.md); ours equals its price with those steps added;
* server tool not read: genai-prices' Azure extractor does not read Anthropic's
  ``server_tool_use``; ours equals its price plus our web-search part;
* flagged: a usage that does not add up (Gemini's OpenAI-compatible server hides reasoning in
  ``total_tokens``) is unpriced rather than priced low.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price, extract_usage

from tests.conftest import real_data_path
from tests.usage.test_golden_genai_prices import with_compactions
from tokenomy.pricing import Pricer
from tokenomy.usage import detect, extract

pytestmark = pytest.mark.realdata

AT: Final = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SAME_CONVENTION: Final[dict[str, frozenset[str]]] = {
    "openai.chat": frozenset({"chat"}),
    "openai.responses": frozenset({"responses"}),
    "openai.embeddings": frozenset({"embeddings"}),
    "anthropic.messages": frozenset({"default", "anthropic"}),
    "gemini.generate_content": frozenset({"default"}),
    "deepseek.chat": frozenset({"chat", "default"}),
    "openrouter.chat": frozenset({"chat", "default"}),
    "openrouter.responses": frozenset({"default", "responses"}),
    "bedrock.converse": frozenset({"default"}),
}
"""Our adapter -> the genai-prices API flavours that read the body with the same convention."""


def _genai(fields: dict[str, int], model: str, provider: str) -> Decimal:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        price = calc_price(GenaiUsage(**fields), model, provider_id=provider, genai_request_timestamp=AT)
    return price.total_price


@cache
def _rows() -> list[dict[str, Any]]:
    path = real_data_path("genai-prices-usages", "usages_dataset.json")
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def _cases() -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(adapter, provider, model, body, flavour) for every priced extractor of the same convention."""
    cases = []
    for row in _rows():
        body = {k: v for k, v in row["body"].items() if k != "file"}
        adapter = detect(body)
        model = row.get("model")
        if adapter is None or model is None:
            continue
        for group in row["extracted"]:
            for x in group["extractors"]:
                if "input_price" in x and x["api_flavor"] in SAME_CONVENTION[adapter]:
                    cases.append((adapter, x["provider_id"], model, body, x["api_flavor"]))
    return cases


def classify(pricer: Pricer, provider: str, model: str, body: dict[str, Any], flavor: str) -> str:
    """'match', or the kind of an explained difference, or 'unexplained'."""
    extracted = extract(body)
    cost = pricer.price_usage(
        extracted.usage, model=model, provider=provider, at=AT, service_tier=extracted.service_tier
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_usage = extract_usage(body, provider_id=provider, api_flavor=flavor).usage
    fields = {k: v for k, v in vars(theirs_usage).items() if v is not None and not k.startswith("_")}
    theirs = _genai(fields, model, provider)
    if cost.total is None:
        return "flagged" if extracted.usage.quality else "unexplained"
    if cost.total == theirs:
        return "match"
    if extracted.extra.get("compactions") and cost.total == _genai(
        with_compactions(fields, body), model, provider
    ):
        return "compaction"
    searches = cost.parts.get("server_tools")
    if searches and "web_searches" not in fields and cost.total == theirs + searches:
        return "server tool not read"
    return "unexplained"


def test_real_bodies_through_our_adapters_price_like_genai_prices() -> None:
    pricer = Pricer()
    outcomes: Counter[str] = Counter()
    unexplained = []
    for adapter, provider, model, body, flavor in _cases():
        outcome = classify(pricer, provider, model, body, flavor)
        outcomes[outcome] += 1
        if outcome == "unexplained":
            unexplained.append((adapter, provider, model, body))
    assert not unexplained, unexplained[:3]
    assert sum(outcomes.values()) >= 2_500, outcomes
    assert outcomes["match"] >= 0.97 * sum(outcomes.values()), outcomes
    # the compaction bodies, priced at Anthropic, Azure, Vertex and Bedrock
    assert outcomes["compaction"] == 8, outcomes
    # cases with audio, image or video tokens, each matched above at its modality rates
    assert sum(1 for case in _cases() if extract(case[3]).usage.modalities) >= 100


def test_a_compacted_call_costs_its_compaction() -> None:
    row = next(
        r
        for r in _rows()
        if "test_anthropic_compaction_end_to_end" in r["body"]["file"]
        and r["body"]["usage"]["input_tokens"] == 220
    )
    body = {k: v for k, v in row["body"].items() if k != "file"}
    cost = Pricer().price_usage(extract(body).usage, model=row["model"], provider="anthropic", at=AT)
    # claude-sonnet-4-6: (220 + 55196) in x $3 + (8 + 125) out x $15, per million tokens
    assert cost.total == Decimal("0.166248") + Decimal("0.001995")
