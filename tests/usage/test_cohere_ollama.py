"""Cohere's and Ollama's answers, written by hand in the shapes their APIs document."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tokenomy.pricing import Pricer
from tokenomy.usage import detect, extract

COHERE_V2 = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}],
    },
    "usage": {
        "billed_units": {"input_tokens": 17, "output_tokens": 12},
        "tokens": {"input_tokens": 215, "output_tokens": 12},  # with Cohere's template: not billed
    },
}


def test_a_cohere_answer_is_read_from_what_cohere_bills() -> None:
    assert detect(COHERE_V2) == "cohere.chat"
    found = extract(COHERE_V2)
    assert (found.provider, found.api, found.finish_reason) == ("cohere", "chat", "COMPLETE")
    assert (found.usage.input_total, found.usage.output_total) == (17, 12)
    assert (found.usage.input_uncached, found.usage.reasoning) == (None, None)  # no split reported
    assert found.completion_text == "Hello!"
    cost = Pricer().price_usage(
        found.usage, model="command-r-plus-08-2024", provider="cohere", at=datetime(2026, 1, 1)
    )
    # $2.50/M input, $10/M output
    assert cost.total == Decimal("0.0000425") + Decimal("0.00012")


def test_cohere_v1_and_embed_bodies_keep_their_billed_units_under_meta() -> None:
    v1 = {
        "text": "Hi",
        "generation_id": "g-1",
        "meta": {"billed_units": {"input_tokens": 5, "output_tokens": 3}},
    }
    embed = {"id": "e-1", "embeddings": {"float": [[0.1]]}, "meta": {"billed_units": {"input_tokens": 9}}}
    assert (extract(v1).usage.input_total, extract(v1).usage.output_total, extract(v1).response_id) == (
        5,
        3,
        "g-1",
    )
    embedded = extract(embed)
    assert embedded.api == "embeddings"
    assert embedded.usage.buckets() == {
        "input_uncached": 9,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 0,
        "reasoning": 0,
    }


def test_a_cohere_rerank_is_billed_per_search_not_as_embeddings() -> None:
    rerank = {
        "id": "r-1",
        "results": [{"index": 0, "relevance_score": 0.9}],
        "meta": {"billed_units": {"search_units": 1}},
    }
    found = extract(rerank)
    assert (found.api, found.extra, found.usage.input_total) == ("rerank", {"search_units": 1}, None)


def test_an_ollama_answer_has_its_totals_and_nothing_it_did_not_say() -> None:
    answer = {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": "Hi there"},
        "done_reason": "stop",
        "done": True,
        "total_duration": 4883583458,
        "prompt_eval_count": 26,
        "eval_count": 298,
    }
    assert detect(answer) == "ollama.chat"
    found = extract(answer)
    assert (found.provider, found.response_model, found.finish_reason) == ("ollama", "llama3.2", "stop")
    assert (found.usage.input_total, found.usage.output_total) == (26, 298)
    assert found.usage.buckets() == dict.fromkeys(found.usage.buckets())  # no split: all unknown
    assert found.created_at == datetime(2023, 8, 4, 15, 52, 19, 385406, tzinfo=UTC)
    assert found.extra == {"total_duration_ms": 4883.583458}
    assert found.completion_text == "Hi there"
    # a stream's intermediate line carries no counts and is no answer
    assert (
        detect({"model": "llama3.2", "message": {"role": "assistant", "content": "H"}, "done": False}) is None
    )
