"""The capture SDK's OTLP spans read back into the very records it sent; other spans map as before."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from decimal import Decimal

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tokenomy.capture.records import AgentSpan, Record
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.importers import ImportOptions, calls_from_spans, decode_json, decode_protobuf
from tokenomy.importers.otel_tokenomy import charge_of, outcome_of, sdk_records
from tokenomy.importers.otlp_decode import Span
from tokenomy.schema import (
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    OutcomeEvent,
    Quality,
    Status,
    ToolUse,
    Usage,
)

T0 = datetime(2026, 3, 2, 9, 30, 0, 123000)
TRACE = "0af7651916cd43dd8448eb211c80319c"


def _call(number: int, **changes: object) -> Call:
    """A call with every field the SDK may fill, including those no GenAI convention names."""
    call = Call(
        id=f"msg_{number:02d}",
        provider="azure",  # spelled ``azure.ai.openai`` by the conventions
        request_model="openai/gpt-4o",  # a routed name: the GenAI mapping would strip the prefix
        response_model="gpt-4o-2024-08-06",
        operation="chat",
        api="chat",
        started_at=T0 + timedelta(seconds=number),
        ended_at=T0 + timedelta(seconds=number, microseconds=456_789),
        latency_ms=456.789,
        ttft_ms=123.456,  # 0.123456 s times 1000 is not 123.456 in floating point
        trace_id=TRACE,
        span_id=f"{number:016x}",
        parent_span_id="00f067aa0ba902b7",
        session_id="s-1",
        step=10 - number,  # not the order of start times
        streamed=True,
        batch=True,
        service_tier="priority",
        usage=Usage.of(
            input_uncached=100,
            cache_read=2000,
            cache_write_5m=300,
            cache_write_1h=50,
            output_visible=40,
            reasoning=7,
            server_tools={"web_searches": 2},
            kind=Kind.ESTIMATED,
            quality=(Quality.CACHE_EXCEEDS_INPUT,),
        ),
        context_window=128_000,
        max_output_tokens=512,
        n_messages=4,
        system_tokens=1200,
        tool_def_tokens=300,
        user_tokens=25,
        history_tokens=800,
        prefix_hashes=("aa11", "bb22", "cc33"),
        status=Status.CANCELLED,
        finish_reason="length",
        tool_uses=(ToolUse("ns:search", "abcd"), ToolUse("web_search", None, server=True)),
        filler_tokens=3,
        attribution=Attribution(
            user="ana",
            team="support",
            project="desk",
            feature="triage",
            intent="answer",
            environment="prod",
            agent="router",
            api_key_id="key-9",
            tags={"tier": "gold", "a:b": "c d"},
        ),
        provider_reported_cost=Decimal("0.000123456789"),
        content=Content(prompt="hello", completion=None),
        source="sdk",
    )
    return call.replace(**changes) if changes else call


def _spans(records: list[Record]) -> list[Span]:
    return decode_protobuf(export_request(records, service_name="svc", version="1").SerializeToString(), "r")


def test_an_sdk_call_reads_back_field_for_field() -> None:
    original = _call(1)
    (back,) = calls_from_spans(_spans([original]), ImportOptions(capture_content=True))
    # times to the millisecond: the native form's precision, so both routes store the same
    assert back == original.replace(ended_at=T0 + timedelta(seconds=1, microseconds=456_000))
    assert back.usage.cache_write_1h == 50
    assert back.tool_uses[1].server is True
    (plain,) = calls_from_spans(_spans([original]), ImportOptions())
    assert plain.content is None  # content only when asked for


def test_failed_and_empty_calls_keep_unknowns_unknown() -> None:
    failed = _call(
        2,
        status=Status.ERROR,
        error_type="RateLimitError",
        http_status=429,
        usage=Usage(),
        cost=Cost(total=Decimal("0")),
        tool_uses=(),
        prefix_hashes=(),
        attribution=Attribution(),
        content=None,
        session_id=None,
        step=None,
    )
    (back,) = calls_from_spans(_spans([failed]), ImportOptions())
    assert back == failed.replace(ended_at=T0 + timedelta(seconds=2, microseconds=456_000), cost=None)
    assert back.usage == Usage()
    assert back.step is None


def test_sdk_calls_keep_their_steps_and_third_party_calls_are_numbered_among_themselves() -> None:
    sdk = [_call(1), _call(2)]
    spans = _spans([*sdk])
    third = Span(
        TRACE,
        "ff00000000000001",
        None,
        "chat gpt-4o",
        int((T0 - datetime(1970, 1, 1)).total_seconds() * 1e9),
        None,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.conversation.id": "s-1",
            "gen_ai.usage.input_tokens": 10,
            "tokenomy.team": "ignored: not an SDK call",
        },
    )
    calls = calls_from_spans([*spans, third], ImportOptions())
    assert [c.step for c in calls] == [9, 8, 1]
    assert calls[2].attribution.team is None  # tokenomy.* is read on the SDK's calls only
    assert calls[2].request_model == "gpt-4o"


def test_charges_and_outcomes_read_back_and_are_not_calls() -> None:
    charge = Charge(
        id="chg-1",
        amount=Decimal("0.0042"),
        kind="search_api",
        at=T0,
        currency="USD",
        session_id="s-1",
        quantity=3.0,
        unit="searches",
        description="web",
        attribution=Attribution(team="support", tags={"tier": "gold"}),
        source="sdk",
    )
    outcome = OutcomeEvent(
        "session", "s-1", T0 + timedelta(microseconds=7), success=True, score=0.5, action="x"
    )
    on_call = OutcomeEvent("call", "msg_01", T0, success=False)
    agent = AgentSpan(TRACE, "cd" * 8, "router", T0, T0 + timedelta(seconds=3), session_id="s-1")
    spans = _spans([agent, charge, outcome, on_call])
    found = sdk_records(spans)
    assert found.charges == [charge]
    assert found.outcomes == [outcome, on_call]
    assert found.keys == {(s.trace_id, s.span_id) for s in spans[1:]}
    assert calls_from_spans(spans, ImportOptions()) == []


def test_a_charge_span_in_another_currency_is_refused_not_summed_as_dollars() -> None:
    euros = Charge(id="chg-eur", amount=Decimal("5"), kind="search_api", at=T0, currency="EUR")
    dollars = Charge(id="chg-usd", amount=Decimal("2"), kind="search_api", at=T0)
    spans = _spans([euros, dollars])
    found = sdk_records(spans)
    assert found.charges == [dollars]
    assert found.refused == [
        (
            "tokenomy.charge.currency",
            "charge 'chg-eur': 'EUR': every cost is kept in USD (prices, budgets, reports); "
            "convert the amount first",
        )
    ]
    assert found.keys == {(span.trace_id, span.span_id) for span in spans}  # neither a span of the tree


def test_an_outcome_span_with_nothing_in_it_is_refused_not_stored_over_the_last() -> None:
    """An outcome replaces the one before it: one with no success, score or action would erase it."""
    kept = OutcomeEvent("session", "s-1", T0, success=True)
    empty = OutcomeEvent("session", "s-1", T0 + timedelta(seconds=1))
    found = sdk_records(_spans([kept, empty]))
    assert found.outcomes == [kept]
    assert found.refused == [
        ("tokenomy.outcome.target", "outcome for session 's-1': no success, score or action")
    ]
    assert len(found.keys) == 2


def test_spans_that_only_look_like_sdk_records_are_not_read_as_records() -> None:
    base = {"tokenomy.charge.id": "c", "tokenomy.charge.kind": "k"}
    no_amount = Span(TRACE, "01" * 8, None, "tokenomy.charge k", 1, 1, attributes=base)
    bad_amount = Span(TRACE, "02" * 8, None, "x", 1, 1, attributes={**base, "tokenomy.charge.amount": "lots"})
    bad_target = Span(TRACE, "03" * 8, None, "x", 1, 1, attributes={"tokenomy.outcome.target": "team"})
    no_time = Span(TRACE, "04" * 8, None, "x", None, None, attributes={**base, "tokenomy.charge.amount": "1"})
    assert charge_of(no_amount) is None
    assert charge_of(bad_amount) is None
    assert charge_of(no_time) is None
    assert outcome_of(bad_target) is None
    assert sdk_records([no_amount, bad_amount, bad_target, no_time]).keys == set()


def test_values_of_the_wrong_type_are_unknown_not_errors() -> None:
    request = export_request([_call(1)], service_name="svc", version="1")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    wrong = {
        "tokenomy.step": AnyValue(string_value="3"),
        "tokenomy.usage.cache_write_1h": AnyValue(double_value=1.5),
        "tokenomy.status": AnyValue(string_value="exploded"),
        "tokenomy.usage.kind": AnyValue(bool_value=True),
        "tokenomy.team": AnyValue(int_value=4),
    }
    kept = [kv for kv in span.attributes if kv.key not in wrong]
    del span.attributes[:]
    span.attributes.extend([*kept, *(KeyValue(key=k, value=v) for k, v in wrong.items())])
    data = ExportTraceServiceRequest.SerializeToString(request)
    (back,) = calls_from_spans(decode_protobuf(data, "r"), ImportOptions())
    assert (back.step, back.usage.cache_write_1h, back.status) == (None, None, Status.OK)
    assert (back.usage.kind, back.attribution.team) == (Kind.REPORTED, None)
    assert back.usage.cache_write_5m == 300


def test_otlp_json_reads_back_the_same_records_as_protobuf() -> None:
    charge = Charge(id="chg-2", amount=Decimal("1.5"), kind="gpu_seconds", at=T0, quantity=2.0, source="sdk")
    outcome = OutcomeEvent("call", "msg_01", T0, score=1.0)
    request = export_request([_call(1), charge, outcome], service_name="svc", version="1")
    document = json_format.MessageToDict(request)
    for scope in document["resourceSpans"][0]["scopeSpans"]:
        for span in scope["spans"]:  # OTLP/JSON ids are hex, not protobuf JSON's base64
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64decode(span[key]).hex()
    spans = [s for s in decode_json(document, "r") if isinstance(s, Span)]
    options = ImportOptions(capture_content=True)
    assert calls_from_spans(spans, options) == calls_from_spans(_spans([_call(1)]), options)
    found = sdk_records(spans)
    assert (found.charges, found.outcomes) == ([charge], [outcome])


def test_an_sdk_spans_free_text_error_type_is_not_read_back() -> None:
    """A span that says it is the SDK's still holds to the rule: no free text as the error type."""
    failed = _call(3, status=Status.ERROR, error_type="MARKERPROMPT42 sk-test-MARKERKEY123", content=None)
    (back,) = calls_from_spans(_spans([failed]), ImportOptions())
    assert (back.status, back.error_type) == (Status.ERROR, None)
    kept = _call(4, status=Status.ERROR, error_type="openai.RateLimitError", content=None)
    (again,) = calls_from_spans(_spans([kept]), ImportOptions())
    assert again.error_type == "openai.RateLimitError"
