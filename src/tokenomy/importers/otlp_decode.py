"""OTLP trace requests (``ExportTraceServiceRequest``), protobuf or JSON, decoded into plain spans.

JSON follows the OTLP/JSON mapping: trace and span ids are hex strings, 64-bit integers
(``intValue``, ``startTimeUnixNano``) may be strings, enums may be numbers or names, attribute
values are ``AnyValue`` objects (``stringValue``, ``intValue``, ``doubleValue``, ``boolValue``,
``arrayValue``, ``kvlistValue``, ``bytesValue``; bytes are read as hex, base64 in JSON or raw in
protobuf). Lenient where exporters differ: ids may also be
base64 (protobuf's generic JSON mapping) or byte arrays, and the old
``instrumentationLibrarySpans`` is read like ``scopeSpans``, and 64-bit numbers dumped as
JavaScript ``Long`` objects (``{"low", "high"}``) are understood. A span that cannot be read becomes
a :class:`~tokenomy.errors.RecordError` naming its path (``resourceSpans[0].scopeSpans[1].spans[2]``)
and the field; the other spans are kept. A span attribute whose ``intValue`` or ``doubleValue`` is not
a number (``"12x"``, ``12.5`` as an int64) makes the span one that cannot be read, named by the
attribute (``attributes["gen_ai.usage.input_tokens"].intValue``): read as no value, a token count
would be lost without a word. So does a resource or scope entry that cannot be read (an
item of ``resourceSpans`` that is not an object, a ``scopeSpans`` or ``spans`` that is not a list):
the spans it may hold cannot be counted, so its error is an :class:`EntryError`, which
:func:`spans_lost` tells (0 spans) from a span's own (1 span), for a count of spans that does not
count containers as spans.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.native import FieldError

TRACE_ID_BYTES: Final = 16
SPAN_ID_BYTES: Final = 8
STATUS_ERROR: Final = 2
_STATUS_NAMES: Final = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


@dataclass(frozen=True, slots=True)
class Span:
    """One span, with attribute values as plain Python values and ids as lower-case hex."""

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    name: str
    start_ns: int | None
    end_ns: int | None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None
    status_code: int = 0
    status_message: str | None = None
    record: int = 0
    """The record number for error messages (span ordinal in a document, line in JSON lines)."""


def decode_protobuf(data: bytes, path: str) -> list[Span]:
    """Decode a protobuf ``ExportTraceServiceRequest``.

    Raises:
        ImportFileError: The bytes are not a valid request.
    """
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise ImportFileError(
            path, f"not a valid OTLP protobuf trace request ({exc}); is the file complete?"
        ) from exc
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = _proto_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for span in scope_spans.spans:
                spans.append(_proto_span(span, resource, scope, len(spans) + 1))
    return spans


def _proto_span(span: Any, resource: Mapping[str, Any], scope: str | None, record: int) -> Span:
    return Span(
        trace_id=_hex(bytes(span.trace_id)),
        span_id=_hex(bytes(span.span_id)),
        parent_span_id=_hex(bytes(span.parent_span_id)),
        name=span.name,
        start_ns=span.start_time_unix_nano or None,
        end_ns=span.end_time_unix_nano or None,
        attributes=_proto_attributes(span.attributes),
        resource=resource,
        scope=scope,
        status_code=int(span.status.code),
        status_message=span.status.message or None,
        record=record,
    )


def _proto_attributes(attributes: Any) -> dict[str, Any]:
    return {kv.key: _proto_value(kv.value) for kv in attributes}


def _proto_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_proto_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _proto_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return getattr(value, kind)


def decode_json(
    request: Any, path: str, *, record: int | None = None, first: int = 1
) -> Iterator[Span | RecordError]:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` object.

    Args:
        request: The parsed JSON object.
        path: The file, for error messages.
        record: The record number of every span (a JSON line); None numbers spans from ``first``.
        first: The number of the first span when ``record`` is None.

    Yields:
        Spans, and RecordErrors for spans (or resource entries) that cannot be read.
    """
    if not isinstance(request, Mapping) or not isinstance(request.get("resourceSpans"), list):
        raise ImportFileError(
            path,
            f"not an OTLP trace request: expected an object with a 'resourceSpans' list, {_got(request)}",
        )
    ordinal = first
    for i, resource_spans in enumerate(request["resourceSpans"]):
        where = f"resourceSpans[{i}]"
        if not isinstance(resource_spans, Mapping):
            yield EntryError(path, record or ordinal, where, "expected a ResourceSpans object")
            ordinal += 1
            continue
        resource_obj = resource_spans.get("resource")
        resource = _attributes(resource_obj.get("attributes") if isinstance(resource_obj, Mapping) else None)
        scopes_key = "scopeSpans" if "scopeSpans" in resource_spans else "instrumentationLibrarySpans"
        scopes = resource_spans.get(scopes_key)
        if scopes is not None and not isinstance(scopes, list):
            yield EntryError(
                path, record or ordinal, f"{where}.{scopes_key}", "expected a list of ScopeSpans"
            )
            ordinal += 1
            continue
        for j, scope_spans in enumerate(scopes or []):
            if not isinstance(scope_spans, Mapping):
                yield EntryError(
                    path, record or ordinal, f"{where}.scopeSpans[{j}]", "expected a ScopeSpans object"
                )
                ordinal += 1
                continue
            scope_obj = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            scope = scope_obj.get("name") if isinstance(scope_obj, Mapping) else None
            spans = scope_spans.get("spans")
            if spans is not None and not isinstance(spans, list):
                yield EntryError(
                    path, record or ordinal, f"{where}.scopeSpans[{j}].spans", "expected a list of Spans"
                )
                ordinal += 1
                continue
            for k, span in enumerate(spans or []):
                number = record or ordinal
                ordinal += 1
                try:
                    yield _json_span(span, resource, scope, number)
                except FieldError as exc:
                    yield RecordError(
                        path, number, f"{where}.scopeSpans[{j}].spans[{k}].{exc.field}", exc.message
                    )


