"""Which spans of a trace are LLM calls, and the Call each one becomes.

A span is an LLM call when its instrumentation says so: ``gen_ai.operation.name`` is a model
operation (``chat``, ``text_completion``, ``generate_content``, ``embeddings``), Langfuse's
``langfuse.observation.type`` is ``generation`` or ``embedding``, OpenInference's
``openinference.span.kind`` is ``LLM`` or ``EMBEDDING``, the Vercel AI SDK operation is one of
its ``do*`` provider calls, Traceloop's ``llm.request.type`` is set; or, failing those, it names a
model or reports token usage. Agent, workflow, tool and memory spans (``invoke_agent``,
``execute_tool``, ``search_memory``..., pydantic-ai agent runs, the Vercel SDK's outer
``generateText`` spans) are never calls: they carry the *sum* of their children's usage, and
counting them would count the tokens twice. For the same reason a call-like span with another
call-like span below it in the same file is treated as a wrapper.

Usage, provider and response facts come from :func:`tokenomy.usage.from_otel` (Langfuse SDK
spans, which carry their usage as ``langfuse.observation.usage_details``, are read with
:mod:`tokenomy.importers.langfuse_usage`, and their ``cost_details`` are kept as the reported cost;
an instrumentation's own cost estimate, such as OpenLit's ``gen_ai.usage.cost``, is not). The call's id is
the response id when the span records one (so the same call seen through another route is stored
once), else ``<trace id>:<span id>``. The session is the first of ``langfuse.session.id``,
``session.id``, ``gen_ai.conversation.id`` (and the Vercel SDK's ``sessionId`` metadata) found on
the span, its ancestors, or any span of its trace; the agent is the nearest ``gen_ai.agent.name``
on the way up.

Spans the capture SDK sent carry ``tokenomy.*`` attributes as well; those are read back
exactly by :mod:`tokenomy.importers.otel_tokenomy`, the rest of this mapping is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.errors import error_kind
from tokenomy.importers.ids import content_id, provider_id
from tokenomy.importers.langfuse_usage import langfuse_usage
from tokenomy.importers.messages import normalize, render, text_of
from tokenomy.importers.otel_tokenomy import exact_call, is_sdk_call
from tokenomy.importers.otlp_decode import STATUS_ERROR, Span
from tokenomy.importers.results import ImportOptions
from tokenomy.importers.shape import shape_of
from tokenomy.importers.steps import number_steps
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Attribution, Call, Content, Status, Usage
from tokenomy.usage import from_otel
from tokenomy.usage.base import to_decimal
from tokenomy.usage.otel import ROUTERS, named_provider

CALL_OPERATIONS: Final = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion"}
)
WRAPPER_OPERATIONS: Final = frozenset(
    {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "plan", "retrieval",
     "search_memory", "create_memory", "update_memory", "upsert_memory", "delete_memory",
     "create_memory_store", "delete_memory_store"}
)  # fmt: skip
"""Operations that are never model calls: agents, tools, workflows, retrieval and memory stores."""
_VERCEL_CALLS: Final = frozenset(
    {"generateText.doGenerate", "streamText.doStream", "generateObject.doGenerate", "streamObject.doStream",
     "embed.doEmbed", "embedMany.doEmbed"}
)  # fmt: skip
_MODEL_KEYS: Final = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "langfuse.observation.model.name",
    "llm.request.model",
    "llm.response.model",
    "llm.model_name",
    "ai.model.id",
    "embedding.model_name",
    "model_name",
)
SESSION_KEYS: Final = (
    "langfuse.session.id",
    "session.id",
    "gen_ai.conversation.id",
    "ai.telemetry.metadata.sessionId",
    "langfuse.trace.metadata.langfuse_session_id",
    "traceloop.association.properties.session_id",
)
"""The attributes a span's session is read from, first found wins (its own, else its ancestors')."""
USER_KEYS: Final = (
    "langfuse.user.id",
    "user.id",
    "enduser.id",
    "ai.telemetry.metadata.userId",
    "gen_ai.request.user",
    "traceloop.association.properties.user_id",
)
"""The attributes a span's user is read from, first found wins."""
ENV_KEYS: Final = ("langfuse.environment", "deployment.environment.name", "deployment.environment")
_INPUT_KEYS: Final = (
    "gen_ai.input.messages",
    "langfuse.observation.input",
    "ai.prompt.messages",
    "gen_ai.prompt",
)
_OUTPUT_KEYS: Final = (
    "gen_ai.output.messages",
    "langfuse.observation.output",
    "ai.response.text",
    "gen_ai.completion",
)

