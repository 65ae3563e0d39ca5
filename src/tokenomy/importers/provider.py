"""Raw provider responses as teams log them: bodies, request/response pairs, and captured streams.

Accepted: a JSON file holding one response body or a list of them; JSON lines of bodies; objects
with the body under ``response`` (and the request under ``request``), including HTTP exchanges
(``{"request": {"method", "url", "headers", "body"}, "response": {"status_code", "headers", "body"}}``
with the bodies as objects or as text; headers are never read); a captured SSE stream as
raw ``event:``/``data:`` text; or the decoded events of one stream as JSON lines or a JSON list
(bare event objects, or ``{"event": ..., "data": ...}`` wrappers; Gemini's chunks, which are whole
bodies, by :func:`tokenomy.importers.provider_streams.runs`). OpenAI (chat, Responses, embeddings),
Anthropic, Gemini, Bedrock and OpenAI-compatible providers (DeepSeek, OpenRouter, Groq...) are
read by the usage adapters (:mod:`tokenomy.usage`), chosen by each body's shape.

Mapping: the id is the provider's response id (else a hash of the body); the response's
creation time is the start time unless the wrapper gives ``timestamp``/``started_at``; the
request gives the requested model, ``max_tokens``, whether it streamed, the user, and the prompt's
shape (messages, system, tool-definition and latest-user-turn tokens, counted locally). A wrapper
may add ``provider``, ``session_id``, ``latency_ms``, ``ttft_ms`` and ``status_code``. An error
response is stored as a failed call: with zero usage when an HTTP status of 400 or more says the
provider refused it (refused requests are not billed), with unknown usage when only an error body
was logged. A stream that ends before its finish reason or terminal event is an error
(``error_type`` :data:`CUT`), one with an error event an error of the event's type; the side of its
usage a stream did not report (cut, or an OpenAI chat stream without ``include_usage``) is counted
locally, as the SDK capture and the gateway do (:func:`tokenomy.capture.estimate.fill_missing`).
A logged request URL names the provider (``api.anthropic.com``...). OpenAI-shaped bodies
that carry Anthropic cache fields (LiteLLM's proxy) are read with LiteLLM's convention, so cache
writes are not mistaken for uncached input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from tokenomy.errors import RecordError, UsageError, error_kind, error_object_kind
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.batch_results import batch_result
from tokenomy.importers.hosts import HOSTS, host_of
from tokenomy.importers.ids import content_id, provider_id
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.importers.messages import render, request_messages
from tokenomy.importers.provider_streams import event_of, is_error, is_stream, runs, sampled
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import (
    guarded,
    iter_records,
    opt_int,
    opt_number,
    opt_str,
    opt_time,
    sample_objects,
)
from tokenomy.importers.results import ImportOptions, Item
from tokenomy.importers.shape import Shape, shape_of
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import canonical, from_model_prefix, thinks_unseen
from tokenomy.schema import Attribution, Call, Content, Status, Usage
from tokenomy.usage import ADAPTERS, Adapter, accumulate, detect, extract, iter_json_events
from tokenomy.usage.base import Extracted
from tokenomy.usage.openai_responses import FAILURE
from tokenomy.usage.sse import json_body

_SSE_FIELDS: Final = ("event:", "data:", ":", "id:", "retry:")
_COMPAT_CACHE_KEYS: Final = frozenset({"cache_creation_input_tokens", "cache_read_input_tokens"})
NOT_BILLED: Final = Usage.of(
    input_uncached=0, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
)


class ProviderImporter(RecordImporter):
    """Provider response bodies, request/response pairs and captured streams."""

    name: ClassVar[str] = "provider"
    summary: ClassVar[str] = "Raw provider responses: bodies, {request, response} pairs, SSE streams."

    def sniff(self, sample: Sample) -> float:
        """Sure for SSE text and stream events; likely for bodies and pairs the adapters recognise."""
        if sample.kind == "text":
            return 0.85 if _is_sse(sample.text) else 0.0
        objects = sample_objects(sample)
        if not objects:
            return 0.0
        first = objects[0]
        if is_stream(sampled(sample)):
            return 0.85
        if _is_body(first):
            return 0.8
        if "response" in first and Exchange.of(first).readable:
            return 0.75
        if "result" in first and _is_batch(first):
            return 0.75
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """One call per body or pair, or per run of one Gemini stream's chunks; one call for a file
        that is a single stream (:mod:`tokenomy.importers.provider_streams`)."""
        sample = source.sample()
        if sample.kind == "text":
            yield from guarded(source, 1, _whole_stream, iter_json_events(source.text()), options)
            return
        if is_stream(sampled(sample)):
            bad: list[RecordError] = []
            yield from guarded(source, 1, _whole_stream, _events(source, bad), options)
            yield from bad  # lines that are not JSON (a stream cut short): rejected, not skipped silently
            return
        for number, records in runs(iter_records(source)):
            if isinstance(records, RecordError):
                yield records
            elif len(records) > 1:
                yield from guarded(source, number, _whole_stream, records, options)
            else:
                yield from guarded(source, number, _one, records[0], options)


def _whole_stream(events: Iterable[Mapping[str, Any]], options: ImportOptions) -> list[Call]:
    return [_stream_call(events, {}, {}, options)]


def _one(record: Any, options: ImportOptions) -> list[Call]:
    return [record_to_call(record, options)]


def record_to_call(record: Any, options: ImportOptions) -> Call:
    """A body, or an exchange holding one under ``response`` (with the request under ``request``), or
    a batch result line (:mod:`tokenomy.importers.batch_results`: a call marked ``batch``).

    Raises:
        FieldError: The record holds no response the adapters read.
    """
    if not isinstance(record, Mapping):
        raise FieldError(
            "(record)", f"expected a response body or a request/response object, got {type(record).__name__}"
        )
    batch = batch_result(record)
    if batch is None:
        return _record_call(record, options)
    call = replace(_record_call(batch.record, options), batch=True)
    return replace(call, usage=NOT_BILLED) if batch.failed else call  # an errored request is not billed


def _record_call(record: Mapping[str, Any], options: ImportOptions) -> Call:
    found = detect(record)
    if found is not None:
        return _body_call(record, {}, {}, options, adapter=ADAPTERS[found])
    exchange = Exchange.of(record)
    response = exchange.response
    if exchange.failed:
        return _error_call(response if isinstance(response, Mapping) else {}, exchange)
    if isinstance(response, str):
        return _stream_call(iter_json_events(response), exchange.request, record, options, exchange.provider)
    if isinstance(response, list):
        events = (e for e in (event_of(x, errors=True) for x in response) if e is not None)
        return _stream_call(events, exchange.request, record, options, exchange.provider)
    if response is None:
        raise FieldError("response", "expected a provider response body (or a 'response' object holding one)")
    if "error" in response and not _is_body(response):
        return _error_call(response, exchange)
    return _body_call(response, exchange.request, record, options, provider=exchange.provider)


@dataclass(frozen=True, slots=True)
class Exchange:
    """A logged request and its response, in any of the shapes teams log them.

    ``request`` is the request body (also when logged as an HTTP request ``{method, url, headers,
    body}``; headers are never read). ``response`` is a body, SSE text, a list of stream events,
    or None when it cannot be read; ``status`` is the HTTP status when logged.
    """

    wrapper: Mapping[str, Any]
    request: Mapping[str, Any]
    response: Mapping[str, Any] | str | list[Any] | None
    status: int | None
    provider: str | None = None
    """The provider named by the request URL's host, when the request was logged with one."""

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Exchange:
        """Read an exchange record (see the class docstring)."""
        request = _object(record, "request")
        host = host_of(request.get("url"))
        if "body" in request and ({"method", "url", "headers"} & set(request)):
            request = _object(request, "body")
        response: Any = record.get("response")
        status = _status(record.get("status_code"))
        if isinstance(response, Mapping) and "body" in response and not _is_body(response):
            status = status or _status(response.get("status_code"))
            response = response["body"]
        if isinstance(response, str) and not _is_sse(response):
            response = json_body(response)  # a JSON-lines stream (Ollama's) is a list of its events
        if not isinstance(response, Mapping | str | list):
            response = None
        return cls(record, request, response, status, HOSTS.get(host) if host else None)

    @property
    def failed(self) -> bool:
        """True for an HTTP error status."""
        return self.status is not None and self.status >= 400

    @property
    def readable(self) -> bool:
        """True when the response is a body, an error, or a stream the importer can read."""
        response = self.response
        if self.failed or isinstance(response, str):
            return True
        if isinstance(response, list):
            return any(event_of(v) is not None for v in response[:4])
        return isinstance(response, Mapping) and (_is_body(response) or "error" in response)


