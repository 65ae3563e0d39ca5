"""Gemini usage in the other shapes it is logged in: Python SDK dumps (snake_case names) and the
Live API's messages (``responseTokenCount``), as bodies, streams and OTel spans."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS, Quality
from tokenomy.usage import accumulate, args_hash, detect, extract, from_otel


def buckets(*values: int | None) -> dict[str, int | None]:
    return dict(zip(BUCKETS, values, strict=True))


def sdk_dump(meta: dict[str, Any] | None, parts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``GenerateContentResponse`` as google-genai's ``model_dump(mode="json")`` writes it: Python
    names, and None for every field left unset."""
    cand = {
        "content": {"role": "model", "parts": parts or [{"text": "ok", "thought": None}]},
        "finish_reason": "STOP",
        "index": 0,
        "grounding_metadata": None,
    }
    return {
        "sdk_http_response": None,
        "candidates": [cand],
        "create_time": "2025-09-01T00:00:00Z",
        "model_version": "gemini-2.5-pro",
        "prompt_feedback": None,
        "response_id": "Zq2HaO2cB_Wm1dkP9Ku6sQ8",
        "usage_metadata": meta,
        "automatic_function_calling_history": [],
        "parsed": None,
    }


def test_an_sdk_dump_is_read_with_its_snake_case_names_and_priced() -> None:
    body = sdk_dump(
        {
            "prompt_token_count": 10_000,  # includes the 6,000 cached
            "cached_content_token_count": 6_000,
            "tool_use_prompt_token_count": 500,  # on top of the prompt
            "candidates_token_count": 600,
            "thoughts_token_count": 1_000,  # on top of the candidates
            "total_token_count": 12_100,
            "cache_tokens_details": None,
            "traffic_type": None,
        }
    )
    assert detect(body) == "gemini.generate_content"
    e = extract(body)
    # uncached 10,000 + 500 - 6,000; total 10,500 in + 1,600 out = 12,100: no mismatch
    assert e.usage.buckets() == buckets(4_500, 6_000, 0, 0, 600, 1_000)
    assert e.usage.quality == ()
    assert (e.response_model, e.response_id, e.finish_reason) == (
        "gemini-2.5-pro",
        "Zq2HaO2cB_Wm1dkP9Ku6sQ8",
        "STOP",
    )
    assert e.created_at == datetime(2025, 9, 1, tzinfo=UTC)
    assert e.completion_text == "ok"
    cost = Pricer().price_usage(e.usage, model="gemini-2.5-pro", provider="google", at=date(2025, 9, 1))
    # $1.25/M uncached, $0.125/M cache reads, $10/M output and thoughts (prompts up to 200k)
    assert cost.total == Decimal("0.022375")
    assert cost.reason is None


def test_an_sdk_dump_s_modalities_and_tools_are_read_and_the_arguments_kept_as_written() -> None:
    meta = {
        "prompt_token_count": 1_200,
        "candidates_token_count": 50,
        "total_token_count": 1_250,
        "prompt_tokens_details": [
            {"modality": "TEXT", "token_count": 400},
            {"modality": "AUDIO", "token_count": 800},
        ],
        "candidates_tokens_details": [{"modality": "TEXT", "token_count": 50}],
    }
    args = {"user_id": 7, "city_name": "Paris"}  # the caller's names: not API fields
    parts = [{"text": None, "function_call": {"id": None, "name": "get_weather", "args": args}}]
    body = sdk_dump(meta, parts)
    body["candidates"][0]["grounding_metadata"] = {"web_search_queries": ["paris weather", "paris forecast"]}
    e = extract(body)
    assert e.usage.buckets() == buckets(1_200, 0, 0, 0, 50, 0)
    assert e.usage.modalities == {"input_uncached.audio": 800}
    # Gemini 2.x bills search grounding once per grounded prompt, each query a tool use
    assert e.usage.server_tools == {"web_searches": 1}
    assert [(t.name, t.server) for t in e.tool_uses] == [
        ("get_weather", False),
        ("google_search", True),
        ("google_search", True),
    ]
    assert e.tool_uses[0].args_hash == args_hash(args)


def test_a_dump_s_usage_metadata_alone_is_gemini_but_langchain_s_is_not() -> None:
    only_usage = {"usage_metadata": {"prompt_token_count": 30, "candidates_token_count": 5}}
    assert detect(only_usage) == "gemini.generate_content"
    assert extract(only_usage).usage.buckets() == buckets(30, 0, 0, 0, 5, 0)
    langchain = {"content": "hi", "type": "ai", "usage_metadata": {"input_tokens": 3, "output_tokens": 1}}
    assert detect(langchain) != "gemini.generate_content"


