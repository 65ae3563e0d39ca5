"""Anthropic Messages API: message bodies and SSE streams.

Convention (``usage``):

- ``input_tokens`` is *exclusive*: it excludes ``cache_read_input_tokens`` (cache reads) and
  ``cache_creation_input_tokens`` (cache writes), so ``input_uncached = input_tokens`` and
  ``input_total`` is the sum of the three.
- Cache writes are split by TTL with ``cache_creation.ephemeral_5m_input_tokens`` and
  ``ephemeral_1h_input_tokens``; with only ``cache_creation_input_tokens`` all writes are 5m.
  A split that disagrees with ``cache_creation_input_tokens`` is kept and flagged
  ``CACHE_SPLIT_MISMATCH``. A cache field the body does not report stays None (and so does
  ``input_total``): the API allows these fields to be null.
- ``output_tokens`` includes thinking tokens. ``output_tokens_details.thinking_tokens``, when
  reported, is the reasoning bucket. Otherwise, when the content has ``thinking`` or
  ``redacted_thinking`` blocks the split is unknown (reasoning and output_visible None,
  ``output_total = output_tokens``); when it has none, reasoning is 0; when the content is
  not in the body at all, the split is unknown.
- ``server_tool_use`` counts per-use tools: ``web_search_requests`` -> ``web_searches``,
  ``web_fetch_requests`` -> ``web_fetches``, ``code_execution_requests`` -> ``code_executions``
  (others keep their own key); zero counts are left out.
- ``usage.iterations`` lists each sampling step of the request. The top-level counts are the
  sum of the ``message`` steps only. A ``compaction`` step (server-side context compaction) is
  billed on top of them at the request's model rates: it is added into the buckets (its output
  split read from the body's content like the top-level one) and counted in
  ``extra["compactions"]``. Steps run on another model (the advisor tool's ``advisor_message``)
  are billed at that model's rate and are not in the top-level counts; they are returned in
  ``extra["sub_usages"]`` as ``{"type", "model", "usage"}``.

The service tier is ``usage.service_tier`` (``standard``, ``priority``, ``batch``), except that
a request served in fast mode (``usage.speed`` ``"fast"``, billed at a premium) has the tier
``fast``, which pricing reads as the catalog's fast-mode price.

Streams: ``message_start`` carries the input usage and cache fields, ``message_delta`` the
cumulative usage; each field takes its latest non-null value (deltas are never added).
``message_start``'s ``output_tokens`` is a placeholder, so a stream cut before any
``message_delta`` that counts the output has unknown output and is not complete. A stream's
tool text (:attr:`Extracted.tool_text`) is each tool-use block's ``input_json_delta`` fragments
joined, as streamed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import Quality, ToolUse, Usage
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import (
    Extracted,
    call_text,
    count_tools,
    get_int,
    get_str,
    is_mapping,
    items,
    join_text,
    mapping,
    slot,
    tool_use,
)

NAME: Final = "anthropic.messages"
SERVER_UNITS: Final = {
    "web_search_requests": "web_searches",
    "web_fetch_requests": "web_fetches",
    "code_execution_requests": "code_executions",
}
_THINKING: Final = frozenset({"thinking", "redacted_thinking"})
_TOOL_BLOCKS: Final = {"tool_use": False, "server_tool_use": True, "mcp_tool_use": True}
_EVENTS: Final = frozenset(
    {"message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta"}
)


def matches(body: Mapping[str, Any]) -> bool:
    """True for a Messages body (or a reduced one: just its ``usage``)."""
    if body.get("type") == "message":
        return True
    usage = mapping(body.get("usage"))
    if usage is None or "total_tokens" in usage or "input_tokens_details" in usage:
        return False
    if "cache_creation_input_tokens" in usage or "cache_read_input_tokens" in usage:
        return True
    return "input_tokens" in usage and "output_tokens" in usage


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for a Messages stream event."""
    return get_str(event, "type") in _EVENTS


def _cache_writes(usage: Mapping[str, Any], flags: list[Quality]) -> tuple[int | None, int | None]:
    created = get_int(usage, "cache_creation_input_tokens")
    split = mapping(usage.get("cache_creation"))
    w5 = get_int(split, "ephemeral_5m_input_tokens")
    w1 = get_int(split, "ephemeral_1h_input_tokens")
    if w5 is None and w1 is None:
        return created, None if created is None else 0
    w5, w1 = w5 or 0, w1 or 0
    if created is not None and w5 + w1 != created:
        flags.append(Quality.CACHE_SPLIT_MISMATCH)
    return w5, w1