Key = tuple[str | None, str | None]


def calls_from_spans(spans: Sequence[Span], options: ImportOptions) -> list[Call]:
    """The LLM calls among ``spans`` (one file's, or one request's), with tree links and steps.

    Args:
        spans: Decoded spans; parents not among them are simply unknown.
        options: Content capture.

    Returns:
        One Call per LLM-call span, in span order, steps numbered by start time per session.
        Calls the capture SDK sent (``tokenomy.call.id``) are read back exactly, their own
        step kept (:mod:`tokenomy.importers.otel_tokenomy`).
    """
    by_key: dict[Key, Span] = {(s.trace_id, s.span_id): s for s in spans if s.span_id}
    candidates = [s for s in spans if is_sdk_call(s) or is_llm_span(s)]
    wrappers = _ancestors_of(candidates, by_key)
    traces = _trace_sessions(spans)
    chosen = [s for s in candidates if (s.trace_id, s.span_id) not in wrappers]
    exact = [is_sdk_call(s) for s in chosen]
    calls = [
        exact_call(span, options) if sdk else span_to_call(span, by_key, traces, options)
        for span, sdk in zip(chosen, exact, strict=True)
    ]
    numbered = iter(number_steps([c for c, sdk in zip(calls, exact, strict=True) if not sdk]))
    return [c if sdk else next(numbered) for c, sdk in zip(calls, exact, strict=True)]


def is_llm_span(span: Span) -> bool:
    """True when the span records one model call (see the module docstring)."""
    attrs = span.attributes
    operation = _str(attrs, "gen_ai.operation.name")
    if operation in WRAPPER_OPERATIONS:
        return False
    declared = _declared(attrs)
    if declared is not None:
        return declared
    if operation in CALL_OPERATIONS:
        return True
    if operation is None and (_str(attrs, "gen_ai.agent.name") or _str(attrs, "agent_name")):
        return False  # an agent run (pydantic-ai): its usage is its calls' sum
    if _str(attrs, "llm.request.type") in ("chat", "completion", "embedding"):
        return True
    return _model(attrs) is not None or _has_usage(attrs)


def _declared(attrs: Mapping[str, Any]) -> bool | None:
    """What the instrumentation itself declares the span to be, when it does."""
    observation = _str(attrs, "langfuse.observation.type")
    if observation is not None:
        return observation.lower() in ("generation", "embedding")
    kind = _str(attrs, "openinference.span.kind")
    if kind is not None:
        return kind.upper() in ("LLM", "EMBEDDING")
    vercel = _vercel_operation(attrs)
    if vercel is not None:
        return vercel in _VERCEL_CALLS
    return None


def _vercel_operation(attrs: Mapping[str, Any]) -> str | None:
    """The Vercel AI SDK operation (``generateText``, ``generateText.doGenerate``...), or None."""
    operation = _str(attrs, "ai.operationId")
    if operation is None:
        named = (_str(attrs, "operation.name") or "").split(" ")[0]
        operation = named if named.startswith("ai.") else None
    return operation.removeprefix("ai.") if operation else None


def _has_usage(attrs: Mapping[str, Any]) -> bool:
    if not any("usage" in key or "token_count" in key for key in attrs):
        return False
    usage = from_otel(attrs).usage
    return (
        usage.input_total is not None
        or usage.output_total is not None
        or any(v is not None for v in usage.buckets().values())
    )


def _ancestors_of(candidates: Sequence[Span], by_key: Mapping[Key, Span]) -> set[Key]:
    """Keys of candidate spans that have another candidate below them."""
    candidate_keys = {(s.trace_id, s.span_id) for s in candidates}
    wrappers: set[Key] = set()
    for span in candidates:
        for parent in _parents(span, by_key):
            key = (parent.trace_id, parent.span_id)
            if key in candidate_keys:
                wrappers.add(key)
    return wrappers


def _parents(span: Span, by_key: Mapping[Key, Span]) -> list[Span]:
    out: list[Span] = []
    seen: set[str | None] = {span.span_id}
    parent = by_key.get((span.trace_id, span.parent_span_id))
    while parent is not None and parent.span_id not in seen:
        out.append(parent)
        seen.add(parent.span_id)
        parent = by_key.get((parent.trace_id, parent.parent_span_id))
    return out


