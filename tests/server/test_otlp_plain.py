"""The quick path gives exactly the importer's rows, and steps aside whenever a span is not plain.

The capture SDK's spans (``tokenomy.*`` attributes, charges, outcomes) are never plain.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.conftest import real_data_path
from tests.importers.support import otlp_of_case
from tests.server.support import (
    SpanSpec,
    genai_attributes,
    hex_id,
    request_bytes,
    request_json,
    span_from_reference,
)
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.importers import ImportOptions, calls_from_spans, decode_json, decode_protobuf
from tokenomy.schema import Attribution, Call, Charge, OutcomeEvent, Usage
from tokenomy.server.otlp_ingest import read_traces
from tokenomy.store.arrow import calls_to_arrow


def reference_calls(data: bytes) -> pa.Table:
    """What the importer's own decoder and mapping make of a protobuf request."""
    calls = calls_from_spans(decode_protobuf(data, "test"), ImportOptions())
    return calls_to_arrow([c if c.source else c.replace(source="otlp") for c in calls])


def _agent_tree(rng: random.Random, index: int) -> list[SpanSpec]:
    """An agent run: a root with the session, an agent span, tool spans and model calls below it."""
    trace = hex_id(rng, 16)
    root = SpanSpec(trace, hex_id(rng, 8), name="workflow", attributes={"session.id": f"sess-{index}"})
    agent = SpanSpec(
        trace,
        hex_id(rng, 8),
        root.span_id,
        name="invoke_agent planner",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "user.id": "u1"},
    )
    spans = [root, agent]
    for step in range(rng.randint(1, 6)):
        start = 1_780_000_000_000_000_000 + rng.randint(0, 10**12)
        if rng.random() < 0.3:
            start = spans[-1].start_ns  # equal start times: ties keep request order
        spans.append(
            SpanSpec(
                trace,
                hex_id(rng, 8),
                agent.span_id,
                name="chat",
                start_ns=start,
                end_ns=start + rng.randint(1, 10**10),
                attributes=genai_attributes(rng, index * 100 + step),
            )
        )
        if rng.random() < 0.4:
            spans.append(
                SpanSpec(
                    trace,
                    hex_id(rng, 8),
                    agent.span_id,
                    name="execute_tool search",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
                )
            )
    rng.shuffle(spans)  # children may come before their parents
    return spans


_VARIANTS: list[dict[str, Any]] = [
    {},
    {"gen_ai.usage.cache_creation.input_tokens": None},
    {"gen_ai.usage.reasoning.output_tokens": None, "gen_ai.usage.cache_read.input_tokens": None},
    {"gen_ai.usage.input_tokens": None, "gen_ai.usage.output_tokens": None},
    {"gen_ai.provider.name": None, "gen_ai.system": "OpenAI"},
    {"gen_ai.provider.name": None, "gen_ai.request.model": "anthropic/claude-sonnet-4-5"},
    {"gen_ai.provider.name": None, "gen_ai.request.model": None, "gen_ai.response.model": "openai/gpt-4o"},
    {"gen_ai.operation.name": "embeddings", "gen_ai.usage.output_tokens": None},
    {"gen_ai.operation.name": "text_completion"},
    {"gen_ai.operation.name": "completion"},
    {"gen_ai.operation.name": "generate_content"},
    {"gen_ai.response.id": None},
    {"gen_ai.response.finish_reasons": []},
    {"gen_ai.response.finish_reasons": ["length", "stop"]},
    {"gen_ai.request.max_tokens": 0, "gen_ai.request.stream": True},
    {"gen_ai.response.time_to_first_chunk": 0.25},
    {"error.type": "rate_limit"},
    {"gen_ai.conversation.id": "conv-9", "gen_ai.agent.name": "coder", "deployment.environment.name": "prod"},
    {"session.id": "  padded  "},
    {"gen_ai.conversation.id": "\u2003conv\u2003", "user.id": '"quoted-user"'},
    {"gen_ai.response.id": "r" * 300, "gen_ai.provider.name": "OpenAI"},
    {"gen_ai.request.stream": "true", "gen_ai.request.max_tokens": 2.5},
    {"gen_ai.response.time_to_first_chunk": 1, "error.type": " timeout "},
    {"error.type": "MARKERPROMPT42 refused: sk-test-MARKERKEY123"},  # free text: never an error type
    {"error.type": "e" * 65},
    {"error.type": "sk-test-MARKERKEY123"},
    {"server.port": "not a number", "gen_ai.request.stop_sequences": ["\n"]},
    {"gen_ai.response.model": "é-model", "gen_ai.request.model": "é-model"},
    # not plain: the importer's mapping takes these requests
    {"gen_ai.usage.input_tokens": "1200"},
    {"gen_ai.provider.name": " openai "},
    {"gen_ai.response.id": '"quoted"'},
    {"gen_ai.usage.cache_read.input_tokens": 10**9},
    {"gen_ai.usage.total_tokens": 5},
    {"gen_ai.input.messages": '[{"role": "user", "content": "hi"}]'},
    {"langfuse.observation.type": "generation"},
    {"gen_ai.operation.name": "chat", "llm.request.type": "chat"},
    {"gen_ai.request.model": "gpt-4o\u00a0"},
    {"gen_ai.response.finish_reasons": ["stop", ""]},
    {"gen_ai.response.finish_reasons": "stop"},
    {"gen_ai.usage.input_tokens": True},
    {"user.id": 7},
]


