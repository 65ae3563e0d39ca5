"""Provider files of shapes the plain body reader priced wrong: batch results (billed at batch rates),
OpenAI-shaped bodies from other providers, the Realtime API's usage, Bedrock's model id, a provider's
own charge inside ``usage``. Every amount is worked out by hand from the catalog's list prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.importers.support import calls, cost_total, run, write_json, write_lines
from tokenomy.pricing import Pricer
from tokenomy.schema import Status
from tokenomy.store import DuckDBStore

NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def _chat(cid: str, model: str, prompt: int, completion: int, **usage: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": NOV,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            **usage,
        },
    }


def test_openai_batch_output_lines_are_batch_calls_at_batch_rates(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = _chat("chatcmpl-b1", "gpt-4.1-2025-04-14", 1000, 100, prompt_tokens_details={"cached_tokens": 0})
    path = write_lines(
        tmp_path / "batch_output.jsonl",
        [
            {
                "id": "batch_req_1",
                "custom_id": "request-1",
                "response": {"status_code": 200, "request_id": "r1", "body": body},
                "error": None,
            },
            {
                "id": "batch_req_2",
                "custom_id": "request-2",
                "response": None,
                "error": {"code": "batch_expired", "message": "This request could not be executed"},
            },
        ],
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 1)
    assert "a batch request that never ran (batch_expired)" in str(summary.files[0].errors[0])
    call = calls(store)["chatcmpl-b1"]
    assert call.batch
    # gpt-4.1's batch price on 2026-11-01: $1/M input, $4/M output (half the $2 and $8 standard)
    assert cost_total(call) == Decimal("0.001") + Decimal("0.0004")


def test_anthropic_message_batch_results_are_recognised_and_an_errored_request_is_not_billed(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    message = {
        "id": "msg_b1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    path = write_lines(
        tmp_path / "results.jsonl",  # auto-detected: the lines have no "response"
        [
            {"custom_id": "a", "result": {"type": "succeeded", "message": message}},
            {"custom_id": "b", "result": {"type": "errored", "error": invalid}},
            {"custom_id": "c", "result": {"type": "expired"}},
        ],
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 1)
    assert "a batch request that never ran (expired)" in str(summary.files[0].errors[0])
    stored = calls(store)
    ok = stored["msg_b1"]
    assert (ok.provider, ok.batch, ok.status) == ("anthropic", True, Status.OK)
    assert ok.usage.buckets()["input_uncached"] == 100
    # Claude 3.5 Haiku, $0.80/M input and $4/M output, at Anthropic's published batch discount (half:
    # the catalog has no batch price for it), estimated and said so
    assert cost_total(ok) == Decimal("0.00004") + Decimal("0.00004")
    assert ok.cost is not None
    assert ok.cost.estimated
    assert "anthropic's published batch discount applied" in str(ok.cost.reason)
    failed = next(c for c in stored.values() if c.id != "msg_b1")
    assert (failed.batch, failed.status, failed.error_type) == (True, Status.ERROR, "invalid_request_error")
    assert failed.usage.input_total == failed.usage.output_total == 0  # an errored request is not billed


def test_a_gemini_batch_line_is_a_batch_call(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    response = {
        "candidates": [{"content": {"parts": [{"text": "A"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "gm-b1",
        "createTime": "2026-11-01T00:00:00Z",
    }
    summary = run(
        store, pricer, write_lines(tmp_path / "gemini.jsonl", [{"key": "k1", "response": response}])
    )
    assert (summary.calls, summary.rejected) == (1, 0)
    (call,) = calls(store).values()
    assert (call.provider, call.batch) == ("google", True)


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        # grok-4: $3/M input, $0.75/M cached, $15/M output (reasoning billed as output, on top of it)
        (
            "grok-4-0709",
            "x-ai",
            Decimal("20") * 3 / 10**6
            + Decimal("680") * Decimal("0.75") / 10**6
            + Decimal("500") * 15 / 10**6,
        ),
        ("gpt-4o-mini", "openai", None),  # OpenAI's own: still OpenAI
    ],
)
def test_an_openai_shaped_body_from_another_provider_is_that_provider_s(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, *, model: str, provider: str, expected: Decimal | None
) -> None:
    body = _chat(
        "cmpl-x",
        model,
        700,
        10,
        prompt_tokens_details={"cached_tokens": 680},
        completion_tokens_details={"reasoning_tokens": 490},
    )
    body["usage"]["total_tokens"] = 1200  # xAI: reasoning on top of the completion tokens
    summary = run(store, pricer, write_json(tmp_path / "x.json", body))
    assert summary.calls == 1
    (call,) = calls(store).values()
    assert call.provider == provider
    if expected is not None:
        assert cost_total(call) == expected


def test_a_providers_own_charge_in_usage_is_kept_and_the_body_is_not_openrouter_s(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = _chat(
        "pplx-1",
        "sonar-pro",
        13,
        1000,
        search_context_size="low",
        num_search_queries=1,
        cost={
            "input_tokens_cost": 0.000039,
            "output_tokens_cost": 0.015,
            "request_cost": 0.006,
            "total_cost": 0.021039,
        },
    )
    run(store, pricer, write_json(tmp_path / "p.json", body))
    call = calls(store)["pplx-1"]
    assert call.provider == "perplexity"
    assert call.provider_reported_cost == Decimal("0.021039")


def test_a_realtime_answer_is_read_with_its_cache_and_audio(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    done = {
        "type": "response.done",
        "event_id": "event_1",
        "response": {
            "id": "resp_rt1",
            "object": "realtime.response",
            "status": "completed",
            "output": [],
            "usage": {
                "total_tokens": 1300,
                "input_tokens": 1000,
                "output_tokens": 300,
                "input_token_details": {
                    "cached_tokens": 600,
                    "text_tokens": 400,
                    "audio_tokens": 600,
                    "cached_tokens_details": {"text_tokens": 200, "audio_tokens": 400},
                },
                "output_token_details": {"text_tokens": 60, "audio_tokens": 240},
            },
        },
    }
    # a Realtime answer names no model: --model gives it
    run(store, pricer, write_json(tmp_path / "rt.json", done), model="gpt-4o-realtime-preview-2024-12-17")
    call = calls(store)["resp_rt1"]
    assert call.usage.buckets() == {
        "input_uncached": 400,
        "cache_read": 600,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 300,
        "reasoning": 0,
    }
    assert dict(call.usage.modalities) == {
        "input_uncached.audio": 200,
        "cache_read.audio": 400,
        "output_visible.audio": 240,
    }
    # text: 200 uncached at $5/M, 200 cached at $2.50/M, 60 out at $20/M; audio: 200 uncached at
    # $40/M, 400 cached at $2.50/M, 240 out at $80/M
    assert cost_total(call) == Decimal("0.001") + Decimal("0.0005") + Decimal("0.0012") + Decimal(
        "0.008"
    ) + Decimal("0.001") + Decimal("0.0192")


def test_bedrock_names_its_model_as_model_id(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    converse = {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
        "metrics": {"latencyMs": 300},
    }
    wrapped = {
        "timestamp": "2026-11-01T00:00:00Z",
        "request": {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0", "messages": []},
        "response": converse,
    }
    run(store, pricer, write_json(tmp_path / "b.json", wrapped))
    (call,) = calls(store).values()
    assert call.request_model == "anthropic.claude-3-5-haiku-20241022-v1:0"
    # Claude 3.5 Haiku on Bedrock: $0.80/M input, $4/M output
    assert cost_total(call) == Decimal("0.00008") + Decimal("0.00008")


def test_counts_written_as_strings_of_digits_are_known(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = _chat("s-1", "gpt-4o-mini-2024-07-18", 0, 0)
    body["usage"] = {"prompt_tokens": "100", "completion_tokens": "20", "total_tokens": "120"}
    run(store, pricer, write_json(tmp_path / "s.json", body))
    call = calls(store)["s-1"]
    assert (call.usage.input_total, call.usage.output_total) == (100, 20)
    # gpt-4o-mini: $0.15/M input, $0.60/M output
    assert cost_total(call) == Decimal("0.000015") + Decimal("0.000012")


def test_an_images_api_answer_has_its_time_and_its_api(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    answer = {
        "created": NOV,
        "data": [{"b64_json": "AAAA"}],
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
            "output_tokens": 4160,
            "total_tokens": 4210,
        },
    }
    run(store, pricer, write_json(tmp_path / "img.json", answer), model="gpt-image-1")
    (call,) = calls(store).values()
    assert (call.api, call.started_at) == ("images", datetime(2026, 11, 1))
    assert dict(call.usage.modalities) == {"input_uncached.image": 40}
    # gpt-image-1: text in $5/M, image in $10/M, out $40/M
    assert cost_total(call) == Decimal("0.00005") + Decimal("0.0004") + Decimal("0.1664")


def test_a_provider_the_request_url_names_is_kept_whatever_the_model(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = _chat("groq-on-openai", "llama-3.3-70b-versatile", 100, 10)
    logged = {"request": {"url": "https://api.openai.com/v1/chat/completions", "body": {}}, "response": body}
    wrapped = {"provider": "openai", "response": {**body, "id": "wrapped"}}
    run(store, pricer, write_lines(tmp_path / "named.jsonl", [logged, wrapped]))
    stored = calls(store)
    # the URL (or the wrapper) says who served it: the model's maker does not override that
    assert (stored["groq-on-openai"].provider, stored["wrapped"].provider) == ("openai", "openai")


def test_two_answers_repeating_a_short_id_are_two_answers_not_one_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Ollama's OpenAI layer numbers its ids below 1,000: two answers may repeat one. Read as one
    growing stream, the first vanished without a word; taken as the calls' ids, the second was
    skipped as a duplicate of the first. Such an id tells no calls apart: each answer is stored by a
    hash of its content (importing the file again still stores nothing new)."""
    first, second = _chat("chatcmpl-749", "llama3.2", 30, 200), _chat("chatcmpl-749", "llama3.2", 45, 310)
    path = write_lines(tmp_path / "ollama.jsonl", [first, second])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.duplicates, summary.rejected) == (2, 0, 0)
    stored = calls(store)
    assert sorted(c.usage.output_total or 0 for c in stored.values()) == [200, 310]
    assert all(key.startswith("provider:") for key in stored)
    again = run(store, pricer, path)
    assert (again.calls, again.duplicates) == (0, 2)


def test_a_log_of_answers_whose_first_line_is_an_error_body_is_no_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """An error body first (a rate-limited request) and two answers: three lines of a log, not one
    stream that ends in an error (the two answers were merged into one failed call)."""
    error = {
        "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit_exceeded"}
    }
    lines = [
        error,
        _chat("chatcmpl-AaaaaaaaaaaaaWx1", "gpt-4o", 11, 3),
        _chat("chatcmpl-AaaaaaaaaaaaaWx2", "gpt-4o", 12, 4),
    ]
    summary = run(store, pricer, write_lines(tmp_path / "log.jsonl", lines), fmt="provider")
    # the error body names no model: a rejected record that says what it was
    assert (summary.calls, summary.rejected) == (2, 1)
    answers = {k: c for k, c in calls(store).items() if k.startswith("chatcmpl-")}
    assert {k: (c.status.value, c.usage.output_total, c.streamed) for k, c in answers.items()} == {
        "chatcmpl-AaaaaaaaaaaaaWx1": ("ok", 3, None),
        "chatcmpl-AaaaaaaaaaaaaWx2": ("ok", 4, None),
    }
