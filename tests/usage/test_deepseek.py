from __future__ import annotations

from typing import Any

from tokenomy.schema import Quality
from tokenomy.usage import accumulate, detect, extract


def body(usage: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "content": "4", "reasoning_content": "2+2"}
    choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
    return {
        "id": "d1",
        "object": "chat.completion",
        "model": "deepseek-reasoner",
        "choices": choices,
        "usage": usage,
    }


USAGE = {
    "prompt_tokens": 563,
    "completion_tokens": 116,
    "total_tokens": 679,
    "prompt_cache_hit_tokens": 512,
    "prompt_cache_miss_tokens": 51,
    "prompt_tokens_details": {"cached_tokens": 512},
    "completion_tokens_details": {"reasoning_tokens": 60},
}


def test_hits_are_cache_reads_and_misses_are_uncached() -> None:
    e = extract(body(USAGE))
    assert (detect(body(USAGE)), e.provider, e.adapter) == ("deepseek.chat", "deepseek", "deepseek.chat")
    assert e.usage.buckets() == {
        "input_uncached": 51,
        "cache_read": 512,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 56,
        "reasoning": 60,
    }
    assert (e.usage.input_total, e.usage.output_total, e.usage.total) == (563, 116, 679)
    assert e.usage.ok
    assert e.completion_text == "4"


def test_hit_and_miss_that_do_not_add_up_are_kept_and_flagged() -> None:
    u = extract(body({**USAGE, "prompt_cache_miss_tokens": 60})).usage
    assert (u.input_uncached, u.cache_read, u.input_total) == (60, 512, 563)
    assert Quality.TOTAL_MISMATCH in u.quality


def test_missing_counters_are_derived_or_read_from_details() -> None:
    no_miss = {k: v for k, v in USAGE.items() if k != "prompt_cache_miss_tokens"}
    assert extract(body(no_miss)).usage.input_uncached == 51
    no_hit = {k: v for k, v in USAGE.items() if k != "prompt_cache_hit_tokens"}
    assert extract(body(no_hit)).usage.cache_read == 512


def test_hits_above_prompt_are_flagged() -> None:
    u = extract(body({"prompt_tokens": 5, "completion_tokens": 1, "prompt_cache_hit_tokens": 9})).usage
    assert u.input_uncached == -4
    assert Quality.CACHE_EXCEEDS_INPUT in u.quality


def test_a_deepseek_stream_is_read_with_deepseek_counters() -> None:
    chunk = {"id": "d1", "object": "chat.completion.chunk", "model": "deepseek-chat"}
    events: list[dict[str, Any]] = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE},
    ]
    e = accumulate(events)
    assert (e.adapter, e.usage.cache_read, e.usage.input_uncached) == ("deepseek.chat", 512, 51)


def test_reasoning_above_completion_is_flagged() -> None:
    u = extract(body({**USAGE, "completion_tokens_details": {"reasoning_tokens": 200}})).usage
    assert u.output_visible == -84
    assert Quality.REASONING_EXCEEDS_OUTPUT in u.quality