def test_the_api_s_own_name_wins_over_a_dump_s_spelling_of_it() -> None:
    body = {
        "usageMetadata": {"promptTokenCount": 100, "prompt_token_count": 999, "candidates_token_count": 7}
    }
    assert extract(body).usage.buckets() == buckets(100, 0, 0, 0, 7, 0)


def test_an_sdk_dump_stream_keeps_the_last_growing_counts() -> None:
    def chunk(text: str, meta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        cand = {"content": {"role": "model", "parts": [{"text": text}]}, "finish_reason": finish}
        return {"candidates": [cand], "usage_metadata": meta, "model_version": "gemini-2.5-flash"}

    prompt_only = {
        "prompt_token_count": 8_000,
        "cached_content_token_count": 4_000,
        "total_token_count": 8_000,
    }
    running = {
        **prompt_only,
        "candidates_token_count": 50,
        "thoughts_token_count": 300,
        "total_token_count": 8_350,
    }
    last = {**running, "candidates_token_count": 120, "total_token_count": 8_420}
    events = [chunk("Hel", prompt_only), chunk("lo", running), chunk("!", last, "STOP")]
    e = accumulate(events)
    assert e.usage.buckets() == buckets(4_000, 4_000, 0, 0, 120, 300)
    assert (e.usage.quality, e.finish_reason, e.completion_text) == ((), "STOP", "Hello!")
    assert e.response_model == "gemini-2.5-flash"
    assert e.extra["complete"] is True
    # cut after the chunk that counted only the prompt: the output is unknown, not 0
    cut = accumulate(events[:1], kind="gemini")
    assert cut.usage.buckets() == buckets(4_000, 4_000, 0, 0, None, None)
    assert cut.extra["complete"] is False


LIVE = {
    "serverContent": {"turnComplete": True},
    "usageMetadata": {
        "promptTokenCount": 5_000,
        "responseTokenCount": 800,
        "totalTokenCount": 5_800,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 1_000},
            {"modality": "AUDIO", "tokenCount": 4_000},
        ],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 800}],
    },
}


def test_a_live_api_message_s_response_count_is_the_output_and_priced() -> None:
    e = extract(LIVE)
    assert e.usage.buckets() == buckets(5_000, 0, 0, 0, 800, 0)
    assert e.usage.quality == ()  # 5,000 + 800 = totalTokenCount
    assert e.usage.modalities == {"input_uncached.audio": 4_000, "output_visible.audio": 800}
    model = "gemini-live-2.5-flash-preview"
    cost = Pricer().price_usage(e.usage, model=model, provider="google", at=date(2025, 9, 1))
    # text in 1,000 x $0.50/M + audio in 4,000 x $3/M + audio out 800 x $12/M
    assert cost.total == Decimal("0.0221")


def test_a_live_api_stream_and_an_sdk_dump_of_it_keep_the_response_count() -> None:
    setup: dict[str, Any] = {"setupComplete": {}}
    speaking = {"serverContent": {"modelTurn": {"parts": [{"text": "Bonjour"}]}}}
    e = accumulate([setup, speaking, LIVE], kind="gemini")
    assert e.usage.buckets() == buckets(5_000, 0, 0, 0, 800, 0)
    assert e.usage.quality == ()
    dumped = {
        "server_content": {"turn_complete": True},
        "usage_metadata": {
            "prompt_token_count": 5_000,
            "response_token_count": 800,
            "total_token_count": 5_800,
            "response_tokens_details": [{"modality": "AUDIO", "token_count": 800}],
        },
    }
    assert detect(dumped) == "gemini.generate_content"
    found = accumulate([dumped]).usage
    assert found.buckets() == buckets(5_000, 0, 0, 0, 800, 0)
    assert found.modalities == {"output_visible.audio": 800}


def test_an_adk_span_of_a_live_answer_reads_its_response_count() -> None:
    answer = {
        "usage_metadata": {
            "prompt_token_count": 1_000,
            "response_token_count": 80,
            "total_token_count": 1_080,
        }
    }
    usage = from_otel(
        {
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.usage.input_tokens": 1_000,
            "gen_ai.usage.output_tokens": 80,
            "gcp.vertex.agent.llm_response": json.dumps(answer),
        }
    ).usage
    assert usage.buckets() == buckets(1_000, 0, 0, 0, 80, 0)
    assert Quality.TOTAL_MISMATCH not in usage.quality
