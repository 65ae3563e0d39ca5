"""OTLP traces: JSON and protobuf requests decoded, LLM spans turned into calls, the tree kept."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import (
    assert_adds_up,
    calls,
    cost_total,
    otlp_of_case,
    run,
    write_json,
    write_lines,
)
from tokenomy.capture.records import Record
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers import ImportOptions, calls_from_spans, decode_json
from tokenomy.importers.otlp import OtlpImporter
from tokenomy.importers.otlp_decode import Span, decode_id, spans_lost
from tokenomy.importers.reading import Source
from tokenomy.native import FieldError
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Charge, OutcomeEvent, Quality
from tokenomy.store import DuckDBStore, open_store


def test_agent_trace_gives_its_two_chat_calls(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    summary = run(store, pricer, write_json(tmp_path / "trace.json", samples.agent_trace()))
    assert (summary.calls, summary.rejected, summary.sessions) == (2, 0, 1)
    stored = calls(store)
    first = stored["chatcmpl-otel-1"]  # the response id is the call id
    second = stored[f"{samples.TRACE}:c000000000000002"]  # no response id: trace and span ids
    for call in (first, second):
        assert (call.trace_id, call.parent_span_id) == (samples.TRACE, "a000000000000001")
        assert call.session_id == "sess-9"  # set on the agent span above
        assert (call.attribution.agent, call.attribution.environment) == ("planner", "prod")
        assert (call.provider, call.request_model) == ("openai", "gpt-4o")
        assert call.latency_ms == 1500.0
    assert (first.step, second.step) == (1, 2)
    assert first.span_id == "c000000000000001"
    assert first.started_at == datetime(2026, 1, 1, 0, 0, 1)
    assert (first.response_model, first.max_output_tokens, first.finish_reason) == (
        "gpt-4o-2024-08-06",
        512,
        "stop",
    )
    assert (first.usage.input_total, first.usage.cache_read, first.usage.output_total) == (200, 50, 20)
    assert first.usage.input_uncached is None  # no cache-creation attribute: the split is unknown
    assert second.usage.input_total == 100
    assert cost_total(first) is not None
    # the agent span's usage (the sum of its calls) is never counted
    assert summary.input_total == 300


def _protobuf(request: dict[str, Any]) -> bytes:
    data = json.loads(json.dumps(request))
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = trace_service_pb2.ExportTraceServiceRequest()
    json_format.ParseDict(data, message)
    return bytes(message.SerializeToString())


def _essentials(call: Call) -> tuple[object, ...]:
    return (
        call.id,
        call.trace_id,
        call.span_id,
        call.parent_span_id,
        call.session_id,
        call.usage,
        call.started_at,
    )


def test_protobuf_gzip_and_json_lines_give_the_same_calls(pricer: Pricer, tmp_path: Path) -> None:
    request = samples.agent_trace()
    variants = {
        "json": write_json(tmp_path / "a.json", request),
        "protobuf": tmp_path / "b.pb",
        "gzip-protobuf": tmp_path / "c.pb.gz",
        "gzip-json": write_json(tmp_path / "d.json.gz", request, compress=True),
        "collector-jsonl": write_lines(tmp_path / "e.jsonl", [request, samples.otlp_request([])]),
    }
    variants["protobuf"].write_bytes(_protobuf(request))
    variants["gzip-protobuf"].write_bytes(gzip.compress(_protobuf(request)))
    results = {}
    for name, path in variants.items():
        with open_store(tmp_path / f"{name}.duckdb") as store:
            summary = run(store, pricer, path)
            assert (summary.files[0].format, summary.rejected) == ("otlp", 0), name
            results[name] = sorted(_essentials(c) for c in calls(store).values())
    assert all(found == results["json"] for found in results.values())
    assert len(results["json"]) == 2


def test_a_bad_span_is_reported_and_the_others_kept(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    request = samples.agent_trace()
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][3]["traceId"] = "not-hex"
    summary = run(store, pricer, write_json(tmp_path / "t.json", request))
    assert (summary.calls, summary.rejected) == (1, 1)
    error = summary.files[0].errors[0]
    assert isinstance(error, RecordError)
    assert (error.record, error.field) == (4, "resourceSpans[0].scopeSpans[0].spans[3].traceId")


def test_a_list_of_spans_or_scopes_that_is_no_list_is_a_bad_record(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    good = samples.otlp_request(
        [samples.span("6000000000000001", "chat", {"gen_ai.request.model": "gpt-4o"})]
    )
    path = write_lines(
        tmp_path / "t.jsonl",
        [
            {"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]},
            good,
            {"resourceSpans": [{"scopeSpans": {"spans": []}}]},
        ],
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected, summary.files[0].failed) == (1, 2, None)
    found = [
        (e.record, e.field, e.detail.split(": ", 1)[1])
        for e in summary.files[0].errors
        if isinstance(e, RecordError)
    ]
    assert found == [
        (1, "resourceSpans[0].scopeSpans[0].spans", "expected a list of Spans"),
        (3, "resourceSpans[0].scopeSpans", "expected a list of ScopeSpans"),
    ]
    assert list(calls(store)) == [f"{samples.TRACE}:6000000000000001"]


def test_an_unreadable_entry_stands_for_no_span_and_an_unreadable_span_for_one() -> None:
    unreadable = {"traceId": "zz", "spanId": "03" * 8}
    request = {
        "resourceSpans": [
            5,
            {"instrumentationLibrarySpans": {"spans": []}},
            {"scopeSpans": ["x", {"spans": {"a": 1}}, {"spans": [unreadable, "y"]}]},
        ]
    }
    errors = [e for e in decode_json(request, "t.json") if isinstance(e, RecordError)]
    assert [(e.field, spans_lost(e)) for e in errors] == [
        ("resourceSpans[0]", 0),
        ("resourceSpans[1].instrumentationLibrarySpans", 0),
        ("resourceSpans[2].scopeSpans[0]", 0),
        ("resourceSpans[2].scopeSpans[1].spans", 0),
        ("resourceSpans[2].scopeSpans[2].spans[0].traceId", 1),
        ("resourceSpans[2].scopeSpans[2].spans[1].(span)", 1),
    ]


def _spans(request: dict[str, Any]) -> list[Span]:
    found = list(decode_json(request, "t.json"))
    assert not [s for s in found if isinstance(s, RecordError)]
    return [s for s in found if isinstance(s, Span)]


def test_a_wrapper_span_with_usage_above_a_call_is_not_counted() -> None:
    request = samples.otlp_request(
        [
            samples.span(
                "1000000000000001",
                "workflow",
                {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 90},
            ),
            samples.span(
                "1000000000000002",
                "llm",
                {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 90},
                parent="1000000000000001",
            ),
        ]
    )
    found = calls_from_spans(_spans(request), ImportOptions())
    assert [c.span_id for c in found] == ["1000000000000002"]


def test_vercel_outer_span_is_a_wrapper_and_do_generate_the_call() -> None:
    outer = {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 10}
    inner = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "gpt-4o",
        "ai.model.provider": "openai.chat",
        "ai.usage.promptTokens": 10,
        "ai.usage.completionTokens": 4,
        "ai.telemetry.metadata.sessionId": "v-sess",
    }
    request = samples.otlp_request(
        [
            samples.span("2000000000000001", "ai.generateText", outer),
            samples.span("2000000000000002", "ai.generateText.doGenerate", inner, parent="2000000000000001"),
        ]
    )
    [call] = calls_from_spans(_spans(request), ImportOptions())
    assert (call.span_id, call.provider, call.session_id) == ("2000000000000002", "openai", "v-sess")
    assert (call.usage.input_total, call.usage.output_total) == (10, 4)


@pytest.mark.parametrize(
    ("vercel", "model", "expected"),
    [
        ("togetherai.chat", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together"),
        ("azure-openai.chat", "my-gpt4o-deployment", "azure"),
        ("vertex.anthropic.messages", "claude-sonnet-4@20250514", "google"),
    ],
)
def test_vercel_provider_ids_are_mapped(vercel: str, model: str, expected: str) -> None:
    attrs = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": model,
        "ai.model.provider": vercel,
        "ai.usage.promptTokens": 10,
        "ai.usage.completionTokens": 4,
    }
    request = samples.otlp_request([samples.span("2000000000000003", "ai.generateText.doGenerate", attrs)])
    [call] = calls_from_spans(_spans(request), ImportOptions())
    assert call.provider == expected


def test_langfuse_sdk_span_usage_and_cost_details() -> None:
    attrs = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o",
        "langfuse.observation.usage_details": json.dumps(
            {"input": 70, "input_cached_tokens": 30, "output": 5}
        ),
        "langfuse.observation.cost_details": json.dumps({"input": 0.0002, "output": 0.00005}),
        "langfuse.session.id": "lf-sess",
        "session.id": "other",
    }
    [call] = calls_from_spans(
        _spans(samples.otlp_request([samples.span("3000000000000001", "gen", attrs)])), ImportOptions()
    )
    assert (call.usage.input_uncached, call.usage.cache_read, call.usage.output_visible) == (70, 30, 5)
    assert call.provider_reported_cost == Decimal("0.00025")
    assert call.session_id == "lf-sess"  # langfuse.session.id wins over session.id


def test_tool_and_agent_spans_alone_are_not_calls(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    request = samples.otlp_request(
        [
            samples.span(
                "4000000000000001", "tool", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"}
            )
        ]
    )
    summary = run(store, pricer, write_json(tmp_path / "t.json", request))
    assert (summary.calls, summary.rejected) == (0, 0)
    assert summary.files[0].notes == [
        "1 spans, none of them an LLM call (no GenAI model or usage attributes)"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0AF7651916CD43DD8448EB211C80319C", "0af7651916cd43dd8448eb211c80319c"),
        (
            base64.b64encode(bytes.fromhex("0af7651916cd43dd8448eb211c80319c")).decode(),
            "0af7651916cd43dd8448eb211c80319c",
        ),
        (list(bytes.fromhex("0af7651916cd43dd8448eb211c80319c")), "0af7651916cd43dd8448eb211c80319c"),
        ({"type": "Buffer", "data": []}, None),
        ("", None),
        ("00000000000000000000000000000000", None),
    ],
)
def test_trace_ids_in_every_encoding(value: object, expected: str | None) -> None:
    assert decode_id(value, 16, "traceId") == expected


def test_a_bad_id_names_its_field() -> None:
    with pytest.raises(FieldError, match="not a 8-byte id") as info:
        decode_id("xyz", 8, "spanId")
    assert info.value.field == "spanId"


def test_javascript_long_timestamps_are_read() -> None:
    span = samples.span("5000000000000001", "chat", {"gen_ai.request.model": "gpt-4o"})
    span["startTimeUnixNano"] = {"low": 1000000, "high": 406528574}
    [decoded] = _spans(samples.otlp_request([span]))
    assert decoded.start_ns == (406528574 << 32) | 1000000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "got a JSON array"),
        ({"resourceSpans": "x"}, "got 'resourceSpans' as a JSON string"),
        ({"resource_spans": []}, "got 'resource_spans': OTLP/JSON names fields in lowerCamelCase"),
        ({"spans": [], "name": "x"}, "got the keys 'spans', 'name'"),
    ],
)
def test_a_body_that_is_no_trace_request_says_what_it_holds(body: object, says: str) -> None:
    with pytest.raises(ImportFileError) as info:
        list(decode_json(body, "t.json"))
    assert "expected an object with a 'resourceSpans' list, " + says in str(info.value)


def test_the_response_service_tier_reaches_the_call_it_is_priced_by() -> None:
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "o3", "gen_ai.usage.input_tokens": 10}
    request = samples.otlp_request(
        [
            samples.span("7000000000000001", "chat", {**chat, "openai.response.service_tier": "flex"}),
            samples.span(
                "7000000000000002", "chat", {**chat, "gen_ai.openai.response.service_tier": "priority"}
            ),
            samples.span("7000000000000003", "chat", chat),
        ]
    )
    found = calls_from_spans(_spans(request), ImportOptions())
    assert [c.service_tier for c in found] == ["flex", "priority", None]


def test_a_number_that_is_not_one_rejects_its_span_naming_the_attribute() -> None:
    def usage_span(span_id: str, value: dict[str, Any], key: str = "gen_ai.usage.input_tokens") -> Any:
        out = samples.span(span_id, "chat", {"gen_ai.request.model": "gpt-4o"})
        out["attributes"].append({"key": key, "value": value})
        return out

    nested = {"arrayValue": {"values": [{"intValue": "1"}, {"doubleValue": "fast"}]}}
    request = samples.otlp_request(
        [
            usage_span("6000000000000001", {"intValue": "12x"}),  # read as no value: 12 tokens lost
            usage_span("6000000000000002", {"intValue": 12.5}),
            usage_span("6000000000000003", nested, key="gen_ai.usage.details"),
            usage_span("6000000000000004", {"intValue": "12"}),
            usage_span("6000000000000005", {"intValue": {"low": 7, "high": 0}}),
            usage_span("6000000000000006", {"doubleValue": "0.5"}, key="gen_ai.request.temperature"),
            usage_span("6000000000000007", {"intValue": "1e3"}),  # as protobuf's JSON parser reads it
            usage_span("6000000000000008", {"intValue": "n/a"}, key="app.retry_count"),  # no count: kept
            usage_span("6000000000000009", nested, key="custom.list"),
        ]
    )
    found = list(decode_json(request, "t.json"))
    errors = [str(e) for e in found if isinstance(e, RecordError)]
    where = "resourceSpans[0].scopeSpans[0].spans"
    assert errors == [
        f"t.json: record 1, field '{where}[0].attributes[\"gen_ai.usage.input_tokens\"].intValue': "
        "expected an integer (a JSON number or a numeric string), got '12x'",
        f"t.json: record 2, field '{where}[1].attributes[\"gen_ai.usage.input_tokens\"].intValue': "
        "expected an integer (a JSON number or a numeric string), got 12.5",
        f't.json: record 3, field \'{where}[2].attributes["gen_ai.usage.details"]'
        ".arrayValue.values[1].doubleValue': "
        "expected a number, got 'fast'",
    ]
    kept = [s for s in found if isinstance(s, Span)]
    assert [s.span_id for s in kept] == [f"600000000000000{n}" for n in (4, 5, 6, 7, 8, 9)]
    assert kept[4].attributes["app.retry_count"] == "n/a"  # kept as sent, with the span and its tokens
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in kept] == [12, 7, None, 1000, None, None]
    assert kept[2].attributes["gen_ai.request.temperature"] == 0.5


# -- real spans from many instrumentations ----------------------------------------------------

# Cases of the Langfuse mapping test file that record an LLM call (checked one by one: the rest
# are agent runs, tools, chains, bare spans or malformed input).
CASES_WITH_A_CALL = {
    0,
    2,
    3,
    4,
    5,
    10,
    11,
    12,
    16,
    27,
    46,
    53,
    54,
    55,
    56,
    57,
    58,
    59,
    60,
    61,
    62,
    63,
    64,
    65,
}


@pytest.mark.realdata
def test_every_langfuse_otel_case_imports(tmp_path: Path) -> None:
    lines = real_data_path("langfuse", "otel-mapping-test-spans.jsonl").read_text().splitlines()
    with_calls: set[int] = set()
    rejected: dict[int, int] = {}
    for number, line in enumerate(lines):
        path = write_json(tmp_path / f"case{number}.json", otlp_of_case(json.loads(line)))
        items = list(OtlpImporter().read(Source(path), ImportOptions()))
        found = [i for i in items if isinstance(i, Call)]
        errors = [i for i in items if isinstance(i, RecordError)]
        for call in found:
            if Quality.REASONING_EXCEEDS_OUTPUT not in call.usage.quality:
                assert_adds_up(call)
        if found:
            with_calls.add(number)
        if errors:
            rejected[number] = len(errors)
    assert with_calls == CASES_WITH_A_CALL
    assert rejected == {31: 4}  # "should handle deeply nested null/undefined structures": four null entries


@pytest.mark.realdata
def test_real_openlit_and_langfuse_sdk_spans(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    lines = real_data_path("langfuse", "otel-mapping-test-spans.jsonl").read_text().splitlines()
    run(store, pricer, write_json(tmp_path / "openlit.json", otlp_of_case(json.loads(lines[2]))))
    run(store, pricer, write_json(tmp_path / "sdk.json", otlp_of_case(json.loads(lines[0]))))
    stored = calls(store)
    openlit = stored["chatcmpl-AugxBIoQzz2zFMWFoiyS3Vmm1OuQI"]
    assert (openlit.provider, openlit.request_model) == ("openai", "gpt-3.5-turbo")
    assert (openlit.usage.input_total, openlit.usage.output_total) == (14, 96)
    assert openlit.provider_reported_cost is None  # OpenLit's own estimate is not the provider's figure
    assert cost_total(openlit) == Decimal("0.000151")
    sdk = stored["2cce18f7e8cd065a0b4e634eef728391:57f02554179741bd"]
    assert (sdk.session_id, sdk.attribution.user, sdk.request_model) == ("my-session", "my-user", "gpt-4o")
    assert (sdk.usage.input_uncached, sdk.usage.output_visible) == (123, 456)
    assert sdk.parent_span_id == "dfe387fea7ef3b02"
    assert sdk.provider_reported_cost == Decimal("0.0021")


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}, ("openai", "gpt-4o")),
        (
            {"gen_ai.operation.name": "chat", "gen_ai.response.model": "claude-sonnet-4-5"},
            ("anthropic", None),
        ),
        ({"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-3.1-8b-instant"}, ("groq", None)),
    ],
)
def test_a_span_naming_only_its_model_gets_the_models_provider(
    attrs: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    request = samples.otlp_request([samples.span("8000000000000001", "chat", attrs)])
    [call] = calls_from_spans(_spans(request), ImportOptions())
    provider, model = expected
    assert call.provider == provider
    if model is not None:
        assert call.request_model == model


@pytest.mark.parametrize("system", [None, "gateway"])
def test_vercel_ai_gateway_is_a_router_and_the_model_ids_prefix_the_provider(system: str | None) -> None:
    attrs = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "openai/gpt-4o",
        "ai.model.provider": "gateway",
        "ai.usage.promptTokens": 10,
        "ai.usage.completionTokens": 4,
        **({"gen_ai.system": system} if system else {}),
    }
    request = samples.otlp_request([samples.span("8000000000000002", "ai.generateText.doGenerate", attrs)])
    [call] = calls_from_spans(_spans(request), ImportOptions())
    assert (call.provider, call.request_model) == ("openai", "gpt-4o")
    unrouted = {**attrs, "ai.model.id": "some-house-model"}
    request = samples.otlp_request([samples.span("8000000000000003", "ai.generateText.doGenerate", unrouted)])
    [call] = calls_from_spans(_spans(request), ImportOptions())
    assert call.provider == "gateway"  # nothing else says: the router's own name, not "unknown"
    maker = {**attrs, "ai.model.id": "gpt-4o"}
    request = samples.otlp_request([samples.span("8000000000000004", "ai.generateText.doGenerate", maker)])
    [call] = calls_from_spans(_spans(request), ImportOptions())
    assert call.provider == "openai"  # the model's maker before the router's name


def test_a_failed_spans_error_type_is_a_classification_never_its_message() -> None:
    """A status message is often an exception's text, with the prompt or a key: never the error type."""
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
    }
    leaky = "MARKERPROMPT42 was refused for sk-test-MARKERKEY123"

    def failed(span_id: str, message: str, **attrs: Any) -> dict[str, Any]:
        out = samples.span(span_id, "chat", {**chat, **attrs})
        out["status"] = {"code": 2, "message": message}
        return out

    request = samples.otlp_request(
        [
            failed("7100000000000001", leaky),
            failed("7100000000000002", "DEADLINE_EXCEEDED"),
            failed("7100000000000003", leaky, **{"error.type": "rate_limit_error"}),
            failed("7100000000000004", "timeout", **{"error.type": leaky}),
            failed("7100000000000005", leaky, **{"error.type": "x" * 65}),
            failed("7100000000000006", "sk-test-MARKERKEY123"),
            failed("7100000000000007", ""),
        ]
    )
    found = calls_from_spans(_spans(request), ImportOptions())
    assert [c.status.value for c in found] == ["error"] * 7
    assert [c.error_type for c in found] == [
        None,
        "DEADLINE_EXCEEDED",
        "rate_limit_error",
        "timeout",
        None,
        None,
        None,
    ]


