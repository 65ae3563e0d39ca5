"""Spans as real instrumentations write them, beyond the conventions' own names: the Vercel AI SDK
(v4 and v5), Google ADK and Pydantic AI. Each span below is written by hand in the shape its
instrumentation emits; the buckets are worked out from its counts."""

from __future__ import annotations

import json

import pytest

from tokenomy.providers import canonical
from tokenomy.schema import Quality
from tokenomy.usage import from_otel


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("openai.chat", "openai"),
        ("openai.responses", "openai"),
        ("anthropic.messages", "anthropic"),
        ("xai.chat", "x-ai"),
        ("google.vertex.chat", "google"),
        ("google.generative-ai", "google"),
        ("azure-openai.chat", "azure"),
        ("togetherai.chat", "together"),
        ("mistral.chat", "mistral"),
        ("vertex.anthropic.messages", "google"),
        ("ibm.watsonx.ai", "ibm"),  # a dotted alias of its own wins over its first part
        ("acme.chat", "acme.chat"),  # an unknown name is kept whole
    ],
)
def test_the_vercel_ai_sdk_s_gen_ai_system_names_its_provider(system: str, expected: str) -> None:
    assert canonical(system) == expected
    extracted = from_otel({"gen_ai.system": system, "ai.model.provider": system, "gen_ai.request.model": "m"})
    assert extracted.provider == expected


def test_reasoning_on_top_of_the_output_is_read_from_the_total() -> None:
    # the AI SDK v4/v5 with Gemini: outputTokens is the visible answer; 26 + 50 + 1,544 = 1,620
    usage = from_otel(
        {
            "ai.usage.inputTokens": 26,
            "ai.usage.outputTokens": 50,
            "ai.usage.reasoningTokens": 1544,
            "ai.usage.totalTokens": 1620,
        }
    ).usage
    assert (usage.output_visible, usage.reasoning, usage.output_total) == (50, 1544, 1594)
    assert usage.quality == ()
    # the conventions' reading when the total says so: reasoning inside the output (26 + 1,594)
    inside = from_otel(
        {
            "ai.usage.inputTokens": 26,
            "ai.usage.outputTokens": 1594,
            "ai.usage.reasoningTokens": 1544,
            "ai.usage.totalTokens": 1620,
        }
    ).usage
    assert (inside.output_visible, inside.reasoning, inside.output_total) == (50, 1544, 1594)


def test_the_ai_sdk_v4_anthropic_cache_counts_in_provider_metadata() -> None:
    metadata = {"anthropic": {"cacheCreationInputTokens": 2000, "cacheReadInputTokens": 300}}
    usage = from_otel(
        {
            "ai.model.provider": "anthropic.messages",
            "ai.usage.promptTokens": 10,  # Anthropic's input_tokens: the uncached part
            "ai.usage.completionTokens": 100,
            "ai.response.providerMetadata": json.dumps(metadata),
        }
    ).usage
    assert (usage.input_uncached, usage.cache_read, usage.cache_write_5m, usage.input_total) == (
        10,
        300,
        2000,
        2310,
    )
    assert usage.output_total == 100
    assert usage.quality == ()


def test_the_ai_sdk_v4_openai_cached_and_reasoning_counts_in_provider_metadata() -> None:
    metadata = {"openai": {"cachedPromptTokens": 600, "reasoningTokens": 40}}
    usage = from_otel(
        {
            "ai.model.provider": "openai.chat",
            "ai.usage.promptTokens": 1000,  # OpenAI's prompt_tokens: the cache included
            "ai.usage.completionTokens": 100,
            "ai.response.providerMetadata": json.dumps(metadata),
        }
    ).usage
    assert (usage.input_uncached, usage.cache_read, usage.input_total) == (400, 600, 1000)
    assert (usage.output_visible, usage.reasoning) == (60, 40)


def test_google_adk_s_answer_gives_the_thoughts_and_the_cache() -> None:
    answer = {
        "content": {"parts": [{"text": "Hi"}], "role": "model"},
        "usage_metadata": {
            "cached_content_token_count": 600,
            "candidates_token_count": 50,
            "prompt_token_count": 1000,
            "thoughts_token_count": 400,
            "total_token_count": 1450,
        },
    }
    usage = from_otel(
        {
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 50,  # the candidates: ADK leaves the thoughts out
            "gcp.vertex.agent.llm_response": json.dumps(answer),
        }
    ).usage
    assert usage.buckets() == {
        "input_uncached": 400,
        "cache_read": 600,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 50,
        "reasoning": 400,
    }
    assert usage.quality == ()
    # counts that fit no reading of the answer are flagged, not trusted
    off = from_otel(
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 77,
            "gcp.vertex.agent.llm_response": json.dumps(answer),
        }
    ).usage
    assert Quality.TOTAL_MISMATCH in off.quality


def test_pydantic_ai_s_usage_details_give_the_cache_and_its_cost_is_kept_apart() -> None:
    extracted = from_otel(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 12010,  # the cache included
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.details.cache_read_tokens": 10000,
            "gen_ai.usage.details.cache_write_tokens": 2000,
            "gen_ai.usage.details.reasoning_tokens": 120,
            "operation.cost": 0.0141,
        }
    )
    usage = extracted.usage
    assert (usage.input_uncached, usage.cache_read, usage.cache_write_5m) == (10, 10000, 2000)
    assert (usage.output_visible, usage.reasoning) == (180, 120)
    assert str(extracted.extra["instrumentation_cost"]) == "0.0141"  # the instrumentation's estimate


def test_an_ai_sdk_v4_openai_count_it_did_not_give_stays_unknown() -> None:
    only_cache = {"openai": {"cachedPromptTokens": 600}}
    usage = from_otel(
        {
            "ai.model.provider": "openai.chat",
            "ai.usage.promptTokens": 1000,
            "ai.usage.completionTokens": 100,
            "ai.response.providerMetadata": json.dumps(only_cache),
        }
    ).usage
    assert (usage.input_uncached, usage.cache_read) == (400, 600)
    assert (usage.output_total, usage.output_visible, usage.reasoning) == (100, None, None)  # not 0
