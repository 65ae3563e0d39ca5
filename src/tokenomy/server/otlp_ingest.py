"""One OTLP/HTTP trace request into rows: calls (not yet priced) and the other spans of the tree.

Protobuf requests are first read as columns (:mod:`tokenomy.server.otlp_columns`); when every
span is plain they are mapped by :mod:`tokenomy.server.otlp_plain`, all spans at once, otherwise
(and for every JSON request) by the OTLP importer's own decoder and mapping
(:func:`tokenomy.importers.decode_protobuf`, :func:`~tokenomy.importers.decode_json`,
:func:`~tokenomy.importers.calls_from_spans`). Spans that cannot be read (JSON only: protobuf is
all or nothing) or that lack the ids a tree needs are *rejected* and counted, which the
response reports as OTLP's ``partial_success``; a body that is not a trace request at all is
a :class:`~tokenomy.errors.PayloadError` (400). ``rejected_spans`` counts spans only: a resource
or scope entry that cannot be read (its spans are not a list, so they cannot be counted) adds
none, and is named in the ``error_message`` all the same (with ``rejected_spans`` 0 when it is the
only problem, as OTLP allows for a warning).

What the capture SDK sends over OTLP is read back exactly (:mod:`tokenomy.importers.otel_tokenomy`):
its calls keep their ``tokenomy.*`` fields and their ``source``, and its ``tokenomy.charge`` and
``tokenomy.outcome`` spans become rows of the charges and outcomes tables rather than spans.
Such spans are never plain, so they always take the importer's path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokenomy.errors import ImportFileError, PayloadError, RecordError
from tokenomy.importers import Span, calls_from_spans, decode_json, decode_protobuf
from tokenomy.importers.otel_tokenomy import sdk_records
from tokenomy.importers.otlp_decode import spans_lost
from tokenomy.importers.records import TOO_LARGE, out_of_range
from tokenomy.importers.results import ImportOptions
from tokenomy.server.otlp_columns import SpanColumns, read_columns
from tokenomy.server.otlp_fields import UnreadableError
from tokenomy.server.otlp_keys import VOCABULARY_ARRAY
from tokenomy.server.otlp_plain import PlainRequest, map_plain
from tokenomy.server.otlp_tree import Lineage, TreeSpan
from tokenomy.server.span_rows import span_row, span_rows
from tokenomy.store.arrow import CHARGES_SCHEMA, calls_to_arrow, charges_to_arrow
from tokenomy.store.events import OUTCOMES_SCHEMA, SPANS_SCHEMA, outcomes_to_arrow, spans_to_arrow

SOURCE: Final = "otlp"
MAX_MESSAGES: Final = 5
"""Problems described in the response (all of them are counted)."""
_WHERE: Final = "request body"
NO_CHARGES: Final = CHARGES_SCHEMA.empty_table()
NO_OUTCOMES: Final = OUTCOMES_SCHEMA.empty_table()
"""Shared by every request without charges or outcomes (Arrow tables are immutable): made once."""


@dataclass(slots=True)
class TraceBatch:
    """What one trace request holds, ready for the store."""

    calls: pa.Table
    """:data:`~tokenomy.store.arrow.CALLS_SCHEMA` rows, cost columns empty (priced when stored)."""
    spans: pa.Table
    """:data:`~tokenomy.store.events.SPANS_SCHEMA` rows."""
    received: int
    charges: pa.Table = field(default_factory=lambda: NO_CHARGES)
    """:data:`~tokenomy.store.arrow.CHARGES_SCHEMA` rows: the capture SDK's ``tokenomy.charge`` spans."""
    outcomes: pa.Table = field(default_factory=lambda: NO_OUTCOMES)
    """:data:`~tokenomy.store.events.OUTCOMES_SCHEMA` rows: the capture SDK's ``tokenomy.outcome`` spans."""
    rejected: int = 0
    """Spans rejected (never a resource or scope entry: their spans cannot be counted)."""
    problems: list[str] = field(default_factory=list)
    """The first :data:`MAX_MESSAGES` problems, in words."""
    problem_count: int = 0
    """Every problem, described or not (one for all the spans without ids)."""
    quick: bool = False
    """True when the quick path mapped the request."""

    @property
    def message(self) -> str:
        """What was rejected, for ``partial_success.error_message`` (empty when nothing was wrong)."""
        if not self.problem_count:
            return ""
        more = self.problem_count - len(self.problems)
        tail = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} of {self.received} spans rejected: " + "; ".join(self.problems) + tail

    def problem(self, words: str) -> None:
        """Count a problem, and keep its words while there is room for them."""
        self.problem_count += 1
        if len(self.problems) < MAX_MESSAGES:
            self.problems.append(words)


