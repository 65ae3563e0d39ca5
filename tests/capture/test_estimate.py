"""Filling in a stream's missing totals by counting locally."""

from __future__ import annotations

from tokenomy import tokens
from tokenomy.capture.estimate import TOOL_CALL_FRAMING, fill_missing, text_prompt_tokens, tool_call_tokens
from tokenomy.schema import Kind, Usage


def test_known_totals_are_left_as_reported() -> None:
    usage = Usage.of(
        input_uncached=5, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=3, reasoning=0
    )
    assert fill_missing(usage, prompt_tokens=99, text="many words here", model="gpt-4o") is usage


def test_an_unknown_usage_is_the_counted_prompt_and_the_counted_text() -> None:
    text = "The of and to in"
    usage = fill_missing(Usage(), prompt_tokens=42, text=text, model="gpt-4o")
    assert (usage.input_total, usage.output_total) == (42, tokens.count(text, "gpt-4o").tokens)
    assert usage.output_total == 5
    assert usage.kind is Kind.ESTIMATED
    assert usage.input_uncached is None
    assert usage.reasoning is None


def test_reported_input_buckets_are_kept_and_only_the_output_is_counted() -> None:
    started = Usage.of(input_uncached=11, cache_read=7, cache_write_5m=0, cache_write_1h=0)
    usage = fill_missing(started, prompt_tokens=1000, text="", model="claude-sonnet-4-6")
    assert (usage.input_total, usage.cache_read, usage.output_total) == (18, 7, 0)
    assert usage.kind is Kind.ESTIMATED


def test_each_tool_call_adds_its_name_its_argument_text_and_the_framing() -> None:
    calls = (("get_weather", '{"city":"Paris"}'), ("get_time", ""))
    usage = fill_missing(Usage(), prompt_tokens=10, text="Checking.", model="gpt-4o", tool_text=calls)
    assert tool_call_tokens("get_weather", '{"city":"Paris"}', "gpt-4o") == 2 + 5 + TOOL_CALL_FRAMING
    assert tool_call_tokens("get_time", "", "gpt-4o") == 2 + TOOL_CALL_FRAMING
    assert TOOL_CALL_FRAMING == 7
    assert usage.output_total == tokens.count("Checking.", "gpt-4o").tokens + (2 + 5 + 7) + (2 + 7) == 25
    assert usage.kind is Kind.ESTIMATED


def test_a_tool_call_alone_is_output_and_a_reported_output_ignores_tool_text() -> None:
    only = fill_missing(Usage(), prompt_tokens=None, text=None, model="gpt-4o", tool_text=(("f", "{}"),))
    assert only.output_total == tokens.count("f", "gpt-4o").tokens + tokens.count("{}", "gpt-4o").tokens + 7
    reported = Usage.of(input_total=5, output_total=3)
    kept = fill_missing(reported, prompt_tokens=99, text=None, model="gpt-4o", tool_text=(("f", "{}"),))
    assert kept is reported


def test_without_a_prompt_count_the_input_stays_unknown() -> None:
    assert fill_missing(Usage(), prompt_tokens=None, text="x", model=None).input_total is None


def test_a_plain_prompt_counts_as_its_text_and_token_ids_as_their_number() -> None:
    model = "gpt-3.5-turbo-instruct"
    assert text_prompt_tokens("hello world", model) == tokens.count("hello world", model).tokens == 2
    assert text_prompt_tokens(["hello world", "hi"], model) == 3
    assert text_prompt_tokens([1, 2, 3], model) == 3
    assert text_prompt_tokens([[1, 2], [3]], model) == 3
    for unknown in ([], ["a", 1], [[1], "a"], None, {"text": "a"}, [True]):
        assert text_prompt_tokens(unknown, model) is None, unknown
