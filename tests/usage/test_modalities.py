"""Audio, image and video tokens read into ``Usage.modalities`` by the usage adapters, by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.schema import Quality, Usage
from tokenomy.usage import accumulate, extract, from_otel, iter_json_events
from tokenomy.usage.base import split_input_modalities, with_modalities
from tokenomy.usage.gemini import modality_details


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


# -- the shared rule -------------------------------------------------------------------------


def _input(uncached: int | None, read: int = 0, w5m: int = 0, total: int | None = None) -> Usage:
    return Usage.of(
        input_uncached=uncached,
        cache_read=read,
        cache_write_5m=w5m,
        cache_write_1h=0,
        input_total=total,
        output_visible=0,
        reasoning=0,
    )


def test_rule_fills_the_uncached_input_first_then_the_cache_buckets() -> None:
    # 100 uncached, 20 read, 10 written: audio 70 fits, image 50 gets the 30 left and 20 of the reads
    assert split_input_modalities({"audio": 70, "image": 50}, _input(100, 20, 10)) == {
        "input_uncached.audio": 70,
        "input_uncached.image": 30,
        "cache_read.image": 20,
    }
    # what the reads cannot hold was written to the cache (a body with cache writes adds up)
    assert split_input_modalities({"audio": 9_000}, _input(2_000, 0, 8_000)) == {
        "input_uncached.audio": 2_000,
        "cache_write_5m.audio": 7_000,
    }
    assert split_input_modalities({"video": 40}, _input(0, 50)) == {"cache_read.video": 40}
    assert split_input_modalities({}, _input(10)) == {}


def test_an_unreported_uncached_input_holds_what_the_total_leaves_it() -> None:
    # 1,500 in all, 500 read from the cache: the uncached input is the 1,000 left, as the pricer says
    assert split_input_modalities({"audio": 1_200}, _input(None, 500, total=1_500)) == {
        "input_uncached.audio": 1_000,
        "cache_read.audio": 200,
    }
    # no total either: nothing bounds it
    assert split_input_modalities({"audio": 40}, _input(None)) == {"input_uncached.audio": 40}


def test_a_cached_split_given_by_the_provider_is_used_as_it_is() -> None:
    # the provider says 30 of the 50 image tokens were cached: the rule would have said 0
    assert split_input_modalities({"image": 50}, _input(100, 40), {"image": 30}) == {
        "input_uncached.image": 20,
        "cache_read.image": 30,
    }
    # an empty split says none was read from the cache: what the uncached input cannot hold was written
    assert split_input_modalities({"audio": 50}, _input(10, 100, 40), {}) == {
        "input_uncached.audio": 10,
        "cache_write_5m.audio": 40,
    }


def test_with_modalities_keeps_the_buckets_and_flags_a_count_above_its_bucket() -> None:
    usage = Usage.of(input_uncached=10, cache_read=5, output_visible=3, reasoning=0)
    fits = with_modalities(usage, {"input_uncached.audio": 10})
    assert (fits.buckets(), fits.modalities, fits.quality) == (
        usage.buckets(),
        {"input_uncached.audio": 10},
        (),
    )
    placed = with_modalities(usage, split_input_modalities({"audio": 15}, usage))
    assert placed.modalities == {"input_uncached.audio": 10, "cache_read.audio": 5}
    assert placed.quality == ()
    # more than the whole input: kept in the uncached bucket, and flagged
    over = with_modalities(usage, split_input_modalities({"audio": 40}, usage))
    assert over.modalities == {"input_uncached.audio": 35, "cache_read.audio": 5}
    assert over.quality == (Quality.MODALITY_EXCEEDS_BUCKET,)
    assert with_modalities(usage, {}) is usage


# -- Gemini ----------------------------------------------------------------------------------


def gemini(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
        "usageMetadata": meta,
        "modelVersion": "gemini-2.5-flash",
    }


def test_gemini_reads_every_details_list_and_counts_documents_as_images() -> None:
    meta = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 600,
        "toolUsePromptTokenCount": 50,
        "candidatesTokenCount": 1300,
        "thoughtsTokenCount": 20,
        "totalTokenCount": 2370,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 100},
            {"modality": "AUDIO", "tokenCount": 400},
            {"modality": "DOCUMENT", "tokenCount": 258},
            {"modality": "IMAGE", "tokenCount": 242},
        ],
        "cacheTokensDetails": [
            {"modality": "AUDIO", "tokenCount": 300},
            {"modality": "DOCUMENT", "tokenCount": 258},
        ],
        "toolUsePromptTokensDetails": [{"modality": "IMAGE", "tokenCount": 50}],
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 1290},
            {"modality": "TEXT", "tokenCount": 10},
        ],
    }
    usage = extract(gemini(meta)).usage
    assert (usage.input_uncached, usage.cache_read, usage.output_visible, usage.reasoning) == (
        450,
        600,
        1300,
        20,
    )
    assert usage.modalities == {
        "input_uncached.audio": 100,
        "cache_read.audio": 300,
        "input_uncached.image": 242 + 50,  # image and tool-result image; the document was all cached
        "cache_read.image": 258,
        "output_visible.image": 1290,
    }
    assert usage.ok


def test_gemini_without_cache_details_uses_the_shared_rule() -> None:
    meta = {
        "promptTokenCount": 500,
        "cachedContentTokenCount": 450,
        "candidatesTokenCount": 5,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 20},
            {"modality": "VIDEO", "tokenCount": 480},
        ],
    }
    usage = extract(gemini(meta)).usage
    assert usage.modalities == {"input_uncached.video": 50, "cache_read.video": 430}
    assert usage.ok


def test_gemini_modality_larger_than_its_bucket_is_kept_and_flagged() -> None:
    meta = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 5,
        "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 9}],
    }
    usage = extract(gemini(meta)).usage
    assert usage.modalities == {"output_visible.audio": 9}
    assert usage.quality == (Quality.MODALITY_EXCEEDS_BUCKET,)


def test_gemini_details_entries_of_one_modality_add_up_and_text_is_left_out() -> None:
    details = [
        {"modality": "IMAGE", "tokenCount": 3},
        {"modality": "DOCUMENT", "tokenCount": 4},
        {"modality": "TEXT", "tokenCount": 100},
        {"modality": "AUDIO"},
        "junk",
    ]
    assert modality_details(details) == {"image": 7}
    assert modality_details(None) == {}


def test_gemini_stream_carries_the_last_chunks_modalities() -> None:
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 300, "totalTokenCount": 300},
        "modelVersion": "gemini-2.5-flash",
    }
    last = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": 300,
            "candidatesTokenCount": 2,
            "totalTokenCount": 302,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 44},
                {"modality": "AUDIO", "tokenCount": 256},
            ],
        },
        "modelVersion": "gemini-2.5-flash",
    }
    found = accumulate(iter_json_events(sse(first, last)))
    assert (found.adapter, found.completion_text, found.usage.input_uncached) == (
        "gemini.generate_content",
        "Hello",
        300,
    )
    assert found.usage.modalities == {"input_uncached.audio": 256}
    assert (found.extra["streamed"], found.extra["complete"]) == (True, True)


# -- OpenAI chat -----------------------------------------------------------------------------


def chat(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": "gpt-4o-audio-preview",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": usage,
    }


def test_openai_chat_audio_in_and_out_with_the_rule_for_the_cache() -> None:
    usage = extract(
        chat(
            {
                "prompt_tokens": 1000,
                "completion_tokens": 300,
                "total_tokens": 1300,
                "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 500},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 250},
            }
        )
    ).usage
    assert (usage.input_uncached, usage.cache_read, usage.output_visible) == (200, 800, 300)
    # 200 uncached hold 200 of the audio; the other 300 audio tokens were cache reads
    assert usage.modalities == {
        "input_uncached.audio": 200,
        "cache_read.audio": 300,
        "output_visible.audio": 250,
    }
    assert usage.ok


def test_openai_chat_cached_split_by_modality_is_used() -> None:
    usage = extract(
        chat(
            {
                "prompt_tokens": 1000,
                "completion_tokens": 10,
                "total_tokens": 1010,
                "prompt_tokens_details": {
                    "cached_tokens": 800,
                    "audio_tokens": 500,
                    "image_tokens": 100,
                    "cached_tokens_details": {"text_tokens": 400, "audio_tokens": 400, "image_tokens": 0},
                },
            }
        )
    ).usage
    assert usage.modalities == {
        "input_uncached.audio": 100,
        "cache_read.audio": 400,
        "input_uncached.image": 100,
    }
    assert usage.ok


def test_openai_chat_audio_larger_than_the_output_is_flagged() -> None:
    usage = extract(
        chat(
            {
                "prompt_tokens": 10,
                "completion_tokens": 40,
                "total_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 30, "audio_tokens": 20},
            }
        )
    ).usage
    assert (usage.output_visible, usage.modalities) == (10, {"output_visible.audio": 20})
    assert usage.quality == (Quality.MODALITY_EXCEEDS_BUCKET,)


def test_openai_chat_stream_carries_audio_from_the_usage_chunk() -> None:
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-audio-preview"}
    events = (
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            **head,
            "choices": [],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 60,
                "total_tokens": 180,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 58},
            },
        },
    )
    found = accumulate(iter_json_events(sse(*events)))
    assert (found.adapter, found.completion_text, found.usage.input_uncached, found.usage.output_visible) == (
        "openai.chat",
        "Hi",
        120,
        60,
    )
    assert found.usage.modalities == {"input_uncached.audio": 100, "output_visible.audio": 58}
    assert (found.extra["streamed"], found.extra["complete"]) == (True, True)


def test_openrouter_chat_reads_the_video_tokens_of_its_prompt() -> None:
    body = chat(
        {
            "prompt_tokens": 270,
            "completion_tokens": 28,
            "total_tokens": 298,
            "cost": 0.000151,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "video_tokens": 258},
            "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
        }
    )
    body["provider"] = "Google"
    found = extract(body)
    assert found.adapter == "openrouter.chat"
    assert found.usage.modalities == {"input_uncached.video": 258}


# -- OpenAI Responses and Images -------------------------------------------------------------


def test_responses_input_images_and_output_image_tokens() -> None:
    body = {
        "object": "response",
        "model": "gpt-5",
        "status": "completed",
        "output": [],
        "usage": {
            "input_tokens": 900,
            "input_tokens_details": {"cached_tokens": 600, "image_tokens": 500, "text_tokens": 400},
            "output_tokens": 1200,
            "output_tokens_details": {"reasoning_tokens": 100, "image_tokens": 1056, "text_tokens": 44},
            "total_tokens": 2100,
        },
    }
    usage = extract(body).usage
    assert (usage.input_uncached, usage.cache_read, usage.output_visible, usage.reasoning) == (
        300,
        600,
        1100,
        100,
    )
    assert usage.modalities == {
        "input_uncached.image": 300,
        "cache_read.image": 200,
        "output_visible.image": 1056,
    }
    assert usage.ok


def test_images_api_input_image_tokens_and_no_guess_for_the_output() -> None:
    body: dict[str, Any] = {
        "created": 1713833628,
        "data": [{"b64_json": "..."}],
        "usage": {
            "total_tokens": 4210,
            "input_tokens": 50,
            "output_tokens": 4160,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        },
    }
    found = extract(body)
    assert found.adapter == "openai.responses"
    # no cached_tokens: the input split is unknown (as before), so the image count stays uncached
    assert (found.usage.input_uncached, found.usage.input_total, found.usage.output_total) == (None, 50, 4160)
    assert found.usage.modalities == {"input_uncached.image": 40}
    with_detail = {
        **body,
        "usage": {**body["usage"], "output_tokens_details": {"image_tokens": 4160, "text_tokens": 0}},
    }
    assert extract(with_detail).usage.modalities == {"input_uncached.image": 40, "output_visible.image": 4160}


# -- OTel ------------------------------------------------------------------------------------


def test_otel_modality_attributes_follow_the_rule() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-realtime",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_read.input_tokens": 900,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.usage.audio.input_tokens": 300,
        "gen_ai.usage.image.input_tokens": 50,
        "gen_ai.usage.output_tokens": 400,
        "gen_ai.usage.audio.output_tokens": 380,
    }
    usage = from_otel(attrs).usage
    assert (usage.input_uncached, usage.cache_read, usage.output_total) == (100, 900, 400)
    assert usage.modalities == {
        "input_uncached.audio": 100,
        "cache_read.audio": 200,
        "cache_read.image": 50,
        "output_visible.audio": 380,
    }
    assert usage.ok


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, {"input_uncached.video": 60}),  # no cache attribute: the split is unknown, all uncached
        ({"gen_ai.usage.video.input_tokens": 0}, {}),
        ({"gen_ai.usage.video.input_tokens": "many"}, {}),
    ],
)
def test_otel_modality_without_cache_and_odd_values(extra: dict[str, Any], expected: dict[str, int]) -> None:
    attrs = {
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.video.input_tokens": 60,
        "gen_ai.usage.output_tokens": 1,
    }
    usage = from_otel({**attrs, **extra}).usage
    assert (usage.input_uncached, usage.input_total, usage.modalities) == (None, 100, expected)


def test_a_body_with_cache_writes_and_audio_adds_up_and_is_priced() -> None:
    """OpenRouter counts cache writes in prompt_tokens: the audio beyond the uncached input was written."""
    from tokenomy.pricing import Pricer

    body = {
        "id": "gen-1",
        "object": "chat.completion",
        "model": "openai/gpt-audio",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 10_000,
            "completion_tokens": 10,
            "total_tokens": 10_010,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 8_000, "audio_tokens": 9_000},
        },
    }
    usage = extract(body).usage
    assert usage.quality == ()
    assert usage.modalities == {"input_uncached.audio": 2_000, "cache_write_5m.audio": 7_000}
    cost = Pricer().price_usage(usage, model="gpt-audio", provider="openai")
    assert cost.total is not None
    # gpt-audio lists no cache prices: its cache writes bill as input, the audio ones as audio input
    assert cost.parts["cache_write_5m"] == Decimal("0.2265")  # 1,000 text x $2.50/M + 7,000 audio x $32/M