def test_sdk_record_spans_that_cannot_be_kept_are_rejected_records_naming_the_attribute(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A charge span in another currency and an outcome span with nothing in it (it would erase the
    outcome before it), in a file the SDK's OTLP target wrote: each a rejected record, neither stored."""
    at = datetime(2026, 3, 1, 10, 0, 0)
    records: list[Record] = [
        Charge(id="chg-eur", amount=Decimal("5"), kind="search_api", at=at, currency="EUR"),
        OutcomeEvent("session", "S", at),
        OutcomeEvent("session", "S", at, success=True),
    ]
    path = tmp_path / "sdk.pb"
    path.write_bytes(export_request(records, service_name="svc", version="1").SerializeToString())
    summary = run(store, pricer, path)
    assert (summary.charges, summary.outcomes, summary.rejected) == (0, 1, 2)
    assert [error.field for error in summary.files[0].errors] == [
        "tokenomy.charge.currency",
        "tokenomy.outcome.target",
    ]
    assert (store.charges_table().num_rows, store.events_count("outcomes")) == (0, 1)


def test_a_span_sent_with_snake_case_keys_is_rejected_naming_the_key() -> None:
    """OTLP/JSON writes lowerCamelCase; read as such, a span sent with its proto names (``trace_id``,
    ``start_time_unix_nano``) lost its ids and times without a word and was stored outside any
    trace and any period."""
    good = samples.span("7000000000000001", "chat", {"gen_ai.request.model": "gpt-4o"})
    snake = {
        {"traceId": "trace_id", "spanId": "span_id", "startTimeUnixNano": "start_time_unix_nano"}.get(k, k): v
        for k, v in samples.span("7000000000000002", "chat", {"gen_ai.request.model": "gpt-4o"}).items()
    }
    found = list(decode_json(samples.otlp_request([good, snake]), "t.json"))
    errors = [str(e) for e in found if isinstance(e, RecordError)]
    assert errors == [
        "t.json: record 2, field 'resourceSpans[0].scopeSpans[0].spans[1].trace_id': OTLP/JSON names "
        "fields in lowerCamelCase: send 'traceId'"
    ]
    assert [s.span_id for s in found if isinstance(s, Span)] == ["7000000000000001"]


def test_openinference_embeddings_openllmetry_sessions_and_other_operations_are_read() -> None:
    """An OpenInference EMBEDDING span was stored as an unpriced chat naming no model, OpenLLMetry's
    association properties left its session and user out, and a rerank was stored as a chat."""
    request = samples.otlp_request(
        [
            samples.span(
                "9100000000000001",
                "embed",
                {
                    "openinference.span.kind": "EMBEDDING",
                    "embedding.model_name": "text-embedding-3-small",
                    "llm.token_count.prompt": 40,
                },
            ),
            samples.span(
                "9100000000000002",
                "openai.chat",
                {
                    "llm.request.type": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 10,
                    "traceloop.association.properties.session_id": "tl-session",
                    "traceloop.association.properties.user_id": "tl-user",
                },
            ),
            samples.span(
                "9100000000000003",
                "rerank",
                {
                    "gen_ai.operation.name": "rerank",
                    "gen_ai.request.model": "rerank-v3.5",
                    "gen_ai.usage.input_tokens": 5,
                },
            ),
        ]
    )
    embedding, chat, rerank = calls_from_spans(_spans(request), ImportOptions())
    assert (embedding.operation, embedding.request_model, embedding.usage.input_total) == (
        "embeddings",
        "text-embedding-3-small",
        40,
    )
    assert (chat.session_id, chat.attribution.user) == ("tl-session", "tl-user")
    assert rerank.operation == "rerank"
