"""Hand-checked costs for known models and the bucket rules of the Pricer."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tokenomy.pricing
from tokenomy.pricing import Pricer, Rates
from tokenomy.schema import Call, Cost, Kind, Quality, Usage
from tokenomy.store import open_store
from tokenomy.store.arrow import calls_to_arrow
from tokenomy.store.events import EventBatch
from tokenomy.usage import accumulate

D = Decimal
DAY = date(2025, 10, 1)


def _every_bucket(*, input_uncached: int = 0, cache_read: int = 0, output_visible: int = 0) -> Usage:
    """A usage that reports all six buckets: these, the others 0."""
    return Usage.of(
        input_uncached=input_uncached,
        cache_read=cache_read,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=output_visible,
        reasoning=0,
    )


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def usd(per_mtok: str, tokens: int) -> Decimal:
    """Hand arithmetic: tokens at a $/MTok price."""
    return D(per_mtok) * tokens / 1_000_000


def test_public_api_is_pinned() -> None:
    assert sorted(tokenomy.pricing.__all__) == [
        "Overhead",
        "PriceKey",
        "Pricer",
        "Rates",
        "STANDARD_TIERS",
        "Tier",
        "Unpriced",
        "default_pricer",
        "price",
    ]
    assert Pricer().catalog_version == "genai-prices@0.2.3"


def test_claude_sonnet_with_5m_and_1h_cache_writes(pricer: Pricer) -> None:
    # Claude Sonnet 4.5: $3 input, $0.30 cache read, $3.75 5m write, $6 1h write, $15 output.
    usage = Usage.of(
        input_uncached=1_200,
        cache_read=30_000,
        cache_write_5m=4_000,
        cache_write_1h=2_000,
        output_visible=700,
        reasoning=300,
    )
    cost = pricer.price_usage(usage, model="claude-sonnet-4-5-20250929", provider="anthropic", at=DAY)
    assert cost.parts == {
        "input_uncached": D("0.003600000000"),
        "cache_read": D("0.009000000000"),
        "cache_write_5m": D("0.015000000000"),
        "cache_write_1h": D("0.012000000000"),
        "output_visible": D("0.010500000000"),
        "reasoning": D("0.004500000000"),
    }
    assert cost.total == D("0.054600000000")
    assert cost.total == usd("3", 1_200) + usd("0.3", 30_000) + usd("3.75", 4_000) + usd("6", 2_000) + usd(
        "15", 1_000
    )
    assert (cost.source, cost.price_date, cost.estimated, cost.reason) == (
        "genai-prices@0.2.3",
        DAY,
        False,
        None,
    )


def test_gpt_4o_with_cached_input(pricer: Pricer) -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output.
    usage = Usage.of(
        input_uncached=1_000,
        cache_read=3_000,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=500,
        reasoning=0,
    )
    cost = pricer.price_usage(usage, model="gpt-4o-2024-08-06", provider="openai", at=DAY)
    assert cost.total == usd("2.5", 1_000) + usd("1.25", 3_000) + usd("10", 500) == D("0.01125")
    assert set(cost.parts) == {"input_uncached", "cache_read", "output_visible"}
    assert not cost.estimated


@pytest.mark.parametrize(
    ("input_uncached", "in_rate", "out_rate"),
    [(200_000, "1.25", "10"), (200_001, "2.5", "15")],
)
def test_gemini_long_context_tier_applies_to_all_tokens_once_crossed(
    pricer: Pricer, input_uncached: int, in_rate: str, out_rate: str
) -> None:
    usage = Usage.of(
        input_uncached=input_uncached,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=2_000,
        reasoning=0,
    )
    cost = pricer.price_usage(usage, model="gemini-2.5-pro", provider="google", at=DAY)
    assert cost.total == usd(in_rate, input_uncached) + usd(out_rate, 2_000)


def test_tier_is_chosen_by_total_input_including_cache(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000,
        cache_read=199_001,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=10,
        reasoning=0,
    )
    cost = pricer.price_usage(usage, model="gemini-2.5-pro", provider="google", at=DAY)
    assert cost.parts["input_uncached"] == usd("2.5", 1_000)
    assert cost.parts["cache_read"] == usd("0.25", 199_001).quantize(D("1e-12"))


def test_o_series_reasoning_is_billed_at_the_output_rate(pricer: Pricer) -> None:
    # o3 after the June 2025 price cut: $2 input, $8 output (reasoning included).
    usage = Usage.of(
        input_uncached=5_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=400,
        reasoning=3_600,
    )
    cost = pricer.price_usage(usage, model="o3", provider="openai", at=DAY)
    assert cost.parts["reasoning"] == usd("8", 3_600)
    assert cost.total == usd("2", 5_000) + usd("8", 4_000) == D("0.042")


def test_historic_prices_follow_the_call_date(pricer: Pricer) -> None:
    # o3 cost $10/$40 until 2025-06-09 and $2/$8 from 2025-06-10.
    usage = Usage.of(
        input_uncached=1_000_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1_000_000,
        reasoning=0,
    )
    before = Call(
        id="a",
        provider="openai",
        response_model="o3",
        started_at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC),
        usage=usage,
    )
    after = before.replace(started_at=datetime(2025, 6, 10, 0, 1, tzinfo=UTC))
    assert pricer.price(before).total == D(50)
    assert pricer.price(after).total == D(10)
    assert pricer.price(before).price_date == date(2025, 6, 9)
    assert pricer.price(before, at=date(2025, 7, 1)).total == D(10)


def test_call_date_is_the_utc_date(pricer: Pricer) -> None:
    from datetime import timedelta, timezone

    usage = Usage.of(
        input_uncached=1_000_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=0,
        reasoning=0,
    )
    # 2025-06-10 01:00 in UTC+5 is 2025-06-09 20:00 UTC: the old price.
    started = datetime(2025, 6, 10, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    cost = pricer.price(Call(id="x", provider="openai", request_model="o3", started_at=started, usage=usage))
    assert (cost.price_date, cost.total) == (date(2025, 6, 9), D(10))


def test_call_without_a_start_time_is_priced_today_and_says_so(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=10, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    cost = pricer.price(Call(id="x", provider="openai", request_model="gpt-4o", usage=usage))
    assert cost.priced
    assert cost.estimated
    assert cost.price_date == datetime.now(UTC).date()
    assert cost.reason is not None
    assert "no start time" in cost.reason


def test_unpriced_is_not_zero(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=100, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=10, reasoning=0
    )
    unknown_model = pricer.price_usage(usage, model="no-such-model-xyz", provider="openai", at=DAY)
    unknown_provider = pricer.price_usage(usage, model="llama-3", provider="my-gpu-box", at=DAY)
    no_model = pricer.price(Call(id="x", provider="openai", usage=usage))
    for cost in (unknown_model, unknown_provider, no_model):
        assert cost.total is None
        assert not cost.priced
        assert cost.parts == {}
        assert cost.reason
    assert "no-such-model-xyz" in str(unknown_model.reason)
    assert "overrides file" in str(unknown_model.reason)
    assert "my-gpu-box" in str(unknown_provider.reason)


def test_zero_usage_is_a_real_zero(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=0, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    cost = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=DAY)
    assert cost.priced
    assert cost.total == D(0)
    assert cost.parts == {}


def test_free_model_costs_zero_and_says_why(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=100,
        reasoning=0,
    )
    cost = pricer.price_usage(usage, model="gemma-4-31b-it", provider="google", at=DAY)
    assert cost.priced
    assert cost.total == D(0)
    assert not cost.estimated
    assert "no prices (free of charge)" in str(cost.reason)


@pytest.mark.parametrize(
    ("model", "units"),
    [("tts-1", "input character"), ("whisper-1", "audio hour and per input audio hour")],
)
def test_a_model_priced_in_no_token_is_unpriced_never_zero(
    pricer: Pricer, tmp_path: Path, model: str, units: str
) -> None:
    """LiteLLM logs speech and transcription calls with 0 tokens: at "no token rate" they cost $0.00,
    shown as priced; the catalog prices them per character or per audio hour, which no record gives."""
    zero = Usage.of(
        input_uncached=0, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    cost = pricer.price_usage(zero, model=model, provider="openai", at=DAY)
    assert (cost.total, cost.parts) == (None, {})
    assert cost.reason == (
        f"{model} is priced per {units} in {pricer.catalog_version}, not per token: tokenomy meters tokens,"
        " so its calls are left unpriced (a price override per token would price them)"
    )
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        f'[[price]]\nname = "own"\nprovider = "openai"\nmodel = "{model}"\neffective = 2025-01-01\n'
        'input = "2"\noutput = "0"\n'
    )
    counted = dataclasses.replace(zero, input_uncached=500_000, input_total=500_000, output_total=0)
    assert Pricer(overrides=overrides).price_usage(
        counted, model=model, provider="openai", at=DAY
    ).total == D(1)


@pytest.mark.parametrize(
    "usage",
    [
        Usage.of(
            input_uncached=10,
            cache_read=5,
            cache_write_5m=0,
            cache_write_1h=0,
            input_total=12,
            output_visible=1,
            reasoning=0,
        ),
        Usage.of(
            input_uncached=-1, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=1, reasoning=0
        ),
        Usage(
            input_uncached=10,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            input_total=10,
            output_visible=5,
            reasoning=1,
            output_total=6,
            quality=(Quality.CACHE_EXCEEDS_INPUT,),
        ),
    ],
)
def test_quality_flagged_usage_is_unpriceable(pricer: Pricer, usage: Usage) -> None:
    assert usage.quality
    cost = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=DAY)
    assert cost.total is None
    assert str(cost.reason).startswith("usage does not add up: ")


def test_buckets_that_exceed_the_reported_total_are_unpriceable(pricer: Pricer) -> None:
    usage = Usage(cache_read=500, input_total=100, output_total=10)
    cost = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=DAY)
    assert cost.total is None
    assert "input buckets sum to 500, input_total is 100" in str(cost.reason)


def test_no_usage_at_all_is_unpriced(pricer: Pricer) -> None:
    cost = pricer.price_usage(Usage(), model="gpt-4o", provider="openai", at=DAY)
    assert cost.total is None
    assert cost.reason == "no usage reported"


def test_only_zeros_beside_unknown_counts_are_unpriced_never_a_free_call(pricer: Pricer) -> None:
    # an OpenAI body whose counts did not read: its cache writes are 0 by the API's convention
    zeros = Usage(cache_write_5m=0, cache_write_1h=0)
    cost = pricer.price_usage(zeros, model="gpt-4o", provider="openai", at=DAY)
    assert cost.total is None
    assert cost.reason == "no token count reported: only zeros and unknowns"
    # every bucket known to be 0 is a call that cost nothing; one known count is a floor, as before
    zero = Usage.of(
        input_uncached=0, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    nothing = pricer.price_usage(zero, model="gpt-4o", provider="openai", at=DAY)
    assert nothing.total == Decimal(0)
    floor = pricer.price_usage(
        Usage(input_uncached=1_000, cache_write_5m=0, cache_write_1h=0),
        model="gpt-4o",
        provider="openai",
        at=DAY,
    )
    assert floor.total == Decimal("0.0025")  # 1,000 tokens at $2.50/M, its output not known
    assert floor.estimated


def test_a_stream_cut_before_its_output_count_is_priced_on_its_input_and_says_so(pricer: Pricer) -> None:
    # An Anthropic stream cut after message_start: the input and cache counts, no output count.
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_cut",
                "type": "message",
                "model": "claude-sonnet-4-5",
                "content": [],
                "usage": {
                    "input_tokens": 1000,
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    ]
    found = accumulate(events)
    assert found.extra["complete"] is False
    assert (found.usage.input_total, found.usage.output_total, found.usage.output_visible) == (
        1000,
        None,
        None,
    )
    cost = pricer.price_usage(found.usage, model="claude-sonnet-4-5", provider="anthropic", at=DAY)
    assert cost.total == usd("3", 1000)  # the input alone: the placeholder output token is not billed
    assert cost.estimated
    assert cost.reason == "no output usage reported: only input tokens priced"


def test_unknown_split_prices_the_remainder_at_the_base_rate(pricer: Pricer) -> None:
    # Anthropic reports output_tokens including thinking, without the split.
    usage = Usage(
        input_uncached=1_000,
        cache_read=2_000,
        cache_write_5m=0,
        cache_write_1h=0,
        input_total=3_000,
        output_total=900,
    )
    cost = pricer.price_usage(usage, model="claude-sonnet-4-5", provider="anthropic", at=DAY)
    assert cost.parts == {
        "input_uncached": usd("3", 1_000),
        "cache_read": usd("0.3", 2_000),
        "output_visible": usd("15", 900),
    }
    assert not cost.estimated
    assert (
        "output split not reported (output_visible, reasoning unknown): 900 tokens at the output rate"
        in str(cost.reason)
    )
    # Only the input total: the whole of it at the input rate.
    cost = pricer.price_usage(
        Usage(input_total=4_000, output_total=0), model="gpt-4o", provider="openai", at=DAY
    )
    assert cost.parts == {"input_uncached": usd("2.5", 4_000)}


def test_unknown_split_is_estimated_when_reasoning_has_its_own_rate(pricer: Pricer) -> None:
    # sonar-deep-research: $8 output, $3 reasoning.
    usage = Usage(
        input_uncached=100,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        input_total=100,
        output_total=1_000,
    )
    cost = pricer.price_usage(usage, model="sonar-deep-research", provider="perplexity", at=DAY)
    assert cost.estimated
    assert cost.parts["output_visible"] == usd("8", 1_000)
    known = Usage.of(
        input_uncached=100,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=200,
        reasoning=800,
    )
    cost = pricer.price_usage(known, model="sonar-deep-research", provider="perplexity", at=DAY)
    assert cost.parts["reasoning"] == usd("3", 800)
    assert not cost.estimated


def test_missing_1h_rate_is_said_and_estimated(pricer: Pricer) -> None:
    # Bedrock's global Claude Sonnet 4 lists one cache-write price ($3.75) and no 1h price.
    usage = Usage.of(
        input_uncached=0,
        cache_read=0,
        cache_write_5m=1_000,
        cache_write_1h=1_000,
        output_visible=0,
        reasoning=0,
    )
    model = "global.anthropic.claude-sonnet-4-20250514-v1:0"
    cost = pricer.price_usage(usage, model=model, provider="aws", at=DAY)
    assert cost.parts == {"cache_write_5m": usd("3.75", 1_000), "cache_write_1h": usd("3.75", 1_000)}
    assert cost.estimated
    assert "no 1h cache-write price" in str(cost.reason)
    assert "generic cache-write rate" in str(cost.reason)
    # The same model without 1h writes needs no assumption.
    only_5m = Usage.of(
        input_uncached=0, cache_read=0, cache_write_5m=1_000, cache_write_1h=0, output_visible=0, reasoning=0
    )
    plain = pricer.price_usage(only_5m, model=model, provider="aws", at=DAY)
    assert not plain.estimated
    assert plain.reason is None
    # Anthropic's own API has a 1h price: $6.
    direct = pricer.price_usage(usage, model="claude-sonnet-4-0", provider="anthropic", at=DAY)
    assert direct.parts["cache_write_1h"] == usd("6", 1_000)
    assert not direct.estimated


def test_server_tools_and_per_request_fees(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=100,
        reasoning=0,
        server_tools={"web_searches": 3},
    )
    claude = pricer.price_usage(usage, model="claude-opus-4-1", provider="anthropic", at=DAY)
    assert claude.parts["server_tools"] == D("0.03")  # $10 per 1,000 searches
    assert claude.total == usd("15", 1_000) + usd("75", 100) + D("0.03")
    sonar = pricer.price_usage(usage, model="sonar", provider="perplexity", at=DAY)
    assert sonar.parts["requests"] == D("0.012")  # $12 per 1,000 requests
    assert sonar.estimated
    assert "no price for server tool 'web_searches'" in str(sonar.reason)


def test_batch_uses_the_catalog_batch_price_when_it_has_one(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1_000_000,
        reasoning=0,
    )
    day = date(2026, 10, 20)
    standard = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=day)
    batch = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=day, batch=True)
    assert (standard.total, batch.total) == (D("12.5"), D("6.25"))
    assert not batch.estimated
    # Before the catalog's batch prices start, batch is priced at OpenAI's published batch discount
    # (half the standard rates), marked estimated, and said so.
    old = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=DAY, batch=True)
    assert old.total == D("6.25")
    assert old.estimated
    assert (
        "no batch price for gpt-4o: openai's published batch discount applied (50% of the standard rates)"
        in str(old.reason)
    )
    # a provider with no published batch discount: standard rates, said so
    grok = pricer.price_usage(usage, model="grok-4-0709", provider="x-ai", at=day, batch=True)
    assert grok.total == pricer.price_usage(usage, model="grok-4-0709", provider="x-ai", at=day).total
    assert grok.estimated
    assert "no batch price for grok-4-0709: standard rates used" in str(grok.reason)
    # Anthropic reports service_tier "batch" for batch calls.
    assert pricer.price_usage(
        usage, model="gpt-4o", provider="openai", at=day, service_tier="batch"
    ).total == D("6.25")


def test_service_tiers(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1_000_000,
        reasoning=0,
    )
    day = date(2026, 10, 20)
    assert pricer.price_usage(
        usage, model="gpt-5", provider="openai", at=day, service_tier="flex"
    ).total == D("5.625")
    assert pricer.price_usage(
        usage, model="gpt-5", provider="openai", at=day, service_tier="priority"
    ).total == D("22.5")
    default = pricer.price_usage(usage, model="gpt-5", provider="openai", at=day, service_tier="default")
    assert default.total == D("11.25")
    assert not default.estimated
    scale = pricer.price_usage(usage, model="gpt-5", provider="openai", at=day, service_tier="scale")
    assert scale.total == D("11.25")
    assert scale.estimated
    assert "no 'scale' service-tier price" in str(scale.reason)


def test_time_of_day_prices_take_the_peak_by_date_and_the_exact_rate_by_instant(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=1_000_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=0,
        reasoning=0,
    )
    by_day = pricer.price_usage(usage, model="deepseek-chat", provider="deepseek", at=DAY)
    assert by_day.total == D("0.27")
    assert by_day.estimated
    assert "peak rate" in str(by_day.reason)
    off_peak = pricer.price_usage(
        usage, model="deepseek-chat", provider="deepseek", at=datetime(2025, 10, 1, 18, 0, tzinfo=UTC)
    )
    assert off_peak.total == D("0.135")
    assert not off_peak.estimated


def test_a_call_is_priced_at_its_start_times_rate_when_prices_change_during_the_day(
    pricer: Pricer, tmp_path: Path
) -> None:
    """DeepSeek's off-peak hours (16:30 to 00:30 UTC) cost half: a call that started at 19:44 pays
    the off-peak rate, exactly, not the day's peak as an upper bound; one at 10:00 pays the peak; a
    call without a start time, today's peak, estimated. The store's import (SQL for every other
    call) prices such calls the same way."""
    usage = _every_bucket(input_uncached=1_206, cache_read=33_792, output_visible=302)
    evening = Call(
        id="e",
        provider="deepseek",
        request_model="deepseek-chat",
        started_at=datetime(2025, 9, 4, 19, 44, 7),
        usage=usage,
    )
    morning = evening.replace(id="m", started_at=datetime(2025, 9, 4, 10, 0, 0))
    off_peak = pricer.price(evening)
    # 1,206 x $0.135 + 33,792 x $0.035 + 302 x $0.55 per million
    assert off_peak.total == D("0.00016281") + D("0.00118272") + D("0.0001661")
    assert (off_peak.estimated, off_peak.reason) == (False, None)
    assert pricer.price(morning).total == 2 * off_peak.total  # 0.27, 0.07 and 1.10 at the peak
    unknown = pricer.price(evening.replace(id="u", started_at=None))
    assert unknown.total == 2 * off_peak.total
    assert unknown.estimated
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(EventBatch(calls=calls_to_arrow([evening, morning])), pricer=pricer)
        stored = {
            r["id"]: r["cost_total"] for r in store.query("SELECT id, cost_total FROM calls").to_pylist()
        }
    assert stored == {"e": off_peak.total, "m": 2 * off_peak.total}


def test_calls_at_many_times_of_day_share_their_price_windows_rates() -> None:
    """Pricing at a call's start time looks its rates up once per price window of the day, not once
    per call: a thousand DeepSeek calls, a minute or so apart, keep a few memo entries and are each
    priced at the peak or off-peak rate of their minute."""
    pricer = Pricer()
    usage = _every_bucket(input_uncached=1_000_000)
    start = datetime(2025, 9, 4)
    totals = {}
    for i in range(1_000):
        at = start + timedelta(seconds=86 * i + 7)  # 00:00:07 to 23:52:01
        call = Call(id=str(i), provider="deepseek", request_model="deepseek-chat", started_at=at, usage=usage)
        total = pricer.price(call).total
        peak = (at.hour, at.minute) >= (0, 30) and (at.hour, at.minute) < (16, 30)
        assert total == (D("0.27") if peak else D("0.135")), at
        totals[at] = total
    assert len(pricer.asked) <= 6  # the day, and its windows (midnight, 00:30, 16:30)
    assert len(set(totals.values())) == 2


def test_a_pricer_subclass_s_own_price_usage_prices_its_calls() -> None:
    """``Pricer.price`` goes through ``price_usage`` when a subclass brings its own (a markup)."""

    class Markup(Pricer):
        def price_usage(self, usage: Usage, **kwargs: Any) -> Cost:
            cost = super().price_usage(usage, **kwargs)
            assert cost.total is not None
            return dataclasses.replace(cost, total=cost.total * 2)

    usage = _every_bucket(input_uncached=1_000_000)
    call = Call(
        id="m", provider="openai", request_model="gpt-4o-mini", started_at=datetime(2025, 9, 4), usage=usage
    )
    assert Pricer().price(call).total == D("0.15")
    assert Markup().price(call).total == D("0.30")


def test_fallback_provider_serves_another_providers_model(pricer: Pricer) -> None:
    rates = pricer.resolve(model="gpt-4o", provider="azure.ai.openai", at=DAY)
    assert isinstance(rates, Rates)
    assert rates.provider == "azure"
    routed = pricer.resolve(model="anthropic/claude-sonnet-4-5", provider=None, at=DAY)
    assert routed is not None
    assert routed.model == "claude-sonnet-4-5"


def test_estimated_usage_gives_an_estimated_cost(pricer: Pricer) -> None:
    usage = Usage.of(
        input_uncached=10,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=5,
        reasoning=0,
        kind=Kind.COUNTED,
    )
    cost = pricer.price_usage(usage, model="gpt-4o", provider="openai", at=DAY)
    assert cost.estimated
    assert cost.total == usd("2.5", 10) + usd("10", 5)
    assert cost.reason == "usage counted locally, not reported by the provider"


@pytest.mark.parametrize(
    ("kind", "note"),
    [
        (Kind.COUNTED, "usage counted locally, not reported by the provider"),
        (Kind.ESTIMATED, "usage estimated locally, not reported by the provider"),
    ],
)
def test_an_estimated_cost_says_why_whole_or_partial(pricer: Pricer, kind: Kind, note: str) -> None:
    whole = Usage.of(
        input_uncached=10,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=5,
        reasoning=0,
        kind=kind,
    )
    partial = Usage(input_uncached=10, output_visible=5, kind=kind)  # cache and reasoning not reported
    cost = pricer.price_usage(whole, model="gpt-4o", provider="openai", at=DAY)
    assert (cost.estimated, cost.reason) == (True, note)
    cost = pricer.price_usage(partial, model="gpt-4o", provider="openai", at=DAY)
    assert cost.estimated
    assert cost.reason is not None
    assert cost.reason.endswith(f"; {note}")
    reported = pricer.price_usage(
        dataclasses.replace(whole, kind=Kind.REPORTED), model="gpt-4o", provider="openai", at=DAY
    )
    assert (reported.estimated, reported.reason) == (False, None)


def test_convenience_price_function() -> None:
    usage = Usage.of(
        input_uncached=1_000, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    cost: Cost = tokenomy.pricing.price(usage, model="gpt-4o", provider="openai", at=DAY)
    assert cost.total == D("0.0025")


def test_an_xai_answer_with_reasoning_on_top_of_its_completion_is_priced_as_genai_prices_prices_it(
    pricer: Pricer,
) -> None:
    """xAI counts reasoning outside ``completion_tokens``; both tools bill 9 + 94 output tokens."""
    from genai_prices import Usage as TheirUsage
    from genai_prices import calc_price

    from tokenomy.usage import extract

    body = {
        "id": "x1",
        "object": "chat.completion",
        "model": "grok-3-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 32,
            "completion_tokens": 9,
            "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 94},
        },
    }
    usage = extract(body).usage
    cost = pricer.price_usage(usage, model="grok-3-mini", provider="x-ai", at=date(2026, 11, 1))
    theirs = calc_price(
        TheirUsage(input_tokens=32, cache_read_tokens=6, output_tokens=103), "grok-3-mini", provider_id="x-ai"
    )
    assert cost.total == theirs.total_price == Decimal("0.00005975")
    assert (cost.parts["output_visible"], cost.parts["reasoning"]) == (usd("0.5", 9), usd("0.5", 94))