_LEAKY_MESSAGE = "Error code: 401 - MARKERPROMPT42 with key sk-test-MARKERKEY123"
"""A status message as an exception's text makes it: prompt and key included."""


def _request(rng: random.Random, index: int) -> tuple[list[SpanSpec], dict[str, Any]]:
    spans: list[SpanSpec] = []
    for _ in range(rng.randint(1, 4)):
        spans += _agent_tree(rng, index)
    trace = hex_id(rng, 16)
    for i in range(rng.randint(0, 8)):
        variant = rng.choice(_VARIANTS)
        spans.append(
            SpanSpec(
                trace,
                hex_id(rng, 8),
                hex_id(rng, 8),
                status_code=rng.choice([0, 1, 2]),
                status_message=rng.choice(["", "boom", "DEADLINE_EXCEEDED", _LEAKY_MESSAGE]),
                attributes=genai_attributes(rng, 10_000 + i, **variant),
            )
        )
    if rng.random() < 0.2:  # a model call wrapping another one: the outer one is not a call
        outer = SpanSpec(trace, hex_id(rng, 8), attributes=genai_attributes(rng, 99))
        spans.append(outer)
        spans.append(SpanSpec(trace, hex_id(rng, 8), outer.span_id, attributes=genai_attributes(rng, 98)))
    resource = rng.choice(
        [{}, {"service.name": "agent", "deployment.environment": "staging"}, {"user.id": "res"}]
    )
    return spans, resource


def test_quick_rows_equal_the_importers_rows_on_varied_requests() -> None:
    rng = random.Random(20260301)
    quick = slow = 0
    for index in range(150):
        spans, resource = _request(rng, index)
        data = request_bytes(spans, resource, resources=rng.choice([1, 2]))
        read = read_traces(data, "protobuf")
        assert read.calls.to_pylist() == reference_calls(data).to_pylist(), f"request {index}"
        # the spans table is the same whichever decoder read the request (JSON goes the importer's way)
        as_json = read_traces(request_json(spans, resource), "json") if rng.random() < 0.3 else None
        if as_json is not None and read.quick and len({(s.trace_id, s.span_id) for s in spans}) == len(spans):
            assert read.spans.sort_by("span_id").to_pylist() == as_json.spans.sort_by("span_id").to_pylist()
        quick += read.quick
        slow += not read.quick
    assert quick >= 40, "too few requests took the quick path: the comparison would prove little"
    assert slow >= 20, "too few requests took the importer's path: the fallbacks are not exercised"


