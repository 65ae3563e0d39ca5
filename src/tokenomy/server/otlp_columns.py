"""A protobuf trace request as columns: every span's ids, name, kind, times and status, every attribute.

The outer levels are read by protobuf's own parser (upb, in C) with a *wire-compatible* schema
built here from descriptors, in which a scope's spans are declared as plain ``bytes`` (a message
and a byte string are encoded alike): the request, each resource with its attributes, and the raw
bytes of each span. The spans, their attributes (``repeated KeyValue``) and the attributes'
values (``AnyValue``) are then read for all spans at once by :mod:`tokenomy.server.otlp_fields`,
so no Python object is made per attribute. Attribute keys are looked up in a vocabulary given by
the caller (one hash lookup in Arrow for all keys); values stay where they are in the buffer,
typed by the ``AnyValue`` field that holds them, until a caller asks for a column of them.

Fields that no reader here needs (events, links, trace state, dropped counts, the scope) are
skipped without being decoded, as protobuf skips unknown fields. What this module cannot vouch
for raises :class:`~tokenomy.server.otlp_fields.UnreadableError`, and the request goes to the
importer's decoder instead, which decides whether it is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from numpy.typing import NDArray

from tokenomy.server.otlp_fields import (
    FIXED64,
    LEN,
    VARINT,
    Bytes,
    Fields,
    Ints,
    UnreadableError,
    check_wires,
    fixed64,
    one_field,
    padded,
    read_fields,
    single,
    varints,
)
from tokenomy.server.otlp_wire import any_value

STRING, BOOL, INT, DOUBLE, ARRAY, KVLIST, BYTES = range(1, 8)
"""``AnyValue`` field numbers, used as the kind of an attribute's value (0: no value)."""
VALUE_WIRES: Final = {
    STRING: LEN,
    BOOL: VARINT,
    INT: VARINT,
    DOUBLE: FIXED64,
    ARRAY: LEN,
    KVLIST: LEN,
    BYTES: LEN,
}
_SPAN_WIRES: Final = {1: LEN, 2: LEN, 4: LEN, 5: LEN, 6: VARINT, 7: FIXED64, 8: FIXED64, 9: LEN, 15: LEN}
"""Span fields read here (trace.proto numbers) and their wire types."""
_TRACE_ID, _SPAN_ID, _PARENT_ID, _NAME, _KIND, _START, _END, _ATTRIBUTE, _STATUS = _SPAN_WIRES
_ID_COLUMNS: Final = {_TRACE_ID: (0, 16), _SPAN_ID: (16, 24), _PARENT_ID: (24, 32)}
_ID_BYTES: Final = 32
_MAX_TIME: Final = 1 << 62
_MAX_INT32: Final = (1 << 31) - 1
_MAX_DATA: Final = (1 << 31) - 1
_HEX: Final = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)
_PACKAGE: Final = "tokenomy.otlp_columns"
_F = descriptor_pb2.FieldDescriptorProto


@dataclass(frozen=True, slots=True)
class Attributes:
    """Every attribute of every span, one entry per key-value pair, in request order."""

    owner: Ints
    """The span's index."""
    code: Ints
    """The key's index in the vocabulary, -1 when it is not in it."""
    keys: Any
    """The keys as an Arrow binary array (decode only what is needed)."""
    kind: Ints
    """The value's ``AnyValue`` field (:data:`STRING`...), 0 when there is no value."""
    start: Ints
    """Where the value's payload starts (the text of a string, the 8 bytes of a double...)."""
    end: Ints
    value: Ints
    """An integer or boolean value."""
    raw_start: Ints
    """Where the whole ``AnyValue`` starts (for :func:`~tokenomy.server.otlp_wire.any_value`)."""
    raw_end: Ints


