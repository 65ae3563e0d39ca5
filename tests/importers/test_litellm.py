"""LiteLLM spend-log rows and standard logging payloads, with LiteLLM's usage convention."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, close_to, cost_total, run, write_json, write_lines
from tokenomy.importers import detect
from tokenomy.importers.ids import short_hash
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.importers.reading import Source
from tokenomy.pricing import Pricer
from tokenomy.schema import Quality, Status
from tokenomy.store import DuckDBStore


def test_spend_log_row(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    row = samples.spend_log()
    summary = run(store, pricer, write_json(tmp_path / "spend.json", [row]))
    assert (summary.calls, summary.rejected) == (1, 0)
    call = calls(store)["chatcmpl-ll-1"]
    assert (call.provider, call.request_model, call.operation, call.api) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        "chat",
        "chat",
    )
    # prompt_tokens 1200 includes 1000 cache reads and 100 cache writes (LiteLLM's convention)
    assert (call.usage.input_uncached, call.usage.cache_read, call.usage.cache_write_5m) == (100, 1000, 100)
    assert call.usage.input_total == 1200
    assert (call.started_at, call.latency_ms, call.ttft_ms) == (datetime(2026, 1, 2, 10), 2500.0, 400.0)
    assert call.session_id == "sess-ll"
    assert call.provider_reported_cost == Decimal("0.0028")
    attribution = call.attribution
    assert (attribution.user, attribution.team) == ("alice", "search")
    assert attribution.api_key_id == short_hash(row["api_key"])
    assert attribution.tags == {"env": "prod", "batch": "true"}
    # claude-sonnet-4: $3/M input, $0.30/M cache read, $3.75/M 5m write, $15/M output
    assert cost_total(call) == Decimal("0.0003") + Decimal("0.0003") + Decimal("0.000375") + Decimal("0.0012")


def test_failure_row_and_payload_flavours(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    failed = samples.spend_log(
        "req-fail", status="failure", metadata='{"error_information": {}}', spend=0, call_type="aembedding"
    )
    failed["error_information"] = {"error_class": "RateLimitError", "error_code": "429"}
    payload = {
        "id": "chatcmpl-pl",
        "call_type": "acompletion",
        "stream": True,
        "status": "success",
        "custom_llm_provider": "openai",
        "startTime": 1767225600.0,
        "endTime": 1767225601.5,
        "completionStartTime": 1767225600.2,
        "model": "gpt-4o",
        "response_cost": 0.000225,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "messages": [{"role": "user", "content": "Hello, world!"}],
        "response": {
            "id": "chatcmpl-pl",
            "model": "gpt-4o-2024-08-06",
            "choices": [{"finish_reason": "stop", "message": {"content": "hi"}}],
        },
        "model_parameters": {"max_tokens": 64},
        "model_map_information": {"model_map_value": {"max_input_tokens": 128000}},
        "hidden_params": {},
    }
    summary = run(store, pricer, write_lines(tmp_path / "rows.jsonl", [failed, payload]))
    assert (summary.calls, summary.rejected) == (2, 0)
    stored = calls(store)
    bad = stored["req-fail"]
    assert (bad.status, bad.error_type, bad.http_status, bad.operation) == (
        Status.ERROR,
        "RateLimitError",
        429,
        "embeddings",
    )
    good = stored["chatcmpl-pl"]
    assert (good.streamed, good.latency_ms) == (True, 1500.0)
    assert good.ttft_ms == pytest.approx(200.0)
    assert (good.max_output_tokens, good.context_window, good.finish_reason) == (64, 128000, "stop")
    assert (good.usage.input_total, good.usage.output_total) == (10, 20)
    assert (good.n_messages, good.user_tokens) == (1, 4)
    assert good.response_model == "gpt-4o-2024-08-06"


def test_bad_row_is_reported_with_its_field(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    rows = [
        samples.spend_log("ok-1"),
        samples.spend_log("bad-1", startTime="yesterday"),
        samples.spend_log("ok-2"),
    ]
    summary = run(store, pricer, write_lines(tmp_path / "rows.jsonl", rows))
    assert (summary.calls, summary.rejected) == (2, 1)
    error = summary.files[0].errors[0]
    assert (error.record, error.field) == (2, "startTime")
    assert "not an ISO 8601 time" in str(error)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # current LiteLLM: reads and writes inside prompt_tokens
        (
            {
                "prompt_tokens": 1300,
                "completion_tokens": 5,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 200,
            },
            (100, 1000, 200, 0, 1300),
        ),
        # older LiteLLM: writes on top of prompt_tokens (reads + writes would exceed it)
        (
            {
                "prompt_tokens": 1100,
                "completion_tokens": 5,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 300,
            },
            (100, 1000, 300, 0, 1400),
        ),
        # DeepSeek through LiteLLM
        (
            {
                "prompt_tokens": 7911,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 7872},
                "prompt_cache_hit_tokens": 7872,
            },
            (39, 7872, 0, 0, 7911),
        ),
        # TTL split
        (
            {
                "prompt_tokens": 400,
                "completion_tokens": 5,
                "cache_creation_input_tokens": 300,
                "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": 100,
                    "ephemeral_1h_input_tokens": 200,
                },
            },
            (100, 0, 100, 200, 400),
        ),
        # no cache detail at all: the split is unknown
        ({"prompt_tokens": 10, "completion_tokens": 5}, (None, None, None, None, 10)),
    ],
)
def test_litellm_usage_convention(usage: dict[str, object], expected: tuple[int | None, ...]) -> None:
    result = litellm_usage(usage)
    got = (
        result.input_uncached,
        result.cache_read,
        result.cache_write_5m,
        result.cache_write_1h,
        result.input_total,
    )
    assert got == expected
    assert result.output_total == 5
    assert result.ok


def test_litellm_usage_flags_impossible_numbers() -> None:
    usage = litellm_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 50},
            "completion_tokens_details": {"reasoning_tokens": 9},
        }
    )
    assert Quality.CACHE_EXCEEDS_INPUT in usage.quality
    assert Quality.REASONING_EXCEEDS_OUTPUT in usage.quality
    assert usage.input_uncached == -40  # kept as reported, never clamped


@pytest.mark.realdata
def test_real_litellm_logs_match_litellm_cost(store: DuckDBStore, pricer: Pricer) -> None:
    summary = run(store, pricer, real_data_path("litellm-logging"))
    assert (summary.calls, summary.rejected, len(summary.failed)) == (2, 0, 0)
    for call in calls(store).values():
        assert_adds_up(call)
        assert (call.provider, call.request_model) == ("openai", "gpt-4o")
        assert (call.usage.input_total, call.usage.output_total) == (10, 20)
        # LiteLLM logged the float 0.00022500000000000002: equal to our exact $0.000225 within 1e-9 relative
        assert close_to(cost_total(call), call.provider_reported_cost)
        assert cost_total(call) == Decimal("0.000225")


def test_search_and_mcp_rows_become_charges(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    search = samples.spend_log("srch-1", call_type="asearch", model="tavily-search", spend=0.008)
    tool = samples.spend_log(
        "mcp-1", call_type="call_mcp_tool", mcp_namespaced_tool_name="github/create_issue", spend=0
    )
    summary = run(
        store, pricer, write_lines(tmp_path / "rows.jsonl", [search, tool, samples.spend_log("llm-1")])
    )
    assert (summary.calls, summary.charges, summary.rejected) == (1, 2, 0)
    charges = {row["id"]: row for row in store.charges_table().to_pylist()}
    assert (charges["srch-1"]["kind"], charges["srch-1"]["amount"]) == ("search", Decimal("0.008"))
    assert (charges["mcp-1"]["kind"], charges["mcp-1"]["description"]) == ("mcp_tool", "github/create_issue")
    assert {row["session_id"] for row in charges.values()} == {"sess-ll"}
    assert {row["team"] for row in charges.values()} == {"search"}


def test_an_error_class_that_is_free_text_is_not_stored(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """``error_class`` should be a class name; free text there (a prompt, a key) is never the error type."""
    rows = []
    for name, error_class in (
        ("req-kept", "litellm.RateLimitError"),
        ("req-free", "MARKERPROMPT42 sk-test-K1"),
    ):
        row = samples.spend_log(name, status="failure", metadata='{"error_information": {}}', spend=0)
        row["error_information"] = {"error_class": error_class, "error_code": "429"}
        rows.append(row)
    assert run(store, pricer, write_lines(tmp_path / "rows.jsonl", rows)).calls == 2
    stored = calls(store)
    assert (stored["req-kept"].error_type, stored["req-kept"].http_status) == ("litellm.RateLimitError", 429)
    assert (stored["req-free"].status, stored["req-free"].error_type) == (Status.ERROR, None)
    assert stored["req-free"].http_status == 429


def _payload(number: int, kind: str) -> dict[str, Any]:
    """A standard logging payload of one of four kinds, with LiteLLM's cost of it."""
    base: dict[str, Any] = {
        "id": f"pl-{number}",
        "status": "success",
        "startTime": 1748736000.0 + number,  # 2025-06-01
        "endTime": 1748736001.0 + number,
        "metadata": {},
    }
    if kind == "chat":  # gpt-4o-mini: 600 x $0.15/M + 400 x $0.075/M + 200 x $0.60/M = $0.00024
        usage = {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "prompt_tokens_details": {"cached_tokens": 400},
        }
        return base | {
            "call_type": "acompletion",
            "model": "gpt-4o-mini",
            "response_cost": 0.00024,
            "response": {"id": f"r-{number}", "object": "chat.completion", "usage": usage},
        }
    if kind == "anthropic":
        # claude-3-5-haiku: prompt_tokens 2000 holds 1000 reads and 500 writes: 500 x $0.80/M +
        # 1000 x $0.08/M + 500 x $1/M + 100 x $4/M = $0.00138
        usage = {
            "prompt_tokens": 2000,
            "completion_tokens": 100,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 500,
        }
        return base | {
            "call_type": "acompletion",
            "model": "claude-3-5-haiku-20241022",
            "custom_llm_provider": "anthropic",
            "response_cost": 0.00138,
            "response": {"id": f"r-{number}", "usage": usage},
        }
    if kind == "responses":
        # gpt-4.1-mini: 500 x $0.40/M + 500 x $0.10/M + 100 x $1.60/M = $0.00041
        usage = {
            "input_tokens": 1000,
            "output_tokens": 100,
            "input_tokens_details": {"cached_tokens": 500},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        return base | {
            "call_type": "aresponses",
            "model": "gpt-4.1-mini",
            "response_cost": 0.00041,
            "response": {"id": f"r-{number}", "object": "response", "usage": usage},
        }
    # text-embedding-3-small: 1000 x $0.02/M = $0.00002
    usage = {"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000}
    return base | {
        "call_type": "aembedding",
        "model": "text-embedding-3-small",
        "response_cost": 0.00002,
        "response": {"object": "list", "usage": usage},
    }


_KINDS = ("chat", "anthropic", "responses", "embedding")
_COSTS = {"chat": "0.00024", "anthropic": "0.00138", "responses": "0.00041", "embedding": "0.00002"}


def test_logging_payload_lines_are_not_read_as_one_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A payload's ``metadata`` field is no Bedrock ``metadata`` event: twelve payloads are twelve calls,
    even when the first has none of the keys only payloads have (``hidden_params``...)."""
    payloads = [_payload(n, _KINDS[n % 4]) for n in range(12)]
    path = write_lines(tmp_path / "payloads.jsonl", payloads)
    assert detect(Source(path)).name == "litellm"
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (12, 0)
    stored = calls(store)
    for n in range(12):
        call = stored[f"pl-{n}"]
        assert cost_total(call) == Decimal(_COSTS[_KINDS[n % 4]]) == call.provider_reported_cost
    assert sum(cost_total(c) or 0 for c in stored.values()) == Decimal("0.00615")


def test_a_bedrock_stream_as_json_lines_is_still_one_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A wrapped Bedrock event is its wrapper alone, so its lines are still read as one stream."""
    usage = {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42}
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hello"}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": usage, "metrics": {"latencyMs": 400}}},
    ]
    path = write_lines(tmp_path / "converse-stream.jsonl", events)
    assert detect(Source(path)).name == "provider"
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    (call,) = calls(store).values()
    assert (call.usage.input_total, call.usage.output_total, call.finish_reason) == (30, 12, "end_turn")


def test_a_responses_row_is_read_with_the_responses_convention(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    row = _payload(0, "responses")
    run(store, pricer, write_json(tmp_path / "row.json", row))
    call = calls(store)["pl-0"]
    assert (call.operation, call.api) == ("chat", "responses")
    # input_tokens 1000 includes the 500 cached reads
    assert tuple(call.usage.buckets().values()) == (500, 500, 0, 0, 100, 0)
    assert cost_total(call) == Decimal("0.00041")


def test_a_usage_object_without_counts_falls_back_to_the_row_counts(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    row = _payload(0, "responses") | {"prompt_tokens": 1000, "completion_tokens": 100}
    row["response"]["usage"] = {"input_tokens": None, "output_tokens": None, "input_tokens_details": {}}
    run(store, pricer, write_json(tmp_path / "row.json", row))
    usage = calls(store)["pl-0"].usage
    assert (usage.input_total, usage.output_total, usage.input_uncached, usage.output_visible) == (
        1000,
        100,
        None,
        None,
    )
