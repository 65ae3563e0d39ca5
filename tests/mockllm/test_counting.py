"""Input token counting: tokenomy.tokens when available, a cheap deterministic rule otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from tokenomy.mockllm.counting import Counter, cheap_count


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("hello", 1),
        ("hello world", 2),
        ("hello, world!", 4),
        ("internationalization", 4),
        ("a  b\n c", 3),
    ],
)
def test_cheap_count_counts_words_punctuation_and_long_words(text: str, tokens: int) -> None:
    assert cheap_count(text) == tokens


def test_counter_uses_the_given_function_and_memoises() -> None:
    calls: list[tuple[str, str]] = []

    def count(text: str, model: str) -> int:
        calls.append((text, model))
        return len(text)

    counter = Counter(count)
    assert counter("abcd", "m") == 4
    assert counter("abcd", "m") == 4
    assert counter("abcd", "other") == 4
    assert calls == [("abcd", "m"), ("abcd", "other")]
    assert counter.source == "custom"
    assert counter("", "m") == 0


def test_counter_falls_back_to_the_cheap_rule_when_the_tokenizer_fails() -> None:
    def broken(text: str, model: str) -> int:
        raise LookupError(model)

    assert Counter(broken)("one two three", "unknown-model") == 3


def test_default_counter_names_its_source() -> None:
    counter = Counter()
    expected = {"tokenomy.tokens"} if importlib.util.find_spec("tokenomy.tokens") else {"cheap"}
    if counter.source == "cheap" and expected == {"tokenomy.tokens"}:
        expected.add("cheap")  # the tokenizer exists but could not count (e.g. missing data)
    assert counter.source in expected
    assert counter("hello world", "gpt-4o") == 2  # both rules agree on plain words
