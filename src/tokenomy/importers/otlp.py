"""OTLP trace exports: ``ExportTraceServiceRequest`` in protobuf or JSON, one or one a line, gzip or not.

The file is decoded into spans (:mod:`tokenomy.importers.otlp_decode`), and the spans that record
an LLM call become Calls (:mod:`tokenomy.importers.otel_calls`); other spans are not stored, but
each call keeps ``trace_id``, ``span_id`` and ``parent_span_id``, so the tree can be rebuilt from
the calls. All the spans of a file are read together, so parents, sessions and agents set on a
root span reach the calls below it. JSON lines hold one request per line (as the OpenTelemetry
Collector's file exporter writes them).

The capture SDK's charges (``tokenomy.charge`` spans) are imported as charges and its outcomes
(``tokenomy.outcome`` spans) as outcomes, stored in the ``outcomes`` table as ``tokenomy serve`` stores
them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.otel_calls import calls_from_spans
from tokenomy.importers.otel_tokenomy import sdk_records
from tokenomy.importers.otlp_decode import Span, decode_json, decode_protobuf
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import TOO_LARGE, out_of_range, sample_objects
from tokenomy.importers.results import ImportOptions, Item, Note


class OtlpImporter(RecordImporter):
    """OTLP/JSON and OTLP/protobuf trace requests."""

    name: ClassVar[str] = "otlp"
    summary: ClassVar[str] = "OpenTelemetry traces (OTLP protobuf or JSON ExportTraceServiceRequest)."

    def sniff(self, sample: Sample) -> float:
        """Sure for JSON with ``resourceSpans``; likely for protobuf that opens like a request."""
        if sample.kind == "binary":
            return 0.7 if _looks_like_request(sample.head) else 0.0
        objects = sample_objects(sample)
        return 0.95 if objects and "resourceSpans" in objects[0] else 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """The calls among the file's spans, and the spans that could not be read."""
        spans: list[Span] = []
        for item in _spans(source):
            if isinstance(item, RecordError):
                yield item
            else:
                spans.append(item)
        calls = calls_from_spans(spans, options)
        for call in calls:  # a count a 64-bit integer cannot hold: that call rejected, not the run failed
            too_large = out_of_range(call)
            yield call if too_large is None else RecordError(source.name, 0, too_large, TOO_LARGE)
        sent = sdk_records(spans)
        yield from sent.charges
        yield from sent.outcomes
        # a charge in another currency (never summed as dollars), an outcome with nothing in it
        for at_fault, why in sent.refused:
            yield RecordError(source.name, 0, at_fault, why)
        if spans and not calls and not sent.charges and not sent.outcomes:
            yield Note(f"{len(spans)} spans, none of them an LLM call (no GenAI model or usage attributes)")


def _spans(source: Source) -> Iterator[Span | RecordError]:
    sample = source.sample()
    if sample.kind == "binary":
        spans = decode_protobuf(source.read_bytes(), source.name)
        if not spans:
            raise ImportFileError(source.name, "an OTLP protobuf request with no spans (or not OTLP at all)")
        yield from spans
    elif sample.kind == "jsonl":
        for number, value in source.json_lines():
            if isinstance(value, RecordError):
                yield value
            elif isinstance(value, Mapping) and "resourceSpans" in value:
                yield from decode_json(value, source.name, record=number)
            else:
                yield RecordError(
                    source.name, number, "resourceSpans", "expected an OTLP trace request object"
                )
    else:
        yield from decode_json(source.document(), source.name)


def _looks_like_request(head: bytes) -> bool:
    """True when bytes open like ``ExportTraceServiceRequest``: field 1 (resource_spans), length-delimited,
    whose first inner field is a ResourceSpans field (resource, scope_spans or schema_url)."""
    if len(head) < 3 or head[0] != 0x0A:
        return False
    index, shift, length = 1, 0, 0
    while index < len(head) and index < 11:
        byte = head[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
    return index < len(head) and length > 0 and head[index] in (0x0A, 0x12, 0x1A)
