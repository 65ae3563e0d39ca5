from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenomy.schema import Quality, ToolUse
from tokenomy.usage import accumulate, args_hash, extract, stream_accumulator
from tokenomy.usage.openai_chat import chat_usage


def body(usage: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1727346142,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}
        ],
    }
    if usage is not None:
        out["usage"] = usage
    out.update(fields)
    return out


def test_without_details_input_split_and_output_split_are_unknown() -> None:
    e = extract(body({"prompt_tokens": 14, "completion_tokens": 37, "total_tokens": 51}))
    u = e.usage
    assert (u.input_total, u.input_uncached, u.cache_read) == (14, None, None)
    assert (u.cache_write_5m, u.cache_write_1h) == (0, 0)
    assert (u.output_total, u.output_visible, u.reasoning) == (37, None, None)
    assert u.ok
    assert (e.provider, e.api, e.adapter) == ("openai", "chat", "openai.chat")
    assert (e.response_model, e.response_id, e.finish_reason) == ("gpt-4o-2024-08-06", "chatcmpl-1", "stop")
    assert e.created_at == datetime(2024, 9, 26, 10, 22, 22, tzinfo=UTC)
    assert e.completion_text == "Hi there"


def test_details_split_inclusive_counts() -> None:
    u = chat_usage(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
        }
    )
    assert u.buckets() == {
        "input_uncached": 86,
        "cache_read": 1920,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 44,
        "reasoning": 256,
    }
    assert (u.input_total, u.output_total, u.total) == (2006, 300, 2306)


def test_reported_cache_writes_are_5m_writes_inside_prompt_tokens() -> None:
    u = chat_usage(
        {
            "prompt_tokens": 4020,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012},
        }
    )
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.cache_write_1h) == (8, 0, 4012, 0)


def test_cached_above_prompt_is_recorded_and_flagged_not_clamped() -> None:
    u = chat_usage(
        {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 12}}
    )
    assert (u.input_uncached, u.cache_read, u.input_total) == (-2, 12, 10)
    assert Quality.CACHE_EXCEEDS_INPUT in u.quality
    assert Quality.NEGATIVE in u.quality


def test_reasoning_above_completion_is_flagged() -> None:
    u = chat_usage(
        {"prompt_tokens": 1, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 9}}
    )
    assert (u.output_visible, u.reasoning, u.output_total) == (-4, 9, 5)
    assert Quality.REASONING_EXCEEDS_OUTPUT in u.quality


def test_total_that_counts_hidden_tokens_is_flagged() -> None:
    # Gemini's OpenAI-compatible endpoint counts thinking only in total_tokens.
    u = chat_usage({"prompt_tokens": 35, "completion_tokens": 12, "total_tokens": 109})
    assert (u.input_total, u.output_total) == (35, 12)
    assert u.quality == (Quality.TOTAL_MISMATCH,)


XAI_USAGE = {  # the shape xAI documents: the reasoning is counted on top of completion_tokens
    "prompt_tokens": 32,
    "completion_tokens": 9,
    "total_tokens": 135,
    "prompt_tokens_details": {"text_tokens": 32, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 6},
    "completion_tokens_details": {"reasoning_tokens": 94, "audio_tokens": 0},
    "num_sources_used": 0,
}


def test_reasoning_on_top_of_the_completion_count_is_read_so_when_the_total_says_so() -> None:
    u = extract(body(XAI_USAGE, model="grok-3-mini")).usage
    assert (u.input_uncached, u.cache_read, u.input_total) == (26, 6, 32)
    assert (u.output_visible, u.reasoning, u.output_total, u.total) == (9, 94, 103, 135)
    assert u.quality == ()


def test_the_same_numbers_read_openai_s_way_when_the_total_is_prompt_plus_completion() -> None:
    u = chat_usage({**XAI_USAGE, "completion_tokens": 103, "total_tokens": 135})
    assert (u.output_visible, u.reasoning, u.output_total, u.quality) == (9, 94, 103, ())


def test_a_total_that_matches_neither_convention_is_flagged_as_before() -> None:
    u = chat_usage({**XAI_USAGE, "total_tokens": 140})
    assert (u.output_visible, u.reasoning, u.output_total) == (-85, 94, 9)
    assert set(u.quality) == {Quality.NEGATIVE, Quality.REASONING_EXCEEDS_OUTPUT, Quality.TOTAL_MISMATCH}


def test_a_streamed_answer_with_reasoning_on_top_reads_the_same() -> None:
    chunks = [
        {
            "id": "x1",
            "object": "chat.completion.chunk",
            "model": "grok-3-mini",
            "created": 1,
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
        },
        {
            "id": "x1",
            "object": "chat.completion.chunk",
            "model": "grok-3-mini",
            "created": 1,
            "choices": [],
            "usage": XAI_USAGE,
        },
    ]
    found = accumulate(chunks, kind="openai.chat")
    assert (found.usage.output_visible, found.usage.reasoning, found.usage.quality) == (9, 94, ())


def test_unknown_fields_and_non_integer_counts_are_ignored() -> None:
    u = chat_usage(
        {
            "prompt_tokens": 70,
            "completion_tokens": 12.0,
            "num_cached_tokens": 69,
            "queue_time": 0.01,
            "prompt_tokens_details": {"cached_tokens": "7.5"},
        }
    )
    assert (u.input_total, u.cache_read, u.input_uncached, u.output_total) == (70, None, None, 12)
    # digits written as a string are a count (protobuf's JSON mapping writes int64 so)
    written = chat_usage(
        {"prompt_tokens": "70", "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": "7"}}
    )
    assert (written.input_total, written.cache_read, written.input_uncached) == (70, 7, 63)