def test_a_failed_calls_error_type_is_a_classification_on_both_paths() -> None:
    """The quick path's column rule is the importer's :func:`tokenomy.errors.error_kind`: the same rows,
    no free text (a status message, a free-text ``error.type``) stored, classifications kept."""
    rng = random.Random(11)
    trace = hex_id(rng, 16)
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        (_LEAKY_MESSAGE, {}, None),
        ("DEADLINE_EXCEEDED", {}, "DEADLINE_EXCEEDED"),
        (_LEAKY_MESSAGE, {"error.type": "rate_limit_error"}, "rate_limit_error"),
        ("timeout", {"error.type": _LEAKY_MESSAGE}, "timeout"),
        (_LEAKY_MESSAGE, {"error.type": "x" * 65}, None),
        ("sk-test-MARKERKEY123", {}, None),
        ("", {}, None),
        # keys of other shapes: known prefixes in any case, and long runs of letters and digits
        ("SK-MARKERKEY123", {}, None),
        ("AIzaSyD-abcdefghijklmnop0123456789", {}, None),
        ("gsk_MARKERKEY123", {"error.type": "hf_MARKERKEY123"}, None),
        ("0123456789abcdef0123456789abcdef", {}, None),
        ("ContextWindowExceededErrorException", {}, "ContextWindowExceededErrorException"),
    ]
    spans = [
        SpanSpec(
            trace,
            hex_id(rng, 8),
            status_code=2,
            status_message=message,
            attributes=genai_attributes(rng, i, **{"gen_ai.response.id": f"resp-err-{i}", **attrs}),
        )
        for i, (message, attrs, _) in enumerate(cases)
    ]
    data = request_bytes(spans)
    read = read_traces(data, "protobuf")
    assert read.quick
    rows = read.calls.to_pylist()
    assert rows == reference_calls(data).to_pylist()
    by_id = {row["id"]: row for row in rows}
    assert [by_id[f"resp-err-{i}"]["error_type"] for i in range(len(cases))] == [c[2] for c in cases]
    assert all(row["status"] == "error" for row in rows)
    assert "MARKER" not in json.dumps(rows, default=str)


def test_a_plain_request_is_quick_and_keeps_its_tree() -> None:
    rng = random.Random(7)
    spans = _agent_tree(rng, 1)
    read = read_traces(request_bytes(spans), "protobuf")
    assert read.quick
    calls = read.calls.to_pylist()
    assert {c["session_id"] for c in calls} == {"sess-1"}
    assert {c["agent"] for c in calls} == {"planner"}
    assert {c["user"] for c in calls} == {"u1"}
    assert sorted(c["step"] for c in calls) == list(range(1, len(calls) + 1))
    names = {row["name"]: row for row in read.spans.to_pylist()}
    assert names["workflow"]["session_id"] == "sess-1"
    assert names["invoke_agent planner"]["agent_name"] == "planner"
    assert read.spans.num_rows + read.calls.num_rows == len(spans)


@pytest.mark.realdata
def test_real_instrumentations_map_like_the_importer() -> None:
    """Spans of many real instrumentations, re-encoded as protobuf: whichever path maps them, same rows."""
    path = real_data_path("langfuse", "otel-mapping-test-spans.jsonl")
    checked = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        decoded = [s for s in decode_json(otlp_of_case(case), "real") if not isinstance(s, Exception)]
        if not decoded:
            continue
        data = request_bytes([span_from_reference(s) for s in decoded])
        assert read_traces(data, "protobuf").calls.to_pylist() == reference_calls(data).to_pylist()
        checked += 1
    assert checked > 20


