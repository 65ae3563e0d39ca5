"""Rows of the ``spans`` table: the spans of a trace that are not model calls, for session trees.

Each row keeps the span's place in the tree (trace, span and parent ids), its name, kind,
times and status, the session and agent it inherits (the same rules as calls, see
:mod:`tokenomy.server.otlp_tree`), the tool it ran, the service that sent it, and a few
attributes as JSON: GenAI, error and transport facts, with prompt and tool content left out
(it may hold personal data or secrets) and long values cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from tokenomy.server.otlp_tree import Key, Lineage, TreeSpan, clean
from tokenomy.server.otlp_wire import KIND_NAMES

MAX_ATTRIBUTES: Final = 32
MAX_TEXT: Final = 256
MAX_LIST: Final = 16
KEPT_PREFIXES: Final = (
    "gen_ai.",
    "error.",
    "http.request.method",
    "http.response.status_code",
    "server.",
    "rpc.",
)
CONTENT_KEYS: Final = frozenset(
    {
        # Messages and instructions sent to and returned by the model.
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        # Tools: their definitions (descriptions and schemas), the arguments of a call and its result.
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        # Retrieval and memory: the query text and what came back.
        "gen_ai.retrieval.query.text",
        "gen_ai.retrieval.documents",
        "gen_ai.memory.query.text",
        "gen_ai.memory.records",
        # Evaluation: the evaluator's free-form explanation.
        "gen_ai.evaluation.explanation",
        # Deprecated names of the prompt and the completion (also flattened, ``gen_ai.prompt.0.content``).
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
"""Attributes of the OTel GenAI conventions that carry content: never kept, nor any key under them
(``gen_ai.prompt.0.content``, ``gen_ai.input.messages.0.role``...), except :data:`NOT_CONTENT`."""
NOT_CONTENT: Final = frozenset({"gen_ai.prompt.name"})
"""Keys under a content key that are names, not content (the name of a prompt template)."""
_CONTENT_PREFIXES: Final = tuple(f"{key}." for key in sorted(CONTENT_KEYS))
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
        "tool_name": clean(span.attributes.get("gen_ai.tool.name")),
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
    """The attributes worth keeping, as compact JSON with sorted keys (None when there are none)."""
    kept: dict[str, Any] = {}
    for key in sorted(attrs):
        if len(kept) >= MAX_ATTRIBUTES:
            break
        if not key.startswith(KEPT_PREFIXES) or _is_content(key):
            continue
        value = _small(attrs[key])
        if value is not None:
            kept[key] = value
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False) if kept else None


def _is_content(key: str) -> bool:
    if key in NOT_CONTENT:
        return False
    return key in CONTENT_KEYS or key.startswith(_CONTENT_PREFIXES)


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
