"""A request read as columns holds what the importer's decoder reads: ids, times, status, every attribute."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.server.support import SpanSpec, request_bytes
from tests.server.test_otlp_wire import VALUES
from tokenomy.importers import decode_protobuf
from tokenomy.server.otlp_columns import STRING, SpanColumns, read_columns
from tokenomy.server.otlp_fields import UnreadableError
from tokenomy.server.otlp_keys import CODES, VOCABULARY, VOCABULARY_ARRAY
from tokenomy.server.otlp_wire import any_value

KEYS = ["gen_ai.operation.name", "gen_ai.usage.input_tokens", "session.id", "k" * 200, "café", "x"]


def _attributes(columns: SpanColumns, span: int) -> dict[str, Any]:
    attrs = columns.attributes
    found = {}
    for index in range(len(attrs.owner)):
        if attrs.owner[index] == span:
            found[attrs.keys[index].as_py().decode()] = any_value(columns.value_bytes(index))
    return found


def _request(rng: random.Random) -> tuple[list[SpanSpec], dict[str, Any]]:
    specs = [
        SpanSpec(
            trace_id=rng.choice([None, "00" * 16, bytes(rng.randint(0, 255) for _ in range(16)).hex()]),
            span_id=rng.choice([None, bytes(rng.randint(1, 255) for _ in range(8)).hex()]),
            parent_span_id=rng.choice([None, "00" * 8, "0102030405060708"]),
            name=rng.choice(["", "chat", "é" * 150]),
            kind=rng.randint(0, 5),
            start_ns=rng.choice([0, rng.randint(1, 2**61)]),
            attributes={rng.choice(KEYS) + str(j % 3): rng.choice(VALUES) for j in range(rng.randint(0, 8))},
            status_code=rng.randint(0, 2),
            status_message=rng.choice(["", "bad", "ü" * 200]),
        )
        for _ in range(rng.randint(1, 30))
    ]
    return specs, {"service.name": "svc", "n": rng.randint(0, 9)}


@pytest.mark.parametrize("seed", range(12))
def test_columns_hold_what_the_importers_decoder_reads(seed: int) -> None:
    rng = random.Random(seed)
    specs, resource = _request(rng)
    data = request_bytes(specs, resource, resources=rng.randint(1, 3))
    columns = read_columns(data, VOCABULARY_ARRAY)
    reference = decode_protobuf(data, "test")
    message = trace_service_pb2.ExportTraceServiceRequest()
    message.ParseFromString(data)
    kinds = [s.kind for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert columns.count == len(reference)
    assert columns.trace_id.to_pylist() == [s.trace_id for s in reference]
    assert columns.span_id.to_pylist() == [s.span_id for s in reference]
    assert columns.parent_span_id.to_pylist() == [s.parent_span_id for s in reference]
    assert columns.name.to_pylist() == [s.name for s in reference]
    assert columns.kind.tolist() == kinds
    assert [int(n) or None for n in columns.start_ns] == [s.start_ns for s in reference]
    assert [int(n) or None for n in columns.end_ns] == [s.end_ns for s in reference]
    assert columns.status_code.tolist() == [s.status_code for s in reference]
    assert columns.status_message.to_pylist() == [s.status_message for s in reference]
    assert [columns.resources[r] for r in columns.resource] == [dict(s.resource) for s in reference]
    for index, span in enumerate(reference):
        assert _attributes(columns, index) == dict(span.attributes), f"span {index}"


def test_keys_are_coded_and_values_located() -> None:
    spec = SpanSpec(
        "01" * 16, "02" * 8, attributes={"gen_ai.usage.input_tokens": 1200, "session.id": "s-1", "other": 1}
    )
    columns = read_columns(request_bytes([spec]), VOCABULARY_ARRAY)
    attrs = columns.attributes
    codes = attrs.code.tolist()
    assert codes == [CODES["gen_ai.usage.input_tokens"], CODES["session.id"], -1]
    assert attrs.value[0] == 1200
    assert attrs.kind[1] == STRING
    assert columns.data[attrs.start[1] : attrs.end[1]] == b"s-1"
    assert len(VOCABULARY) == len(set(VOCABULARY))


def _one_span_request(span: bytes) -> bytes:
    """A request holding one span given as raw bytes (in a ScopeSpans, in a ResourceSpans)."""

    def field(number: int, payload: bytes) -> bytes:
        return (
            bytes([number << 3 | 2, len(payload)]) + payload if len(payload) < 128 else _long(number, payload)
        )

    return field(1, field(2, field(2, span)))


def _long(number: int, payload: bytes) -> bytes:
    size, out = len(payload), bytearray()
    while True:
        out.append((size & 0x7F) | (0x80 if size >> 7 else 0))
        size >>= 7
        if not size:
            return bytes([number << 3 | 2]) + bytes(out) + payload


def test_unusual_layouts_read_like_protobuf() -> None:
    value_first = b"\x12\x03\x18\xd2\x09" + b"\x0a\x01k"  # KeyValue{value: 1234, key: "k"}
    no_value = b"\x0a\x01n"  # KeyValue{key: "n"}
    empty_value = b"\x0a\x01e\x12\x00"
    span = b"\x2a\x04name" + b"\x4a" + bytes([len(value_first)]) + value_first
    span += b"\x4a" + bytes([len(no_value)]) + no_value + b"\x4a" + bytes([len(empty_value)]) + empty_value
    span += b"\x0a\x10" + b"\x11" * 16 + b"\x12\x08" + b"\x22" * 8  # ids after the attributes
    data = _one_span_request(span)
    columns = read_columns(data, VOCABULARY_ARRAY)
    (reference,) = decode_protobuf(data, "test")
    assert _attributes(columns, 0) == dict(reference.attributes) == {"k": 1234, "n": None, "e": None}
    assert (columns.trace_id[0].as_py(), columns.span_id[0].as_py()) == (
        reference.trace_id,
        reference.span_id,
    )
    assert columns.name[0].as_py() == "name"


@pytest.mark.parametrize(
    ("span", "why"),
    [
        (b"\x0a\x03abc", "a trace id of 3 bytes (the importer keeps it; the quick path does not)"),
        (b"\x2a\x02\xff\xfe", "a name that is not UTF-8"),
        (b"\x4a\x07\x0a\x01k\x12\x02\x10\x01" + b"\x4a\x00", "a key-value pair cut short"),
        (b"\x4a\x0a\x0a\x01k\x12\x05\x0a\x01a\x18\x01", "an AnyValue holding two values"),
        (b"\x4a\x06\x0a\x01k\x0a\x01j", "a key given twice"),
        (b"\x30\x80\x80\x80\x80\x10", "a kind beyond 32 bits"),
    ],
)
def test_what_the_columns_cannot_vouch_for_is_unreadable(span: bytes, why: str) -> None:
    with pytest.raises(UnreadableError):
        read_columns(_one_span_request(span), VOCABULARY_ARRAY)
    assert why


@pytest.mark.parametrize("cut", [1, 7, 100, -1])
def test_a_truncated_request_is_unreadable(cut: int) -> None:
    data = request_bytes([SpanSpec("01" * 16, "02" * 8, attributes={"gen_ai.operation.name": "chat"})])
    with pytest.raises(UnreadableError):
        read_columns(data[:cut], VOCABULARY_ARRAY)