def _attribute(key: str, value: bytes) -> bytes:
    """A raw span attribute: field 9 holding a ``KeyValue`` (short key and value)."""
    pair = b"\x0a" + bytes([len(key)]) + key.encode() + b"\x12" + bytes([len(value)]) + value
    return b"\x4a" + bytes([len(pair)]) + pair


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: s.replace(b"\x0a\x10" + b"\x01" * 16, b"\x0a\x03" + b"\x01" * 3), "a 3-byte trace id"),
        (
            lambda s: s + _attribute("session.id", b"\x0a\x01a\x0a\x01b"),
            "an AnyValue with two strings",
        ),
        (lambda s: s + _attribute("gen_ai.agent.name", b"\x0a\x01a"), "a key given twice"),
    ],
)
def test_requests_the_quick_reader_declines_map_like_the_importer(change: Any, why: str) -> None:
    attrs = {"gen_ai.agent.name": "x", "gen_ai.operation.name": "invoke_agent"}
    span = SpanSpec("01" * 16, "02" * 8, attributes=attrs)
    call = SpanSpec("01" * 16, "03" * 8, "02" * 8, attributes=genai_attributes(random.Random(1), 1))
    message = trace_service_pb2.ExportTraceServiceRequest()
    message.ParseFromString(request_bytes([span, call]))
    first, second = (s.SerializeToString() for s in message.resource_spans[0].scope_spans[0].spans)
    data = _field(1, _field(2, _field(2, change(first)) + _field(2, second)))  # bytes as sent, not re-encoded
    read = read_traces(data, "protobuf")
    assert not read.quick, why
    assert read.calls.to_pylist() == reference_calls(data).to_pylist()
    assert read.calls.num_rows == 1


def _field(number: int, payload: bytes) -> bytes:
    size, length = len(payload), bytearray()
    while True:
        length.append((size & 0x7F) | (0x80 if size >> 7 else 0))
        size >>= 7
        if not size:
            return bytes([number << 3 | 2]) + bytes(length) + payload


def test_parent_links_that_loop_map_like_the_importer() -> None:
    rng = random.Random(2)
    a = SpanSpec("01" * 16, "0a" * 8, "0b" * 8, attributes=genai_attributes(rng, 1))
    b = SpanSpec("01" * 16, "0b" * 8, "0a" * 8, attributes={"session.id": "s"})
    data = request_bytes([a, b])
    read = read_traces(data, "protobuf")
    assert not read.quick
    assert read.calls.to_pylist() == reference_calls(data).to_pylist()


def _sdk_specs(index: int) -> list[SpanSpec]:
    """What the capture SDK's OTLP target sends: an agent span, calls, a charge and an outcome."""
    t0 = datetime(2026, 3, 2, 9, 30, 0, 123000)
    trace, agent_id = f"{index + 1:032x}", f"{index + 1:016x}"
    agent = AgentSpan(trace, agent_id, "router", t0, t0 + timedelta(seconds=9), session_id=f"sdk-{index}")
    calls = [
        Call(
            id=f"sdk-{index}-{n}",
            provider="anthropic",
            request_model="claude-sonnet-4-6",
            started_at=t0 + timedelta(seconds=n),
            latency_ms=500.0,
            trace_id=trace,
            span_id=f"{index + 1:08x}{n + 1:08x}",
            parent_span_id=agent_id,
            session_id=f"sdk-{index}",
            step=n + 1,
            usage=Usage.of(input_uncached=10, cache_read=0, cache_write_5m=3, cache_write_1h=4 * n,
                           output_visible=5, reasoning=0),
            attribution=Attribution(team="support", agent="router", tags={"n": str(n)}),
            source="sdk",
        )
        for n in range(3)
    ]  # fmt: skip
    charge = Charge(
        id=f"chg-{index}", amount=Decimal("0.25"), kind="search_api", at=t0, session_id=agent.session_id
    )
    outcome = OutcomeEvent("session", f"sdk-{index}", t0, success=True)
    request = export_request([agent, *calls, charge, outcome], service_name="svc", version="1")
    return [span_from_reference(s) for s in decode_protobuf(request.SerializeToString(), "sdk")]


