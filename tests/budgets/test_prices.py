"""Worst-case prices: uncached input plus max_tokens at the output rate, from the catalog, as integers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tokenomy.budgets.prices import Card, PriceCards

DAY = date(2026, 3, 10)


def test_gpt_4o_mini_worst_case_by_hand() -> None:
    card = PriceCards().card("openai", "gpt-4o-mini", DAY, 1000)
    assert isinstance(card, Card)
    # $0.15 / MTok input, $0.60 / MTok output: 150_000 and 600_000 pico-dollars per token
    assert (card.input_pico, card.output_pico, card.fixed_pico) == (150_000, 600_000, 0)
    # 1000 input tokens + 1024 output tokens = $0.00015 + $0.0006144
    assert card.worst_case(1000, 1024) == Decimal("0.0007644")
    assert card.fixed_nano(1000) == 150_000  # nano-dollars of the input alone
    assert card.context_window == 128_000


def test_long_context_tier_is_chosen_by_the_input() -> None:
    cards = PriceCards()
    short = cards.card("anthropic", "claude-sonnet-4-5", DAY, 10_000)
    long = cards.card("anthropic", "claude-sonnet-4-5", DAY, 250_000)
    assert isinstance(short, Card)
    assert isinstance(long, Card)
    assert (short.input_pico, short.output_pico) == (3_000_000, 15_000_000)
    assert (long.input_pico, long.output_pico) == (6_000_000, 22_500_000)


def test_an_unknown_model_says_why() -> None:
    found = PriceCards().card("openai", "no-such-model-xyz", DAY, 10)
    assert isinstance(found, str)
    assert "no-such-model-xyz" in found


def test_the_input_is_reserved_at_the_dearest_rate_it_may_be_billed_at() -> None:
    # Claude Sonnet 4.5: $3 / MTok uncached input, $3.75 a 5-minute cache write, $6 a 1-hour one
    card = PriceCards().card("anthropic", "claude-sonnet-4-5", DAY, 10_000)
    assert isinstance(card, Card)
    assert (card.input_pico, card.worst_input_pico) == (3_000_000, 6_000_000)
    # 10,000 input tokens written to the 1-hour cache ($0.06) + 300 output tokens ($0.0045)
    assert card.fixed_nano(10_000) == 60_000_000
    assert card.worst_case(10_000, 300) == Decimal("0.0645")
    # output tokens settled with the counted input: that input at the uncached rate
    assert card.pico(10_000, 300) == 34_500_000_000


def test_max_tokens_are_reserved_at_an_audio_or_image_output_rate() -> None:
    # gpt-audio: $10 / MTok text output, $64 / MTok audio output; the answer's kind is unknown
    audio = PriceCards().card("openai", "gpt-audio", DAY, 1_000)
    assert isinstance(audio, Card)
    assert (audio.input_pico, audio.output_pico) == (2_500_000, 64_000_000)
    # gemini-2.5-flash-image: $2.50 / MTok text output, $30 / MTok image output
    image = PriceCards().card("google", "gemini-2.5-flash-image", DAY, 1_000)
    assert isinstance(image, Card)
    assert image.output_pico == 30_000_000
