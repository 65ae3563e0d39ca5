"""OpenAI Responses API: response bodies and stream events.

Convention (``usage``):

- ``input_tokens`` *includes* ``input_tokens_details.cached_tokens`` (cache reads) and
  ``input_tokens_details.cache_write_tokens`` (cache writes, kept as ``cache_write_5m``; 0 when
  not reported, as OpenAI bills no separate cache writes). Without ``input_tokens_details``
  the split is unknown (None) and ``input_total = input_tokens``.
- ``output_tokens`` *includes* ``output_tokens_details.reasoning_tokens``.
- ``total_tokens`` is checked against input plus output.
- Modalities: ``input_tokens_details.audio_tokens`` / ``image_tokens`` are part of
  ``input_tokens`` (cache included; a ``cached_tokens_details`` split is used where present, else
  the shared rule of :func:`tokenomy.usage.base.split_input_modalities`), and
  ``output_tokens_details.image_tokens`` / ``audio_tokens`` are visible output. The Images API's
  usage (gpt-image-1: ``input_tokens_details: {text_tokens, image_tokens}``) has the same shape
  and is read here too (``api`` ``images``, its time from ``created``; it names no model: the
  request's, or ``tokenomy import --model``). Its output is images, but a body without an output
  detail does not say how many, so nothing is assumed: its output stays text.
- The Realtime API's usage (its ``response.done`` event, whose ``response`` has no model: give it
  with ``tokenomy import --model``) has the same fields with the details in the singular
  (``input_token_details``, ``output_token_details``: text, audio and image tokens, its cache
  reads split by modality); it reports no reasoning, so an output whose details add up to it
  reasoned none.
- Hosted web searches are per-use charges: ``server_tools["web_searches"]`` is
  ``tool_usage.web_search.num_requests`` when the body reports it, else the number of
  ``web_search_call`` output items; hosted file searches count as ``file_searches``.

A stream carries the usage only in its terminal event (``response.completed``,
``response.incomplete`` or ``response.failed``), whose ``response`` is a whole body. A stream
cut before it yields the last response snapshot plus the output items finished so far (and
the calls begun, with the argument fragments that arrived), with unknown usage and no finish
reason (the snapshot's ``in_progress`` is not one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from tokenomy.errors import error_kind
from tokenomy.schema import ToolUse, Usage
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import (
    Extracted,
    call_text,
    check_total,
    detail_modalities,
    from_unix,
    get_int,
    get_str,
    inclusive,
    items,
    join_text,
    mapping,
    tool_use,
    with_modalities,
)

NAME: Final = "openai.responses"
_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})
_CALL_ITEMS: Final[Mapping[str, tuple[str | None, str, bool]]] = {
    # item type: (tool name when the item has none, field holding the arguments, run by OpenAI)
    "function_call": (None, "arguments", False),
    "custom_tool_call": (None, "input", False),
    "computer_call": ("computer", "action", False),
    "local_shell_call": ("local_shell", "action", False),
    "shell_call": ("shell", "action", False),
    "apply_patch_call": ("apply_patch", "operation", False),
    "web_search_call": ("web_search", "action", True),
    "file_search_call": ("file_search", "queries", True),
    "code_interpreter_call": ("code_interpreter", "code", True),
    "image_generation_call": ("image_generation", "", True),
    "mcp_call": (None, "arguments", True),
    "tool_search_call": ("tool_search", "arguments", True),
}
_WRITTEN_CALLS: Final = {"function_call": "arguments", "custom_tool_call": "input", "mcp_call": "arguments"}
"""Call items whose name and argument text the model wrote (its output tokens), and their argument
field: what :attr:`Extracted.tool_text` keeps. Hosted tools' actions (a web search's query) are left out."""
_PER_USE: Final = {"web_search_call": "web_searches", "file_search_call": "file_searches"}


def unwrap(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The response inside a stream event (``{"type": "response.completed", "response": {...}}``)."""
    kind = body.get("type")
    inner = mapping(body.get("response"))
    if isinstance(kind, str) and kind.startswith("response.") and inner is not None:
        return inner
    return body