def test_sdk_spans_take_the_importers_path_and_keep_their_records() -> None:
    """The capture SDK's spans are never plain: mixed with plain spans, the importer maps the request."""
    rng = random.Random(11)
    for index in range(6):
        plain = _agent_tree(rng, index)
        sdk = _sdk_specs(index)
        data = request_bytes([*plain, *sdk] if index % 2 else sdk)
        read = read_traces(data, "protobuf")
        assert not read.quick
        assert read.calls.to_pylist() == reference_calls(data).to_pylist()
        sdk_calls = [c for c in read.calls.to_pylist() if c["source"] == "sdk"]
        assert [(c["step"], c["cache_write_1h"], c["team"]) for c in sdk_calls] == [
            (1, 0, "support"),
            (2, 4, "support"),
            (3, 8, "support"),
        ]
        assert read.charges.column("id").to_pylist() == [f"chg-{index}"]
        assert read.outcomes.column("id").to_pylist() == [f"sdk-{index}"]
        names = read.spans.column("name").to_pylist()
        assert "invoke_agent router" in names
        assert not any(n.startswith("tokenomy.") for n in names)


def test_a_charge_span_alone_is_not_taken_for_a_plain_span() -> None:
    charge, outcome = _sdk_specs(0)[-2:]
    for spec in (charge, outcome):
        read = read_traces(request_bytes([spec]), "protobuf")
        assert not read.quick
        assert read.spans.num_rows == 0
        assert read.charges.num_rows + read.outcomes.num_rows == 1


def test_memory_operations_are_tree_spans_on_either_path() -> None:
    """The conventions' memory operations (``search_memory``...) are never model calls: a memory span
    that names the embedding model it searched with is kept in the tree, and the request stays quick."""
    chat = SpanSpec(
        "ab" * 16,
        "0000000000000002",
        "0000000000000001",
        name="chat gpt-4o",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 9,
        },
    )
    memory = SpanSpec(
        "ab" * 16,
        "0000000000000001",
        name="search_memory",
        attributes={
            "gen_ai.operation.name": "search_memory",
            "gen_ai.request.model": "text-embedding-3-small",
        },
    )
    data = request_bytes([memory, chat])
    read = read_traces(data, "protobuf")
    assert read.quick
    assert [c["id"] for c in read.calls.to_pylist()] == [f"{'ab' * 16}:0000000000000002"]
    assert [s["name"] for s in read.spans.to_pylist()] == ["search_memory"]
    assert read.calls.to_pylist() == reference_calls(data).to_pylist()


def test_a_json_span_whose_token_count_is_no_number_is_rejected_by_name() -> None:
    """Read as no value, ``"12x"`` would store a call that counts no token; the span is rejected instead."""
    good = SpanSpec("cd" * 16, "0000000000000001", attributes={"gen_ai.request.model": "gpt-4o"})
    bad = SpanSpec("cd" * 16, "0000000000000002", attributes={"gen_ai.request.model": "gpt-4o"})
    body = json.loads(request_json([good, bad]))
    attributes = body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"]
    attributes.append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12x"}})
    read = read_traces(json.dumps(body).encode(), "json")
    assert (read.received, read.rejected, read.calls.num_rows) == (2, 1, 1)
    assert read.message == (
        "1 of 2 spans rejected: span 2 (resourceSpans[0].scopeSpans[0].spans[1]"
        '.attributes["gen_ai.usage.input_tokens"].intValue): '
        "expected an integer (a JSON number or a numeric string), got '12x'"
    )


def test_a_bytes_attribute_is_stored_alike_from_json_and_protobuf() -> None:
    """OTLP/JSON carries bytes as base64, protobuf raw: both are stored as the same hex."""
    spans = [
        SpanSpec(
            "ef" * 16, "0000000000000001", name="tool", attributes={"gen_ai.tool.call.id": b"\x01\x02\xff"}
        )
    ]
    from_protobuf = read_traces(request_bytes(spans), "protobuf").spans.to_pylist()
    from_json = read_traces(request_json(spans), "json").spans.to_pylist()
    assert [json.loads(r["attributes"]) for r in from_json] == [{"gen_ai.tool.call.id": "0102ff"}]
    assert from_json == from_protobuf


