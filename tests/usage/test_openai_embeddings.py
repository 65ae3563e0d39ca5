from __future__ import annotations

import pytest

from tokenomy.errors import UsageError
from tokenomy.schema import Quality
from tokenomy.usage import detect, extract, stream_accumulator

BODY = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}


def test_embeddings_have_input_only() -> None:
    e = extract(BODY)
    assert (detect(BODY), e.api, e.response_model) == (
        "openai.embeddings",
        "embeddings",
        "text-embedding-3-small",
    )
    assert e.usage.buckets() == {
        "input_uncached": 8,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 0,
        "reasoning": 0,
    }


def test_reduced_body_and_total_check() -> None:
    e = extract({"usage": {"prompt_tokens": 5, "total_tokens": 6}})
    assert e.adapter == "openai.embeddings"
    assert e.usage.quality == (Quality.TOTAL_MISMATCH,)
    assert extract({"object": "list", "data": [{"object": "embedding"}]}).usage.total is None


def test_embeddings_do_not_stream() -> None:
    with pytest.raises(UsageError, match="not streamed"):
        stream_accumulator("openai.embeddings")
