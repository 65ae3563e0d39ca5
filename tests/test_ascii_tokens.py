"""The ASCII scan counts ``o200k_base`` and ``cl100k_base`` tokens exactly as tiktoken does."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tokenomy import ascii_tokens, tokens
from tokenomy.compiled import is_compiled

ENC = tokens.get_encoding("o200k_base")
RANKS = ENC._mergeable_ranks
MERGE = ENC._core_bpe.encode_single_piece
ENCODINGS = ("o200k_base", "cl100k_base")
CHARACTERS = "aAbZzsStTdDmMlLrReEvV0123456789 \t\n\r\x0b\x0c'.,/!-_\x1c\x00\x7f\"#"
"""Every class of the pattern: capitals, small letters (the contractions' among them), digits,
spaces, line breaks, vertical tab and form feed, and other characters (controls included)."""
PARTS = [
    "hello",
    " world",
    "Don't",
    "I'M",
    "we're",
    "HTTP",
    "CamelCase",
    "12345",
    "  ",
    "\n\n",
    " \n ",
    "'ll",
    "'S",
    "'Ve",
    "//",
    "...",
]


class _Renamed:
    """An encoding with o200k_base's vocabulary and core under another name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._mergeable_ranks = RANKS
        self._core_bpe = ENC._core_bpe


def _count(text: str, name: str = "o200k_base") -> int:
    enc = tokens.get_encoding(name)
    ranks, merge = enc._mergeable_ranks, enc._core_bpe.encode_single_piece
    return ascii_tokens.count(text, ranks, merge, name == "cl100k_base", 10**9)  # the scan, at any length


def _generated(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for index in range(n):
        if index % 2:
            out.append("".join(rng.choice(CHARACTERS) for _ in range(rng.randint(0, 24))))
        else:
            picks = (rng.choice(PARTS) if rng.random() < 0.5 else rng.choice(CHARACTERS) for _ in range(12))
            out.append("".join(picks))
    return out


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Say hello in one line.",
        "  leading and trailing  ",
        "tabs\tand\x0bother\x0cspaces",
        "line\r\nbreaks\n\n\nand  \n  spaces",
        "Don't, I'M, we're, they'VE, she'll, he'd, it's, 'Tis",
        "digits 1234567 and 12,345.67",
        "ALLCAPS then CamelCaseWords and mIxEd",
        "path/to/file.py// and //\n//",
        "antidisestablishmentarianism pneumonoultramicroscopic",
        "!!!???...---",
        " \t \n",
    ],
)
def test_chosen_texts_count_as_tiktoken_does(text: str) -> None:
    for name in ENCODINGS:
        assert _count(text, name) == len(tokens.get_encoding(name).encode_ordinary(text)), name


@pytest.mark.parametrize("name", ENCODINGS)
def test_generated_texts_count_as_tiktoken_does(name: str) -> None:
    enc = tokens.get_encoding(name)
    texts = _generated(7, 30_000)
    differ = [text for text in texts if _count(text, name) != len(enc.encode_ordinary(text))]
    assert differ == []
    assert sum(_count(text, name) for text in texts) > 150_000  # the texts are not trivially short


def test_the_two_encodings_cut_contractions_and_capitals_differently() -> None:
    """Where the patterns differ (a contraction a piece of its own, capitals split from small
    letters, a slash after punctuation), the scans differ as tiktoken's counts do."""
    for text in ("'sup", "ABCdefGHI", ".\n/x"):
        counts = {name: _count(text, name) for name in ENCODINGS}
        assert counts == {name: len(tokens.get_encoding(name).encode_ordinary(text)) for name in ENCODINGS}


def test_text_that_is_not_ascii_is_left_to_tiktoken() -> None:
    for text in ("naïve", "漢字", "emoji 🙂", "\ud800 lone", "\x80"):
        assert _count(text) == -1
        assert tokens.encoded_length(ENC, text) == len(ENC.encode_ordinary(text))


def test_long_text_is_left_to_tiktoken_which_lets_other_threads_run() -> None:
    text = "word " * 1000
    assert ascii_tokens.count(text[: ascii_tokens.LONGEST], RANKS, MERGE) == len(
        ENC.encode_ordinary(text[: ascii_tokens.LONGEST])
    )
    assert ascii_tokens.count(text[: ascii_tokens.LONGEST + 1], RANKS, MERGE) == -1
    assert tokens.encoded_length(ENC, text) == len(ENC.encode_ordinary(text))


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def test_real_prompts_and_answers_count_as_tiktoken_does(real_data: Path) -> None:
    texts: list[str] = [path.read_text() for path in Path(ascii_tokens.__file__).parent.glob("*.py")]
    for path in sorted((real_data / "trajectories").rglob("*.json")):  # agents' prompts, code, tool output
        _strings(json.loads(path.read_text()), texts)
    for path in sorted((real_data / "provider-responses").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            _strings(json.loads(line), texts)
    ascii_texts = [text for text in texts if text.isascii()]
    assert len(ascii_texts) > 1_000
    for name in ENCODINGS:
        enc = tokens.get_encoding(name)
        assert [
            text[:80] for text in ascii_texts if _count(text, name) != len(enc.encode_ordinary(text))
        ] == []


def test_the_plan_is_offered_only_for_the_two_encodings_and_only_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = tokens.ascii_plan(ENC)
    assert (plan is not None) == is_compiled(ascii_tokens)
    monkeypatch.setattr(tokens, "is_compiled", lambda module: True)
    forced = tokens.ascii_plan(ENC)
    assert forced is not None
    assert forced[0] is RANKS
    assert forced[2] is False
    cl100k = tokens.ascii_plan(tokens.get_encoding("cl100k_base"))
    assert cl100k is not None
    assert cl100k[2] is True
    other = _Renamed("r50k_base")  # o200k's own vocabulary and core under another name: still refused
    assert tokens.ascii_plan(other) is None  # type: ignore[arg-type]
    monkeypatch.setattr(tokens, "is_compiled", lambda module: False)
    assert tokens.ascii_plan(ENC) is None


def test_encoded_length_is_tiktoken_s_length_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [*_generated(11, 500), "naïve 漢字", "\ud800"]
    expected = [len(ENC.encode_ordinary(text)) for text in texts]
    for compiled in (True, False):
        monkeypatch.setattr(tokens, "is_compiled", lambda module, compiled=compiled: compiled)
        monkeypatch.setattr(tokens, "_ASCII_PLANS", {})
        assert [tokens.encoded_length(ENC, text) for text in texts] == expected
        assert (tokens._ASCII_PLANS[ENC] is not None) == compiled