def _got(request: Any) -> str:
    """What a body that is not a trace request holds, said so that the sender can fix it."""
    if not isinstance(request, Mapping):
        return f"got a JSON {_json_kind(request)}"
    if "resourceSpans" in request:
        return f"got 'resourceSpans' as a JSON {_json_kind(request['resourceSpans'])}"
    if "resource_spans" in request:
        return (
            "got 'resource_spans': OTLP/JSON names fields in lowerCamelCase ('resourceSpans', 'scopeSpans')"
        )
    keys = ", ".join(repr(k) for k in list(request)[:5]) or "none"
    return f"got the keys {keys}"


def _json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


class EntryError(RecordError):
    """A resource or scope entry :func:`decode_json` cannot read: whatever it holds is not a list of
    spans, so its spans cannot be counted."""


def spans_lost(error: RecordError) -> int:
    """How many spans an error :func:`decode_json` yielded stands for: 1 for a span that cannot be
    read, 0 for an entry that cannot be read (:class:`EntryError`: counting it as one would pass it
    off as a span)."""
    return 0 if isinstance(error, EntryError) else 1


_SNAKE_KEYS: Final = {
    "trace_id": "traceId",
    "span_id": "spanId",
    "parent_span_id": "parentSpanId",
    "start_time_unix_nano": "startTimeUnixNano",
    "end_time_unix_nano": "endTimeUnixNano",
}
"""A span's proto field names, which OTLP/JSON writes in lowerCamelCase: read as such, a span sent
with them would lose its ids and times without a word (a call stored outside any trace and period)."""


def _json_span(span: Any, resource: Mapping[str, Any], scope: Any, record: int) -> Span:
    if not isinstance(span, Mapping):
        raise FieldError("(span)", "expected a Span object")
    snake = next((key for key in _SNAKE_KEYS if key in span and _SNAKE_KEYS[key] not in span), None)
    if snake is not None:
        raise FieldError(snake, f"OTLP/JSON names fields in lowerCamelCase: send '{_SNAKE_KEYS[snake]}'")
    status: Mapping[str, Any] = span["status"] if isinstance(span.get("status"), Mapping) else {}
    return Span(
        trace_id=decode_id(span.get("traceId"), TRACE_ID_BYTES, "traceId"),
        span_id=decode_id(span.get("spanId"), SPAN_ID_BYTES, "spanId"),
        parent_span_id=decode_id(span.get("parentSpanId"), SPAN_ID_BYTES, "parentSpanId"),
        name=str(span.get("name") or ""),
        start_ns=_uint(span.get("startTimeUnixNano"), "startTimeUnixNano"),
        end_ns=_uint(span.get("endTimeUnixNano"), "endTimeUnixNano"),
        attributes=_span_attributes(span.get("attributes")),
        resource=resource,
        scope=scope if isinstance(scope, str) and scope else None,
        status_code=_status_code(status.get("code")),
        status_message=status.get("message") if isinstance(status.get("message"), str) else None,
        record=record,
    )


