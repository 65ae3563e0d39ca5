"""The lockstep walker reads every field protobuf wrote, and refuses what it cannot vouch for."""

from __future__ import annotations

import random

import numpy as np
import pytest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tokenomy.server.otlp_fields import (
    FIXED64,
    LEN,
    VARINT,
    Fields,
    UnreadableError,
    check_wires,
    fixed64,
    one_field,
    padded,
    read_fields,
    single,
    varints,
)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _walk(messages: list[bytes], **options: int) -> tuple[bytes, Fields]:
    data = b"".join(messages)
    ends = np.cumsum([len(m) for m in messages], dtype=np.int64)
    starts = ends - np.array([len(m) for m in messages], dtype=np.int64)
    return data, read_fields(padded(data), starts, ends, **options)


def _span(rng: random.Random, index: int) -> trace_pb2.Span:
    span = trace_pb2.Span(name=f"span {index} " + "x" * rng.randint(0, 300), kind=rng.randint(0, 5))  # type: ignore[arg-type]
    if rng.random() < 0.9:
        span.trace_id = rng.randbytes(16)
    span.start_time_unix_nano = rng.randint(0, 2**63)
    for i in range(rng.randint(0, 40)):
        span.attributes.add(
            key=f"k{i}" * rng.randint(1, 70),
            value=common_pb2.AnyValue(int_value=rng.randint(-(2**63), 2**63 - 1)),
        )
    if rng.random() < 0.5:
        span.events.add(name="event", time_unix_nano=5)
    if rng.random() < 0.5:
        span.status.message = "bad"
    return span


def test_every_field_of_every_message_is_read_as_protobuf_wrote_it() -> None:
    rng = random.Random(1)
    spans = [_span(rng, i) for i in range(60)] + [trace_pb2.Span()]
    data, fields = _walk([s.SerializeToString() for s in spans])
    for index, span in enumerate(spans):
        mine = fields.where(fields.owner == index)
        order = [
            f.number for f, _ in span.ListFields() for _ in (getattr(span, f.name) if f.is_repeated else [0])
        ]
        assert sorted(mine.number.tolist()) == sorted(order)
        names = mine.numbered(5)
        assert [data[s:e].decode() for s, e in zip(names.start, names.end, strict=True)] == (
            [span.name] if span.name else []
        )
        attributes = mine.numbered(9)
        raw = [data[s:e] for s, e in zip(attributes.start, attributes.end, strict=True)]
        assert raw == [kv.SerializeToString() for kv in span.attributes]
        if span.kind:
            assert mine.numbered(6).value.tolist() == [span.kind]
        starts = mine.numbered(7)
        assert fixed64(padded(data), starts.start).tolist() == [span.start_time_unix_nano][: len(starts)]
        assert len(starts) == (1 if span.start_time_unix_nano else 0)
        assert set(mine.wire[mine.number == 9].tolist()) <= {LEN}


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**35, 2**63 - 1, -1, -(2**63), -12345])
def test_varints_read_as_int64(value: int) -> None:
    raw = _varint(value)
    numbers, ends = varints(padded(b"\x00" + raw), np.array([1], dtype=np.int64))
    assert numbers.tolist() == [value]
    assert ends.tolist() == [1 + len(raw)]


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (b"\x0a\x05abc", "a length past the end of the message"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "a varint longer than ten bytes"),
        (b"\x0b\x00", "a group (wire type 3)"),
        (b"\x0e\x00", "wire type 6"),
        (b"\x02\x00", "field number 0"),
        (b"\x09\x01\x02", "a fixed64 cut short"),
    ],
)
def test_what_the_walker_cannot_vouch_for_is_unreadable(message: bytes, why: str) -> None:
    with pytest.raises(UnreadableError):
        _walk([b"\x08\x01", message])
    assert why


def test_a_message_longer_than_the_step_limit_is_unreadable() -> None:
    long = b"\x08\x01" * 20
    assert len(_walk([long], max_steps=20)[1]) == 20
    with pytest.raises(UnreadableError, match="more than 19 fields"):
        _walk([long], max_steps=19)


def test_one_field_reads_single_field_messages_and_declines_the_others() -> None:
    values = [
        common_pb2.AnyValue(string_value="é" * 100),
        common_pb2.AnyValue(int_value=-5),
        common_pb2.AnyValue(),
    ]
    data = b"".join(v.SerializeToString() for v in values)
    sizes = np.array([len(v.SerializeToString()) for v in values], dtype=np.int64)
    ends = np.cumsum(sizes)
    found = one_field(padded(data), ends - sizes, ends)
    assert found is not None
    assert found.owner.tolist() == [0, 1]
    assert found.number.tolist() == [1, 3]
    assert found.value.tolist() == [0, -5]
    assert data[found.start[0] : found.end[0]].decode() == "é" * 100
    two = b"\x0a\x01a\x18\x01"
    assert one_field(padded(two), np.array([0]), np.array([len(two)])) is None


def test_repeated_single_fields_and_unexpected_wire_types_are_refused() -> None:
    _, fields = _walk([b"\x08\x01\x08\x02", b"\x08\x01\x12\x00"])
    with pytest.raises(UnreadableError, match="appears twice"):
        single(fields, 2, (1,))
    single(fields, 2, (2,))
    check_wires(fields, {1: VARINT, 2: LEN})
    with pytest.raises(UnreadableError, match="unexpected wire type"):
        check_wires(fields, {1: FIXED64})
