"""Golden tests over every provider recording in the real-data folder.

For every recorded response the buckets must reproduce the provider's own totals (computed
here straight from the raw usage object, independently of the adapters), unknown parts must
stay None, and nothing may be negative without its flag. A representative set is pinned
bucket by bucket with values checked by hand against the raw recordings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.usage.recordings import Recording, all_recordings, by_source
from tokenomy.errors import UsageError
from tokenomy.schema import INPUT_BUCKETS, OUTPUT_BUCKETS, Quality
from tokenomy.usage import Extracted, accumulate, extract

pytestmark = pytest.mark.realdata

RECORDINGS = all_recordings()
OK = [r for r in RECORDINGS if r.status == 200]
ERRORS = [r for r in RECORDINGS if r.status != 200]


def read(recording: Recording) -> Extracted:
    return accumulate(recording.events) if recording.body is None else extract(recording.body)


def raw_usage(recording: Recording) -> Mapping[str, Any] | None:
    """The provider's final usage object, taken from the raw recording."""
    if recording.body is not None:
        return recording.body.get("usage") or recording.body.get("usageMetadata")
    merged: dict[str, Any] = {}
    for event in recording.events:
        inner = event.get("message") or event.get("response") or {}
        for usage in (event.get("usage"), event.get("usageMetadata"), inner.get("usage")):
            if isinstance(usage, Mapping):  # each field's latest non-null value
                merged.update({k: v for k, v in usage.items() if v is not None})
    return merged


def plus(*values: Any) -> int | None:
    return None if any(v is None for v in values) else sum(values)


