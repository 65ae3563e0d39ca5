from __future__ import annotations

import json
from decimal import Decimal

from tokenomy.schema import Quality, ToolUse
from tokenomy.usage import args_hash, decode_otlp_attributes, from_otel


def test_current_conventions_are_inclusive() -> None:
    e = from_otel(
        {
            "gen_ai.provider.name": "gcp.vertex_ai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.response.model": "gemini-2.5-pro-001",
            "gen_ai.response.id": "r1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.cache_creation.input_tokens": 10,
            "gen_ai.usage.output_tokens": 60,
            "gen_ai.usage.reasoning.output_tokens": 25,
            "gen_ai.usage.total_tokens": 160,
            "openai.response.service_tier": "default",
        }
    )
    assert e.usage.buckets() == {
        "input_uncached": 70,
        "cache_read": 20,
        "cache_write_5m": 10,
        "cache_write_1h": 0,
        "output_visible": 35,
        "reasoning": 25,
    }
    assert e.usage.total == 160
    assert e.usage.ok
    assert (e.provider, e.api, e.adapter) == ("google", "chat", "otel")
    assert (e.response_model, e.response_id, e.finish_reason, e.service_tier) == (
        "gemini-2.5-pro-001",
        "r1",
        "stop",
        "default",
    )
    assert e.extra == {"request_model": "gemini-2.5-pro", "operation": "chat"}


def test_deprecated_names() -> None:
    e = from_otel(
        {
            "gen_ai.system": "az.ai.openai",
            "gen_ai.usage.prompt_tokens": 14,
            "gen_ai.usage.completion_tokens": 173,
        }
    )
    assert (e.provider, e.usage.input_total, e.usage.output_total) == ("azure", 14, 173)


def test_absent_cache_and_reasoning_leave_the_split_unknown() -> None:
    u = from_otel({"gen_ai.usage.input_tokens": 14, "gen_ai.usage.output_tokens": 96}).usage
    assert (u.input_total, u.input_uncached, u.cache_read, u.cache_write_5m) == (14, None, None, None)
    assert (u.output_total, u.output_visible, u.reasoning) == (96, None, None)


def test_first_spelling_wins_even_when_zero() -> None:
    u = from_otel(
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.cache_read_input_tokens": 20,
        }
    ).usage
    assert u.cache_read == 0


def test_impossible_parts_are_recorded_and_flagged() -> None:
    u = from_otel(
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 90,
            "gen_ai.usage.cache_creation.input_tokens": 30,
            "llm.token_count.completion": 50,
            "llm.token_count.completion_details.reasoning": 60,
        }
    ).usage
    assert (u.input_uncached, u.output_visible) == (-20, -10)
    assert {Quality.CACHE_EXCEEDS_INPUT, Quality.REASONING_EXCEEDS_OUTPUT, Quality.NEGATIVE} <= set(u.quality)


def test_openinference_traceloop_and_vercel_names() -> None:
    openinference = from_otel(
        {
            "llm.system": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.token_count.prompt": 50000,
            "llm.token_count.completion": 200,
            "llm.token_count.prompt_details.cache_read": 40000,
            "llm.token_count.prompt_details.cache_write": 5000,
        }
    )
    assert (
        openinference.provider,
        openinference.usage.input_uncached,
        openinference.usage.cache_write_5m,
    ) == (
        "anthropic",
        5000,
        5000,
    )
    traceloop = from_otel(
        {
            "gen_ai.system": "OpenAI",
            "gen_ai.usage.prompt_tokens": 14,
            "gen_ai.usage.completion_tokens": 173,
            "gen_ai.usage.cache_read_input_tokens": 4,
            "gen_ai.usage.cache_creation_input_tokens": 0,
            "gen_ai.usage.reasoning_tokens": 3,
            "llm.usage.total_tokens": 187,
        }
    )
    assert traceloop.usage.buckets() == {
        "input_uncached": 10,
        "cache_read": 4,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 170,
        "reasoning": 3,
    }
    vercel = from_otel(
        {
            "ai.model.provider": "openai.chat",
            "ai.model.id": "gpt-4.1-mini",
            "ai.usage.inputTokens": "30",
            "ai.usage.outputTokens": "8",
            "ai.usage.cachedInputTokens": "10",
            "ai.usage.reasoningTokens": "0",
        }
    )
    assert (vercel.provider, vercel.usage.cache_read, vercel.usage.output_visible) == ("openai", 10, 8)
    assert vercel.extra["request_model"] == "gpt-4.1-mini"


