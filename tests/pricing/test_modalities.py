"""Audio, image and video tokens are priced at their own rates, inside the bucket that holds them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tokenomy.pricing import Pricer
from tokenomy.pricing.compute import general_cost, whole_usage_cost
from tokenomy.schema import Quality, Usage

D = Decimal
DAY = date(2025, 6, 2)

PRICES = """
[[price]]
name = "omni"
model = "omni-1"
effective = 2025-01-01
input = 1
cache_read = 0.1
cache_write_5m = 1.25
output = 2
input_audio = 10
cache_read_audio = 0.5
cache_write_5m_image = 3
output_image = 30

[[modifier]]
name = "half"
model = "omni-1"
effective = 2025-01-01
batch = 0.5
"""


@pytest.fixture
def pricer(tmp_path: Path) -> Pricer:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES, encoding="utf-8")
    return Pricer(path)


def usage(**modalities: int) -> Usage:
    return Usage.of(
        input_uncached=1_000,
        cache_read=200,
        cache_write_5m=100,
        cache_write_1h=50,
        output_visible=500,
        reasoning=40,
        modalities={key.replace("__", "."): n for key, n in modalities.items()},
    )


def test_each_modality_is_charged_its_rate_and_the_rest_of_the_bucket_as_text(pricer: Pricer) -> None:
    cost = pricer.price_usage(
        usage(
            input_uncached__audio=400,
            cache_read__audio=100,
            cache_write_5m__image=60,
            output_visible__image=300,
        ),
        model="omni-1",
        at=DAY,
    )
    assert cost.parts == {
        "input_uncached": D("0.004600"),  # 600 text x $1/M + 400 audio x $10/M
        "cache_read": D("0.000060"),  # 100 x $0.1/M + 100 audio x $0.5/M
        "cache_write_5m": D("0.000230"),  # 40 x $1.25/M + 60 image x $3/M
        "cache_write_1h": D("0.0000625"),  # no 1h price: the 5m one, flagged as assumed
        "output_visible": D("0.009400"),  # 200 x $2/M + 300 image x $30/M
        "reasoning": D("0.000080"),
    }
    assert cost.total == sum(cost.parts.values())


def test_a_modality_without_its_own_price_is_charged_as_text(pricer: Pricer) -> None:
    plain = pricer.price_usage(usage(), model="omni-1", at=DAY)
    video = pricer.price_usage(
        usage(input_uncached__video=700, output_visible__audio=100), model="omni-1", at=DAY
    )
    assert video.total == plain.total == D("0.0022875")


def test_a_batch_modifier_scales_the_modality_rates(pricer: Pricer) -> None:
    cost = pricer.price_usage(usage(output_visible__image=300), model="omni-1", at=DAY, batch=True)
    assert cost.parts["output_visible"] == D("0.004700")  # half of 200 x $2/M + 300 x $30/M


def test_modalities_beyond_their_bucket_are_flagged_and_unpriced(pricer: Pricer) -> None:
    too_many = usage(cache_read__audio=150, cache_read__image=60)
    assert too_many.quality == (Quality.MODALITY_EXCEEDS_BUCKET,)
    cost = pricer.price_usage(too_many, model="omni-1", at=DAY)
    assert cost.total is None
    assert "modality_exceeds_bucket" in str(cost.reason)


def test_modalities_of_an_unreported_bucket_cannot_be_placed(pricer: Pricer) -> None:
    partial = Usage.of(input_total=1_000, output_total=10, modalities={"cache_read.audio": 5})
    cost = pricer.price_usage(partial, model="omni-1", at=DAY)
    assert cost.total is None
    assert cost.reason == "usage does not add up: 5 audio, image or video tokens in cache_read, which holds 0"


def test_an_unknown_modality_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown modality key 'reasoning\.audio'"):
        Usage.of(reasoning=10, modalities={"reasoning.audio": 5})


def test_zero_counts_are_dropped_and_sums_keep_every_key() -> None:
    a = usage(input_uncached__audio=0, output_visible__image=3)
    assert a.modalities == {"output_visible.image": 3}
    total = a + usage(input_uncached__audio=4, output_visible__image=2)
    assert total.modalities == {"output_visible.image": 5, "input_uncached.audio": 4}
    assert total.modal_tokens("output_visible") == {"image": 5}


def test_the_whole_usage_fast_path_leaves_modalities_to_the_general_rules(pricer: Pricer) -> None:
    rates = pricer.resolve(model="omni-1", provider=None, at=DAY)
    assert rates is not None
    with_audio = usage(input_uncached__audio=400)
    assert whole_usage_cost(with_audio, rates, None) is None
    assert general_cost(with_audio, rates).parts["input_uncached"] == D("0.004600")


def test_catalog_modality_prices_apply(pricer: Pricer) -> None:
    """gpt-realtime in genai-prices: text in $4/M, audio in $32/M, cached audio $0.40/M, audio out $64/M."""
    cost = Pricer().price_usage(
        Usage.of(
            input_uncached=1_000_000,
            cache_read=1_000_000,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=1_000_000,
            reasoning=0,
            modalities={
                "input_uncached.audio": 500_000,
                "cache_read.audio": 1_000_000,
                "output_visible.audio": 1,
            },
        ),
        model="gpt-realtime",
        provider="openai",
        at=date(2026, 1, 15),
    )
    assert cost.parts["input_uncached"] == D("18")  # 0.5M x $4 + 0.5M x $32
    assert cost.parts["cache_read"] == D("0.4")
    assert cost.parts["output_visible"] == D("16.000048")  # (1M - 1) x $16/M + 1 x $64/M


def test_without_a_cache_price_cached_audio_bills_as_audio_input(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[[price]]\nmodel = "sonic"\neffective = 2025-01-01\n'
        "input = 0.06\noutput = 0.24\ninput_audio = 3.4\n",
        encoding="utf-8",
    )
    cached = Usage.of(
        input_uncached=0,
        cache_read=1_000,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=0,
        reasoning=0,
        modalities={"cache_read.audio": 600},
    )
    cost = Pricer(path).price_usage(cached, model="sonic", at=DAY)
    assert cost.parts == {"cache_read": D("0.002064")}  # 400 x $0.06/M + 600 x $3.4/M


def _spoken(**modal: int) -> Usage:
    return Usage.of(
        input_uncached=1000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=500,
        reasoning=0,
        modalities=modal,
    )


def test_audio_with_no_rate_of_its_own_is_priced_as_text_and_estimated(pricer: Pricer) -> None:
    """gpt-4o-audio-preview bills audio at $40/$80 per million; the catalog lists text rates alone
    ($2.50/$10), so a cost at those is a floor, not the bill: said, and estimated."""
    usage = _spoken(**{"input_uncached.audio": 600, "output_visible.audio": 450, "input_uncached.image": 100})
    cost = pricer.price_usage(usage, model="gpt-4o-audio-preview-2024-12-17", provider="openai", at=DAY)
    assert cost.total == Decimal("0.0025") + Decimal("0.005")  # 1,000 in at $2.50/M, 500 out at $10/M
    assert cost.estimated
    assert cost.reason == (
        f"{pricer.catalog_version} has no audio rate for gpt-4o-audio-preview: the audio tokens of"
        " input_uncached and output_visible priced as text"
    )


def test_images_at_the_text_rate_and_audio_at_its_own_need_no_note(pricer: Pricer) -> None:
    image = pricer.price_usage(
        _spoken(**{"input_uncached.image": 100}), model="gpt-4o", provider="openai", at=DAY
    )
    assert (image.total, image.estimated, image.reason) == (Decimal("0.0075"), False, None)
    heard = pricer.price_usage(
        _spoken(**{"input_uncached.audio": 600}), model="gemini-2.5-flash", provider="google", at=DAY
    )
    assert (heard.estimated, heard.reason) == (False, None)
    assert heard.total == Decimal("0.00012") + Decimal("0.0006") + Decimal("0.00125")  # text, audio, out
