"""Model names as responses carry them: resource paths and proxy routes still find their prices."""

from __future__ import annotations

from datetime import date

import pytest

from tokenomy.pricing import Pricer
from tokenomy.pricing.catalog import name_variants
from tokenomy.schema import Usage

USAGE = Usage.of(
    input_uncached=1000, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=100, reasoning=0
)


def test_name_variants_try_the_name_first_then_its_bare_last_segment() -> None:
    assert name_variants("gpt-4o") == ["gpt-4o"]
    assert name_variants("models/gemini-2.5-pro") == ["models/gemini-2.5-pro", "gemini-2.5-pro"]
    assert name_variants("litellm_proxy/claude-sonnet-4-20250514") == [
        "litellm_proxy/claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514",
    ]


@pytest.mark.parametrize(
    ("model", "bare"),
    [
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("litellm_proxy/claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
    ],
)
def test_a_routed_or_pathed_name_prices_like_its_bare_name(model: str, bare: str) -> None:
    pricer = Pricer()
    at = date(2025, 10, 1)
    routed = pricer.price_usage(USAGE, model=model, at=at)
    plain = pricer.price_usage(USAGE, model=bare, at=at)
    assert routed.priced
    assert routed.total == plain.total
