"""Amazon Bedrock Converse API: ``Converse`` bodies and ``ConverseStream`` events.

Convention (``usage``, a ``TokenUsage`` object):

- ``inputTokens`` is *exclusive* of ``cacheReadInputTokens`` and ``cacheWriteInputTokens``
  (``totalTokens`` = input + output + cache reads + cache writes), like Anthropic's.
- The cache fields are optional and Bedrock omits them when the request set no cache
  checkpoint, so next to a reported ``inputTokens`` an absent cache field is 0. The older
  spellings ``cacheReadInputTokenCount`` / ``cacheWriteInputTokenCount`` are read as aliases.
- ``cacheDetails`` splits cache writes by TTL (``5m`` / ``1h``); without it all writes are 5m.
  A split that disagrees with ``cacheWriteInputTokens`` is kept and flagged ``CACHE_SPLIT_MISMATCH``.
- ``outputTokens`` includes reasoning and Bedrock does not report the split: with
  ``reasoningContent`` blocks in the output, reasoning and output_visible are None; without
  them reasoning is 0; with no output message in the body the split is unknown.
- ``totalTokens`` is checked against input plus output (``TOTAL_MISMATCH``).
- The Converse body names no model (the model id is in the request), so ``response_model`` is None.

Streams: the ``metadata`` event carries the usage; events are accepted as the SDKs yield them
(``{"metadata": {...}}``) or as bare event-stream payloads (``{"usage": ..., "metrics": ...}``).
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
    check_total,
    count_tools,
    first_int,
    get_int,
    get_str,
    items,
    join_text,
    mapping,
    slot,
    tool_use,
)

NAME: Final = "bedrock.converse"
_WRAPPERS: Final = (
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
)


def matches(body: Mapping[str, Any]) -> bool:
    """True for a Converse response (or a reduced one: just its ``usage``)."""
    usage = mapping(body.get("usage"))
    if usage is not None and any(k in usage for k in ("inputTokens", "outputTokens", "cacheReadInputTokens")):
        return True
    output = mapping(body.get("output"))
    return (output is not None and "message" in output) or ("stopReason" in body and "metrics" in body)


def _unwrap_event(event: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    for key in _WRAPPERS:
        inner = mapping(event.get(key))
        if inner is not None:
            return key, inner
    if "type" in event:
        return None, event
    if "usage" in event or "metrics" in event:
        return "metadata", event
    if "delta" in event:
        return "contentBlockDelta", event
    if "start" in event:
        return "contentBlockStart", event
    if "stopReason" in event:
        return "messageStop", event
    return ("messageStart", event) if "role" in event else (None, event)


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for a ConverseStream event, wrapped (its kind's key holding an object; a ``metadata`` one
    with ``usage`` or ``metrics``, as another API's event may carry a ``metadata`` object) or bare."""
    for key in _WRAPPERS:
        inner = event.get(key)
        if isinstance(inner, Mapping):
            return key != "metadata" or "usage" in inner or "metrics" in inner
    kind, payload = _unwrap_event(event)
    if kind == "metadata":
        return get_int(payload, "usage", "inputTokens") is not None
    if kind == "messageStop":
        return get_str(payload, "stopReason") is not None
    return kind is not None and "contentBlockIndex" in payload


def _cache_writes(
    usage: Mapping[str, Any], written: int | None, flags: list[Quality]
) -> tuple[int | None, int | None]:
    details = items(usage.get("cacheDetails"))
    if not details:
        return written, None if written is None else 0
    by_ttl = {"5m": 0, "1h": 0}
    for detail in details:
        ttl = get_str(detail, "ttl") or ""
        by_ttl[ttl] = by_ttl.get(ttl, 0) + (get_int(detail, "inputTokens") or 0)
    if (written is not None and sum(by_ttl.values()) != written) or len(by_ttl) > 2:
        flags.append(Quality.CACHE_SPLIT_MISMATCH)
    return by_ttl["5m"], by_ttl["1h"]


def converse_usage(usage: Mapping[str, Any] | None, content: list[Mapping[str, Any]] | None) -> Usage:
    """The exclusive buckets of a ``TokenUsage`` object (see the module docstring)."""
    if usage is None:
        return Usage()
    flags: list[Quality] = []
    inp = get_int(usage, "inputTokens")
    read = first_int(usage, "cacheReadInputTokens", "cacheReadInputTokenCount")
    written = first_int(usage, "cacheWriteInputTokens", "cacheWriteInputTokenCount")
    if inp is not None:  # omitted cache fields mean no cache use (module docstring)
        read, written = read or 0, written or 0
    w5, w1 = _cache_writes(usage, written, flags)
    out = get_int(usage, "outputTokens")
    unsplit = content is None or any("reasoningContent" in block for block in content)
    result = Usage.of(
        input_uncached=inp,
        cache_read=read,
        cache_write_5m=w5,
        cache_write_1h=w1,
        output_visible=None if unsplit else out,
        reasoning=None if unsplit or out is None else 0,
        output_total=out,
        server_tools=count_tools(mapping(usage.get("serverToolUsage")), {}),
        quality=tuple(flags),
    )
    return check_total(result, get_int(usage, "totalTokens"))