@pytest.mark.parametrize("count", [10**10 + 1, 2**62])
def test_a_span_with_more_tokens_than_one_call_holds_is_rejected_by_name(count: int) -> None:
    """As `tokenomy import` rejects it: two such calls made every report's sums overflow 64 bits."""
    model = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": 5}
    good = SpanSpec("ce" * 16, "0000000000000001", attributes={**model, "gen_ai.usage.input_tokens": 10**10})
    huge = SpanSpec("ce" * 16, "00000000000000f2", attributes={**model, "gen_ai.usage.input_tokens": count})
    read = read_traces(request_bytes([good, huge]), "protobuf")
    assert (read.received, read.rejected, read.calls.num_rows) == (2, 1, 1)
    assert read.calls.column("input_total").to_pylist() == [10**10]
    assert read.message == (
        "1 of 2 spans rejected: span 00000000000000f2 (usage.input_total): a count larger than one call can"
        " hold (at most 10,000,000,000 tokens, 9,223,372,036,854,775,807 of anything else)"
    )


def test_a_trace_of_several_sessions_gives_its_other_calls_none_on_either_path() -> None:
    """A worker's trace held two sessions and a session-less call: the call took the first session
    seen (and its cost went to that session). A trace of one session still gives it to all its calls."""
    rng = random.Random(5)
    several, single = hex_id(rng, 16), hex_id(rng, 16)
    spans = [
        SpanSpec(several, hex_id(rng, 8), attributes=genai_attributes(rng, 0, **{"session.id": "zeta"})),
        SpanSpec(several, hex_id(rng, 8), attributes=genai_attributes(rng, 1, **{"session.id": "alpha"})),
        SpanSpec(
            several, hex_id(rng, 8), attributes=genai_attributes(rng, 2, **{"gen_ai.response.id": "job"})
        ),
        SpanSpec(single, hex_id(rng, 8), attributes=genai_attributes(rng, 3, **{"session.id": "one"})),
        SpanSpec(
            single, hex_id(rng, 8), attributes=genai_attributes(rng, 4, **{"gen_ai.response.id": "step"})
        ),
    ]
    data = request_bytes(spans)
    read = read_traces(data, "protobuf")
    assert read.quick
    rows = read.calls.to_pylist()
    assert rows == reference_calls(data).to_pylist()
    sessions = {row["id"]: row["session_id"] for row in rows}
    assert (sessions["job"], sessions["step"]) == (None, "one")
    assert sorted(s for s in sessions.values() if s) == ["alpha", "one", "one", "zeta"]


def test_an_error_type_on_a_span_whose_status_is_not_error_is_a_failed_call_on_either_path() -> None:
    """The conventions set ``error.type`` only when the operation ended in an error; some
    instrumentations leave the status unset (or OK): such calls were stored as successes."""
    rng = random.Random(9)
    trace = hex_id(rng, 16)
    cases = [(0, "timeout"), (1, "rate_limit_error"), (0, None), (2, None)]
    spans = [
        SpanSpec(
            trace,
            hex_id(rng, 8),
            status_code=status,
            attributes=genai_attributes(rng, i, **{"gen_ai.response.id": f"r{i}", "error.type": kind}),
        )
        for i, (status, kind) in enumerate(cases)
    ]
    data = request_bytes(spans)
    read = read_traces(data, "protobuf")
    assert read.quick
    rows = read.calls.to_pylist()
    assert rows == reference_calls(data).to_pylist()
    assert [(r["id"], r["status"], r["error_type"]) for r in sorted(rows, key=lambda r: r["id"])] == [
        ("r0", "error", "timeout"),
        ("r1", "error", "rate_limit_error"),
        ("r2", "ok", None),
        ("r3", "error", None),
    ]