def test_missing_usage_is_all_unknown() -> None:
    e = extract(body())
    assert e.usage.total is None
    assert e.usage.buckets() == dict.fromkeys(e.usage.buckets())


def test_tool_calls_are_hashed_and_arguments_dropped() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"SF"}'},
            },
            {"id": "b", "type": "custom", "custom": {"name": "shell", "input": "ls -la"}},
        ],
        "function_call": {"name": "legacy", "arguments": "{}"},
    }
    e = extract(body(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}]))
    assert e.tool_uses == (
        ToolUse("get_weather", args_hash({"city": "SF"})),
        ToolUse("shell", args_hash("ls -la")),
        ToolUse("legacy", args_hash({})),
    )
    assert e.completion_text is None


def test_multiple_choices_join_text_in_index_order() -> None:
    choices = [
        {"index": 1, "message": {"content": "second"}, "finish_reason": "length"},
        {"index": 0, "message": {"content": None, "refusal": "I can't"}, "finish_reason": "stop"},
    ]
    e = extract(body(choices=choices))
    assert e.completion_text == "I can't\nsecond"
    assert e.finish_reason == "stop"


def test_legacy_completion_and_groq_marker() -> None:
    legacy = {"object": "text_completion", "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}
    e = extract({**legacy, "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
    assert (e.api, e.completion_text, e.usage.input_total) == ("completions", "ok", 3)
    groq = extract(body({"prompt_tokens": 5, "completion_tokens": 1}, x_groq={"id": "req_1"}))
    assert groq.provider == "groq"


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
    }
    out["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    out.update(fields)
    return out


STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(
        {
            "tool_calls": [
                {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
    chunk({}, "tool_calls"),
    chunk(
        None, usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}, service_tier="default"
    ),
]


def test_stream_takes_usage_from_the_final_chunk() -> None:
    e = accumulate(STREAM, kind="openai.chat")
    assert (e.usage.input_total, e.usage.output_total) == (9, 4)
    assert e.completion_text == "Hello"
    assert e.tool_uses == (ToolUse("f", args_hash({"x": 1})),)
    assert (e.finish_reason, e.service_tier, e.response_id) == ("tool_calls", "default", "chatcmpl-2")
    assert e.extra == {"streamed": True, "complete": True, "events": 8, "odd_events": 0}


def test_stream_without_include_usage_has_unknown_usage() -> None:
    e = accumulate(STREAM[:-1], kind="openai.chat")
    assert e.usage.input_total is None
    assert e.usage.output_total is None
    assert e.extra["complete"] is False
    assert e.completion_text == "Hello"


def test_stream_cut_inside_tool_arguments_hashes_what_arrived() -> None:
    e = accumulate(STREAM[:5], kind="openai.chat")
    assert e.tool_uses == (ToolUse("f", args_hash('{"x":')),)
    assert e.finish_reason is None


def test_groq_stream_usage_under_x_groq() -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
    e = accumulate([chunk({"content": "ok"}), chunk({}, "stop", x_groq={"id": "r", "usage": usage})])
    assert (e.provider, e.usage.input_total, e.usage.output_total) == ("groq", 20, 3)


def test_odd_chunks_are_counted_not_raised() -> None:
    acc = stream_accumulator("openai.chat")
    for event in [
        chunk({"content": "a"}),
        {"choices": "nope"},
        {"choices": [{"delta": {"tool_calls": [{"index": "x", "function": {"name": 3}}]}}]},
        {"usage": [1]},
        chunk({"content": "b"}),
    ]:
        acc.feed(event)
    result = acc.result()
    assert result is not None
    assert result.completion_text == "ab"


def test_compatible_server_quirks_in_bodies() -> None:
    message = {"content": [{"type": "text", "text": "part one, "}, {"type": "text", "text": "part two"}]}
    e = extract(body(choices=[{"index": 0, "message": message, "finish_reason": "stop"}]))
    assert e.completion_text == "part one, part two"


def test_stream_of_custom_tools_parsed_arguments_and_legacy_function_calls() -> None:
    events: list[dict[str, Any]] = [
        chunk({"tool_calls": [{"index": 0, "type": "custom", "custom": {"name": "shell", "input": "ls "}}]}),
        chunk({"tool_calls": [{"index": 0, "custom": {"input": "-la"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "f", "arguments": {"b": 1, "a": 2}}}]}),
        chunk({"function_call": {"name": "legacy", "arguments": "{}"}}),
        chunk({}, "tool_calls"),
    ]
    e = accumulate(events, kind="openai.chat")
    assert e.tool_uses == (
        ToolUse("shell", args_hash("ls -la")),
        ToolUse("f", args_hash({"a": 2, "b": 1})),
        ToolUse("legacy", args_hash({})),
    )


def test_streamed_legacy_completion() -> None:
    head = {"id": "cmpl-1", "object": "text_completion", "model": "gpt-3.5-turbo-instruct"}
    events: list[dict[str, Any]] = [
        {**head, "choices": [{"index": 0, "text": "Hel", "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "text": "lo", "finish_reason": "length"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}},
    ]
    e = accumulate(events)
    assert (e.api, e.completion_text, e.finish_reason, e.usage.output_total) == (
        "completions",
        "Hello",
        "length",
        2,
    )