def test_provider_usage_in_vercel_metadata_wins_and_both_sdk_conventions_agree() -> None:
    anthropic = {
        "input_tokens": 7,
        "cache_creation_input_tokens": 2089,
        "cache_read_input_tokens": 16399,
        "cache_creation": {"ephemeral_5m_input_tokens": 2089, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 445,
    }
    metadata = json.dumps({"anthropic": {"usage": anthropic}})
    for summary_input in (18495, 7):  # inclusive (current SDK) or the raw exclusive count (older SDK)
        attrs = {
            "gen_ai.usage.input_tokens": summary_input,
            "gen_ai.usage.output_tokens": 445,
            "ai.response.providerMetadata": metadata,
        }
        u = from_otel(attrs).usage
        assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.input_total) == (7, 16399, 2089, 18495)
        assert u.ok
    disagree = from_otel({"gen_ai.usage.input_tokens": 500, "ai.response.providerMetadata": metadata}).usage
    assert disagree.quality == (Quality.TOTAL_MISMATCH,)


def test_incomplete_provider_metadata_is_ignored() -> None:
    metadata = json.dumps({"bedrock": {"usage": {"cacheReadInputTokens": 5000}}})
    u = from_otel({"gen_ai.usage.input_tokens": 100, "ai.response.providerMetadata": metadata}).usage
    assert (u.input_total, u.cache_read) == (100, None)


def test_output_messages_give_text_and_tool_calls() -> None:
    messages = [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "id": "c", "name": "get_weather", "arguments": {"city": "Paris"}},
                {
                    "type": "server_tool_call",
                    "name": "web_search",
                    "server_tool_call": {"type": "web_search"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    e = from_otel({"gen_ai.output.messages": json.dumps(messages)})
    assert e.completion_text == "Checking."
    assert e.tool_uses == (
        ToolUse("get_weather", args_hash({"city": "Paris"})),
        ToolUse("web_search", args_hash({"type": "web_search"}), server=True),
    )


def test_indexed_completion_attributes() -> None:
    e = from_otel(
        {
            "gen_ai.completion.0.content": "Sure.",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.name": "search",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"q": "x"}',
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}",
        }
    )
    assert e.completion_text == "Sure."
    assert e.finish_reason == "tool_calls"
    assert e.tool_uses == (ToolUse("search", args_hash({"q": "x"})), ToolUse("lookup", args_hash({})))


def test_openlit_cost_is_the_instrumentation_estimate_not_the_provider_figure() -> None:
    e = from_otel({"gen_ai.system": "openai", "gen_ai.usage.cost": 0.000151, "gen_ai.completion": "LLM text"})
    assert e.provider_reported_cost is None
    assert e.extra["instrumentation_cost"] == Decimal("0.000151")
    assert e.completion_text == "LLM text"


def test_provider_falls_back_to_a_routed_model_name_then_unknown() -> None:
    assert from_otel({"gen_ai.request.model": "anthropic/claude-sonnet-4"}).provider == "anthropic"
    assert from_otel({"gen_ai.usage.input_tokens": 1}).provider == "unknown"


def test_decode_otlp_attributes() -> None:
    kvs = [
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "174"}},
        {
            "key": "gen_ai.response.finish_reasons",
            "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
        },
        {"key": "llm.is_streaming", "value": {"boolValue": False}},
        {"key": "x", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"doubleValue": 1.5}}]}}},
        {"key": "empty", "value": {}},
        {"value": {"intValue": 1}},
    ]
    attrs = decode_otlp_attributes(kvs)
    assert attrs == {
        "gen_ai.usage.input_tokens": 174,
        "gen_ai.response.finish_reasons": ["stop"],
        "llm.is_streaming": False,
        "x": {"a": 1.5},
        "empty": None,
    }
    e = from_otel(attrs)
    assert (e.usage.input_total, e.finish_reason, e.extra["streamed"]) == (174, "stop", False)


def test_vercel_tool_calls_and_odd_values() -> None:
    calls = [{"toolCallType": "function", "toolName": "lookup", "input": '{"id": 3}'}, "junk"]
    e = from_otel(
        {
            "ai.response.toolCalls": json.dumps(calls),
            "gen_ai.output.messages": "not json",
            "ai.usage.inputTokens": 12.0,
            "ai.usage.outputTokens": 1.5,
            "ai.response.providerMetadata": json.dumps({"openai": {"cachedPromptTokens": 3}, "x": 1}),
        }
    )
    assert e.tool_uses == (ToolUse("lookup", args_hash({"id": 3})),)
    assert (e.usage.input_total, e.usage.output_total) == (12, None)


def test_output_messages_skip_what_is_not_a_message_or_part() -> None:
    messages = [
        "junk",
        {"role": "assistant", "content": "plain", "parts": ["junk", {"type": "text", "content": "x"}]},
    ]
    assert from_otel({"gen_ai.output.messages": messages}).completion_text == "plainx"