def matches(body: Mapping[str, Any]) -> bool:
    """True for a Responses API body (or a stream event wrapping one)."""
    body = unwrap(body)
    if body.get("object") == "response":
        return True
    usage = mapping(body.get("usage"))
    if usage is None or "input_tokens" not in usage:
        return False
    # Anthropic's usage also has input_tokens (and lately output_tokens_details), never these two.
    return "total_tokens" in usage or "input_tokens_details" in usage


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for a Responses stream event."""
    kind = event.get("type")
    return isinstance(kind, str) and kind.startswith("response.")


def responses_usage(usage: Mapping[str, Any] | None, server_tools: Mapping[str, int]) -> Usage:
    """The exclusive buckets of a Responses ``usage`` object (see the module docstring)."""
    if usage is None:
        return Usage.of(server_tools=server_tools)
    ins, outs = _DETAILS if "input_token_details" not in usage else _REALTIME_DETAILS
    details = mapping(usage.get(ins))
    written = get_int(details, "cache_write_tokens")
    output = get_int(usage, "output_tokens")
    reasoning = get_int(usage, outs, "reasoning_tokens")
    if reasoning is None and outs == _REALTIME_DETAILS[1]:
        reasoning = _no_reasoning(mapping(usage.get(outs)), output)
    result = inclusive(
        input_total=get_int(usage, "input_tokens"),
        cache_read=get_int(details, "cached_tokens"),
        cache_write_5m=0 if written is None else written,
        cache_write_1h=0,
        output_total=output,
        reasoning=reasoning,
        server_tools=server_tools,
    )
    found = detail_modalities(usage, ins, outs, result)
    result = with_modalities(result, found)
    return check_total(result, get_int(usage, "total_tokens"))


_DETAILS: Final = ("input_tokens_details", "output_tokens_details")
_REALTIME_DETAILS: Final = ("input_token_details", "output_token_details")
"""The Realtime API's usage (a ``response.done`` event's) names its details in the singular."""


def _no_reasoning(details: Mapping[str, Any] | None, output: int | None) -> int | None:
    """0 when a Realtime answer's output details (text, audio, image tokens) add up to its output: it
    reasoned none; None (unknown) otherwise."""
    if details is None or output is None:
        return None
    counts = [get_int(details, f"{kind}_tokens") for kind in ("text", "audio", "image")]
    return 0 if sum(n or 0 for n in counts) == output and any(n is not None for n in counts) else None


def _tool_use(item: Mapping[str, Any]) -> ToolUse | None:
    spec = _CALL_ITEMS.get(str(item.get("type")))
    if spec is None:
        return None
    default_name, field, server = spec
    name = item.get("name") if default_name is None else default_name
    return tool_use(name, item.get(field) if field else None, server=server)


def _call_text(item: Mapping[str, Any]) -> tuple[str, Any] | None:
    field = _WRITTEN_CALLS.get(str(item.get("type")))
    return None if field is None else call_text(item.get("name"), item.get(field))


def _per_use(body: Mapping[str, Any], output: list[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in output:
        unit = _PER_USE.get(str(item.get("type")))
        if unit is not None:
            counts[unit] = counts.get(unit, 0) + 1
    reported = get_int(body, "tool_usage", "web_search", "num_requests")
    if reported is not None:
        counts["web_searches"] = reported
    return {unit: n for unit, n in counts.items() if n}


def _text(output: list[Mapping[str, Any]]) -> str | None:
    parts: list[str] = []
    for item in output:
        if item.get("type") == "message":
            for part in items(item.get("content")):
                field = "text" if part.get("type") == "output_text" else "refusal"
                text = get_str(part, field)
                if text:
                    parts.append(text)
    return join_text(parts)


_CALL_DELTAS: Final = (
    ".function_call_arguments.delta",
    ".custom_tool_call_input.delta",
    ".mcp_call_arguments.delta",
)
"""Ends of the event types that stream a call's argument fragments (``response.mcp_call_arguments.delta``)."""

_UNFINISHED: Final = frozenset({"queued", "in_progress"})
"""Statuses of a response that has not ended: the last snapshot of a stream cut, cancelled or failed
before its terminal event, or a background response. Such a response has no finish reason."""


def _finish_reason(body: Mapping[str, Any]) -> str | None:
    status = get_str(body, "status")
    if status in _UNFINISHED:
        return None
    return get_str(body, "incomplete_details", "reason") or status


FAILURE: Final = "failure"
"""The ``extra`` key of a response that failed: a body whose ``status`` is ``failed``, or a stream with
an ``error`` event (which the SDK yields rather than raises); its value is the error's code
(``server_error``...) when that is a classification (:func:`tokenomy.errors.error_kind`: the value
is stored as the call's ``error_type``), else ``failed`` or ``error``. The call is an error,
whatever usage it reports."""


def failure_of(body: Mapping[str, Any]) -> str | None:
    """A Responses body's :data:`FAILURE` value (None when it did not fail)."""
    if get_str(body, "status") != "failed":
        return None
    return error_kind(get_str(body, "error", "code")) or "failed"


