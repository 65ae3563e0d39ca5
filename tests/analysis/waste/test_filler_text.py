"""Filler measured in an answer's text: whole stock sentences at its two ends."""

from __future__ import annotations

from tokenomy import tokens
from tokenomy.analysis.waste.filler_text import filler_spans, filler_tokens


def test_openings_and_closings_are_found_at_the_ends() -> None:
    text = "Certainly! Here is what you asked for. The total is 42 units. I hope this helps!"
    assert filler_spans(text) == ("Certainly! Here is what you asked for.", "I hope this helps!")
    expected = tokens.count("Certainly! Here is what you asked for.", "gpt-4o").tokens
    expected += tokens.count("I hope this helps!", "gpt-4o").tokens
    assert filler_tokens(text, "gpt-4o") == expected


def test_a_lead_in_that_carries_content_is_not_filler() -> None:
    assert filler_spans("Here is the SQL: SELECT 1. Let me know if you have any other questions.") == (
        "",
        "Let me know if you have any other questions.",
    )


def test_pleasantries_in_the_middle_are_not_filler() -> None:
    assert filler_tokens("The answer is 4. Certainly! It is even. Done.", "gpt-4o") == 0


def test_an_answer_that_is_only_a_pleasantry_is_the_answer() -> None:
    assert filler_tokens("Sure!", "gpt-4o") == 0
    assert filler_tokens("", "gpt-4o") == 0
