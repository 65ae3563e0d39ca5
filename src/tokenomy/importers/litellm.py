"""LiteLLM logs: SpendLogs rows (the proxy's spend table) and standard logging payloads.

Both record one call each. A file may hold one row, a JSON list of rows, or JSON lines.

Mapping: the id is ``request_id`` (spend log) or ``id`` (payload), the provider's own response
id, so a call logged by LiteLLM and captured elsewhere is stored once. Usage comes from the full
usage object (the payload's ``response.usage``, or the spend log's ``metadata.usage_object``),
read with LiteLLM's convention (:mod:`tokenomy.importers.litellm_usage`), or with the Responses
API's when it has that shape (``input_tokens``...: an ``aresponses`` row keeps the upstream's
usage), else (no usage object, or one giving neither side's total) from the flat
``prompt_tokens``/``completion_tokens`` with the split unknown. LiteLLM's own cost (``spend`` or
``response_cost``) is kept as ``provider_reported_cost`` for reconciliation; tokenomy prices the
call itself. Attribution: ``end_user`` (else the key's user) is the user, the key's team alias
(else ``team_id``) the team, the key's project the project, ``agent_id`` the agent,
``request_tags`` the tags, and the API key only as a hash of the value LiteLLM logged. The session
is ``session_id`` (else ``metadata.session_id``, else LiteLLM's ``trace_id``).

Rows of non-LLM work that LiteLLM also meters (its search API, MCP tool calls: a
``mcp_namespaced_tool_name`` or an MCP ``call_type``) are not calls: they become Charges of kind
``search`` or ``mcp_tool`` for their ``spend``, with the same session and attribution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final

from tokenomy.errors import RecordError, error_kind
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.ids import content_id, short_hash
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.importers.messages import normalize, render, text_of, tool_uses_of
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import (
    guarded,
    iter_records,
    ms_between,
    opt_int,
    opt_money,
    opt_number,
    opt_str,
    opt_time,
    reported_cost,
    require_object,
    sample_objects,
    tags_from,
)
from tokenomy.importers.results import ImportOptions, Item
from tokenomy.importers.shape import shape_of
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import canonical, from_model_prefix
from tokenomy.schema import Attribution, Call, Charge, Content, Status, Usage
from tokenomy.usage.openai_responses import responses_usage

_SPEND_KEYS: Final = frozenset({"request_id", "spend", "call_type"})
_PAYLOAD_KEYS: Final = frozenset({"response_cost", "call_type"})
_CHARGE_KINDS: Final = {"search": "search"}
"""Non-LLM call types (without the async ``a`` prefix) recorded as charges, and their charge kind."""
_MCP_CALL_TYPES: Final = frozenset({"call_mcp_tool", "mcp_tool_call", "list_mcp_tools"})
_ROW_KEYS: Final = frozenset({"request_id", "call_type", "model", "spend", "response_cost"})
"""A row holds at least one of these; any other object is not a LiteLLM record (rejected, not stored)."""
_PAYLOAD_HINTS: Final = frozenset(
    {
        "model_map_information",
        "hidden_params",
        "standard_built_in_tools_params",
        "custom_llm_provider",
        "model_group",
        "saved_cache_cost",
        "response_cost_failure_debug_info",
    }
)
"""Keys only LiteLLM's logging payloads carry: with ``call_type`` and ``response_cost`` they make the
format sure (a payload has a ``metadata`` field, which alone a Bedrock stream reader could take for one
of its events)."""
_ANTHROPIC_CACHE_KEYS: Final = frozenset({"cache_read_input_tokens", "cache_creation_input_tokens"})

# call_type (sync or async flavour) -> (operation, api)
_CALL_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "completion": ("chat", "chat"),
    "text_completion": ("text_completion", "completions"),
    "embedding": ("embeddings", "embeddings"),
    "responses": ("chat", "responses"),
    "anthropic_messages": ("chat", "messages"),
    "generate_content": ("chat", "generate_content"),
    "image_generation": ("image_generation", None),
    "transcription": ("transcription", None),
    "speech": ("speech", None),
    "rerank": ("rerank", None),
}


class LiteLLMImporter(RecordImporter):
    """LiteLLM SpendLogs rows and standard logging payloads."""

    name: ClassVar[str] = "litellm"
    summary: ClassVar[str] = "LiteLLM spend-log rows and standard logging payloads (JSON or JSONL)."

    def sniff(self, sample: Sample) -> float:
        """Sure when the first record has a spend log's or a logging payload's keys."""
        objects = sample_objects(sample, ("data",))
        if not objects:
            return 0.0
        keys = set(objects[0])
        if keys >= _SPEND_KEYS or (keys >= _PAYLOAD_KEYS and keys & _PAYLOAD_HINTS):
            return 0.95
        if keys >= _PAYLOAD_KEYS:
            return 0.8
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """One call per row; one charge per row of a non-LLM call (a search, an MCP tool call)."""
        for number, row in iter_records(source, list_keys=("data",)):
            if isinstance(row, RecordError):
                yield row
                continue
            yield from guarded(source, number, _one, row, options)


def _one(row: Any, options: ImportOptions) -> list[Call | Charge]:
    charge = row_to_charge(row)
    return [charge] if charge is not None else [row_to_call(row, options)]


def row_to_charge(value: Any) -> Charge | None:
    """A non-LLM row (LiteLLM's search API, an MCP tool call) as a Charge; None for LLM calls.

    Raises:
        FieldError: A field has the wrong type.
    """
    row = require_object(value, "a LiteLLM spend-log row or logging payload")
    call_type = (opt_str(row, "call_type") or "").lower().removeprefix("a")
    tool = opt_str(row, "mcp_namespaced_tool_name")
    kind = "mcp_tool" if tool or call_type in _MCP_CALL_TYPES else _CHARGE_KINDS.get(call_type)
    if kind is None:
        return None
    metadata = _metadata(row)
    at = opt_time(row, "startTime") or opt_time(row, "endTime")
    if at is None:
        raise FieldError("startTime", f"a {kind} charge needs a time")
    amount = opt_money(row, "spend") if "spend" in row else opt_money(row, "response_cost")
    return Charge(
        id=opt_str(row, "request_id") or opt_str(row, "id") or content_id("litellm", row),
        amount=amount if amount is not None else Decimal(0),
        kind=kind,
        at=at,
        session_id=opt_str(row, "session_id") or opt_str(metadata, "session_id") or opt_str(row, "trace_id"),
        quantity=1.0,
        unit="request",
        description=tool or opt_str(row, "model"),
        attribution=_attribution(row, metadata),
    )


def row_to_call(value: Any, options: ImportOptions) -> Call:
    """Convert one spend-log row or standard logging payload to a Call.

    Raises:
        FieldError: A field has the wrong type.
    """
    row = require_object(value, "a LiteLLM spend-log row or logging payload")
    if not row.keys() & _ROW_KEYS:
        keys = ", ".join(sorted(str(k) for k in row)[:8]) or "none"
        raise FieldError(
            "(record)",
            "not a LiteLLM spend-log row or logging payload: it has none of "
            f"{', '.join(sorted(_ROW_KEYS))}; its keys: {keys}",
        )
    metadata = _metadata(row)
    response = _json_field(row, "response")
    usage = _usage(row, metadata, response)
    provider, model = _provider_model(row)
    operation, api = _operation(row)
    choice = _first_choice(response)
    messages = _messages(row)
    status, error_type, http_status = _status(row, metadata)
    return Call(
        id=opt_str(row, "request_id") or opt_str(row, "id") or content_id("litellm", row),
        provider=provider,
        request_model=model,
        response_model=opt_str(response, "model") if response else None,
        operation=operation,
        api=api,
        **_timing(row),
        session_id=opt_str(row, "session_id") or opt_str(metadata, "session_id") or opt_str(row, "trace_id"),
        usage=usage,
        context_window=_context_window(row, metadata),
        max_output_tokens=_max_tokens(row),
        status=status,
        error_type=error_type,
        http_status=http_status,
        finish_reason=opt_str(choice, "finish_reason") if choice else None,
        tool_uses=tool_uses_of(choice.get("message") or {}) if choice else (),
        attribution=_attribution(row, metadata),
        provider_reported_cost=reported_cost(row, "spend")
        if "spend" in row
        else reported_cost(row, "response_cost"),
        content=_content(messages, choice) if options.capture_content else None,
        **(shape_of(messages, None, model).fields() if messages else {}),
    )


def _timing(row: Mapping[str, Any]) -> dict[str, Any]:
    """Start, end, latency, time to first token (streams only) and whether the call streamed."""
    started = opt_time(row, "startTime")
    ended = opt_time(row, "endTime")
    first_token = opt_time(row, "completionStartTime")
    streamed = row.get("stream") if isinstance(row.get("stream"), bool) else None
    latency = ms_between(started, ended)
    seconds = opt_number(row, "response_time")
    if latency is None and seconds is not None:
        latency = seconds * 1000
    early = first_token is not None and ended is not None and first_token < ended
    return {
        "started_at": started,
        "ended_at": ended,
        "latency_ms": latency,
        "ttft_ms": ms_between(started, first_token) if streamed or early else None,
        "streamed": streamed,
    }


def _json_field(row: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """A field that LiteLLM writes either as an object or as a JSON string (spend logs)."""
    value = row.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError as exc:
            raise FieldError(key, f"expected JSON text or an object: {exc}") from exc
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise FieldError(key, f"expected an object, got {type(value).__name__}")
    return value


def _metadata(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return _json_field(row, "metadata") or {}


def _usage(row: Mapping[str, Any], metadata: Mapping[str, Any], response: Mapping[str, Any] | None) -> Usage:
    """The first usage object that gives a side's total, else the row's flat counts (totals only),
    else what a usage object gave (a few buckets without their totals)."""
    found = Usage()
    for candidate in ((response or {}).get("usage"), metadata.get("usage_object")):
        if isinstance(candidate, Mapping) and candidate:
            usage = _usage_object(candidate)
            if usage.input_total is not None or usage.output_total is not None:
                return usage
            found = usage if found == Usage() else found
    prompt = opt_int(row, "prompt_tokens")
    completion = opt_int(row, "completion_tokens")
    if prompt is None and completion is None:
        return found
    return Usage.of(input_total=prompt, output_total=completion)


def _usage_object(usage: Mapping[str, Any]) -> Usage:
    """A usage object in LiteLLM's chat shape, or in the Responses API's (``input_tokens``,
    ``input_tokens_details.cached_tokens``: an ``aresponses`` row keeps the upstream's usage), read
    as the Responses adapter reads it. Anthropic's shape (``input_tokens`` beside its cache fields,
    uncached only) is not the Responses one."""
    chat = "prompt_tokens" in usage or "completion_tokens" in usage
    named = "input_tokens" in usage or "output_tokens" in usage
    if named and not chat and not usage.keys() & _ANTHROPIC_CACHE_KEYS:
        return responses_usage(usage, {})
    return litellm_usage(usage)


def _provider_model(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    model = opt_str(row, "model")
    prefixed, bare = from_model_prefix(model)
    model = bare if prefixed else model
    provider = canonical(opt_str(row, "custom_llm_provider")) or prefixed or provider_of_model(model)
    return provider, model


def _operation(row: Mapping[str, Any]) -> tuple[str, str | None]:
    call_type = (opt_str(row, "call_type") or "completion").lower()
    bare = call_type[1:] if call_type.startswith("a") and call_type[1:] in _CALL_TYPES else call_type
    return _CALL_TYPES.get(bare, (bare, None))


def _first_choice(response: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    choices = (response or {}).get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def _messages(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = row.get("messages")
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    return [normalize(m) for m in value if isinstance(m, Mapping)]


def _status(row: Mapping[str, Any], metadata: Mapping[str, Any]) -> tuple[Status, str | None, int | None]:
    """OK or error; a payload keeps ``error_information`` on the row, a spend log in its metadata.
    The error type is its ``error_class`` when that is a classification (an exception class name),
    never free text (:func:`tokenomy.errors.error_kind`)."""
    status = (opt_str(row, "status") or "success").lower()
    if status in ("success", "ok"):
        return Status.OK, None, None
    info = row.get("error_information")
    if not isinstance(info, Mapping) or not any(info.values()):
        info = metadata.get("error_information")
    info = info if isinstance(info, Mapping) else {}
    code = opt_str(info, "error_code")
    http = int(code) if code and code.isdigit() else None
    return Status.ERROR, error_kind(opt_str(info, "error_class")), http


def _context_window(row: Mapping[str, Any], metadata: Mapping[str, Any]) -> int | None:
    info = row.get("model_map_information") or metadata.get("model_map_information")
    value = info.get("model_map_value") if isinstance(info, Mapping) else None
    if isinstance(value, Mapping):
        return opt_int(
            value, "max_input_tokens", field="model_map_information.model_map_value.max_input_tokens"
        )
    return None


def _max_tokens(row: Mapping[str, Any]) -> int | None:
    params = row.get("model_parameters")
    if not isinstance(params, Mapping):
        return None
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = opt_int(params, key, field=f"model_parameters.{key}")
        if value is not None:
            return value
    return None


def _attribution(row: Mapping[str, Any], metadata: Mapping[str, Any]) -> Attribution:
    key = (
        opt_str(row, "api_key") or opt_str(metadata, "user_api_key_hash") or opt_str(metadata, "user_api_key")
    )
    tags = row.get("request_tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except ValueError:
            tags = [tags]
    extra = {"litellm_cache_hit": "true"} if str(row.get("cache_hit")).lower() == "true" else {}
    return Attribution(
        user=opt_str(row, "end_user")
        or opt_str(metadata, "user_api_key_end_user_id")
        or opt_str(row, "user")
        or opt_str(metadata, "user_api_key_user_id"),
        team=opt_str(metadata, "user_api_key_team_alias")
        or opt_str(row, "team_id")
        or opt_str(metadata, "user_api_key_team_id"),
        project=opt_str(metadata, "user_api_key_project_alias")
        or opt_str(metadata, "user_api_key_project_id"),
        agent=opt_str(row, "agent_id"),
        api_key_id=short_hash(key) if key else None,
        tags={**tags_from(tags), **extra},
    )


def _content(messages: list[dict[str, Any]], choice: Mapping[str, Any] | None) -> Content:
    message = (choice or {}).get("message")
    completion = text_of(message.get("content")) if isinstance(message, Mapping) else None
    return Content(prompt=render(messages) if messages else None, completion=completion or None)
