"""Filler in an answer's text: the pleasantries that open and close it, measured in tokens.

An answer's *opening* is its leading sentences as long as each one is a stock pleasantry
("Certainly!", "Great question!", "I'd be happy to help with that.", "Here's a detailed answer.");
its *closing* is its trailing sentences as long as each one is ("I hope this helps!", "Let me know if
you have any other questions."). Only whole sentences at the two ends count: a pleasantry in the
middle of an answer, or a sentence that carries content ("Here is the SQL: SELECT ..."), does not.
The filler is counted with the model's tokenizer (:func:`tokenomy.tokens.count`).
"""

from __future__ import annotations

import re
from typing import Final

from tokenomy import tokens

_OPENERS: Final = (
    r"(certainly|sure|sure thing|of course|absolutely|definitely|great|great question|good question)",
    r"(excellent question|what a great question|no problem|happy to help|glad to help|gladly)",
    r"(thanks for (asking|your question|reaching out)|thank you for (asking|your question|reaching out))",
    r"i('d| would) be (happy|glad|delighted) to (help|assist)( you)?( with (that|this|your question))?",
    r"(here('s| is| are)|below (you will|you'll) find) (what you asked for|a detailed answer|the answer"
    r"|your answer|an answer|a summary|a breakdown|an overview|what i found|some information)",
    r"as an ai( language model)?",
)
_CLOSERS: Final = (
    r"(i )?hope (this|that|it) helps( you)?",
    r"let me know if (you have|there are) any (other |more |further )?questions",
    r"let me know if you need (anything else|any(thing)? more|further help|more help)",
    r"(please )?(feel free|don't hesitate|do not hesitate) to (ask|reach out)( if you need anything else"
    r"| if you have (any )?(other |more |further )?questions)?",
    r"is there anything else (i can (help|assist) (you )?with)?",
    r"if you have any (other |more |further )?questions,? (just )?(let me know|feel free to ask|ask away)",
    r"(happy coding|good luck|have a (great|nice) day|cheers)",
)
_OPENING: Final = re.compile(r"^(" + "|".join(_OPENERS) + r")[\s!.,:]*$", re.IGNORECASE)
_CLOSING: Final = re.compile(r"^(" + "|".join(_CLOSERS) + r")[\s!.,:]*$", re.IGNORECASE)
_SENTENCE: Final = re.compile(r"[^.!?:]+[.!?:]*\s*")


def sentences(text: str) -> list[str]:
    """``text`` cut after each ``.``, ``!``, ``?`` or ``:`` run, keeping the punctuation and spaces."""
    return [s for s in _SENTENCE.findall(text) if s.strip()]


def filler_spans(text: str) -> tuple[str, str]:
    """The filler opening and closing of ``text`` (empty strings when there is none)."""
    parts = sentences(text)
    head = 0
    while head < len(parts) and _OPENING.match(parts[head].strip()):
        head += 1
    tail = len(parts)
    while tail > head and _CLOSING.match(parts[tail - 1].strip()):
        tail -= 1
    return "".join(parts[:head]).strip(), "".join(parts[tail:]).strip()


def filler_tokens(text: str, model: str | None = None) -> int:
    """Tokens of filler at the two ends of ``text`` (0 when there is none, or the text is all filler)."""
    opening, closing = filler_spans(text)
    if not opening and not closing:
        return 0
    if len(opening) + len(closing) >= len(text.strip()):
        return 0  # an answer that is nothing but a pleasantry ("Sure!") is the answer
    return sum(tokens.count(part, model).tokens for part in (opening, closing) if part)
