"""OpenTelemetry GenAI span attributes: the semantic conventions and what real instrumentations emit.

Convention (GenAI semantic conventions): ``gen_ai.usage.input_tokens`` *includes* cache reads
(``gen_ai.usage.cache_read.input_tokens``) and cache writes
(``gen_ai.usage.cache_creation.input_tokens``); ``gen_ai.usage.output_tokens`` *includes*
``gen_ai.usage.reasoning.output_tokens``. OTel gives no cache TTL, so cache creation is
counted as 5m writes (1h = 0). An attribute that is absent leaves its bucket unknown: with no
cache attributes the uncached input is None, with no reasoning attribute the visible output is
None. Parts larger than their total are kept and flagged, never clamped.

Modalities: ``gen_ai.usage.{audio,image,video}.input_tokens`` (Pydantic AI:
``gen_ai.usage.details.input_audio_tokens``; OpenInference: ``llm.token_count.prompt_details.audio``)
are parts of the input tokens, cache included. The conventions do not split the cache by modality,
so the shared rule of :func:`tokenomy.usage.base.split_input_modalities` places them, unless the
span gives Pydantic AI's ``gen_ai.usage.details.cache_audio_read_tokens`` (the split, then used).
``gen_ai.usage.{audio,image,video}.output_tokens`` (``gen_ai.usage.details.output_audio_tokens``,
``gen_ai.usage.output_audio_tokens``, ``llm.token_count.completion_details.audio``) are parts of the
visible output (reasoning is text).

Names are read in the order below, the first present winning (an explicit 0 hides later
spellings): the current conventions, the deprecated ones (``gen_ai.usage.prompt_tokens``,
``gen_ai.system``), then OpenLLMetry/Traceloop (``llm.usage.*``,
``gen_ai.usage.cache_read_input_tokens``, ``gen_ai.usage.reasoning_tokens``), OpenInference
(``llm.token_count.*``), the Vercel AI SDK (``ai.usage.*``, ``ai.model.*``, ``ai.response.*``)
and OpenLit (``gen_ai.usage.cost``, the instrumentation's own price estimate, kept in
``extra["instrumentation_cost"]`` and never taken for the provider's figure).

When a span carries the provider's raw usage object (the Vercel AI SDK's
``ai.response.providerMetadata``, e.g. ``{"anthropic": {"usage": {...}}}``), that object is read
with the provider's own adapter and wins, because it has the exact split. The span's summary
counts must then equal the provider's inclusive input total, or its raw (exclusive) input
count as older SDK versions reported; otherwise the result is flagged ``TOTAL_MISMATCH``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from tokenomy.providers import canonical, from_model_prefix
from tokenomy.schema import MODALITIES, Quality, ToolUse, Usage
from tokenomy.usage.base import (
    Extracted,
    check_total,
    flagged,
    inclusive,
    join_text,
    keyed,
    split_input_modalities,
    to_decimal,
    tool_use,
    with_modalities,
)
from tokenomy.usage.registry import choose

NAME: Final = "otel"
INPUT: Final = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
)
OUTPUT: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
)
CACHE_READ: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_cached_tokens",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.cachedInputTokens",
    "gen_ai.usage.details.cache_read_tokens",
)
CACHE_WRITE: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_cache_creation",
    "llm.token_count.prompt_details.cache_write",
    "gen_ai.usage.details.cache_write_tokens",
)
REASONING: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",
    "gen_ai.usage.details.reasoning_tokens",
)
TOTAL: Final = (
    "gen_ai.usage.total_tokens",
    "llm.usage.total_tokens",
    "llm.token_count.total",
    "ai.usage.totalTokens",
    "ai.usage.tokens",
)
MODAL_INPUT: Final = {
    m: (
        f"gen_ai.usage.{m}.input_tokens",
        f"gen_ai.usage.details.input_{m}_tokens",
        f"llm.token_count.prompt_details.{m}",
    )
    for m in MODALITIES
}
"""The non-text parts of the input tokens (cache included), by modality, in the order read."""
MODAL_CACHE_READ: Final = {m: (f"gen_ai.usage.details.cache_{m}_read_tokens",) for m in MODALITIES}
"""The non-text parts of the cache reads, by modality (Pydantic AI's usage details)."""
MODAL_OUTPUT: Final = {
    m: (
        f"gen_ai.usage.{m}.output_tokens",
        f"gen_ai.usage.details.output_{m}_tokens",
        f"gen_ai.usage.output_{m}_tokens",
        f"llm.token_count.completion_details.{m}",
    )
    for m in MODALITIES
}
"""The non-text parts of the output tokens, by modality, in the order read."""
PROVIDER: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
RESPONSE_MODEL: Final = ("gen_ai.response.model", "ai.response.model")
REQUEST_MODEL: Final = (
    "gen_ai.request.model",
    "ai.model.id",
    "llm.model_name",
    "llm.request.model",
    "embedding.model_name",
)
RESPONSE_ID: Final = ("gen_ai.response.id", "ai.response.id")
FINISH: Final = (
    "gen_ai.response.finish_reasons",
    "ai.response.finishReason",
    "gen_ai.completion.0.finish_reason",
)
SERVICE_TIER: Final = ("openai.response.service_tier", "gen_ai.openai.response.service_tier")
STREAMED: Final = ("gen_ai.request.stream", "gen_ai.request.is_stream", "llm.is_streaming")
OPERATION: Final = ("gen_ai.operation.name", "llm.request.type")
_APIS: Final = {"text_completion": "completions", "completion": "completions", "embedding": "embeddings"}
_INDEXED: Final = re.compile(
    r"^(gen_ai\.completion|llm\.output_messages)\.(\d+)\.(?:message\.)?"
    r"(?:(content)|tool_calls\.(\d+)\.(?:tool_call\.function\.)?(name|arguments))$"
)


def decode_otlp_attributes(key_values: Any) -> dict[str, Any]:
    """OTLP/JSON ``[{"key": ..., "value": {"intValue": ...}}]`` attributes as a plain dict."""
    out: dict[str, Any] = {}
    for kv in key_values if isinstance(key_values, list) else []:
        if isinstance(kv, Mapping) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _any_value(kv.get("value"))
    return out


def _any_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return decode_otlp_attributes((value["kvlistValue"] or {}).get("values"))
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in value:
            return value[key]
    if "intValue" in value:  # int64 travels as a string in OTLP/JSON
        return _int(value["intValue"])
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _first(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _count(attrs: Mapping[str, Any], names: tuple[str, ...]) -> int | None:
    return _int(_first(attrs, names))


def _text(attrs: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    value = _first(attrs, names)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _summary_usage(attrs: Mapping[str, Any]) -> Usage:
    written = _count(attrs, CACHE_WRITE)
    inputs, output, reasoning = _count(attrs, INPUT), _count(attrs, OUTPUT), _count(attrs, REASONING)
    total = _count(attrs, TOTAL)
    if inputs is not None and output is not None and reasoning and total == inputs + output + reasoning:
        output += reasoning  # the total says the reasoning is on top of the output (see the docstring)
    usage = inclusive(
        input_total=inputs,
        cache_read=_count(attrs, CACHE_READ),
        cache_write_5m=written,
        cache_write_1h=None if written is None else 0,
        output_total=output,
        reasoning=reasoning,
    )
    return with_modalities(usage, _modalities(attrs, usage))


def _modalities(attrs: Mapping[str, Any], usage: Usage) -> dict[str, int]:
    inputs = {m: n for m, names in MODAL_INPUT.items() if (n := _count(attrs, names))}
    outputs = {m: n for m, names in MODAL_OUTPUT.items() if (n := _count(attrs, names))}
    split = {m: _count(attrs, names) for m, names in MODAL_CACHE_READ.items()}
    cached = {m: n or 0 for m, n in split.items()} if any(n is not None for n in split.values()) else None
    return {**split_input_modalities(inputs, usage, cached), **keyed("output_visible", outputs)}


def _provider_usage(attrs: Mapping[str, Any]) -> Usage | None:
    """The raw provider usage a span carries, read by the provider's adapter, if complete: in the
    Vercel AI SDK's ``ai.response.providerMetadata`` (its ``usage``, or the cache counts its v4
    providers give there beside the summary's), or in Google ADK's ``gcp.vertex.agent.llm_response``
    (the Gemini answer, its ``usage_metadata`` thoughts and cache included)."""
    metadata = _json(attrs.get("ai.response.providerMetadata"))
    for provider, entry in (metadata or {}).items() if isinstance(metadata, Mapping) else ():
        if not isinstance(entry, Mapping):
            continue
        usage = entry.get("usage")
        body = {"usage": usage} if isinstance(usage, Mapping) else _vercel_v4(str(provider), entry, attrs)
        adapter = None if body is None else choose(body, provider=str(provider))
        if body is None or adapter is None:
            continue
        found = adapter.extract(body).usage
        if found.input_total is not None and found.output_total is not None:
            return found
    answer = _json(attrs.get("gcp.vertex.agent.llm_response"))
    metadata = answer.get("usage_metadata") if isinstance(answer, Mapping) else None
    if isinstance(metadata, Mapping):
        body = {"usageMetadata": _camel(metadata)}
        adapter = choose(body, provider="google")
        gemini = None if adapter is None else adapter.extract(body).usage
        if gemini is not None and gemini.input_total is not None and gemini.output_total is not None:
            return gemini
    return None


def _vercel_v4(provider: str, entry: Mapping[str, Any], attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The provider usage a Vercel AI SDK v4 span implies: Anthropic's cache counts
    (``cacheCreationInputTokens``, ``cacheReadInputTokens``) beside a ``promptTokens`` that is
    Anthropic's exclusive ``input_tokens``; OpenAI's ``cachedPromptTokens`` and ``reasoningTokens``,
    parts of its inclusive prompt and completion counts. None for anything else."""
    prompt, completion = _count(attrs, INPUT), _count(attrs, OUTPUT)
    if prompt is None or completion is None:
        return None
    if canonical(provider) == "anthropic" and {"cacheCreationInputTokens", "cacheReadInputTokens"} & set(
        entry
    ):
        counts = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cache_creation_input_tokens": _int(entry.get("cacheCreationInputTokens")) or 0,
            "cache_read_input_tokens": _int(entry.get("cacheReadInputTokens")) or 0,
        }
        return {"type": "message", "usage": counts}
    if canonical(provider) == "openai" and {"cachedPromptTokens", "reasoningTokens"} & set(entry):
        # each count only when the SDK gave it: one it did not give stays unknown, never 0
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
        cached, reasoning = _int(entry.get("cachedPromptTokens")), _int(entry.get("reasoningTokens"))
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        if reasoning is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return {"object": "chat.completion", "usage": usage}
    return None


def _camel(value: Any) -> Any:
    """A google-genai object dumped with Python names (``prompt_token_count``) as the API writes it
    (``promptTokenCount``), which the Gemini adapter reads."""
    if isinstance(value, Mapping):
        return {_camel_name(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _reconcile(exact: Usage, summary: Usage) -> Usage:
    """The provider's usage, flagged when the span's summary counts fit none of its readings: the
    input inclusive of the cache or not; the output inclusive of the reasoning or not (Google ADK
    sets the output to Gemini's candidates, its thoughts left out)."""
    inputs = {exact.input_total, exact.input_uncached}
    outputs = {exact.output_total, exact.output_visible}
    agrees_in = summary.input_total is None or summary.input_total in inputs
    agrees_out = summary.output_total is None or summary.output_total in outputs
    return exact if agrees_in and agrees_out else flagged(exact, Quality.TOTAL_MISMATCH)


def otel_usage(attrs: Mapping[str, Any]) -> Usage:
    """The exclusive buckets of a span's attributes (see the module docstring)."""
    summary = _summary_usage(attrs)
    exact = _provider_usage(attrs)
    usage = summary if exact is None else _reconcile(exact, summary)
    return check_total(usage, _count(attrs, TOTAL))


def _message_parts(attrs: Mapping[str, Any], texts: list[str], tools: list[ToolUse | None]) -> None:
    """Text and tool calls from ``gen_ai.output.messages`` (parts, or plain ``content``)."""
    messages = _json(attrs.get("gen_ai.output.messages"))
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        if isinstance(message.get("content"), str):
            texts.append(message["content"])
        for part in message.get("parts") or []:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("content"), str):
                texts.append(part["content"])
            elif kind in ("tool_call", "server_tool_call"):
                args = part.get("arguments", part.get("server_tool_call"))
                tools.append(tool_use(part.get("name"), args, server=kind == "server_tool_call"))


def _indexed_parts(attrs: Mapping[str, Any], texts: list[str], tools: list[ToolUse | None]) -> None:
    """Text and tool calls flattened into indexed keys (Traceloop, OpenInference)."""
    found: dict[tuple[str, int], str] = {}
    calls: dict[tuple[str, int, int], dict[str, Any]] = {}
    for key in attrs:
        match = (
            _INDEXED.match(key) if key.startswith(("gen_ai.completion.", "llm.output_messages.")) else None
        )
        if match is None:
            continue
        prefix, choice, content, call, field = match.groups()
        if content and isinstance(attrs[key], str):
            found[(prefix, int(choice))] = attrs[key]
        elif field:
            calls.setdefault((prefix, int(choice), int(call)), {})[field] = attrs[key]
    texts.extend(text for _, text in sorted(found.items()))
    for _, call in sorted(calls.items()):
        tools.append(tool_use(call.get("name"), call.get("arguments")))


def _vercel_parts(attrs: Mapping[str, Any], texts: list[str], tools: list[ToolUse | None]) -> None:
    """Text and tool calls of the Vercel AI SDK (``ai.response.text``, ``ai.response.toolCalls``)."""
    for key in ("ai.response.text", "gen_ai.completion"):
        if isinstance(attrs.get(key), str) and attrs[key]:
            texts.append(attrs[key])
            break
    calls = _json(attrs.get("ai.response.toolCalls"))
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, Mapping):
            tools.append(tool_use(call.get("toolName"), call.get("input", call.get("args"))))


ROUTERS: Final = frozenset({"gateway"})
"""Provider names that say only that a router served the call: the Vercel AI Gateway's
``ai.model.provider`` (and ``gen_ai.system``) ``gateway``, with a routed model id like
``openai/gpt-4o``. The provider is then the model id's prefix."""


def _names(attrs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The canonical provider names a span gives: :data:`PROVIDER`'s, and the Vercel AI SDK's
    ``ai.model.provider`` (``openai.chat``, ``anthropic.messages``: the part before the dot)."""
    vercel = _text(attrs, ("ai.model.provider",))
    return canonical(_text(attrs, PROVIDER)), canonical(vercel.split(".")[0]) if vercel else None


def named_provider(attrs: Mapping[str, Any]) -> str | None:
    """The canonical provider a span's attributes name, or None; a router (:data:`ROUTERS`) names none."""
    return next((name for name in _names(attrs) if name is not None and name not in ROUTERS), None)


def _provider(attrs: Mapping[str, Any], model: str | None) -> str:
    """The named provider, else a routed model name's prefix; the router's own name when nothing
    else tells, and ``unknown`` when nothing does (a call's provider is then inferred from its model
    where a call is built, :mod:`tokenomy.importers.otel_calls`: the price catalog that knows the
    makers' models sits above this layer)."""
    found = named_provider(attrs) or from_model_prefix(model)[0]
    return found or next((name for name in _names(attrs) if name is not None), None) or "unknown"


def _extra(attrs: Mapping[str, Any], request_model: str | None, operation: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if request_model:
        extra["request_model"] = request_model
    if operation:
        extra["operation"] = operation
    cost = to_decimal(_first(attrs, ("gen_ai.usage.cost", "operation.cost")))  # OpenLit's, Pydantic AI's
    if cost is not None:
        extra["instrumentation_cost"] = cost
    streamed = _first(attrs, STREAMED)
    if isinstance(streamed, bool):
        extra["streamed"] = streamed
    return extra


def from_otel(attributes: Mapping[str, Any]) -> Extracted:
    """Read the usage and response facts of one GenAI span from its attributes.

    Args:
        attributes: The span's attributes as a flat mapping (values already decoded; see
            :func:`decode_otlp_attributes` for OTLP/JSON key-value lists). Counts given as
            numeric strings are accepted.

    Returns:
        The usage in exclusive buckets (unknown parts None), with model, ids, finish reason,
        tool uses and visible text when the span carries them. ``provider`` is ``"unknown"``
        when neither a provider attribute nor a routed model name says.
    """
    attrs = attributes
    operation = _text(attrs, OPERATION)
    request_model = _text(attrs, REQUEST_MODEL)
    response_model = _text(attrs, RESPONSE_MODEL)
    texts: list[str] = []
    tools: list[ToolUse | None] = []
    _message_parts(attrs, texts, tools)
    _indexed_parts(attrs, texts, tools)
    if not texts and not tools:
        _vercel_parts(attrs, texts, tools)
    return Extracted(
        usage=otel_usage(attrs),
        provider=_provider(attrs, response_model or request_model),
        api=_APIS.get(operation or "", operation or "chat"),
        adapter=NAME,
        response_model=response_model,
        response_id=_text(attrs, RESPONSE_ID),
        finish_reason=_text(attrs, FINISH),
        tool_uses=tuple(t for t in tools if t is not None),
        service_tier=_text(attrs, SERVICE_TIER),
        completion_text=join_text(texts),
        extra=_extra(attrs, request_model, operation),
    )