def _output_split(
    usage: Mapping[str, Any], content: list[Mapping[str, Any]] | None, flags: list[Quality]
) -> tuple[int | None, int | None]:
    """(output_visible, reasoning) under the module docstring's rules."""
    out = get_int(usage, "output_tokens")
    thinking = get_int(usage, "output_tokens_details", "thinking_tokens")
    if thinking is not None:
        visible = None if out is None else out - thinking
        if visible is not None and visible < 0:
            flags.append(Quality.REASONING_EXCEEDS_OUTPUT)
        return visible, thinking
    if out is None or content is None or any(get_str(b, "type") in _THINKING for b in content):
        return None, None
    return out, 0


def messages_usage(usage: Mapping[str, Any] | None, content: list[Mapping[str, Any]] | None) -> Usage:
    """The exclusive buckets of a Messages ``usage`` object (``content`` None when absent)."""
    if usage is None:
        return Usage()
    flags: list[Quality] = []
    w5, w1 = _cache_writes(usage, flags)
    visible, reasoning = _output_split(usage, content, flags)
    return Usage.of(
        input_uncached=get_int(usage, "input_tokens"),
        cache_read=get_int(usage, "cache_read_input_tokens"),
        cache_write_5m=w5,
        cache_write_1h=w1,
        output_visible=visible,
        reasoning=reasoning,
        output_total=get_int(usage, "output_tokens"),
        server_tools=count_tools(mapping(usage.get("server_tool_use")), SERVER_UNITS),
        quality=tuple(flags),
    )