def reported_totals(adapter: str, usage: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(input total, output total, grand total) as the provider's convention defines them."""
    if adapter == "anthropic.messages":
        cache = (usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens"))
        return plus(usage.get("input_tokens"), *cache), usage.get("output_tokens"), None
    if adapter == "gemini.generate_content":
        count = {k: usage.get(k, 0) for k in ("promptTokenCount", "toolUsePromptTokenCount")}
        out = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
        return sum(count.values()), out, usage.get("totalTokenCount")
    if adapter == "openai.responses":
        return usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
    return usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")


def test_the_recordings_are_all_there() -> None:
    real_data_path("provider-responses")
    assert len(OK) >= 100
    assert sum(r.streamed for r in OK) >= 40
    assert len(ERRORS) == 6


@pytest.mark.parametrize("recording", OK, ids=lambda r: r.source)
def test_buckets_reproduce_the_providers_own_totals(recording: Recording) -> None:
    real_data_path("provider-responses")
    e = read(recording)
    usage = raw_usage(recording)
    assert usage, "every successful recording reports usage"
    expected_in, expected_out, grand = reported_totals(e.adapter, usage)
    u = e.usage
    assert (u.input_total, u.output_total) == (expected_in, expected_out)
    if grand is not None and u.total is not None:
        assert (u.total == grand) == (Quality.TOTAL_MISMATCH not in u.quality)
    ins = [getattr(u, b) for b in INPUT_BUCKETS]
    outs = [getattr(u, b) for b in OUTPUT_BUCKETS]
    if None not in ins:
        assert sum(ins) == u.input_total
    if None not in outs:
        assert sum(outs) == u.output_total
    negative = any(v is not None and v < 0 for v in (*ins, *outs))
    assert negative == (Quality.NEGATIVE in u.quality)
    assert u.ok, u.quality
    if recording.streamed:
        assert e.extra["complete"] is True
        assert e.extra["odd_events"] == 0


@pytest.mark.parametrize("recording", OK, ids=lambda r: r.source)
def test_what_the_body_does_not_report_stays_unknown(recording: Recording) -> None:
    real_data_path("provider-responses")
    e = read(recording)
    usage = raw_usage(recording) or {}
    u = e.usage
    if e.adapter == "openai.chat":
        if "prompt_tokens_details" not in usage:
            assert (u.cache_read, u.input_uncached) == (None, None)
        if "completion_tokens_details" not in usage:
            assert (u.reasoning, u.output_visible) == (None, None)
    if e.adapter == "anthropic.messages":
        if "cache_read_input_tokens" not in usage:
            assert (u.cache_read, u.input_total) == (None, None)
        thinking = (usage.get("output_tokens_details") or {}).get("thinking_tokens")
        if thinking is not None:
            assert u.reasoning == thinking
        elif _has_thinking(recording):
            assert (u.reasoning, u.output_visible) == (None, None)
        else:
            assert u.reasoning == 0


def _has_thinking(recording: Recording) -> bool:
    if recording.body is not None:
        blocks = recording.body.get("content") or []
    else:
        blocks = [e.get("content_block") or {} for e in recording.events]
    return any(b.get("type") in ("thinking", "redacted_thinking") for b in blocks)


@pytest.mark.parametrize("recording", ERRORS, ids=lambda r: r.source)
def test_error_responses_are_refused_with_a_clear_message(recording: Recording) -> None:
    real_data_path("provider-responses")
    with pytest.raises(UsageError, match="provider error response"):
        read(recording)


# Checked by hand against the raw recordings: (buckets in INPUT+OUTPUT order, input_total,
# output_total, server_tools, tool-use names, finish_reason, adapter/provider).
PINNED: dict[
    str, tuple[tuple[int | None, ...], int | None, int | None, dict[str, int], list[str], str, str]
] = {
    # prompt 14, completion 37, only reasoning details: input split unknown, visible = 37 - 0
    "chat_completions_recorded.jsonl#0": (
        (None, None, 0, 0, 37, 0),
        14,
        37,
        {},
        [],
        "stop",
        "openai.chat/openai",
    ),
    # two tool calls in one message
    "chat_completions_recorded.jsonl#10": (
        (None, None, 0, 0, 60, 0),
        149,
        60,
        {},
        ["GetWeatherArgs", "get_stock_price"],
        "tool_calls",
        "openai.chat/openai",
    ),
    "responses_recorded.jsonl#0": (
        (14, 0, 0, 0, 50, 0),
        14,
        50,
        {},
        [],
        "completed",
        "openai.responses/openai",
    ),
    # streamed: usage in the final chunk with choices []
    "test_parse_pydantic_model.jsonl#0": (
        (None, None, 0, 0, 14, 0),
        79,
        14,
        {},
        [],
        "stop",
        "openai.chat/openai",
    ),
    # o3-mini: 87 completion of which 64 reasoning
    "models__test_openai__test_max_completion_tokens_o3-mini.yaml#0": (
        (7, 0, 0, 0, 23, 64),
        7,
        87,
        {},
        [],
        "stop",
        "openai.chat/openai",
    ),
    # 4020 prompt = 8 uncached + 4012 written; then 8 uncached + 4012 read
    "models__test_openai_prompt_cache__test_openai_chat_prompt_cache_e2e.yaml#0": (
        (8, 0, 4012, 0, 4, 0),
        4020,
        4,
        {},
        [],
        "stop",
        "openai.chat/openai",
    ),
    "models__test_openai_prompt_cache__test_openai_responses_prompt_cache_e2e.yaml#1": (
        (8, 4012, 0, 0, 5, 0),
        4020,
        5,
        {},
        [],
        "completed",
        "openai.responses/openai",
    ),
    # 115886 in with 92160 cached; 1720 out with 1472 reasoning; six hosted searches
    "models__test_openai_responses__test_openai_responses_model_builtin_tools_web_search.yaml#0": (
        (23726, 92160, 0, 0, 248, 1472),
        115886,
        1720,
        {"web_searches": 6},
        ["web_search"] * 6,
        "completed",
        "openai.responses/openai",
    ),
    # Groq (OpenAI-compatible): 96 completion with 59 reasoning, 256 of 336 prompt cached
    "models__test_groq__test_tool_use_failed_error.yaml#2": (
        (80, 256, 0, 0, 37, 59),
        336,
        96,
        {},
        [],
        "stop",
        "openai.chat/groq",
    ),
    # Anthropic: 3 uncached + 1111 read + 418 written (5m)
    "models__test_anthropic__test_anthropic_cache_real_api.yaml#1": (
        (3, 1111, 418, 0, 33, 0),
        1532,
        33,
        {},
        [],
        "end_turn",
        "anthropic.messages/anthropic",
    ),
    # thinking blocks, no thinking count: output split unknown
    "models__test_anthropic__test_anthropic_model_thinking_part.yaml#0": (
        (43, 0, 0, 0, None, None),
        43,
        321,
        {},
        [],
        "end_turn",
        "anthropic.messages/anthropic",
    ),
    # one hosted web search
    "test_runners__test_server_side_tool__32da0815.json#0": (
        (11306, 0, 0, 0, 163, 0),
        11306,
        163,
        {"web_searches": 1},
        ["web_search"],
        "end_turn",
        "anthropic.messages/anthropic",
    ),
    # SSE: message_start says 656 in / 26 out, message_delta the final 74 out
    "test_runners__test_streaming_call_sync__771c64ff.json#0": (
        (656, 0, 0, 0, 74, 0),
        656,
        74,
        {},
        ["get_weather"],
        "tool_use",
        "anthropic.messages/anthropic",
    ),
    # SSE with a server-side web fetch: input grows from 899 (start) to 7244 (delta)
    "models__test_anthropic__test_anthropic_web_fetch_tool_stream.yaml#0": (
        (7244, 0, 0, 0, None, None),
        7244,
        153,
        {"web_fetches": 1},
        ["web_fetch"],
        "end_turn",
        "anthropic.messages/anthropic",
    ),
    # thinking_tokens 67 of 106 output
    "fixtures__fable-fallback__stream-a-refusal.jsonl#0": (
        (28, 0, 0, 0, 39, 67),
        28,
        106,
        {},
        [],
        "refusal",
        "anthropic.messages/anthropic",
    ),
    # Gemini: 17 prompt + 119 tool-use prompt; 201 candidates + 213 thoughts; total 550
    "models__test_google__test_google_model_web_search_tool.yaml#0": (
        (136, 0, 0, 0, 201, 213),
        136,
        414,
        {"web_searches": 1},
        ["google_search"],
        "STOP",
        "gemini.generate_content/google",
    ),
    # Gemini stream: usage grows 31 -> 79 -> 80 candidates; the last wins (total 133)
    "models__test_google__test_google_stream_usage_is_live_mid_stream.yaml#0": (
        (18, 0, 0, 0, 80, 35),
        18,
        115,
        {},
        [],
        "STOP",
        "gemini.generate_content/google",
    ),
}


@pytest.mark.parametrize("source", sorted(PINNED))
def test_hand_checked_values(source: str) -> None:
    real_data_path("provider-responses")
    buckets, input_total, output_total, tools, names, finish, who = PINNED[source]
    e = read(by_source(source))
    assert tuple(e.usage.buckets().values()) == buckets
    assert (e.usage.input_total, e.usage.output_total) == (input_total, output_total)
    assert dict(e.usage.server_tools) == tools
    assert [t.name for t in e.tool_uses] == names
    assert e.finish_reason == finish
    assert f"{e.adapter}/{e.provider}" == who
