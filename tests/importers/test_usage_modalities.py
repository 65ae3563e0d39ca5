"""Audio, image and video tokens in Langfuse usage details and LiteLLM usage objects."""

from __future__ import annotations

from typing import Any

import pytest

from tokenomy.importers.langfuse_usage import langfuse_usage
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.schema import Quality


def test_langfuse_modality_keys_are_exclusive_parts_of_their_buckets() -> None:
    usage = langfuse_usage(
        {
            "input": 100,
            "input_audio_tokens": 40,
            "input_cached_tokens": 50,
            "input_cached_audio_tokens": 20,
            "output": 10,
            "output_audio_tokens": 5,
            "output_reasoning_tokens": 3,
            "total": 228,
        }
    )
    assert tuple(usage.buckets().values()) == (140, 70, 0, 0, 15, 3)
    assert usage.modalities == {
        "input_uncached.audio": 40,
        "cache_read.audio": 20,
        "output_visible.audio": 5,
    }
    assert usage.ok


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"input": 5, "input_image_tokens": 7, "output": 1}, {"input_uncached.image": 7}),
        ({"input": 5, "input_cache_read_video": 9, "output": 1}, {"cache_read.video": 9}),
        ({"input": 5, "output": 1, "output_image": 1290}, {"output_visible.image": 1290}),
        ({"input": 5, "output": 1, "output_audio_tokens": 0}, {}),
        ({"input": 5, "output": 1, "output_audiobook_tokens": 3}, {}),  # a word that only starts like one
        ({"input": 5, "output": 1}, {}),
        # Gemini's DOCUMENT modality (PDF pages) is billed as image tokens
        ({"input": 5, "input_modality_DOCUMENT": 258, "output": 1}, {"input_uncached.image": 258}),
    ],
)
def test_langfuse_modality_of_each_key(details: dict[str, int], expected: dict[str, int]) -> None:
    usage = langfuse_usage(details)
    assert usage.modalities == expected
    assert usage.ok


def test_langfuse_cached_modality_key_counts_as_cache_read() -> None:
    # before modalities, this key fell to the uncached input: it names cache reads
    usage = langfuse_usage({"input": 10, "input_cached_image_tokens": 30, "output": 1})
    assert (usage.input_uncached, usage.cache_read, usage.modalities) == (10, 30, {"cache_read.image": 30})


def litellm(**changes: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": 1000,
        "completion_tokens": 1400,
        "total_tokens": 2400,
        "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 500, "text_tokens": 500},
        "completion_tokens_details": {"reasoning_tokens": 100, "image_tokens": 1290, "text_tokens": 10},
    }
    usage.update(changes)
    return usage


def test_litellm_modalities_with_the_rule_for_the_cache() -> None:
    usage = litellm_usage(litellm())
    assert tuple(usage.buckets().values()) == (400, 600, 0, 0, 1300, 100)
    # 400 uncached hold 400 of the 500 audio tokens; the other 100 were cache reads
    assert usage.modalities == {
        "input_uncached.audio": 400,
        "cache_read.audio": 100,
        "output_visible.image": 1290,
    }
    assert usage.ok


def test_litellm_cached_split_and_unknown_input_split() -> None:
    details = {"cached_tokens": 600, "audio_tokens": 500, "cached_tokens_details": {"audio_tokens": 0}}
    assert litellm_usage(litellm(prompt_tokens_details=details)).modalities == {
        "input_uncached.audio": 500,
        "output_visible.image": 1290,
    }
    unknown = litellm_usage(
        litellm(prompt_tokens_details={"image_tokens": 80}, completion_tokens_details=None)
    )
    assert (unknown.input_uncached, unknown.input_total) == (None, 1000)
    assert unknown.modalities == {"input_uncached.image": 80}
    assert unknown.ok


def test_litellm_modality_above_its_bucket_is_kept_and_flagged() -> None:
    usage = litellm_usage(litellm(completion_tokens=1300))
    assert (usage.output_visible, usage.modalities["output_visible.image"]) == (1200, 1290)
    assert Quality.MODALITY_EXCEEDS_BUCKET in usage.quality
