"""Helpers for the collector tests: OTLP requests built in code, GenAI spans, an in-process ASGI client."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from tokenomy.importers import Span
from tokenomy.server.app import Collector

T0_NS = 1_780_000_000_123_456_789
"""A start time with sub-microsecond digits (the rounding of times is part of what is compared)."""


def any_value(value: Any) -> common_pb2.AnyValue:
    """A Python value as an OTLP ``AnyValue``."""
    out = common_pb2.AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, Mapping):
        out.kvlist_value.values.extend(
            common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in value.items()
        )
    return out


@dataclass
class SpanSpec:
    """One span to put in a request (ids as hex; None leaves them out)."""

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None = None
    name: str = "span"
    kind: int = 1
    start_ns: int = T0_NS
    end_ns: int = T0_NS + 850_000_000
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0
    status_message: str = ""


def request_bytes(
    spans: Sequence[SpanSpec], resource: Mapping[str, Any] | None = None, *, resources: int = 1
) -> bytes:
    """A serialized ExportTraceServiceRequest holding ``spans`` (split over ``resources`` entries)."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    groups = [spans[i::resources] for i in range(resources)]
    for group in groups:
        resource_spans = request.resource_spans.add()
        for key, value in (resource or {}).items():
            resource_spans.resource.attributes.add(key=key, value=any_value(value))
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "tests"
        for spec in group:
            span = scope.spans.add()
            if spec.trace_id:
                span.trace_id = bytes.fromhex(spec.trace_id)
            if spec.span_id:
                span.span_id = bytes.fromhex(spec.span_id)
            if spec.parent_span_id:
                span.parent_span_id = bytes.fromhex(spec.parent_span_id)
            span.name = spec.name
            span.kind = spec.kind  # type: ignore[assignment]
            span.start_time_unix_nano = spec.start_ns
            span.end_time_unix_nano = spec.end_ns
            for key, value in spec.attributes.items():
                span.attributes.add(key=key, value=any_value(value))
            span.status.code = spec.status_code  # type: ignore[assignment]
            span.status.message = spec.status_message
    return request.SerializeToString()


def request_json(spans: Sequence[SpanSpec], resource: Mapping[str, Any] | None = None) -> bytes:
    """The same request in OTLP/JSON (hex ids, ``AnyValue`` objects, 64-bit numbers as strings)."""
    message = trace_service_pb2.ExportTraceServiceRequest()
    message.ParseFromString(request_bytes(spans, resource))
    document = json_format.MessageToDict(message)
    for resource_spans in document.get("resourceSpans", []):
        for scope in resource_spans.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def genai_attributes(rng: random.Random, index: int, **changes: Any) -> dict[str, Any]:
    """The attributes of a model call as a current GenAI instrumentation writes them."""
    model = rng.choice(["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-flash"])
    provider = {"gpt": "openai", "cla": "anthropic", "gem": "gcp.gemini"}[model[:3]]
    input_tokens = rng.randint(50, 20_000)
    cached = rng.randint(0, input_tokens // 2)
    output = rng.randint(1, 2_000)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.response.id": f"resp-{index}-{rng.randint(0, 10**9)}",
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output,
        "gen_ai.usage.cache_read.input_tokens": cached,
        "gen_ai.usage.cache_creation.input_tokens": rng.randint(0, input_tokens - cached),
        "gen_ai.usage.reasoning.output_tokens": rng.randint(0, output),
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.max_tokens": 4096,
        "gen_ai.request.temperature": 0.2,
        "server.address": "api.example.test",
    }
    attrs.update(changes)
    return {k: v for k, v in attrs.items() if v is not None}


def hex_id(rng: random.Random, size: int) -> str:
    """A random non-zero id of ``size`` bytes, as hex."""
    return bytes(rng.randint(1, 255) for _ in range(size)).hex()


def span_from_reference(span: Span) -> SpanSpec:
    """The spec of a span the importer decoded (to re-encode real data as protobuf)."""
    return SpanSpec(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        start_ns=span.start_ns or 0,
        end_ns=span.end_ns or 0,
        attributes=dict(span.attributes),
        status_code=span.status_code,
        status_message=span.status_message or "",
    )


@dataclass
class Answer:
    """A response of the in-process client."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def call(
    app: Collector,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    chunk: int = 65536,
) -> Answer:
    """Send one request to the ASGI app in process (the body in chunks of ``chunk`` bytes)."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": target,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that sent everything waits for the answer
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], headers_out, payload)