def _trace_sessions(spans: Sequence[Span]) -> dict[str | None, str]:
    return trace_sessions((span.trace_id, _first(span.attributes, SESSION_KEYS)) for span in spans)


def trace_sessions(pairs: Iterable[tuple[str | None, str | None]]) -> dict[str | None, str]:
    """Each trace's session, from (trace id, session or None) pairs: the one its spans name, when
    they name one alone. A trace of several sessions gives none: the spans of a worker's trace
    outside its sessions are no session's, not the first one's."""
    found: dict[str | None, str] = {}
    several: set[str | None] = set()
    for trace, session in pairs:
        if session is not None and found.setdefault(trace, session) != session:
            several.add(trace)
    for trace in several:
        del found[trace]
    return found


def span_to_call(
    span: Span, by_key: Mapping[Key, Span], traces: Mapping[str | None, str], options: ImportOptions
) -> Call:
    """The Call an LLM span records."""
    attrs = span.attributes
    extracted = from_otel(attrs)
    lineage = [span, *_parents(span, by_key)]
    request_model = _model(attrs)
    provider = _provider(attrs, extracted.provider, request_model)
    started, ended = _time(span.start_ns), _time(span.end_ns)
    messages = _messages(attrs)
    return Call(
        id=provider_id(extracted.response_id or _str(attrs, "gen_ai.response.id")) or _span_id(span),
        provider=provider,
        request_model=from_model_prefix(request_model)[1] if request_model else None,
        response_model=extracted.response_model or _str(attrs, "gen_ai.response.model"),
        operation=_operation(attrs),
        api="embeddings" if _operation(attrs) == "embeddings" else extracted.api or None,
        started_at=started,
        ended_at=ended,
        latency_ms=(span.end_ns - span.start_ns) / 1e6 if span.start_ns and span.end_ns else None,
        ttft_ms=_ttft(attrs, started),
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        session_id=_lineage_first(lineage, SESSION_KEYS) or traces.get(span.trace_id),
        streamed=attrs.get("gen_ai.request.stream")
        if isinstance(attrs.get("gen_ai.request.stream"), bool)
        else None,
        usage=_usage(attrs, extracted.usage),
        max_output_tokens=_positive_int(attrs.get("gen_ai.request.max_tokens")),
        service_tier=extracted.service_tier,
        status=Status.ERROR if _failed(span) else Status.OK,
        error_type=_error_type(span),
        finish_reason=extracted.finish_reason or _finish_reason(attrs),
        tool_uses=extracted.tool_uses,
        attribution=_attribution(span, lineage),
        provider_reported_cost=extracted.provider_reported_cost or _langfuse_cost(attrs),
        content=_content(attrs, messages) if options.capture_content else None,
        **(shape_of(messages, None, request_model).fields() if messages else {}),
    )


def _failed(span: Span) -> bool:
    """A failed span: status ERROR, or an ``error.type`` (the conventions set it only when the
    operation ended in an error, and some instrumentations leave the status unset)."""
    return span.status_code == STATUS_ERROR or _str(span.attributes, "error.type") is not None


def _error_type(span: Span) -> str | None:
    """The span's ``error.type``, else a failed span's status message, each only when it is a
    classification (:func:`tokenomy.errors.error_kind`): a message is often an exception's text,
    prompt or key included. A failed span with neither stores none (the collector's quick path
    applies the same rule, :mod:`tokenomy.server.otlp_calls`)."""
    found = error_kind(_str(span.attributes, "error.type"))
    if found is None and span.status_code == STATUS_ERROR:
        found = error_kind(span.status_message)
    return found


def _usage(attrs: Mapping[str, Any], usage: Usage) -> Usage:
    """The span's usage; Langfuse SDK spans carry theirs as ``langfuse.observation.usage_details``."""
    if usage.input_total is not None or usage.output_total is not None or any(usage.buckets().values()):
        return usage
    details = _json_object(attrs.get("langfuse.observation.usage_details"))
    return langfuse_usage(details) if details else usage


def _langfuse_cost(attrs: Mapping[str, Any]) -> Decimal | None:
    """Langfuse's own cost of the generation (``langfuse.observation.cost_details``: total, else the sum)."""
    details = _json_object(attrs.get("langfuse.observation.cost_details"))
    if not details:
        return None
    if "total" in details:
        return to_decimal(details["total"])
    amounts = [to_decimal(v) for v in details.values()]
    known = [a for a in amounts if a is not None]
    return sum(known, Decimal(0)) if known else None


