"""Langfuse trace exports: generations become calls, the observation tree and the trace's attribution kept."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json, write_lines
from tokenomy.importers.langfuse_usage import langfuse_usage
from tokenomy.pricing import Pricer
from tokenomy.schema import Quality, Status
from tokenomy.store import DuckDBStore


def test_trace_with_nested_observations(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    summary = run(store, pricer, write_json(tmp_path / "trace.json", samples.langfuse_trace()))
    assert (summary.calls, summary.rejected, summary.sessions) == (2, 0, 1)
    stored = calls(store)
    plan, answer = stored["obs-gen-1"], stored["obs-gen-2"]
    for call in (plan, answer):
        assert (call.trace_id, call.session_id) == ("trace-lf-1", "sess-lf")
        assert (call.attribution.user, call.attribution.environment) == ("bob", "production")
        assert call.attribution.tags == {"tier": "gold", "beta": "true"}
        assert call.attribution.agent == "helper"  # the AGENT observation above (through the tool span)
        assert_adds_up(call)
    assert (plan.span_id, plan.parent_span_id, answer.parent_span_id) == (
        "obs-gen-1",
        "obs-agent",
        "obs-tool",
    )
    assert (plan.step, answer.step) == (1, 2)
    assert plan.usage.buckets() == {
        "input_uncached": 700,
        "cache_read": 300,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 40,
        "reasoning": 10,
    }
    assert (plan.started_at, plan.latency_ms, plan.ttft_ms) == (datetime(2026, 1, 3, 9, 0, 1), 1000.0, 250.0)
    assert (plan.max_output_tokens, plan.n_messages, plan.system_tokens) == (300, 2, 2)  # "Plan." is 2 tokens
    assert plan.provider_reported_cost == Decimal("0.00225")
    assert (answer.provider, answer.request_model) == ("anthropic", "claude-sonnet-4-20250514")
    assert (answer.usage.cache_write_1h, answer.usage.input_total) == (50, 150)
    assert (answer.status, answer.error_type) == (Status.ERROR, "overloaded")


def test_observation_pages_and_json_lines(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    trace = samples.langfuse_trace()
    page = write_json(tmp_path / "page.json", {"data": trace["observations"], "meta": {"page": 1}})
    summary = run(store, pricer, page)
    assert summary.calls == 2
    assert calls(store)["obs-gen-1"].trace_id == "trace-lf-1"
    other = {
        **trace,
        "id": "trace-lf-2",
        "observations": [{**trace["observations"][1], "id": "obs-x", "traceId": "trace-lf-2"}],
    }
    lines = write_lines(tmp_path / "traces.jsonl", [trace, other])
    again = run(store, pricer, lines)
    assert (again.calls, again.duplicates) == (1, 2)


def test_bad_observation_is_reported(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    trace = samples.langfuse_trace()
    trace["observations"][1]["startTime"] = "half past nine"
    summary = run(store, pricer, write_json(tmp_path / "t.json", [trace]))
    assert summary.rejected == 1
    error = summary.files[0].errors[0]
    assert (error.record, error.field) == (1, "observations[1].startTime")


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            {"input": 70, "output": 40, "total": 140, "input_cached_tokens": 20, "input_cache_creation": 10},
            (70, 20, 10, 0, 40, 0),
        ),
        (
            {
                "input": 7,
                "output": 445,
                "input_cached_tokens": 16399,
                "input_cache_creation": 0,
                "input_cache_creation_5m": 2089,
                "input_cache_creation_1h": 0,
            },
            (7, 16399, 2089, 0, 445, 0),
        ),
        (
            {"input": 100, "output": 15, "output_reasoning_tokens": 30, "output_audio_tokens": 5},
            (100, 0, 0, 0, 20, 30),
        ),
        ({"input_tokens": 123, "output_tokens": 456}, (123, 0, 0, 0, 456, 0)),
        ({"output": 10}, (None, None, None, None, 10, 0)),
    ],
)
def test_usage_details_are_exclusive_parts(details: dict[str, int], expected: tuple[int | None, ...]) -> None:
    usage = langfuse_usage(details)
    assert tuple(usage.buckets().values()) == expected
    assert usage.ok


def test_usage_details_total_is_checked() -> None:
    assert langfuse_usage({"input": 10, "output": 5, "total": 15}).ok
    assert Quality.TOTAL_MISMATCH in langfuse_usage({"input": 10, "output": 5, "total": 99}).quality
    # a key we do not understand (priced units we cannot place) disables the check
    assert langfuse_usage({"input": 10, "output": 5, "characters": 40, "total": 55}).ok


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("overloaded", "overloaded"),
        (
            "Error code: 401 - Incorrect API key provided: sk-test-MARKERKEY123 prompt MARKERPROMPT42",
            "http_401",
        ),
        ("Error code: 429 - {'error': {'message': 'Rate limit reached', 'type': 'requests'}}", "http_429"),
        ("Request failed for prompt MARKERPROMPT42", None),
        ("sk-test-MARKERKEY123", None),
        ("Error code: 4011 - x", None),
    ],
)
def test_a_status_message_is_an_error_type_only_when_it_is_a_classification(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, message: str, expected: str | None
) -> None:
    """A status message is an exception's text, prompt or key included: never stored as such."""
    trace = samples.langfuse_trace()
    trace["observations"][-1] |= {"level": "ERROR", "statusMessage": message}
    run(store, pricer, write_json(tmp_path / "trace.json", trace))
    failed = calls(store)[trace["observations"][-1]["id"]]
    assert (failed.status, failed.error_type) == (Status.ERROR, expected)