def decode_id(value: Any, size: int, name: str) -> str | None:
    """A trace or span id as lower-case hex; None when absent, empty or all zeros.

    Accepts hex (OTLP/JSON), base64 (protobuf's generic JSON mapping) and byte arrays.

    Raises:
        FieldError: The value is not an id of ``size`` bytes.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        value = value.get("data")
    if isinstance(value, list):
        if not value:
            return None
        if all(isinstance(b, int) and 0 <= b < 256 for b in value) and len(value) == size:
            return _hex(bytes(value))
        raise FieldError(name, f"expected {size} bytes, got {len(value)}")
    if not isinstance(value, str):
        raise FieldError(name, f"expected a hex string, got {type(value).__name__}")
    text = value.strip().lower()
    if len(text) == 2 * size:
        try:
            return _hex(bytes.fromhex(text))
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return _hex(raw)
    raise FieldError(name, f"not a {size}-byte id in hex: {value!r}")


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw.strip(b"\x00") else None


def _long(value: Any) -> Any:
    """A JavaScript ``Long`` object (``{"low": ..., "high": ...}``, as some JS exporters dump
    64-bit numbers) as an int; anything else unchanged."""
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("low"), int)
        and isinstance(value.get("high"), int)
    ):
        return ((value["high"] & 0xFFFFFFFF) << 32) | (value["low"] & 0xFFFFFFFF)
    return value


def _uint(value: Any, name: str) -> int | None:
    value = _long(value)
    if value is None or value in ("", 0, "0"):
        return None
    if isinstance(value, bool):
        raise FieldError(name, f"expected nanoseconds since the epoch, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise FieldError(name, f"expected nanoseconds since the epoch, got {value!r}")


def _status_code(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _STATUS_NAMES.get(value, int(value) if value.isdigit() else 0)
    return 0


def _attributes(values: Any) -> dict[str, Any]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        return {}
    out: dict[str, Any] = {}
    for item in values:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


_COUNTED_WORDS: Final = ("usage", "token", "cost")
"""Words in the keys of the attributes read as counts or money (``gen_ai.usage.input_tokens``,
``gen_ai.request.max_tokens``, ``llm.usage.total_tokens``, ``tokenomy.cost``...)."""


def _span_attributes(values: Any) -> dict[str, Any]:
    """A span's attributes, the numbers of its counts and money checked: an ``intValue`` or
    ``doubleValue`` there that is not a number would otherwise be read as no value at all (a token
    count silently lost). A bad number in any other attribute (``app.retry_count: "n/a"``) is kept
    as sent, as before, with the span.

    Raises:
        FieldError: A count's or money's number is not one; the field names the attribute.
    """
    for item in values if isinstance(values, Sequence) and not isinstance(values, str) else ():
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            key = item["key"].lower()
            if not any(word in key for word in _COUNTED_WORDS):
                continue
            problem = _number_problem(item.get("value"))
            if problem is not None:
                raise FieldError(f"attributes[{json.dumps(item['key'])}].{problem[0]}", problem[1])
    return _attributes(values)


def _number_problem(value: Any) -> tuple[str, str] | None:
    """Where an ``AnyValue`` holds a number that is not one, and what is wrong; None when none does."""
    if not isinstance(value, Mapping) or "stringValue" in value:
        return None
    if "intValue" in value:
        raw = _long(value["intValue"])
        if raw is None or _integer(raw) is not None:
            return None
        return "intValue", f"expected an integer (a JSON number or a numeric string), got {raw!r}"
    if "doubleValue" in value:
        raw = value["doubleValue"]
        if raw is None or (not isinstance(raw, bool) and _float(raw) is not None):
            return None
        return "doubleValue", f"expected a number, got {raw!r}"
    inner: list[tuple[str, Any]] = []
    if isinstance(value.get("arrayValue"), Mapping) and isinstance(value["arrayValue"].get("values"), list):
        inner = [(f"arrayValue.values[{i}]", v) for i, v in enumerate(value["arrayValue"]["values"])]
    elif isinstance(value.get("kvlistValue"), Mapping) and isinstance(
        value["kvlistValue"].get("values"), list
    ):
        inner = [
            (f"kvlistValue[{json.dumps(kv.get('key'))}]", kv.get("value"))
            for kv in value["kvlistValue"]["values"]
            if isinstance(kv, Mapping)
        ]
    for where, item in inner:
        problem = _number_problem(item)
        if problem is not None:
            return f"{where}.{problem[0]}", problem[1]
    return None


def _integer(raw: Any) -> int | None:
    """An OTLP/JSON int64 (a number or numeric string without a fraction) as an int, else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str):
        text = raw.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        number = _float(text)  # "1e3", as protobuf's own JSON parser reads an int64
        return int(number) if number is not None and number.is_integer() else None
    return None


def _float(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def any_value(value: Any) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain value (integers given as strings become int)."""
    if not isinstance(value, Mapping):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = _long(value["intValue"])
        number = _integer(raw)
        return raw if number is None else number
    if "doubleValue" in value:
        raw = value["doubleValue"]
        try:
            return float(raw)
        except (TypeError, ValueError):
            return raw
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        inner = value["arrayValue"] or {}
        return [any_value(v) for v in inner.get("values") or []]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return _bytes_hex(value["bytesValue"])
    return None


def _bytes_hex(raw: Any) -> Any:
    """A ``bytesValue`` (base64 in OTLP/JSON) as lower-case hex, as a protobuf request's bytes are read;
    anything that is not base64 unchanged."""
    if not isinstance(raw, str):
        return raw
    try:
        return base64.b64decode(raw, validate=True).hex()
    except (binascii.Error, ValueError):
        return raw