def _is_batch(record: Mapping[str, Any]) -> bool:
    """True for a batch result line (an Anthropic one has no ``response`` for the exchange test)."""
    try:
        return batch_result(record) is not None
    except FieldError:  # a request that never ran: still a batch result line
        return True


def _status(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _body_call(
    body: Mapping[str, Any],
    request: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    options: ImportOptions,
    *,
    provider: str | None = None,
    adapter: Adapter | None = None,
) -> Call:
    provider = canonical(opt_str(wrapper, "provider")) or provider
    try:
        # A body already matched needs no second detection; a provider hint re-selects among adapters.
        extracted = adapter.extract(body) if adapter and not provider else extract(body, provider=provider)
    except UsageError as exc:
        raise FieldError("response", str(exc)) from exc
    return _call(
        _compat(extracted, body),
        ("provider", body),
        request,
        wrapper,
        options,
        streamed=None,
        served_by=provider,
    )


def _stream_call(
    events: Iterable[Mapping[str, Any]],
    request: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    options: ImportOptions,
    provider: str | None = None,
) -> Call:
    kept = list(events)
    if not kept:
        raise FieldError("(stream)", "no JSON events in the stream")
    error = next((event for event in kept if is_error(event)), None)
    try:
        extracted = accumulate(kept)
    except UsageError as exc:
        if error is None:
            raise FieldError("(stream)", str(exc)) from exc
        return _error_only_stream(error, kept, request, wrapper, provider)
    if provider is not None:
        extracted = replace(extracted, provider=provider)
    # an error event mid-stream fails the call (a Responses one is already its FAILURE); one without
    # its terminal event or finish reason was cut
    ended = _error_type(error) if error is not None else None if _finished(kept, extracted) else CUT
    return _call(
        extracted,
        ("provider-stream", kept),
        request,
        wrapper,
        options,
        streamed=True,
        error_type=ended,
        served_by=provider,
    )


CUT: Final = "stream_cut"
"""The ``error_type`` of a stream that ends before its finish reason or terminal event (a log of a
connection cut, or of a stream its caller left): stored as an error, with what arrived."""
_TERMINAL: Final = frozenset(
    {"message_stop", "response.completed", "response.failed", "response.incomplete", "messageStop"}
)


def _finished(events: list[Mapping[str, Any]], extracted: Extracted) -> bool:
    """True when a stream reached its end: its terminal event, or a finish reason.

    A Responses stream ends only with ``response.completed``, ``.failed`` or ``.incomplete`` (its
    partial response has a status ``in_progress``, no finish); an Anthropic stream with
    ``message_stop`` or the stop reason of its ``message_delta``; a chat, Gemini or Bedrock stream
    with a finish (stop) reason, whether or not it reported usage after it; any stream its reader
    found complete (an Ollama stream's last line, ``"done": true``, may name no reason).
    """
    if extracted.api == "responses":
        return extracted.extra.get("complete") is True
    if extracted.finish_reason is not None or extracted.extra.get("complete") is True:
        return True
    return any(event.get("type") in _TERMINAL or "messageStop" in event for event in events)


def _error_type(event: Mapping[str, Any]) -> str:
    """An error event's type: its ``error`` object's ``type`` (Anthropic, OpenAI chat), ``status``
    (Gemini's ``RESOURCE_EXHAUSTED``) or ``code``; a Responses ``error`` event's ``code``. Only a
    classification counts (:func:`tokenomy.errors.error_kind`): free text there is not stored."""
    error = event.get("error")
    if not isinstance(error, Mapping):
        return error_kind(opt_str(event, "code")) or "stream_error"
    return error_object_kind(error) or error_kind(opt_str(error, "code")) or "stream_error"


def _error_only_stream(
    event: Mapping[str, Any],
    events: list[Mapping[str, Any]],
    request: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    provider: str | None,
) -> Call:
    """A stream that reported only an error (Anthropic's ``overloaded_error`` before any message): a
    failed call when its request names the model, else a rejected record saying what it was."""
    error = event.get("error")
    info: Mapping[str, Any] = error if isinstance(error, Mapping) else event
    if opt_str(request, "model") is None:
        message = opt_str(info, "message")
        raise FieldError(
            "(stream)",
            f"the stream reported only an error ({_error_type(event)}{f': {message}' if message else ''}) "
            "and no message: a failed call, but no request was logged with it to say which model it was for",
        )
    if provider is None and event.get("type") == "error" and isinstance(error, Mapping):
        provider = "anthropic"  # the shape of Anthropic's error event
    exchange = Exchange(wrapper, request, None, _status(wrapper.get("status_code")), provider)
    content = ("provider-error", wrapper) if wrapper else ("provider-stream", events)
    call = _error_call({"error": {**info, "type": _error_type(event)}}, exchange, content)
    return replace(call, streamed=True)


def _call(
    extracted: Extracted,
    content: tuple[str, Any],
    request: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    options: ImportOptions,
    *,
    streamed: bool | None,
    error_type: str | None = None,
    served_by: str | None = None,
) -> Call:
    """The Call of a read response; ``content`` is ``(kind, record)``, hashed for the id only when
    the response carries none. ``error_type`` marks a stream that failed or was cut (an error);
    ``served_by`` is the provider the wrapper or the request URL names, which the model never overrides."""
    named = opt_str(request, "model") or opt_str(request, "modelId")  # (Bedrock's Converse names it so)
    if named is None and extracted.response_model is None:
        named = options.model  # --model: for bodies that name none (Bedrock's, a Realtime answer's)
    prefixed, model = from_model_prefix(named)
    messages = request_messages(request)
    tools = request.get("tools") if isinstance(request.get("tools"), list) else None
    shape = shape_of(messages, tools, model) if messages else None
    if extracted.extra.get("complete") is False:  # a stream without its final usage: the rest counted
        extracted = _counted(extracted, request, shape, model)
    started = (
        opt_time(wrapper, "timestamp") or opt_time(wrapper, "started_at") or _naive(extracted.created_at)
    )
    text = None
    if options.capture_content:
        text = Content(prompt=render(messages) if messages else None, completion=extracted.completion_text)
    failure = extracted.extra.get(FAILURE)  # a Responses answer that failed (its usage is still billed)
    return Call(
        id=provider_id(extracted.response_id) or content_id(*content),
        provider=canonical(opt_str(wrapper, "provider"))
        or served_by
        or _provider(extracted, prefixed, model),
        request_model=model,
        response_model=extracted.response_model,
        operation="embeddings" if extracted.api == "embeddings" else "chat",
        api=extracted.api,
        started_at=started,
        latency_ms=opt_number(wrapper, "latency_ms") or opt_number(wrapper, "duration_ms"),
        ttft_ms=opt_number(wrapper, "ttft_ms"),
        session_id=opt_str(wrapper, "session_id"),
        streamed=streamed if streamed is not None else _bool(request.get("stream")),
        service_tier=extracted.service_tier,
        usage=extracted.usage,
        max_output_tokens=_max_tokens(request),
        http_status=opt_int(wrapper, "status_code"),
        status=Status.ERROR if isinstance(failure, str) or error_type else Status.OK,
        error_type=failure if isinstance(failure, str) else error_type,
        finish_reason=extracted.finish_reason,
        tool_uses=extracted.tool_uses,
        attribution=Attribution(user=_user(request, wrapper)),
        provider_reported_cost=extracted.provider_reported_cost,
        content=text,
        **(shape.fields() if shape else {}),
    )


_SHAPES: Final = {"openai.chat": "openai", "openai.responses": "openai", "openai.embeddings": "openai"}
"""Adapters of a wire shape other providers serve too, and the provider they name by default."""


def _provider(extracted: Extracted, prefixed: str | None, model: str | None) -> str | None:
    """Who served a call: the provider its body names, else its model's. An OpenAI-shaped body names
    OpenAI only by default (xAI, Mistral, Gemini's compatible endpoint answer in that shape): the
    model's maker wins over that default (``grok-4`` is xAI's), as it does when no provider is named."""
    by_model = prefixed or provider_of_model(extracted.response_model or model)
    default = _SHAPES.get(extracted.adapter)
    if extracted.provider is not None and (default is None or extracted.provider != default):
        return extracted.provider
    return by_model or extracted.provider


def _counted(
    extracted: Extracted, request: Mapping[str, Any], shape: Shape | None, model: str | None
) -> Extracted:
    """A stream's usage with an unreported side counted locally, as the SDK capture and the gateway
    do: the prompt from the logged request (when there is one), the output from the streamed text and
    tool calls; the usage is then ``estimated``."""
    from tokenomy.capture.estimate import fill_missing, text_prompt_tokens  # noqa: PLC0415 (the SDK side)

    counted_model = extracted.response_model or model
    if shape is not None:
        prompt: int | None = shape.input_tokens
    else:
        prompt = text_prompt_tokens(request.get("prompt"), counted_model) if "prompt" in request else None
    usage = fill_missing(
        extracted.usage,
        prompt_tokens=prompt,
        text=extracted.completion_text,
        model=counted_model,
        tool_text=extracted.tool_text,
        reasons=thinks_unseen(request, extracted.response_model),
    )
    return extracted if usage is extracted.usage else replace(extracted, usage=usage)


def _error_call(body: Mapping[str, Any], exchange: Exchange, content: tuple[str, Any] | None = None) -> Call:
    """A failed call: HTTP error status or an error body; its usage is unknown. ``content`` is what
    the id hashes when the wrapper has none (the wrapper itself by default)."""
    error = body.get("error")
    info: Mapping[str, Any] = error if isinstance(error, Mapping) else {"message": error}
    request, wrapper = exchange.request, exchange.wrapper
    prefixed, model = from_model_prefix(opt_str(request, "model"))
    return Call(
        id=opt_str(wrapper, "id") or content_id(*(content or ("provider-error", wrapper))),
        provider=canonical(opt_str(wrapper, "provider"))
        or exchange.provider
        or prefixed
        or provider_of_model(model),
        request_model=model,
        started_at=opt_time(wrapper, "timestamp") or opt_time(wrapper, "started_at"),
        latency_ms=opt_number(wrapper, "latency_ms"),
        session_id=opt_str(wrapper, "session_id"),
        # A request the provider refused (HTTP 4xx/5xx) is not billed; an error body alone says nothing.
        usage=NOT_BILLED if exchange.failed else Usage(),
        status=Status.ERROR,
        error_type=error_object_kind(info) or error_kind(opt_str(info, "code")),
        # Gemini's error gives the HTTP status as its code, and a name as its status (RESOURCE_EXHAUSTED)
        http_status=exchange.status or _status(info.get("status")) or _status(info.get("code")),
        attribution=Attribution(user=_user(request, wrapper)),
    )


def _compat(extracted: Extracted, body: Mapping[str, Any]) -> Extracted:
    """Re-read an OpenAI-shaped body's usage with LiteLLM's convention if it has Anthropic cache fields."""
    usage = body.get("usage")
    if extracted.api == "chat" and isinstance(usage, Mapping) and _COMPAT_CACHE_KEYS & set(usage):
        return replace(extracted, usage=litellm_usage(usage))
    return extracted


def _is_body(obj: Mapping[str, Any]) -> bool:
    return detect(obj) is not None


def _events(source: Source, bad: list[RecordError]) -> Iterator[Mapping[str, Any]]:
    """The stream events of a JSON-lines file or a JSON list; lines that are not JSON go to ``bad``."""
    for _, value in iter_records(source):
        if isinstance(value, RecordError):
            bad.append(value)
            continue
        event = event_of(value, errors=True)
        if event is not None:
            yield event


def _is_sse(text: str) -> bool:
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()][:8]
    return (
        bool(lines)
        and all(line.startswith(_SSE_FIELDS) for line in lines)
        and any(line.startswith("data:") for line in lines)
    )


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _max_tokens(request: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = opt_int(request, key, field=f"request.{key}")
        if value is not None:
            return value
    config = request.get("generationConfig")
    return (
        opt_int(config, "maxOutputTokens", field="request.generationConfig.maxOutputTokens")
        if isinstance(config, Mapping)
        else None
    )


def _user(request: Mapping[str, Any], wrapper: Mapping[str, Any]) -> str | None:
    metadata = request.get("metadata")
    from_metadata = opt_str(metadata, "user_id") if isinstance(metadata, Mapping) else None
    return opt_str(wrapper, "user") or opt_str(request, "user") or from_metadata


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
