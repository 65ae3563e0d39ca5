"""The overrides file: negotiated prices with dates, modifiers, overhead, and strict validation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tokenomy.errors import PricingError
from tokenomy.pricing import Pricer
from tokenomy.pricing.overrides import load
from tokenomy.schema import Usage

D = Decimal
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"


def full(**buckets: int) -> Usage:
    """A usage with every bucket known (unset buckets are 0)."""
    names = (
        "input_uncached",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "output_visible",
        "reasoning",
    )
    return Usage.of(**{name: buckets.get(name, 0) for name in names})  # type: ignore[arg-type]


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def example() -> Pricer:
    return Pricer(EXAMPLE)


def test_the_shipped_example_is_valid_and_complete() -> None:
    overrides = load(EXAMPLE)
    assert [p.entry.source for p in overrides.prices] == [
        "override:overrides.toml#acme-anthropic-2025",
        "override:overrides.toml#acme-ft-support",
        "override:overrides.toml#self-hosted-llama",
    ]
    assert overrides.prices[0].per_mtok["cache_write_5m"] == D("3.1875")
    assert overrides.prices[1].per_mtok["input"] == D("0.30")
    assert [m.entry.source for m in overrides.modifiers] == ["override:overrides.toml#openai-discounts"]
    assert overrides.modifiers[0].service_tiers == {"flex": D("0.5"), "priority": D("1.75")}
    assert overrides.overheads[0].overhead.per_request == D("0.000025")


def test_negotiated_price_wins_for_the_dates_it_covers(example: Pricer) -> None:
    usage = full(input_uncached=50_000, cache_read=50_000, cache_write_1h=50_000, output_visible=50_000)
    inside = example.price_usage(
        usage, model="claude-sonnet-4-5", provider="anthropic", at=date(2025, 12, 31)
    )
    assert inside.total == (D("2.55") + D("0.255") + D("5.10") + D("12.75")) / 20
    assert inside.source == "override:overrides.toml#acme-anthropic-2025"
    assert not inside.estimated
    after = example.price_usage(usage, model="claude-sonnet-4-5", provider="anthropic", at=date(2026, 1, 1))
    assert after.total == (D("3") + D("0.3") + D("6") + D("15")) / 20
    assert after.source == "genai-prices@0.2.3"
    other_model = example.price_usage(
        usage, model="claude-opus-4-1", provider="anthropic", at=date(2025, 6, 1)
    )
    assert other_model.source == "genai-prices@0.2.3"


def test_custom_fine_tuned_model_with_default_cache_write_and_reasoning(example: Pricer) -> None:
    usage = full(
        input_uncached=1_000_000, cache_read=1_000_000, cache_write_5m=1_000_000, reasoning=1_000_000
    )
    model = "ft:gpt-4o-mini-2024-07-18:acme:support-v3:AbC123"
    cost = example.price_usage(usage, model=model, provider="openai", at=date(2025, 2, 1))
    assert cost.parts == {
        "input_uncached": D("0.3"),
        "cache_read": D("0.15"),
        "cache_write_5m": D("0.3"),
        "reasoning": D("1.2"),
    }
    assert cost.source == "override:overrides.toml#acme-ft-support"
    before = example.price_usage(usage, model=model, provider="openai", at=date(2024, 8, 31))
    # Not covered yet: genai-prices prices the name as its base model.
    assert before.source == "genai-prices@0.2.3"


def test_batch_and_flex_modifiers_scale_the_token_rates(example: Pricer) -> None:
    usage = full(input_uncached=1_000_000, output_visible=1_000_000)
    day = date(2025, 9, 1)
    standard = example.price_usage(usage, model="gpt-4o", provider="openai", at=day)
    batch = example.price_usage(usage, model="gpt-4o", provider="openai", at=day, batch=True)
    flex = example.price_usage(usage, model="gpt-4o", provider="openai", at=day, service_tier="flex")
    priority = example.price_usage(usage, model="gpt-4o", provider="openai", at=day, service_tier="priority")
    both = example.price_usage(
        usage, model="gpt-4o", provider="openai", at=day, batch=True, service_tier="flex"
    )
    assert standard.total == D("12.5")
    assert batch.total == D("6.25")
    assert flex.total == D("6.25")
    assert priority.total == D("21.875")
    assert both.total == D("3.125")
    assert batch.source == "genai-prices@0.2.3+override:overrides.toml#openai-discounts"
    assert not batch.estimated
    # The modifier wins over the catalog's own batch price too (2026-10-14 onwards).
    later = example.price_usage(usage, model="gpt-4o", provider="openai", at=date(2026, 10, 20), batch=True)
    assert later.total == D("6.25")
    assert "openai-discounts" in str(later.source)


def test_modifier_applies_to_an_override_price(example: Pricer) -> None:
    usage = full(input_uncached=1_000_000, output_visible=1_000_000)
    model = "ft:gpt-4o-mini-2024-07-18:acme:x"
    cost = example.price_usage(usage, model=model, provider="openai", at=date(2025, 2, 1), batch=True)
    assert cost.total == (D("0.30") + D("1.20")) / 2
    assert cost.source == "override:overrides.toml#acme-ft-support+override:overrides.toml#openai-discounts"


def test_overhead_per_request_per_second_and_egress(example: Pricer) -> None:
    usage = full(input_uncached=5_000, output_visible=500)
    cost = example.price_usage(
        usage, model="llama-3.1-70b-instruct", provider="vllm", at=date(2025, 3, 1), latency_ms=2_500.0
    )
    # 0.00002 fixed + 0.000005 egress + 2.5 s x 0.0011 $/s; the tokens themselves are free.
    assert cost.parts["overhead"] == D("0.002775")
    assert cost.total == D("0.002775")
    assert cost.source == "override:overrides.toml#self-hosted-llama+override:overrides.toml#gpu-node"
    no_latency = example.price_usage(
        usage, model="llama-3.1-70b-instruct", provider="vllm", at=date(2025, 3, 1)
    )
    assert no_latency.parts["overhead"] == D("0.000025")
    assert no_latency.estimated
    assert "latency unknown" in str(no_latency.reason)


def test_numbers_are_parsed_exactly_as_decimal(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[price]]
model = "m"
effective = "2025-01-01"
input = 0.1
output = "0.2"
cache_read = 3
""",
    )
    entry = load(path).prices[0]
    assert entry.per_mtok == {"input": D("0.1"), "output": D("0.2"), "cache_read": D(3)}
    assert entry.entry.source == "override:prices.toml#price-1"
    cost = Pricer(path).price_usage(full(input_uncached=3, output_visible=3), model="m", at=date(2025, 1, 2))
    assert cost.total == D("0.0000009")  # 3 x 0.1e-6 + 3 x 0.2e-6, exactly