@dataclass(frozen=True, slots=True)
class SpanColumns:
    """The spans of one request, as columns (one entry per span, in request order)."""

    data: bytes
    """The spans' bytes, one after the other (every offset below points into it)."""
    arrow_data: Any
    """``data`` as an Arrow buffer (for :func:`texts`)."""
    buf: Bytes
    """``data`` followed by zero padding, as a numpy array."""
    ids: NDArray[np.uint8]
    """Each span's trace, span and parent ids, raw: 16, 8 and 8 bytes (all zeros when absent)."""
    trace_id: Any
    """Arrow strings, lower-case hex; null when absent or all zeros (so are the other ids)."""
    span_id: Any
    parent_span_id: Any
    name: Any
    """Arrow strings ("" when absent)."""
    kind: Ints
    start_ns: Ints
    """0 when absent."""
    end_ns: Ints
    status_code: Ints
    status_message: Any
    """Arrow strings, null when empty."""
    resource: Ints
    """Each span's index in ``resources``."""
    resources: list[dict[str, Any]]
    """Each resource's attributes, decoded."""
    attributes: Attributes

    @property
    def count(self) -> int:
        """How many spans the request holds."""
        return int(self.kind.size)

    def value_bytes(self, index: int) -> bytes:
        """The raw ``AnyValue`` of attribute ``index``."""
        attrs = self.attributes
        return self.data[attrs.raw_start[index] : attrs.raw_end[index]]


def _add_message(
    fd: descriptor_pb2.FileDescriptorProto, name: str, fields: Sequence[tuple[str, int, Any, str | None]]
) -> descriptor_pb2.DescriptorProto:
    msg = fd.message_type.add(name=name)
    for fname, number, ftype, type_name in fields:
        added = msg.field.add(name=fname, number=number, type=ftype, label=_F.LABEL_REPEATED)
        if type_name is not None:
            added.type_name = f".{_PACKAGE}.{type_name}"
    return msg