def _steps(
    usage: Mapping[str, Any] | None, model: str | None
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The ``usage.iterations`` beyond the ``message`` steps (which the top-level counts sum), split
    in one pass: the ``compaction`` steps run on the request's own model, billed on top of the
    counts, and the steps run on another model (the advisor's)."""
    folded: list[Mapping[str, Any]] = []
    others: list[Mapping[str, Any]] = []
    for step in items((usage or {}).get("iterations")):
        kind = step.get("type")
        if kind == "message":
            continue
        if kind == "compaction" and get_str(step, "model") in (None, model):
            folded.append(step)
        else:
            others.append(step)
    return folded, others


_STEP_COUNTERS: Final = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
)


def _step_usage(step: Mapping[str, Any]) -> Usage:
    """A compaction step's buckets: a counter the step leaves out is 0 (it reports what it used;
    read as unknown, it would make the whole call's bucket unknown), and its output is the summary
    it wrote, visible (the response's thinking blocks are not the step's)."""
    return messages_usage({**dict.fromkeys(_STEP_COUNTERS, 0), **step}, [])


def billed_usage(
    usage: Mapping[str, Any] | None, content: list[Mapping[str, Any]] | None, folded: list[Mapping[str, Any]]
) -> Usage:
    """The top-level counts plus the compaction iterations (``folded``) billed on top of them."""
    total = messages_usage(usage, content)
    for step in folded:
        total += _step_usage(step)
    return total


def _block_tool(block: Mapping[str, Any]) -> ToolUse | None:
    server = _TOOL_BLOCKS.get(str(block.get("type")))
    return None if server is None else tool_use(block.get("name"), block.get("input"), server=server)


def _block_call(block: Mapping[str, Any]) -> tuple[str, Any] | None:
    """A tool-use block's name and input (JSON): the model wrote both, server tools' included."""
    return call_text(block.get("name"), block.get("input")) if block.get("type") in _TOOL_BLOCKS else None


def _extra(
    body: Mapping[str, Any], folded: list[Mapping[str, Any]], others: list[Mapping[str, Any]]
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if others:
        extra["sub_usages"] = tuple(
            {"type": s.get("type"), "model": s.get("model"), "usage": messages_usage(s, None)} for s in others
        )
    if folded:
        extra["compactions"] = len(folded)
    for block in items(body.get("content")):
        if block.get("type") == "fallback" and get_str(block, "to", "model"):
            extra["fallback_to"] = get_str(block, "to", "model")
    return extra


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Messages body."""
    usage = mapping(body.get("usage"))
    content = items(body.get("content")) if isinstance(body.get("content"), list) else None
    blocks = content or []
    texts = [get_str(b, "text") or "" for b in blocks if b.get("type") == "text"]
    folded, others = _steps(usage, get_str(body, "model")) if usage and "iterations" in usage else ([], [])
    return Extracted(
        usage=billed_usage(usage, content, folded),
        provider="anthropic",
        api="messages",
        adapter=NAME,
        response_model=get_str(body, "model"),
        response_id=get_str(body, "id"),
        finish_reason=get_str(body, "stop_reason"),
        tool_uses=tuple(t for t in (_block_tool(b) for b in blocks) if t is not None),
        service_tier="fast" if get_str(usage, "speed") == "fast" else get_str(usage, "service_tier"),
        completion_text=join_text([t for t in texts if t]),
        tool_text=tuple(t for t in (_block_call(b) for b in blocks) if t is not None),
        extra=_extra(body, folded, others),
    )


class _Block:
    __slots__ = ("head", "parts", "text")

    def __init__(self, head: Mapping[str, Any]) -> None:
        self.head = head
        self.text: list[str] = []
        self.parts: list[str] = []

    def take(self, delta: Mapping[str, Any]) -> None:
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            self.text.append(delta["text"])
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            self.parts.append(delta["partial_json"])

    def rebuilt(self) -> dict[str, Any]:
        block = {k: v for k, v in self.head.items() if k in ("type", "name", "id", "input", "to")}
        if self.text:
            block["text"] = str(self.head.get("text") or "") + "".join(self.text)
        if self.parts:
            raw = "".join(self.parts)
            try:
                block["input"] = json.loads(raw)
            except ValueError:  # a stream cut inside the arguments: hash what arrived
                block["input"] = raw
        return block

    def call(self) -> tuple[str, Any] | None:
        """A tool-use block's name and its input as streamed (the ``partial_json`` fragments)."""
        if self.head.get("type") not in _TOOL_BLOCKS:
            return None
        return call_text(self.head.get("name"), "".join(self.parts) if self.parts else self.head.get("input"))


def merge_latest(into: dict[str, Any], usage: Mapping[str, Any]) -> None:
    """Overlay ``usage`` on ``into``: each non-null field wins, nested objects merge key by key."""
    for key, value in usage.items():
        if value is None:
            continue
        current = into.get(key)
        if is_mapping(value) and is_mapping(current):
            into[key] = {**current, **{k: v for k, v in value.items() if v is not None}}
        else:
            into[key] = value


class MessagesStream(EventAccumulator):
    """Accumulates Messages SSE events; rebuilds a message body for ``extract``."""

    __slots__ = ("_blocks", "_delta_seen", "_extract", "_head", "_stop", "_usage")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._head: dict[str, Any] = {}
        self._usage: dict[str, Any] = {}
        self._blocks: dict[int, _Block] = {}
        self._stop: str | None = None
        self._delta_seen = False

    def _feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = mapping(event.get("message"))
            if message is None:
                raise TypeError("message_start without a message")
            self._head = {k: v for k, v in message.items() if k not in ("usage", "content")}
            merge_latest(self._usage, mapping(message.get("usage")) or {})
        elif kind == "content_block_start":
            block = mapping(event.get("content_block")) or {}
            self._blocks[get_int(event, "index") or 0] = _Block(block)
        elif kind == "content_block_delta":
            index = get_int(event, "index") or 0
            slot(self._blocks, index, lambda: _Block({})).take(mapping(event.get("delta")) or {})
        elif kind == "message_delta":
            usage = mapping(event.get("usage")) or {}
            # only a delta that counts the output ends the placeholder (one without usage does not)
            self._delta_seen = self._delta_seen or get_int(usage, "output_tokens") is not None
            self._stop = get_str(event, "delta", "stop_reason") or self._stop
            merge_latest(self._usage, usage)

    def result(self) -> Extracted | None:
        """The rebuilt message read by the extractor, or None when no event was usable."""
        if not self._head and not self._usage and not self._blocks:
            return None
        usage = dict(self._usage)
        if not self._delta_seen:  # message_start's output count is a placeholder
            usage.pop("output_tokens", None)
            usage.pop("output_tokens_details", None)
        body = {**self._head, "type": "message", "stop_reason": self._stop, "usage": usage or None}
        blocks = [b for _, b in sorted(self._blocks.items())]
        body["content"] = [b.rebuilt() for b in blocks]
        found = self._extract(body)
        streamed = tuple(t for t in (b.call() for b in blocks) if t is not None)
        if streamed != found.tool_text:  # the input as streamed, rather than re-written from the parsed one
            found = dataclasses.replace(found, tool_text=streamed)
        return self.finish(found, complete=self._delta_seen)


ADAPTER: Final = Adapter(
    name=NAME,
    provider="anthropic",
    api="messages",
    matches=matches,
    extract=extract,
    stream=MessagesStream,
    matches_event=matches_event,
    expects="an Anthropic message (type 'message', usage.input_tokens)",
)
