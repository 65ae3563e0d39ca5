"""Records as OTLP spans: calls as GenAI client spans, agent scopes, charges and outcomes as tokenomy spans.

A call becomes a ``CLIENT`` span named ``{operation} {request model}`` with the GenAI semantic
conventions' attributes: ``gen_ai.usage.input_tokens`` *includes* the cache reads and writes
(``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``) and
``gen_ai.usage.output_tokens`` includes ``gen_ai.usage.reasoning.output_tokens``, as the
conventions say. What the conventions have no name for rides under ``tokenomy.*``: the exact
buckets (``tokenomy.usage.cache_write_1h``...) and their non-text tokens
(``tokenomy.usage.modality.input_uncached.audio``..., beside the conventions'
``gen_ai.usage.audio.input_tokens``, which sum every input bucket), the cost
(``tokenomy.cost.total``, a decimal string, with currency and source), attribution, step, prompt
shape and every other field of the call, so that :mod:`tokenomy.importers.otel_tokenomy` reads
the very same Call back (times are sent exact to the microsecond).

An agent scope becomes an ``invoke_agent {name}`` span, the parent of its calls' spans. Charges
and outcomes have no GenAI convention: they become ``INTERNAL`` spans named
``tokenomy.charge {kind}`` and ``tokenomy.outcome`` whose ids are derived from the record's
identity, so a replayed record produces the very same span.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tokenomy.capture.records import AgentSpan, Record
from tokenomy.importers.otel_tokenomy import MODALITY_PREFIX, OTHER_ERROR, SHAPE
from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    INPUT_BUCKETS,
    MODALITIES,
    Attribution,
    Call,
    Charge,
    OutcomeEvent,
    Usage,
)
from tokenomy.schema import Status as CallStatus

OTEL_PROVIDERS: Final = {
    "azure": "azure.ai.openai",
    "google": "gcp.gen_ai",
    "aws": "aws.bedrock",
    "x-ai": "x_ai",
    "mistral": "mistral_ai",
    "moonshotai": "moonshot_ai",
    "ibm": "ibm.watsonx.ai",
}
"""Canonical provider ids whose ``gen_ai.provider.name`` is spelled otherwise."""
SCOPE_NAME: Final = "tokenomy.capture"
_FAILED: Final = frozenset({CallStatus.ERROR, CallStatus.TIMEOUT, CallStatus.REJECTED_BUDGET})

Attr = tuple[str, Any]


def export_request(
    records: Iterable[Record], *, service_name: str, version: str
) -> ExportTraceServiceRequest:
    """One ExportTraceServiceRequest holding a span per record."""
    spans = [_span(r) for r in records]
    resource = Resource(
        attributes=_kvs(
            [
                ("service.name", service_name),
                ("telemetry.sdk.name", "tokenomy"),
                ("telemetry.sdk.language", "python"),
                ("telemetry.sdk.version", version),
            ]
        )
    )
    scope = ScopeSpans(scope=InstrumentationScope(name=SCOPE_NAME, version=version), spans=spans)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])])


def _span(record: Record) -> Span:
    if isinstance(record, Call):
        return call_span(record)
    if isinstance(record, AgentSpan):
        return _agent_span(record)
    if isinstance(record, Charge):
        return _charge_span(record)
    return _outcome_span(record)


def call_span(call: Call) -> Span:
    """The GenAI client span of a call."""
    start = _ns(call.started_at)
    end = _ns(call.ended_at) or (start + int((call.latency_ms or 0) * 1e6) if start else 0)
    status = Status()
    if call.status in _FAILED:
        status = Status(code=Status.STATUS_CODE_ERROR, message=call.error_type or call.status.value)
    return Span(
        trace_id=_id_bytes(call.trace_id, 16, call.id),
        span_id=_id_bytes(call.span_id, 8, call.id),
        parent_span_id=bytes.fromhex(call.parent_span_id) if call.parent_span_id else b"",
        name=f"{call.operation} {call.request_model or call.response_model or ''}".strip(),
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=_kvs(call_attributes(call)),
        status=status,
    )


def call_attributes(call: Call) -> list[Attr]:
    """The span attributes of a call (GenAI conventions first, then ``tokenomy.*``)."""
    attrs: list[Attr] = [
        ("gen_ai.operation.name", call.operation),
        ("gen_ai.provider.name", OTEL_PROVIDERS.get(call.provider or "", call.provider)),
        ("gen_ai.request.model", call.request_model),
        ("gen_ai.response.model", call.response_model),
        ("gen_ai.request.max_tokens", call.max_output_tokens),
        ("gen_ai.request.stream", call.streamed),
        ("gen_ai.response.finish_reasons", [call.finish_reason] if call.finish_reason else None),
        ("gen_ai.response.time_to_first_chunk", None if call.ttft_ms is None else call.ttft_ms / 1000),
        ("gen_ai.conversation.id", call.session_id),
        ("error.type", _error_type(call)),
        ("http.response.status_code", call.http_status),
    ]
    if call.id != f"{call.trace_id}:{call.span_id}":
        attrs.append(("gen_ai.response.id", call.id))
    attrs += _usage_attributes(call)
    attrs += [
        ("tokenomy.call.id", call.id),
        ("tokenomy.provider", call.provider),
        ("tokenomy.status", call.status.value),
        ("tokenomy.api", call.api),
        ("tokenomy.step", call.step),
        ("tokenomy.batch", call.batch or None),
        ("tokenomy.service_tier", call.service_tier),
        ("tokenomy.latency_ms", call.latency_ms),
        ("tokenomy.ttft_ms", call.ttft_ms),
        ("tokenomy.tool_uses", [f"{t.name}:{t.args_hash or ''}" for t in call.tool_uses] or None),
        ("tokenomy.tool_uses.server", [t.server for t in call.tool_uses] if _any_server(call) else None),
        ("tokenomy.prefix_hashes", list(call.prefix_hashes) or None),
        ("tokenomy.filler_tokens", call.filler_tokens),
        ("tokenomy.provider_reported_cost", _decimal(call.provider_reported_cost)),
        ("tokenomy.source", call.source),
    ]
    attrs += [(f"tokenomy.shape.{n}", getattr(call, n)) for n in SHAPE]
    attrs += _cost_attributes(call)
    attrs += _attribution(call.attribution)
    if call.content is not None:
        attrs += [("tokenomy.content.prompt", call.content.prompt)]
        attrs += [("tokenomy.content.completion", call.content.completion)]
    return attrs


def _error_type(call: Call) -> str | None:
    """``error.type``: the call's own, else, for a call that failed, the conventions' fallback ``_OTHER``
    (the attribute is required on a span that ended in an error; read back as no error type)."""
    if call.status is CallStatus.OK:
        return None
    return call.error_type or (OTHER_ERROR if call.status in _FAILED else None)


def _any_server(call: Call) -> bool:
    return any(t.server for t in call.tool_uses)


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _usage_attributes(call: Call) -> list[Attr]:
    usage = call.usage
    writes = None
    if usage.cache_write_5m is not None and usage.cache_write_1h is not None:
        writes = usage.cache_write_5m + usage.cache_write_1h
    return [
        ("gen_ai.usage.input_tokens", usage.input_total),
        ("gen_ai.usage.output_tokens", usage.output_total),
        ("gen_ai.usage.cache_read.input_tokens", usage.cache_read),
        ("gen_ai.usage.cache_creation.input_tokens", writes),
        ("gen_ai.usage.reasoning.output_tokens", usage.reasoning),
        ("tokenomy.usage.input_uncached", usage.input_uncached),
        ("tokenomy.usage.cache_write_5m", usage.cache_write_5m),
        ("tokenomy.usage.cache_write_1h", usage.cache_write_1h),
        ("tokenomy.usage.output_visible", usage.output_visible),
        ("tokenomy.usage.kind", usage.kind.value),
        ("tokenomy.usage.quality", [q.value for q in usage.quality] or None),
        *[(f"tokenomy.usage.server_tools.{unit}", n) for unit, n in usage.server_tools.items()],
        *_modality_attributes(usage),
    ]


def _modality_attributes(usage: Usage) -> list[Attr]:
    """Non-text tokens: the conventions' per-modality subsets of the inclusive totals (input sums
    every input bucket's count, cache included; only audio has an output name), then the exact
    ``tokenomy.usage.modality.<bucket>.<modality>`` counts that are read back."""
    if not usage.modalities:
        return []
    inputs = {m: sum(usage.modal_tokens(b).get(m, 0) for b in INPUT_BUCKETS) for m in MODALITIES}
    attrs: list[Attr] = [(f"gen_ai.usage.{m}.input_tokens", n or None) for m, n in inputs.items()]
    attrs.append(("gen_ai.usage.audio.output_tokens", usage.modal_tokens("output_visible").get("audio")))
    attrs += [(MODALITY_PREFIX + key, n) for key, n in sorted(usage.modalities.items())]
    return attrs


def _cost_attributes(call: Call) -> list[Attr]:
    cost = call.cost
    if cost is None:
        return []
    return [
        ("tokenomy.cost.total", None if cost.total is None else str(cost.total)),
        ("tokenomy.cost.currency", cost.currency),
        ("tokenomy.cost.source", cost.source),
        ("tokenomy.cost.estimated", cost.estimated),
        ("tokenomy.cost.reason", cost.reason),
    ]


def _attribution(attribution: Attribution) -> list[Attr]:
    named = {"user": "user.id", "environment": "deployment.environment.name", "agent": "gen_ai.agent.name"}
    attrs: list[Attr] = [(named.get(n, f"tokenomy.{n}"), getattr(attribution, n)) for n in ATTRIBUTION_FIELDS]
    attrs += [(f"tokenomy.tag.{k}", v) for k, v in attribution.tags.items()]
    return attrs


def _agent_span(span: AgentSpan) -> Span:
    attrs: list[Attr] = [
        ("gen_ai.operation.name", "invoke_agent"),
        ("gen_ai.agent.name", span.name),
        ("gen_ai.conversation.id", span.session_id),
        *_attribution(span.attribution),
    ]
    return Span(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
        name=f"invoke_agent {span.name}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=_ns(span.started_at),
        end_time_unix_nano=_ns(span.ended_at),
        attributes=_kvs(attrs),
    )


def _charge_span(charge: Charge) -> Span:
    attrs: list[Attr] = [
        ("tokenomy.charge.id", charge.id),
        ("tokenomy.charge.amount", str(charge.amount)),
        ("tokenomy.charge.currency", charge.currency),
        ("tokenomy.charge.kind", charge.kind),
        ("tokenomy.charge.quantity", charge.quantity),
        ("tokenomy.charge.unit", charge.unit),
        ("tokenomy.charge.description", charge.description),
        ("tokenomy.source", charge.source),
        ("gen_ai.conversation.id", charge.session_id),
        *_attribution(charge.attribution),
    ]
    return _point(f"tokenomy.charge {charge.kind}", f"charge:{charge.id}", charge.at, attrs)


def _outcome_span(event: OutcomeEvent) -> Span:
    attrs: list[Attr] = [
        ("tokenomy.outcome.target", event.target),
        ("tokenomy.outcome.id", event.id),
        ("tokenomy.outcome.success", event.success),
        ("tokenomy.outcome.score", event.score),
        ("tokenomy.outcome.action", event.action),
        ("gen_ai.conversation.id", event.id if event.target == "session" else None),
    ]
    identity = f"outcome:{event.target}:{event.id}:{event.at.isoformat()}"
    return _point("tokenomy.outcome", identity, event.at, attrs)


def _point(name: str, identity: str, at: datetime, attrs: Sequence[Attr]) -> Span:
    """A zero-length span whose ids are derived from ``identity``."""
    digest = hashlib.sha256(identity.encode("utf-8")).digest()
    when = _ns(at)
    return Span(
        trace_id=digest[:16],
        span_id=digest[16:24],
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=when,
        end_time_unix_nano=when,
        attributes=_kvs(attrs),
    )


def _ns(value: datetime | None) -> int:
    if value is None:
        return 0
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND * 1000  # exact: a float timestamp can lose the last µs


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _id_bytes(value: str | None, size: int, fallback: str) -> bytes:
    if value:
        return bytes.fromhex(value)
    return hashlib.sha256(fallback.encode("utf-8")).digest()[:size]


def _kvs(attrs: Iterable[Attr]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in attrs if v is not None]


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_value(v) for v in value]))
    return AnyValue(string_value=str(value))
