"""OTLP ``AnyValue`` bytes decoded into plain values, as the importer's decoder gives them.

The collector's quick path reads requests as columns (:mod:`tokenomy.server.otlp_columns`) and
keeps each attribute's value as the raw bytes of its ``AnyValue`` until it is needed; the few
spans whose attributes are needed whole (agent, tool and other spans kept in the ``spans``
table) are decoded here. Strings, integers and booleans are read directly; everything else goes
through protobuf's own ``AnyValue`` class. Values come out as
:func:`tokenomy.importers.decode_protobuf` makes them: arrays as lists, key-value lists as dicts,
bytes as lower-case hex.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1 import common_pb2

KIND_NAMES: Final = ("unspecified", "internal", "server", "client", "producer", "consumer")
"""``Span.kind`` values by number, as the spans table stores them."""

_DOUBLE: Final = struct.Struct("<d")


def any_value(raw: bytes) -> Any:
    """An ``AnyValue``'s bytes as a plain value, as the reference decoder gives it.

    Strings, integers and booleans are read directly; arrays become lists, key-value lists
    dicts, bytes lower-case hex. An empty value is None.

    Raises:
        DecodeError: The bytes are not an ``AnyValue`` (or a string is not UTF-8).
    """
    if not raw:
        return None
    tag, size = raw[0], len(raw)
    if tag == 0x0A and size >= 2 and raw[1] < 0x80 and size == 2 + raw[1]:
        try:
            return raw[2:].decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"a string attribute is not UTF-8: {exc}") from exc
    if tag == 0x18:
        if size == 2 and raw[1] < 0x80:
            return raw[1]
        if size == 3 and raw[1] >= 0x80 and raw[2] < 0x80:
            return (raw[1] & 0x7F) | (raw[2] << 7)
        if 2 <= size <= 11 and raw[-1] < 0x80 and all(b >= 0x80 for b in raw[1:-1]):
            return _signed(_varint(raw, 1))
    if tag == 0x10 and size == 2 and raw[1] < 0x80:
        return raw[1] != 0
    if tag == 0x21 and size == 9:
        return _DOUBLE.unpack_from(raw, 1)[0]
    value = common_pb2.AnyValue()
    value.ParseFromString(raw)
    return proto_value(value)


def proto_value(value: Any) -> Any:
    """A protobuf ``AnyValue`` as a plain value (lists, dicts, hex for bytes)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [proto_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: proto_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return getattr(value, kind)


def _varint(raw: bytes, start: int) -> int:
    result, shift = 0, 0
    for byte in raw[start:]:
        result |= (byte & 0x7F) << shift
        shift += 7
    return result


def _signed(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
