"""Raw provider responses: bodies, request/response pairs, HTTP exchanges and captured streams."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json, write_lines
from tokenomy.importers.ids import content_id
from tokenomy.pricing import Pricer
from tokenomy.schema import Kind, Status
from tokenomy.store import DuckDBStore


def test_openai_body_with_its_request(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    body = samples.openai_chat("chatcmpl-A", prompt=1000, completion=200, cached=400, reasoning=50)
    path = write_lines(tmp_path / "pairs.jsonl", [{"request": samples.chat_request(), "response": body}])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    call = calls(store)["chatcmpl-A"]
    assert (call.provider, call.request_model, call.response_model) == (
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert call.usage.buckets() == {
        "input_uncached": 600,
        "cache_read": 400,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 150,
        "reasoning": 50,
    }
    assert call.started_at == datetime(2026, 1, 1)
    assert (call.max_output_tokens, call.n_messages, call.attribution.user) == (256, 4, "u-42")
    assert call.system_tokens == 4  # "You are terse."
    assert call.user_tokens == 4  # "And of Italy?"
    assert (call.tool_def_tokens or 0) > 0
    assert (call.history_tokens or 0) > call.user_tokens
    assert len(call.prefix_hashes) == 3  # system; +1 message; +2 messages
    assert [t.name for t in call.tool_uses] == ["lookup"]
    assert call.finish_reason == "tool_calls"
    assert call.content is None  # capture is off by default
    # gpt-4o on 2026-01-01: $2.50/M input, $1.25/M cached, $10/M output (reasoning billed as output)
    assert cost_total(call) == Decimal("0.0015") + Decimal("0.0005") + Decimal("0.002")


def test_list_of_bodies_of_several_providers(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "bodies.json",
        [samples.openai_chat("c1"), samples.anthropic_message("m1"), samples.gemini_body()],
    )
    summary = run(store, pricer, path)
    assert summary.calls == 3
    stored = calls(store)
    anthropic = stored["m1"].usage
    assert (
        anthropic.input_uncached,
        anthropic.cache_read,
        anthropic.cache_write_5m,
        anthropic.cache_write_1h,
    ) == (
        50,
        1000,
        200,
        100,
    )
    assert stored["gem-1"].provider == "google"
    assert (stored["gem-1"].usage.output_visible, stored["gem-1"].usage.reasoning) == (10, 5)
    for call in stored.values():
        assert_adds_up(call)


def test_body_without_id_gets_a_content_hash(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    body = samples.openai_chat()
    del body["id"]
    path = write_json(tmp_path / "b.json", body)
    run(store, pricer, path)
    assert list(calls(store)) == [content_id("provider", body)]
    (tmp_path / "copy").mkdir()
    again = write_json(tmp_path / "copy" / "elsewhere.json", body)
    assert run(store, pricer, again).duplicates == 1


def test_sse_text_stream(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = tmp_path / "capture.sse"
    path.write_text(samples.ANTHROPIC_SSE)
    assert run(store, pricer, path).calls == 1
    call = calls(store)["msg_s1"]
    assert call.streamed is True
    assert (call.provider, call.response_model) == ("anthropic", "claude-sonnet-4-20250514")
    assert (call.usage.input_uncached, call.usage.output_total) == (25, 12)
    assert call.finish_reason == "end_turn"


@pytest.mark.parametrize("wrapped", [False, True])
def test_jsonl_of_stream_events(store: DuckDBStore, pricer: Pricer, tmp_path: Path, wrapped: bool) -> None:
    chunks: list[Any] = list(samples.openai_chunks("chatcmpl-s2"))
    if wrapped:
        chunks = [{"event": None, "data": json.dumps(c)} for c in chunks] + [{"data": "[DONE]"}]
    path = write_lines(tmp_path / "events.jsonl", chunks)
    assert run(store, pricer, path).calls == 1
    call = calls(store)["chatcmpl-s2"]
    assert (call.usage.input_total, call.usage.output_total, call.streamed) == (9, 3, True)


def test_error_responses_are_failed_calls(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    refused = {
        "request": {
            "method": "POST",
            "url": "https://api.anthropic.com/v1/messages",
            "headers": {"x-api-key": "sk-ant-secret"},
            "body": json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []}),
        },
        "response": {"status_code": "429", "headers": {}, "body": "{'type': 'error'}"},
    }
    error_body = {"request": {"model": "gpt-4o"}, "response": {"error": {"type": "invalid_request_error"}}}
    path = write_lines(tmp_path / "errors.jsonl", [refused, error_body])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 0)
    by_status = {c.http_status: c for c in calls(store).values()}
    rate_limited = by_status[429]
    assert (rate_limited.status, rate_limited.provider, rate_limited.request_model) == (
        Status.ERROR,
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert rate_limited.usage.total == 0  # a refused request is not billed
    assert cost_total(rate_limited) == 0
    invalid = by_status[None]
    assert (invalid.status, invalid.error_type, invalid.usage.total) == (
        Status.ERROR,
        "invalid_request_error",
        None,
    )
    stored_text = json.dumps([str(c) for c in calls(store).values()])
    assert "sk-ant-secret" not in stored_text


def test_litellm_proxy_body_keeps_cache_writes_apart(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = samples.openhands_log("chatcmpl-px", [], "ok", at=1.0)["response"]
    run(store, pricer, write_json(tmp_path / "proxy.json", body))
    usage = calls(store)["chatcmpl-px"].usage
    assert (usage.input_uncached, usage.cache_read, usage.cache_write_5m, usage.input_total) == (
        200,
        600,
        200,
        1000,
    )


def test_bad_records_are_reported_with_record_and_field(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            samples.openai_chat("good-1"),
            {"response": {"hello": "world"}},
            "[1, 2]",
            samples.openai_chat("good-2"),
        ],
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 2)
    errors = summary.files[0].errors
    assert [(e.record, e.field) for e in errors] == [(2, "response"), (3, "(record)")]
    assert "not a recognised LLM response" in str(errors[0])


def test_capture_content_keeps_prompt_and_completion(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_json(
        tmp_path / "p.json", {"request": samples.chat_request(), "response": samples.openai_chat("cc")}
    )
    run(store, pricer, path, capture_content=True)
    content = calls(store)["cc"].content
    assert content is not None
    assert content.completion == "Paris."
    assert "And of Italy?" in (content.prompt or "")


@pytest.mark.realdata
def test_real_recordings_import_with_buckets_that_add_up(store: DuckDBStore, pricer: Pricer) -> None:
    root = real_data_path("provider-responses")
    summary = run(store, pricer, root / "openai-python", root / "anthropic-sdk-python")
    assert (summary.rejected, len(summary.failed)) == (0, 0)
    stored = calls(store)
    assert len(stored) == summary.calls >= 60
    for call in stored.values():
        assert_adds_up(call)
        assert call.status is Status.ERROR or call.usage.kind is Kind.REPORTED
    streams = [c for c in stored.values() if c.streamed]
    assert len(streams) >= 20
    assert all(c.usage.output_total is not None for c in streams if c.status is Status.OK)


def test_a_failed_responses_answer_is_an_error_with_its_usage(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    usage = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
    failed = {
        "id": "resp_failed",
        "object": "response",
        "status": "failed",
        "error": {"code": "server_error", "message": "The model failed."},
        "model": "gpt-4o-2024-08-06",
        "output": [],
        "usage": usage,
    }
    completed = {**failed, "id": "resp_ok", "status": "completed", "error": None}
    path = write_lines(tmp_path / "responses.jsonl", [failed, completed])
    assert run(store, pricer, path).calls == 2
    stored = calls(store)
    assert (stored["resp_failed"].status, stored["resp_failed"].error_type) == (Status.ERROR, "server_error")
    assert stored["resp_failed"].usage.total == 150  # still billed as reported
    assert (stored["resp_ok"].status, stored["resp_ok"].error_type) == (Status.OK, None)


def test_an_error_bodys_free_text_type_is_not_stored(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """An error's ``type``/``code`` becomes the call's ``error_type`` only when it is a classification."""
    leaky = "Incorrect API key provided: sk-test-MARKERKEY123 MARKERPROMPT42"
    records = [
        {
            "id": "e1",
            "request": {"model": "gpt-4o"},
            "response": {"error": {"type": leaky, "code": "invalid_api_key"}},
        },
        {"id": "e2", "request": {"model": "gpt-4o"}, "response": {"error": {"type": leaky, "code": leaky}}},
        {"id": "e3", "request": {"model": "gpt-4o"}, "response": {"error": leaky}},
        # Gemini's error names its kind in status; the code is the HTTP status
        {
            "id": "e4",
            "request": {"model": "gemini-2.5-flash"},
            "response": {"error": {"code": 429, "message": leaky, "status": "RESOURCE_EXHAUSTED"}},
        },
        {"id": "e5", "request": {"model": "gemini-2.5-flash"}, "response": {"error": {"status": leaky}}},
    ]
    assert run(store, pricer, write_lines(tmp_path / "errors.jsonl", records)).calls == 5
    stored = calls(store)
    assert [(stored[i].status, stored[i].error_type) for i in ("e1", "e2", "e3", "e4", "e5")] == [
        (Status.ERROR, "invalid_api_key"),
        (Status.ERROR, None),
        (Status.ERROR, None),
        (Status.ERROR, "RESOURCE_EXHAUSTED"),
        (Status.ERROR, None),
    ]