def _block_tool(block: Mapping[str, Any]) -> ToolUse | None:
    call = mapping(block.get("toolUse"))
    return None if call is None else tool_use(call.get("name"), call.get("input"))


def _block_call(block: Mapping[str, Any]) -> tuple[str, Any] | None:
    call = mapping(block.get("toolUse"))
    return None if call is None else call_text(call.get("name"), call.get("input"))


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Converse response body."""
    message = mapping((mapping(body.get("output")) or {}).get("message"))
    raw = (message or {}).get("content")
    content = items(raw) if isinstance(raw, list) else None
    blocks = content or []
    texts = [b["text"] for b in blocks if isinstance(b.get("text"), str) and b["text"]]
    latency = get_int(body, "metrics", "latencyMs")
    return Extracted(
        usage=converse_usage(mapping(body.get("usage")), content),
        provider="aws",
        api="converse",
        adapter=NAME,
        response_id=get_str(body, "ResponseMetadata", "RequestId"),
        finish_reason=get_str(body, "stopReason"),
        tool_uses=tuple(t for t in (_block_tool(b) for b in blocks) if t is not None),
        service_tier=get_str(body, "serviceTier", "type"),
        completion_text=join_text(texts),
        tool_text=tuple(t for t in (_block_call(b) for b in blocks) if t is not None),
        extra={} if latency is None else {"latency_ms": latency},
    )


class _Block:
    __slots__ = ("kind", "name", "parts")

    def __init__(self, kind: str, name: str | None = None) -> None:
        self.kind, self.name = kind, name
        self.parts: list[str] = []

    def rebuilt(self) -> dict[str, Any]:
        raw = "".join(self.parts)
        if self.kind == "toolUse":
            try:
                args: Any = json.loads(raw) if raw else {}
            except ValueError:  # a stream cut inside the arguments: hash what arrived
                args = raw
            return {"toolUse": {"name": self.name, "input": args}}
        if self.kind == "reasoningContent":
            return {"reasoningContent": {}}
        return {"text": raw}

    def call(self) -> tuple[str, Any] | None:
        """A tool-use block's name and its input as streamed (the ``toolUse.input`` fragments)."""
        return call_text(self.name, "".join(self.parts) or {}) if self.kind == "toolUse" else None


class ConverseStream(EventAccumulator):
    """Accumulates ConverseStream events; rebuilds a Converse body for ``extract``."""

    __slots__ = ("_blocks", "_extract", "_meta", "_stop")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._blocks: dict[int, _Block] = {}
        self._stop: str | None = None
        self._meta: Mapping[str, Any] | None = None

    def _feed(self, event: Mapping[str, Any]) -> None:
        kind, payload = _unwrap_event(event)
        index = get_int(payload, "contentBlockIndex") or 0
        if kind == "contentBlockStart":
            call = mapping((mapping(payload.get("start")) or {}).get("toolUse"))
            if call is not None:
                self._blocks[index] = _Block("toolUse", get_str(call, "name"))
        elif kind == "contentBlockDelta":
            self._delta(index, mapping(payload.get("delta")) or {})
        elif kind == "messageStop":
            self._stop = get_str(payload, "stopReason") or self._stop
        elif kind == "metadata":
            self._meta = payload

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        if "reasoningContent" in delta:
            slot(self._blocks, index, lambda: _Block("reasoningContent"))
        elif isinstance(delta.get("text"), str):
            slot(self._blocks, index, lambda: _Block("text")).parts.append(delta["text"])
        else:
            piece = (mapping(delta.get("toolUse")) or {}).get("input")
            if isinstance(piece, str):
                slot(self._blocks, index, lambda: _Block("toolUse")).parts.append(piece)

    def result(self) -> Extracted | None:
        """The rebuilt Converse body read by the extractor, or None when no event was usable."""
        if self._meta is None and not self._blocks and self._stop is None:
            return None
        blocks = [b for _, b in sorted(self._blocks.items())]
        content = [b.rebuilt() for b in blocks]
        body: dict[str, Any] = {"output": {"message": {"role": "assistant", "content": content}}}
        body["stopReason"] = self._stop
        for key in ("usage", "metrics", "serviceTier"):
            if self._meta is not None and key in self._meta:
                body[key] = self._meta[key]
        found = self._extract(body)
        streamed = tuple(t for t in (b.call() for b in blocks) if t is not None)
        if streamed != found.tool_text:  # the input as streamed, rather than re-written from the parsed one
            found = dataclasses.replace(found, tool_text=streamed)
        return self.finish(found, complete=self._meta is not None)


ADAPTER: Final = Adapter(
    name=NAME,
    provider="aws",
    api="converse",
    matches=matches,
    extract=extract,
    stream=ConverseStream,
    matches_event=matches_event,
    expects="a Bedrock Converse response (output.message, usage.inputTokens)",
)
