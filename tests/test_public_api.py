"""The names ``import tokenomy`` offers: records eagerly, capture and pricing on first use."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

import tokenomy
from tokenomy.pricing import Pricer
from tokenomy.schema import Usage


def test_price_is_the_catalog_price_of_a_usage() -> None:
    usage = Usage(input_uncached=1_000_000, output_visible=1_000_000)
    cost = tokenomy.price(usage, model="gpt-4o-mini", provider="openai")
    expected = Pricer().price_usage(usage, model="gpt-4o-mini", provider="openai")
    assert cost.total == expected.total
    assert cost.total == Decimal("0.75")  # $0.15 per million input + $0.60 per million output
    assert "price" in tokenomy.__all__


def test_import_tokenomy_loads_neither_capture_nor_pricing() -> None:
    heavy = "('tokenomy.capture', 'tokenomy.pricing', 'genai_prices')"
    probe = f"import sys, tokenomy; print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        tokenomy.no_such_thing  # noqa: B018