def test_the_last_matching_entry_wins_and_the_1h_fallback_is_flagged(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[price]]
name = "all"
model = "m*"
effective = 2025-01-01
input = 1
output = 2

[[price]]
name = "specific"
provider = "openai"
model = "m-large"
effective = 2025-01-01
input = 10
output = 20
cache_write_5m = 12.5
""",
    )
    pricer = Pricer(path)
    usage = full(input_uncached=1_000_000, cache_write_1h=1_000_000)
    specific = pricer.price_usage(usage, model="M-Large", provider="openai", at=date(2025, 5, 5))
    assert specific.source == "override:prices.toml#specific"
    assert specific.parts["cache_write_1h"] == D("12.5")
    assert specific.estimated
    assert "no 1h cache-write price" in str(specific.reason)
    general = pricer.price_usage(usage, model="m-large", provider="anthropic", at=date(2025, 5, 5))
    assert general.source == "override:prices.toml#all"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput=1\n",
            r"\[\[price\]\] entry 1, field 'output': is required",
        ),
        (
            "[[price]]\nname='x'\nmodel='m'\neffective=2025-01-01\ninput='abc'\noutput=1\n",
            r"\[\[price\]\] entry 1 \('x'\), field 'input': must be a decimal number, got 'abc'",
        ),
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput=-1\noutput=1\n",
            r"field 'input': must be a finite number >= 0",
        ),
        ("[[price]]\nmodel='m'\ninput=1\noutput=1\n", r"field 'effective': is required"),
        (
            "[[price]]\nmodel='m'\neffective=2025-02-01\nuntil=2025-01-01\ninput=1\noutput=1\n",
            r"field 'until': 2025-01-01 is before effective 2025-02-01",
        ),
        ("[[price]]\nmodel='m'\neffective='soon'\ninput=1\noutput=1\n", r"field 'effective': must be a date"),
        ("[[price]]\nmodel='m'\neffective=2025-01-01T00:00:00\ninput=1\noutput=1\n", r"not a date-time"),
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput=1\noutput=1\ninptu=2\n",
            r"field 'inptu': unknown field",
        ),
        ("[[price]]\neffective=2025-01-01\ninput=1\noutput=1\n", r"field 'model': is required"),
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput=1\noutput=1\ncontext_window=0\n",
            r"field 'context_window': must be a positive whole number",
        ),
        (
            "[[price]]\nname='a'\nmodel='m'\neffective=2025-01-01\ninput=1\noutput=1\n"
            "[[overhead]]\nname='a'\nmodel='m'\neffective=2025-01-01\nper_request=1\n",
            r"\[\[overhead\]\] entry 1 \('a'\), field 'name': 'a' is used by another entry",
        ),
        (
            "[[modifier]]\nmodel='m'\neffective=2025-01-01\n",
            r"\[\[modifier\]\] entry 1: a modifier needs 'batch'",
        ),
        (
            "[[modifier]]\nmodel='m'\neffective=2025-01-01\nservice_tiers={flex='half'}\n",
            r"field 'service_tiers.flex': must be a decimal number",
        ),
        (
            "[[overhead]]\nmodel='m'\neffective=2025-01-01\nper_second='0.0000000000001'\n",
            r"field 'per_second': has more than 12 decimal places",
        ),
        ("[[overhead]]\nmodel='m'\neffective=2025-01-01\n", r"an overhead needs"),
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput=1e400\noutput=1\n",
            r"field 'input': must be at most 1,000,000, got Decimal\('1E\+400'\)",
        ),
        (
            "[[modifier]]\nmodel='m'\neffective=2025-01-01\nbatch='1e30'\n",
            r"field 'batch': must be at most 1,000,000, got '1e30'",
        ),
        (
            "[[price]]\nmodel='m'\neffective=2025-01-01\ninput='0.0000000000001'\noutput=1\n",
            r"field 'input': has more than 12 decimal places",
        ),
        (
            "[[overhead]]\nmodel='m'\neffective=2025-01-01\nper_request=2000000\n",
            r"field 'per_request': must be at most 1,000,000",
        ),
        ("[prices]\nmodel='m'\n", r"unknown table\(s\) prices"),
        ("price = 3\n", r"'price' must be an array of tables"),
        ("[[price]\nmodel=", r"not valid TOML"),
    ],
)
def test_bad_entries_name_the_file_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(PricingError, match=message) as caught:
        Pricer(path)
    assert str(caught.value).startswith("bad.toml: ") or str(caught.value).startswith(str(path))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="cannot read the overrides file"):
        Pricer(tmp_path / "nope.toml")


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"])
def test_a_provider_s_negotiated_price_applies_when_the_call_names_no_provider(
    example: Pricer, model: str
) -> None:
    # The catalog prices these at Anthropic (implied by the name or the route): so does the
    # Anthropic entry, rather than the list price.
    usage = full(input_uncached=50_000, cache_read=50_000, cache_write_1h=50_000, output_visible=50_000)
    cost = example.price_usage(usage, model=model, at=date(2025, 12, 31))
    assert cost.total == D("1.03275")
    assert cost.source == "override:overrides.toml#acme-anthropic-2025"
    rates = example.resolve(model=model, provider=None, at=date(2025, 12, 31))
    assert rates is not None
    assert rates.provider == "anthropic"


def test_a_provider_s_modifier_applies_when_the_call_names_no_provider(example: Pricer) -> None:
    cost = example.price_usage(
        full(input_uncached=1_000_000), model="gpt-4o", at=date(2025, 9, 1), batch=True
    )
    assert cost.total == D("1.25")
    assert cost.source == "genai-prices@0.2.3+override:overrides.toml#openai-discounts"
    assert not cost.estimated


def test_entries_for_any_provider_still_match_names_the_catalog_lacks_or_routes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[price]]
name = "routed"
model = "anthropic/claude-*"
effective = 2025-01-01
input = 1
output = 1

[[price]]
name = "house"
model = "house-model"
effective = 2025-01-01
input = 2
output = 2
""",
    )
    pricer = Pricer(path)
    usage = full(input_uncached=1_000_000)
    routed = pricer.price_usage(usage, model="anthropic/claude-sonnet-4-5", at=date(2025, 5, 5))
    assert (routed.total, routed.source) == (D(1), "override:prices.toml#routed")
    house = pricer.price_usage(usage, model="house-model", at=date(2025, 5, 5))
    assert (house.total, house.source) == (D(2), "override:prices.toml#house")