def _generation(obs_id: str, model: str, details: dict[str, int], **extra: object) -> dict[str, object]:
    return {
        "id": obs_id,
        "traceId": f"trace-{obs_id}",
        "type": "GENERATION",
        "startTime": "2025-09-01T10:00:00.000Z",
        "endTime": "2025-09-01T10:00:02.000Z",
        "model": model,
        "usageDetails": details,
        **extra,
    }


def test_litellm_usage_details_count_the_cache_writes_once(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """LiteLLM's integration writes input = prompt_tokens - cache reads, its prompt_tokens counting
    the writes, and total = prompt + completion: 4410 + 300 + 120 = 4830 adds up only if the 4000
    writes are inside the input."""
    details = {
        "input": 4410,
        "output": 120,
        "total": 4830,
        "cache_creation_input_tokens": 4000,
        "cache_read_input_tokens": 300,
    }
    obs = _generation("gen-ll", "claude-3-5-sonnet-20241022", details, costDetails={"total": 0.01812})
    summary = run(store, pricer, write_json(tmp_path / "page.json", {"data": [obs]}))
    assert (summary.calls, summary.rejected) == (1, 0)
    call = calls(store)["gen-ll"]
    assert tuple(call.usage.buckets().values()) == (410, 300, 4000, 0, 120, 0)
    assert call.usage.ok
    # claude-3-5-sonnet: $3/M input, $0.30/M cache read, $3.75/M 5m write, $15/M output:
    # 0.00123 + 0.00009 + 0.015 + 0.0018 = 0.01812
    assert cost_total(call) == Decimal("0.01812") == call.provider_reported_cost


@pytest.mark.parametrize(
    ("details", "expected", "flag"),
    [
        # an exclusive writer with LiteLLM's spellings: its total counts the writes
        (
            {"input": 410, "output": 120, "total": 4830, "cache_creation_input_tokens": 4000,
             "cache_read_input_tokens": 300},
            (410, 300, 4000, 0, 120, 0),
            None,
        ),
        # an older LiteLLM: prompt_tokens (410 + 300) left the 4000 writes out, and so did its total
        (
            {"input": 410, "output": 120, "total": 830, "cache_creation_input_tokens": 4000,
             "cache_read_input_tokens": 300},
            (410, 300, 4000, 0, 120, 0),
            None,
        ),
        # no total (LiteLLM always writes one): the keys are read as exclusive
        (
            {"input": 4410, "output": 120, "cache_creation_input_tokens": 4000,
             "cache_read_input_tokens": 300},
            (4410, 300, 4000, 0, 120, 0),
            None,
        ),
        # a total that neither reading reaches (4830 with writes on top, 830 inside) is flagged
        (
            {"input": 410, "output": 120, "total": 900, "cache_creation_input_tokens": 4000,
             "cache_read_input_tokens": 300},
            (410, 300, 4000, 0, 120, 0),
            Quality.TOTAL_MISMATCH,
        ),
    ],
)  # fmt: skip
def test_litellm_usage_details_readings(
    details: dict[str, int], expected: tuple[int | None, ...], flag: Quality | None
) -> None:
    usage = langfuse_usage(details)
    assert tuple(usage.buckets().values()) == expected
    assert usage.quality == ((flag,) if flag else ())


def test_langchain_ephemeral_keys_are_the_ttl_of_the_cache_writes(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """langchain-anthropic lists the writes as cache_creation and again as their TTL split; Langfuse's
    handler subtracted 600 + 1500 + 0 + 1500 from the 2107 input tokens, floored at 0."""
    details = {
        "input": 0,
        "input_cache_read": 600,
        "input_cache_creation": 1500,
        "input_ephemeral_5m_input_tokens": 0,
        "input_ephemeral_1h_input_tokens": 1500,
        "output": 80,
        "total": 2187,
    }
    trace = {
        "id": "trace-lc",
        "sessionId": "s-lc",
        "observations": [
            {"id": "chain", "traceId": "trace-lc", "type": "CHAIN", "name": "RunnableSequence"},
            _generation("gen-lc", "claude-sonnet-4-20250514", details, parentObservationId="chain"),
        ],
    }
    run(store, pricer, write_json(tmp_path / "trace.json", trace))
    call = calls(store)["gen-lc"]
    # the uncached input is the total less every other part: 2187 - 600 - 1500 - 80 = 7
    assert tuple(call.usage.buckets().values()) == (7, 600, 0, 1500, 80, 0)
    assert call.usage.ok
    # claude-sonnet-4: $3/M input, $0.30/M cache read, $6/M 1h write, $15/M output:
    # 0.000021 + 0.00018 + 0.009 + 0.0012 = 0.010401
    assert cost_total(call) == Decimal("0.010401")


@pytest.mark.parametrize(
    ("details", "expected", "flag"),
    [
        # input above 0: nothing was floored, it lost the 1500 writes twice: 40 + 1500 = 1540
        (
            {"input": 40, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_ephemeral_5m_input_tokens": 1000, "input_ephemeral_1h_input_tokens": 500,
             "output": 80, "total": 3720},
            (1540, 600, 1000, 500, 80, 0),
            None,
        ),
        # floored at 0 and no total: the uncached input is unknown, never 0
        (
            {"input": 0, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_ephemeral_1h_input_tokens": 1500, "output": 80},
            (None, 600, 0, 1500, 80, 0),
            None,
        ),
        # newer langchain-anthropic: cache_creation 0 once the split is given, input subtracted once
        (
            {"input": 7, "input_cache_read": 600, "input_cache_creation": 0,
             "input_ephemeral_5m_input_tokens": 0, "input_ephemeral_1h_input_tokens": 1500,
             "output": 80, "total": 2187},
            (7, 600, 0, 1500, 80, 0),
            None,
        ),
        # a split that does not add up to the writes (1200 of 1500) is flagged
        (
            {"input": 40, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_ephemeral_1h_input_tokens": 1200, "output": 80},
            (1240, 600, 0, 1200, 80, 0),
            Quality.CACHE_SPLIT_MISMATCH,
        ),
        # a total that needs more uncached input than the floor could hide (2000 > 1500) is flagged
        (
            {"input": 0, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_ephemeral_1h_input_tokens": 1500, "output": 80, "total": 4180},
            (2000, 600, 0, 1500, 80, 0),
            Quality.TOTAL_MISMATCH,
        ),
        # the writes given whole and by TTL, with no total: 1500 = 1000 + 500, counted once
        (
            {"input": 40, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_cache_creation_5m": 1000, "input_cache_creation_1h": 500, "output": 80},
            (40, 600, 1000, 500, 80, 0),
            None,
        ),
        # a total counting them once (40 + 600 + 1000 + 500 + 80) says the same
        (
            {"input": 40, "input_cache_read": 600, "input_cache_creation": 1500,
             "input_cache_creation_5m": 1000, "input_cache_creation_1h": 500, "output": 80,
             "total": 2220},
            (40, 600, 1000, 500, 80, 0),
            None,
        ),
        # a total counting them twice: exclusive keys, 300 more writes of unstated TTL (5 minutes)
        (
            {"input": 40, "input_cache_read": 600, "input_cache_creation": 300,
             "input_cache_creation_1h": 500, "output": 80, "total": 1520},
            (40, 600, 300, 500, 80, 0),
            None,
        ),
        # a total counting the whole once, the 1h key a part of it: the other 60 writes are 5-minute ones
        (
            {"input": 10, "input_cache_creation": 100, "input_cache_creation_1h": 40, "output": 5,
             "total": 115},
            (10, 0, 60, 40, 5, 0),
            None,
        ),
        # no total and a sum that differs: read as exclusive, as every Langfuse key is
        (
            {"input": 40, "input_cache_creation": 300, "input_cache_creation_1h": 500, "output": 80},
            (40, 0, 300, 500, 80, 0),
            None,
        ),
    ],
)  # fmt: skip
def test_ttl_split_readings(
    details: dict[str, int], expected: tuple[int | None, ...], flag: Quality | None
) -> None:
    usage = langfuse_usage(details)
    assert tuple(usage.buckets().values()) == expected
    assert usage.quality == ((flag,) if flag else ())


def test_an_observations_api_v2_page_names_its_model_session_user_and_cost_its_own_way(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """``GET /api/public/v2/observations``: ``providedModelName``, ``totalCost``, and the session and
    user on the observation (no trace around it)."""
    observation = {
        "id": "obs-v2",
        "traceId": "trace-v2",
        "type": "GENERATION",
        "startTime": "2026-08-22T00:00:00.000Z",
        "endTime": "2026-08-22T00:00:01.200Z",
        "userId": "u-42",
        "sessionId": "sess-9",
        "providedModelName": "gpt-4o-2024-08-06",
        "usageDetails": {"input": 1000, "output": 200, "total": 1200},
        "totalCost": 0.0045,
    }
    summary = run(store, pricer, write_json(tmp_path / "v2.json", {"data": [observation], "meta": {}}))
    assert (summary.calls, summary.rejected) == (1, 0)
    call = calls(store)["obs-v2"]
    assert (call.request_model, call.session_id, call.attribution.user) == (
        "gpt-4o-2024-08-06",
        "sess-9",
        "u-42",
    )
    assert call.provider_reported_cost == Decimal("0.0045")
    # gpt-4o: $2.50/M input, $10/M output
    assert cost_total(call) == Decimal("0.0025") + Decimal("0.002")
