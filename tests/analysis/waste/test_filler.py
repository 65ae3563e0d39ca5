"""Verbose filler: measured filler tokens, or filler read from captured answer text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy import tokens
from tokenomy.analysis.waste.filler import Filler
from tokenomy.schema import WasteEffect, WasteRole


def test_measured_filler_is_waste_at_the_visible_output_rate(tmp_path: Path) -> None:
    chat = Conversation("s1", provider="anthropic", model="claude-haiku-4-5")
    calls = [
        chat.ask("c1", ("q", 50), answer=200, filler_tokens=20),
        chat.ask("c2", ("q2", 40), filler_tokens=0),
    ]
    found = detect(tmp_path, Filler(), calls)
    (hit,) = found.hits
    (call,) = hit.calls
    assert (call.call_id, call.role, call.tokens, call.effect) == (
        "c1",
        WasteRole.PARTIAL,
        20,
        WasteEffect.OUTPUT,
    )
    assert call.cost == Decimal("0.000100000000")  # 20 tokens at claude-haiku-4-5's $5 per million output
    assert found.notes == []


def test_filler_is_read_from_captured_text_when_not_measured(tmp_path: Path) -> None:
    text = "Great question! Here's a detailed answer. Use an index on user_id. Feel free to ask!"
    chat = Conversation("s1")
    (hit,) = detect(tmp_path, Filler(), [chat.ask("c1", ("q", 50), answer=40, completion=text)]).hits
    opening, closing = "Great question! Here's a detailed answer.", "Feel free to ask!"
    expected = tokens.count(opening, "gpt-4.1-mini").tokens + tokens.count(closing, "gpt-4.1-mini").tokens
    assert hit.calls[0].tokens == expected


def test_calls_without_measurement_or_text_are_not_judged_and_a_note_says_so(tmp_path: Path) -> None:
    chat = Conversation("s1")
    found = detect(
        tmp_path, Filler(), [chat.ask("c1", ("q", 50)), chat.ask("c2", ("q", 50), filler_tokens=0)]
    )
    assert found.hits == []
    assert found.notes == [
        "filler judged on 1 of 2 successful calls (measured filler_tokens or captured completion text); "
        "the rest carry neither"
    ]