def _json_object(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) and value else None


def _span_id(span: Span) -> str:
    if span.trace_id and span.span_id:
        return f"{span.trace_id}:{span.span_id}"
    return content_id("otel", span.name, dict(span.attributes), span.start_ns, span.end_ns)


def _str(attrs: Mapping[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    if isinstance(value, str):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]  # some SDKs JSON-encode string attributes
        return value or None
    return None


def _first(attrs: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = _str(attrs, key)
        if value is not None:
            return value
    return None


def _lineage_first(lineage: Sequence[Span], keys: Sequence[str]) -> str | None:
    for span in lineage:
        value = _first(span.attributes, keys) or _first(span.resource, keys)
        if value is not None:
            return value
    return None


def _model(attrs: Mapping[str, Any]) -> str | None:
    return _first(attrs, _MODEL_KEYS)


def _provider(attrs: Mapping[str, Any], extracted: str | None, model: str | None) -> str | None:
    """The named provider (a router such as the Vercel AI Gateway names none), else the prefix of a
    routed model name, else what :func:`tokenomy.usage.from_otel` found (the response or request
    model's maker, or the one provider the price catalog lists it for), else the model's."""
    named = named_provider(attrs)
    prefixed = from_model_prefix(model)[0]
    router = extracted in ROUTERS  # the router's own name, kept when nothing else tells
    generic = router or extracted in (None, "", "otel", "unknown")
    found = named or prefixed or (None if generic else extracted) or provider_of_model(model)
    return found or (extracted if router else None)


def _operation(attrs: Mapping[str, Any]) -> str:
    """The call's operation: the convention's name (one it does not list, such as ``rerank``, as
    given), else embeddings where an instrumentation says so, else chat."""
    operation = _str(attrs, "gen_ai.operation.name")
    if operation is not None:
        return "text_completion" if operation == "completion" else operation
    vercel = _vercel_operation(attrs) or ""
    observation = (_str(attrs, "langfuse.observation.type") or "").lower()
    if (
        vercel.startswith("embed")
        or observation == "embedding"
        or _str(attrs, "llm.request.type") == "embedding"
        or (_str(attrs, "openinference.span.kind") or "").upper() == "EMBEDDING"
    ):
        return "embeddings"
    return "chat"


def _time(ns: int | None) -> datetime | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).replace(tzinfo=None)


def _ttft(attrs: Mapping[str, Any], started: datetime | None) -> float | None:
    seconds = attrs.get("gen_ai.response.time_to_first_chunk")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return float(seconds) * 1000
    ms = attrs.get("ai.response.msToFirstChunk")
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return float(ms)
    first = _str(attrs, "langfuse.observation.completion_start_time")
    if first and started:
        try:
            at = datetime.fromisoformat(first.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)
        except ValueError:
            return None
        return (at - started).total_seconds() * 1000 if at >= started else None
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _finish_reason(attrs: Mapping[str, Any]) -> str | None:
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        return reasons[0]
    return _str(attrs, "gen_ai.response.finish_reason")


def _attribution(span: Span, lineage: Sequence[Span]) -> Attribution:
    tags: dict[str, str] = {}
    for key in ("langfuse.trace.tags", "ai.telemetry.metadata.tags"):
        value = span.attributes.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = [value]
        if isinstance(value, list):
            tags.update({str(v): "true" for v in value if isinstance(v, str) and v})
    return Attribution(
        user=_lineage_first(lineage, USER_KEYS),
        environment=_lineage_first(lineage, ENV_KEYS),
        agent=_lineage_first(lineage, ("gen_ai.agent.name",)),
        tags=tags,
    )


def _messages(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    for key in ("gen_ai.input.messages", "langfuse.observation.input", "ai.prompt.messages"):
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, list) and value and all(isinstance(m, Mapping) and "role" in m for m in value):
            return [normalize(m) for m in value]
    return []


def _content(attrs: Mapping[str, Any], messages: list[dict[str, Any]]) -> Content:
    prompt = render(messages) if messages else _first(attrs, _INPUT_KEYS)
    output = attrs.get(next((k for k in _OUTPUT_KEYS if k in attrs), ""), None)
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            return Content(prompt=prompt, completion=output)
    return Content(prompt=prompt, completion=text_of(output) or None)
