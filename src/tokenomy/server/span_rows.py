"""Rows of the ``spans`` table: the spans of a trace that are not model calls, for session trees.

Each row keeps the span's place in the tree (trace, span and parent ids), its name, kind,
times and status, the session and agent it inherits (the same rules as calls, see
:mod:`tokenomy.server.otlp_tree`), the tool it ran, the service that sent it, and a few
attributes as JSON: those named in :data:`KEPT_KEYS` only (GenAI, error and transport facts),
with long values cut. Every other attribute is left out, whatever its prefix: a name outside the
allow-list may hold prompt text, personal data, request headers or keys. The status message (free
text) is in the row, and the server empties it unless content capture is on
(:func:`without_status_messages`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import error_kind
from tokenomy.server.otlp_tree import Key, Lineage, TreeSpan, clean
from tokenomy.server.otlp_wire import KIND_NAMES
from tokenomy.store.private import SPAN_ATTRIBUTES

MAX_ATTRIBUTES: Final = 32
MAX_TEXT: Final = 256
MAX_LIST: Final = 16
KEPT_KEYS: Final = SPAN_ATTRIBUTES
"""The only attributes a span row keeps (:data:`tokenomy.store.private.SPAN_ATTRIBUTES`)."""
CONTENT_KEYS: Final = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.description",
        "gen_ai.agent.description",
        "gen_ai.retrieval.query.text",
        "gen_ai.retrieval.documents",
        "gen_ai.memory.query.text",
        "gen_ai.memory.records",
        "gen_ai.evaluation.explanation",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
"""The OTel GenAI registry's attributes that carry content or free text (current and deprecated
names): none is in :data:`KEPT_KEYS` (a test checks it), nor is any key under them."""
_STATUS: Final = ("unset", "ok", "error")


def span_rows(
    spans: Sequence[TreeSpan], lineage: Lineage, *, skip: Collection[Key], source: str = "otlp"
) -> tuple[list[dict[str, Any]], int]:
    """The rows for ``spans`` except those in ``skip`` (the calls), and how many had no ids.

    A span without a trace id or a span id cannot be placed in a tree: it is counted, not kept.
    """
    rows: list[dict[str, Any]] = []
    missing = 0
    for span in spans:
        if span.key in skip:
            continue
        if span.trace_id is None or span.span_id is None:
            missing += 1
            continue
        inherited = lineage.inherited_all(span)
        rows.append(span_row(span, inherited["session"], inherited["agent"], source=source))
    return rows, missing


def span_row(span: TreeSpan, session: str | None, agent: str | None, *, source: str) -> dict[str, Any]:
    """The row of one span, given the session and agent it inherits (see the module docstring)."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": _kind(span.kind),
        "started_at": _time(span.start_ns),
        "ended_at": _time(span.end_ns),
        "status": _STATUS[span.status_code]
        if 0 <= span.status_code < len(_STATUS)
        else str(span.status_code),
        "status_message": span.status_message,
        "session_id": session,
        "agent_name": agent,
        "tool_name": clean(span.attributes.get("gen_ai.tool.name") or span.attributes.get("tool.name")),
        "service_name": clean(span.resource.get("service.name")),
        "attributes": kept_attributes(span.attributes),
        "source": source,
    }


def _kind(kind: int | None) -> str | None:
    if kind is None:
        return None
    return KIND_NAMES[kind] if 0 <= kind < len(KIND_NAMES) else str(kind)


def _time(ns: int | None) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).replace(tzinfo=None) if ns else None


def kept_attributes(attrs: Mapping[str, Any]) -> str | None:
    """The attributes worth keeping, as compact JSON with sorted keys (None when there are none).
    ``error.type`` is kept only when it is a classification (:func:`tokenomy.errors.error_kind`), as a
    call's ``error_type`` is: free text there can quote the prompt or a key."""
    kept: dict[str, Any] = {}
    for key in sorted(attrs):
        if len(kept) >= MAX_ATTRIBUTES:
            break
        if key not in KEPT_KEYS:
            continue
        value = error_kind(attrs[key]) if key == "error.type" else _small(attrs[key])
        if value is not None:
            kept[key] = value
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False) if kept else None


def _small(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        items = [_small(v) for v in value[:MAX_LIST] if not isinstance(v, list | dict)]
        return [v for v in items if v is not None]
    return None


def without_status_messages(spans: pa.Table) -> pa.Table:
    """``spans`` (:data:`~tokenomy.store.events.SPANS_SCHEMA` rows) with every ``status_message`` null.

    A span's status message is free text, often an exception's message with the prompt or a key in
    it, so it is stored only when content capture is on; the server calls this otherwise.
    """
    index = spans.schema.get_field_index("status_message")
    if index < 0 or spans.num_rows == 0 or spans.column(index).null_count == spans.num_rows:
        return spans
    return spans.set_column(index, spans.schema.field(index), pa.nulls(spans.num_rows, pa.string()))