def build(
    body: Mapping[str, Any],
    usage: Usage,
    *,
    adapter: str,
    provider: str,
    cost: Decimal | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Extracted:
    """An Extracted for a Responses body whose usage the caller already converted."""
    output = items(body.get("output"))
    failure = failure_of(body)
    if failure is not None:
        extra = {**(extra or {}), FAILURE: failure}
    images = "output" not in body and isinstance(body.get("data"), list)  # an Images API answer
    return Extracted(
        usage=usage,
        provider=provider,
        api="images" if images else "responses",
        adapter=adapter,
        response_model=get_str(body, "model"),
        response_id=get_str(body, "id"),
        finish_reason=_finish_reason(body),
        tool_uses=tuple(t for t in (_tool_use(i) for i in output) if t is not None),
        service_tier=get_str(body, "service_tier"),
        created_at=from_unix(body.get("created_at") if "created_at" in body else body.get("created")),
        provider_reported_cost=cost,
        completion_text=_text(output),
        tool_text=tuple(t for t in (_call_text(i) for i in output) if t is not None),
        extra=dict(extra or {}),
    )


def per_use(body: Mapping[str, Any]) -> dict[str, int]:
    """The hosted per-use tool counts of a Responses body (see the module docstring)."""
    return _per_use(body, items(body.get("output")))


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Responses API body (or a terminal stream event wrapping one)."""
    body = unwrap(body)
    usage = responses_usage(mapping(body.get("usage")), per_use(body))
    return build(body, usage, adapter=NAME, provider="openai")


class ResponsesStream(EventAccumulator):
    """Keeps the latest response snapshot and the finished output items; the terminal event wins."""

    __slots__ = ("_calls", "_done", "_extract", "_failure", "_final", "_items", "_snapshot", "_text")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._snapshot: Mapping[str, Any] | None = None
        self._final: Mapping[str, Any] | None = None
        self._items: list[Mapping[str, Any]] = []
        self._text: list[str] = []
        self._done = False
        self._failure: str | None = None  # the code of the stream's first error event
        # call items added but not yet done, by output index: their argument fragments so far (a
        # stream cut inside a call keeps what the model wrote of it)
        self._calls: dict[int, tuple[Mapping[str, Any], list[str]]] = {}

    def _feed(self, event: Mapping[str, Any]) -> None:
        kind = get_str(event, "type")
        response = mapping(event.get("response"))
        if response is not None:
            self._snapshot = response
            if kind in _TERMINAL:
                self._final, self._done = response, True
        elif kind == "response.output_item.done":
            item = mapping(event.get("item"))
            if item is not None:
                self._items.append(item)
                self._calls.pop(get_int(event, "output_index") or 0, None)
        elif kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self._text.append(event["delta"])
        elif kind is not None and kind.endswith(_CALL_DELTAS):
            call = self._calls.get(get_int(event, "output_index") or 0)
            if call is not None and isinstance(event.get("delta"), str):
                call[1].append(event["delta"])
        elif kind == "response.output_item.added":
            item = mapping(event.get("item"))
            if item is not None and str(item.get("type")) in _WRITTEN_CALLS:
                self._calls[get_int(event, "output_index") or 0] = (item, [])
        elif kind == "error" and self._failure is None:
            self._failure = error_kind(get_str(event, "code")) or "error"

    def result(self) -> Extracted | None:
        """The terminal response read by the extractor, or a partial one for a cut stream."""
        if self._final is not None:
            return self._failed(self.finish(self._extract(self._final), complete=True))
        if self._snapshot is None and not self._items and not self._text and not self._calls:
            return None
        body: dict[str, Any] = dict(self._snapshot or {"object": "response"})
        output = list(self._items)
        for item, parts in self._calls.values():  # calls cut before their item was done
            output.append({**item, _WRITTEN_CALLS[str(item.get("type"))]: "".join(parts)})
        if self._text and not any(i.get("type") == "message" for i in output):
            text = "".join(self._text)
            output.append({"type": "message", "content": [{"type": "output_text", "text": text}]})
        body["output"], body["usage"] = output, None
        return self._failed(self.finish(self._extract(body), complete=False))

    def _failed(self, found: Extracted) -> Extracted:
        """``found`` with the stream's error event noted (see :data:`FAILURE`), when it had one."""
        if self._failure is None or FAILURE in found.extra:
            return found
        return dataclasses.replace(found, extra={**found.extra, FAILURE: self._failure})


ADAPTER: Final = Adapter(
    name=NAME,
    provider="openai",
    api="responses",
    matches=matches,
    extract=extract,
    stream=ResponsesStream,
    matches_event=matches_event,
    expects="an OpenAI Responses API response (object 'response', usage.input_tokens)",
)