def read_traces(body: bytes, encoding: str, *, capture_content: bool = False) -> TraceBatch:
    """Decode and map one ``ExportTraceServiceRequest``.

    Args:
        body: The request body (already decompressed).
        encoding: ``"protobuf"`` or ``"json"``.
        capture_content: Keep prompt and completion text on calls (the importer's path only).

    Raises:
        PayloadError: The body is not a trace request (400).
    """
    if encoding == "protobuf":
        return _read_protobuf(body, capture_content)
    return _read_json(body, capture_content)


def _read_protobuf(body: bytes, capture_content: bool) -> TraceBatch:
    columns = None
    if not capture_content:
        try:
            columns = read_columns(body, VOCABULARY_ARRAY)
        except UnreadableError:
            columns = None  # the importer's decoder decides whether the body is valid
        plain = map_plain(columns, source=SOURCE) if columns is not None else None
        if plain is not None:
            assert columns is not None  # mapped from them
            return _quick_batch(plain, columns.count)
    try:
        spans = decode_protobuf(body, _WHERE)
    except ImportFileError as exc:
        if _looks_like_json(body):
            raise PayloadError(
                400,
                "the body was sent with a protobuf content type but looks like JSON "
                f"(it starts with {body.lstrip()[:1].decode()!r}); send OTLP/JSON with "
                "Content-Type: application/json, or the serialized protobuf request",
            ) from exc
        raise PayloadError(
            400,
            "the body is not a valid OTLP protobuf ExportTraceServiceRequest (the wire format is corrupt, "
            "a string is not UTF-8, or the body was cut short); send the whole, serialized request",
        ) from exc
    kinds = columns.kind.tolist() if columns is not None else _protobuf_kinds(body)
    return _map_reference(spans, kinds, [], capture_content)


def _quick_batch(plain: PlainRequest, received: int) -> TraceBatch:
    rows = [
        span_row(span, session, agent, source=SOURCE)
        for span, session, agent in zip(plain.spans, plain.sessions, plain.agents, strict=True)
    ]
    return TraceBatch(calls=plain.calls, spans=spans_to_arrow(rows), received=received, quick=True)