def test_the_largest_prices_and_multipliers_price_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[price]]
model = "m"
effective = 2025-01-01
input = 1000000
output = "0.000000000001"

[[modifier]]
model = "m"
effective = 2025-01-01
batch = 1000000
service_tiers = { flex = 1000000 }
""",
    )
    pricer = Pricer(path)
    usage = full(input_uncached=3, output_visible=1_000_000)
    cost = pricer.price_usage(usage, model="m", at=date(2025, 5, 5), batch=True, service_tier="flex")
    # $1/token x 10^12, and 10^-18 $/token x 10^12: every rate kept exactly
    assert cost.parts == {"input_uncached": D(3 * 10**12), "output_visible": D("1")}
    assert cost.total == D(3 * 10**12 + 1)


@pytest.mark.parametrize("latency_ms", [float("nan"), float("inf")])
def test_a_latency_that_is_no_number_is_unknown_not_a_crash(example: Pricer, latency_ms: float) -> None:
    usage = full(input_uncached=1_000)
    cost = example.price_usage(
        usage, model="llama-3.1-70b-instruct", provider="vllm", at=date(2025, 3, 1), latency_ms=latency_ms
    )
    assert cost.total == D("0.000025")  # the fixed overhead; the per-second part is not charged
    assert cost.estimated
    assert "latency unknown" in str(cost.reason)