def _request_class() -> Any:
    """``ExportTraceServiceRequest`` down to raw span bytes (field numbers from the OTLP protos)."""
    fd = descriptor_pb2.FileDescriptorProto(
        name="tokenomy_otlp_columns.proto", package=_PACKAGE, syntax="proto3"
    )
    resource = _add_message(fd, "Resource", [("attributes", 1, _F.TYPE_MESSAGE, "Resource.AttributesEntry")])
    entry = resource.nested_type.add(name="AttributesEntry")
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=_F.TYPE_BYTES, label=_F.LABEL_OPTIONAL)
    entry.options.map_entry = True
    _add_message(fd, "ScopeSpans", [("spans", 2, _F.TYPE_BYTES, None)])
    spans = _add_message(fd, "ResourceSpans", [("scope_spans", 2, _F.TYPE_MESSAGE, "ScopeSpans")])
    spans.field.add(
        name="resource",
        number=1,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_OPTIONAL,
        type_name=f".{_PACKAGE}.Resource",
    )
    _add_message(fd, "Request", [("resource_spans", 1, _F.TYPE_MESSAGE, "ResourceSpans")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Request"))


_REQUEST: Final = _request_class()


def read_columns(body: bytes, vocabulary: Any) -> SpanColumns:
    """The spans of a protobuf ``ExportTraceServiceRequest`` as columns.

    Args:
        body: The serialized request.
        vocabulary: An Arrow binary array of the attribute keys the caller wants coded.

    Raises:
        UnreadableError: The request is not one this reader can vouch for (it may still be valid).
    """
    request = _REQUEST()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError, or a string that is not UTF-8
        raise UnreadableError(str(exc)) from exc
    chunks: list[bytes] = []
    owners: list[int] = []
    resources: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        try:
            resources.append({k: any_value(v) for k, v in resource_spans.resource.attributes.items()})
        except Exception as exc:  # a value that does not decode
            raise UnreadableError(str(exc)) from exc
        for scope_spans in resource_spans.scope_spans:
            spans = list(scope_spans.spans)
            chunks.extend(spans)
            owners.extend([len(resources) - 1] * len(spans))
    data = b"".join(chunks)
    if len(data) > _MAX_DATA:
        raise UnreadableError("the request is too large for 32-bit offsets")
    lengths = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
    ends = np.cumsum(lengths)
    return _spans(data, (ends - lengths, ends), np.array(owners, dtype=np.int64), resources, vocabulary)


def _spans(
    data: bytes, bounds: tuple[Ints, Ints], owners: Ints, resources: list[dict[str, Any]], vocabulary: Any
) -> SpanColumns:
    starts, ends = bounds
    buf = padded(data)
    count = int(starts.size)
    fields = read_fields(buf, starts, ends)
    check_wires(fields, _SPAN_WIRES)
    single(fields, count, (_TRACE_ID, _SPAN_ID, _PARENT_ID, _NAME, _KIND, _START, _END, _STATUS))
    arrow_data = pa.py_buffer(data)
    ids = _raw_ids(buf, fields, count)
    code, message = _status(buf, arrow_data, fields.numbered(_STATUS), count)
    return SpanColumns(
        data=data,
        arrow_data=arrow_data,
        buf=buf,
        ids=ids,
        trace_id=_hex(ids[:, :16]),
        span_id=_hex(ids[:, 16:24]),
        parent_span_id=_hex(ids[:, 24:]),
        name=_names(arrow_data, fields.numbered(_NAME), count),
        kind=_int32(fields.numbered(_KIND), count),
        start_ns=_times(buf, fields.numbered(_START), count),
        end_ns=_times(buf, fields.numbered(_END), count),
        status_code=code,
        status_message=message,
        resource=owners,
        resources=resources,
        attributes=_attributes(buf, arrow_data, fields.numbered(_ATTRIBUTE), vocabulary),
    )


def texts(data: Any, start: Ints, end: Ints, *, pick: Ints | None = None, binary: bool = False) -> Any:
    """The byte ranges ``data[start[i]:end[i]]`` (which must not overlap) as an Arrow string array.

    The ranges become every other element of one binary array laid over ``data`` (text, gap,
    text...), so nothing is copied until the texts are picked out, all at once.

    Args:
        data: The bytes, as an Arrow buffer.
        start: Where each text starts.
        end: Where each text ends.
        pick: The ranges to return, in this order (default: all, in the order given).
        binary: Keep the texts as bytes (no UTF-8 check).

    Raises:
        UnreadableError: A text is not UTF-8.
    """
    count = int(start.size)
    if count > 1 and (start[1:] < end[:-1]).any():
        order = np.argsort(start, kind="stable")
        inverse = np.empty(count, dtype=np.int64)
        inverse[order] = np.arange(count)
        pick = inverse if pick is None else inverse[pick]
        start, end = start[order], end[order]
    chosen = np.arange(count) if pick is None else pick
    if chosen.size == 0:
        return pa.array([], type=pa.binary() if binary else pa.string())
    offsets = np.empty(2 * count, dtype=np.int32)
    offsets[0::2], offsets[1::2] = start, end  # text, gap, text, gap... (every other element)
    spread = pa.Array.from_buffers(pa.binary(), 2 * count - 1, [None, pa.py_buffer(offsets), data])
    picked = spread.take(pa.array(2 * chosen))
    if binary:
        return picked
    text = picked.view(pa.string())
    try:
        text.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise UnreadableError("a string is not UTF-8") from exc
    return text


def scatter(values: Any, owners: Ints, count: int) -> Any:
    """An Arrow array of ``count`` entries: ``values[i]`` at ``owners[i]``, null elsewhere."""
    index = np.full(count, -1, dtype=np.int64)
    index[owners] = np.arange(owners.size)
    return values.take(pa.array(index, mask=index < 0))


def _names(data: Any, names: Fields, count: int) -> Any:
    text = texts(data, names.start, names.end)
    if len(names) == count and (names.owner == np.arange(count)).all():
        return text
    return scatter(text, names.owner, count).fill_null("")


def _raw_ids(buf: Bytes, fields: Fields, count: int) -> NDArray[np.uint8]:
    """Every span's trace, span and parent ids side by side (16 + 8 + 8 bytes; zeros when absent)."""
    ids = np.zeros((count, _ID_BYTES), dtype=np.uint8)
    for number, (low, high) in _ID_COLUMNS.items():
        found = fields.numbered(number)
        lengths = found.end - found.start
        if ((lengths != high - low) & (lengths != 0)).any():
            raise UnreadableError(f"an id is not {high - low} bytes long")
        found = found.where(lengths != 0)
        ids[found.owner, low:high] = buf[found.start[:, None] + np.arange(high - low)]
    return ids


def _hex(ids: NDArray[np.uint8]) -> Any:
    """Ids as lower-case hex strings, null when all zeros (as the importer reads absent ids too)."""
    count, size = ids.shape
    digits = np.ascontiguousarray(_HEX[ids])  # two hex digits per byte, as one 16-bit word
    offsets = np.arange(count + 1, dtype=np.int32) * (2 * size)
    valid = np.packbits(ids.any(axis=1), bitorder="little")
    buffers = [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(digits)]
    return pa.Array.from_buffers(pa.string(), count, buffers)


def _int32(fields: Fields, count: int) -> Ints:
    """An enum field per message (0 when absent); an out-of-range value is left to protobuf."""
    if fields.value.size and (fields.value.min() < -_MAX_INT32 - 1 or fields.value.max() > _MAX_INT32):
        raise UnreadableError("an enum value is out of the 32-bit range")
    out = np.zeros(count, dtype=np.int64)
    out[fields.owner] = fields.value
    return out


def _times(buf: Bytes, fields: Fields, count: int) -> Ints:
    words = fixed64(buf, fields.start)
    if words.size and words.max() >= _MAX_TIME:
        raise UnreadableError("a time is beyond year 2116")
    out = np.zeros(count, dtype=np.int64)
    out[fields.owner] = words.astype(np.int64)
    return out


def _status(buf: Bytes, data: Any, status: Fields, count: int) -> tuple[Ints, Any]:
    """Each span's status code (0 when absent) and message (null when absent or empty)."""
    inner = read_fields(buf, status.start, status.end)
    check_wires(inner, {2: LEN, 3: VARINT})
    single(inner, len(status), (2, 3))
    code = np.zeros(count, dtype=np.int64)
    code[status.owner] = _int32(inner.numbered(3), len(status))
    messages = inner.numbered(2)
    messages = messages.where(messages.end > messages.start)  # an empty message reads as None
    text = texts(data, messages.start, messages.end)
    return code, scatter(text, status.owner[messages.owner], count)


def _attributes(buf: Bytes, data: Any, pairs: Fields, vocabulary: Any) -> Attributes:
    """Every key-value pair: its key (coded) and where its value lies."""
    pairs = pairs.where(np.argsort(pairs.owner, kind="stable"))  # request order (steps keep it per span)
    key_start, key_end, raw_start, raw_end = _split_pairs(buf, pairs)
    key_bytes = texts(data, key_start, key_end, binary=True)
    codes = pc.index_in(key_bytes, value_set=vocabulary).fill_null(-1).to_numpy(zero_copy_only=False)
    kind, start, end, value = _values(buf, raw_start, raw_end)
    return Attributes(
        owner=pairs.owner,
        code=np.asarray(codes, dtype=np.int64),
        keys=key_bytes,
        kind=kind,
        start=start,
        end=end,
        value=value,
        raw_start=raw_start,
        raw_end=raw_end,
    )


def _split_pairs(buf: Bytes, pairs: Fields) -> tuple[Ints, Ints, Ints, Ints]:
    """Where each ``KeyValue``'s key and value lie (an absent value is an empty range)."""
    start, end = pairs.start, pairs.end
    size = buf[start + 1].astype(np.int64)
    middle = np.minimum(start + 2 + size, end)
    length, value = varints(buf, middle + 1)
    if ((buf[start] == 0x0A) & (size < 0x80) & (buf[middle] == 0x12) & (value + length == end)).all():
        return start + 2, middle, value, end  # the usual layout: key, then value
    count = len(pairs)
    inner = read_fields(buf, start, end)
    check_wires(inner, {1: LEN, 2: LEN})
    single(inner, count, (1, 2))
    keys = inner.numbered(1)
    if len(keys) != count:
        raise UnreadableError("an attribute has no key")
    keys = keys.where(np.argsort(keys.owner, kind="stable"))
    values = inner.numbered(2)
    raw_start, raw_end = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    raw_start[values.owner], raw_end[values.owner] = values.start, values.end
    return keys.start, keys.end, raw_start, raw_end


def _values(buf: Bytes, raw_start: Ints, raw_end: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    """Each value's kind (the ``AnyValue`` field holding it, 0 for none), payload range and integer."""
    inner = one_field(buf, raw_start, raw_end)
    if inner is None:  # an AnyValue with two fields (protobuf keeps the last): rare
        raise UnreadableError("an AnyValue holds more than one value")
    if len(inner) and (inner.number.max() > BYTES):
        raise UnreadableError("an AnyValue has an unknown field")
    check_wires(inner, VALUE_WIRES)
    count = raw_start.size
    if len(inner) == count:  # every pair has a value, each one field (owners in order)
        return inner.number, inner.start, inner.end, inner.value
    kind, start, end, value = (np.zeros(count, dtype=np.int64) for _ in range(4))
    kind[inner.owner], start[inner.owner], end[inner.owner], value[inner.owner] = (
        inner.number,
        inner.start,
        inner.end,
        inner.value,
    )
    return kind, start, end, value