def _protobuf_kinds(body: bytes) -> list[int | None]:
    """Each span's kind, in request order (the importer's decoder does not keep it)."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [int(span.kind) for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def _read_json(body: bytes, capture_content: bool) -> TraceBatch:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if _looks_like_protobuf(body):
            raise PayloadError(
                400,
                "the body was sent as application/json but is a binary OTLP protobuf "
                "ExportTraceServiceRequest; send it with Content-Type: application/x-protobuf, "
                "or send OTLP/JSON",
            ) from exc
        if isinstance(exc, UnicodeDecodeError):
            raise PayloadError(
                400, f"the body is not UTF-8 text (so not JSON): {exc}; send OTLP/JSON in UTF-8"
            ) from exc
        raise PayloadError(
            400, f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if (
        isinstance(document, dict)
        and document.keys() <= {"resourceSpans"}
        and not document.get("resourceSpans")
    ):
        document = {"resourceSpans": []}  # proto3's JSON writes an empty request as {} (or the list as null)
    spans: list[Span] = []
    errors: list[RecordError] = []
    try:
        for item in decode_json(document, _WHERE):
            (errors if isinstance(item, RecordError) else spans).append(item)  # type: ignore[arg-type]
    except ImportFileError as exc:
        raise PayloadError(400, exc.detail) from exc
    kinds = _json_kinds(document)
    return _map_reference(
        spans, kinds if len(kinds) == len(spans) + len(errors) else [], errors, capture_content
    )


def _looks_like_json(body: bytes) -> bool:
    """Whether a body that is no valid protobuf request starts as JSON does (an object or a list)."""
    return body.lstrip()[:1] in (b"{", b"[")


def _looks_like_protobuf(body: bytes) -> bool:
    """Whether a body that is no JSON reads as a protobuf trace request holding at least one resource.

    Its first byte must be the tag of ``resource_spans`` (field 1, length-delimited), as a serialized
    request's always is; the whole body must then parse.
    """
    if body[:1] != b"\x0a":
        return False
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError:
        return False
    return len(request.resource_spans) > 0


def _map_reference(
    spans: Sequence[Span], kinds: Sequence[int | None], errors: Sequence[RecordError], capture_content: bool
) -> TraceBatch:
    read = [
        c if c.source else c.replace(source=SOURCE)
        for c in calls_from_spans(spans, ImportOptions(capture_content=capture_content))
    ]
    too_large = [(c, field) for c in read if (field := out_of_range(c)) is not None]  # as `tokenomy import`
    calls = [c for c in read if out_of_range(c) is None] if too_large else read
    sent = sdk_records(list(spans))
    tree = [_tree_span(span, _kind_at(kinds, span.record - 1)) for span in spans]
    keys = {(c.trace_id, c.span_id) for c in read} | sent.keys  # a refused call is no plain span either
    rows, missing = span_rows(tree, Lineage(tree), skip=keys, source=SOURCE)
    batch = TraceBatch(
        calls=calls_to_arrow(calls),
        spans=spans_to_arrow(rows),
        received=len(spans) + sum(spans_lost(e) for e in errors),
        charges=charges_to_arrow(c if c.source else replace(c, source=SOURCE) for c in sent.charges),
        outcomes=outcomes_to_arrow(sent.outcomes, source=SOURCE),
    )
    _reject_unread(batch, errors)
    _reject_missing(batch, missing)
    for call, field in too_large:
        batch.rejected += 1
        batch.problem(f"span {call.span_id} ({field}): {TOO_LARGE}")
    for at_fault, why in sent.refused:  # a charge in another currency, an outcome with nothing in it
        batch.rejected += 1
        batch.problem(f"{why} ({at_fault})")
    return batch


def _reject_unread(batch: TraceBatch, errors: Sequence[RecordError]) -> None:
    """Count the spans that could not be read, and name every error by position and field.

    The decoder numbers a resource or scope entry it cannot read as if it were a span; a span is
    named here by its place among the request's spans, which such entries do not take.
    """
    entries = 0
    for error in errors:
        reason = error.detail.split(": ", 1)[-1]
        if spans_lost(error):
            batch.rejected += 1
            batch.problem(f"span {error.record - entries} ({error.field}): {reason}")
        else:
            entries += 1
            batch.problem(f"{error.field}: {reason} (its spans, if any, are not counted)")


def _reject_missing(batch: TraceBatch, missing: int) -> None:
    if missing:
        batch.rejected += missing
        batch.problem(f"{missing} spans without a traceId or spanId (a span needs both to be placed)")


def _tree_span(span: Span, kind: int | None) -> TreeSpan:
    return TreeSpan(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=kind,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        attributes=span.attributes,
        resource=span.resource,
        status_code=span.status_code,
        status_message=span.status_message,
    )


def _kind_at(kinds: Sequence[int | None], index: int) -> int | None:
    return kinds[index] if 0 <= index < len(kinds) else None


_KIND_NUMBERS: Final = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}


def _json_kinds(document: Any) -> list[int | None]:
    """Each span's kind, in the order the importer's decoder numbers spans (its ``record``).

    A resource or scope entry that is not an object, and a list of scopes or spans that is not a
    list, takes one number, as it does there.
    """
    kinds: list[int | None] = []
    for resource_spans in document.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            kinds.append(None)
            continue
        key = "scopeSpans" if "scopeSpans" in resource_spans else "instrumentationLibrarySpans"
        scopes = resource_spans.get(key)
        if scopes is not None and not isinstance(scopes, list):
            kinds.append(None)
            continue
        for scope_spans in scopes or []:
            spans = scope_spans.get("spans") if isinstance(scope_spans, dict) else None
            if not isinstance(scope_spans, dict) or (spans is not None and not isinstance(spans, list)):
                kinds.append(None)
                continue
            kinds.extend(_kind_number(span) for span in spans or [])
    return kinds


def _kind_number(span: Any) -> int | None:
    kind = span.get("kind") if isinstance(span, dict) else None
    if isinstance(kind, int) and not isinstance(kind, bool):
        return kind
    return _KIND_NUMBERS.get(kind) if isinstance(kind, str) else None


def empty_spans() -> pa.Table:
    """A spans table with no rows."""
    return SPANS_SCHEMA.empty_table()


__all__ = ["SOURCE", "SpanColumns", "TraceBatch", "empty_spans", "read_traces"]
