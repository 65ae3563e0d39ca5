"""Where a span sits in its request's trace tree: its lineage, and what it inherits from it.

A call's session, user, environment and agent may be set on the span itself, on one of its
ancestors, or on its resource; the session may also come from any span of the same trace.
These rules are the OTLP importer's (:mod:`tokenomy.importers.otel_calls`), and so are the
attribute names below (a test keeps them in step); here they serve the collector's quick
path and the rows of the ``spans`` table. Only the spans of one request are looked at, as the
importer looks at one file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tokenomy.importers.otel_calls import ENV_KEYS, SESSION_KEYS, USER_KEYS, trace_sessions

AGENT_KEYS: Final = ("gen_ai.agent.name",)
INHERITED: Final = {"session": SESSION_KEYS, "user": USER_KEYS, "environment": ENV_KEYS, "agent": AGENT_KEYS}
"""What a span inherits from its lineage, and the attributes each is read from (first wins)."""
_ANY_INHERITED: Final = frozenset(k for keys in INHERITED.values() for k in keys)

Key = tuple[str | None, str | None]


@dataclass(slots=True)
class TreeSpan:
    """A span with decoded attribute values, as both decoders' spans are turned into."""

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    name: str
    kind: int | None
    start_ns: int | None
    end_ns: int | None
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any] = field(default_factory=dict)
    status_code: int = 0
    status_message: str | None = None

    @property
    def key(self) -> Key:
        """(trace id, span id): the span's identity within a request."""
        return (self.trace_id, self.span_id)


def clean(value: Any) -> str | None:
    """A string attribute as the importer reads it: stripped, JSON quotes removed, empty as None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # some SDKs JSON-encode string attributes
    return value or None


def first(attrs: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    """The first of ``keys`` whose value is a non-empty string (after :func:`clean`)."""
    for key in keys:
        if key in attrs:
            value = clean(attrs[key])
            if value is not None:
                return value
    return None


class Lineage:
    """The tree of one request's spans, answering what each span inherits from its ancestors."""

    def __init__(self, spans: Sequence[TreeSpan]) -> None:
        self._by_key: dict[Key, TreeSpan] = {s.key: s for s in spans if s.span_id}
        self._traces = trace_sessions((s.trace_id, first(s.attributes, SESSION_KEYS)) for s in spans)
        self._own: dict[Key, tuple[str | None, ...]] = {}
        self._parents: dict[Key, list[TreeSpan]] = {}
        self._by_resource: dict[int, tuple[str | None, ...]] = {}
        self._resources = [s.resource for s in spans]  # keeps each id() above stable while in use

    def parents(self, span: TreeSpan) -> list[TreeSpan]:
        """The span's ancestors present in the request, nearest first (a cycle stops the walk)."""
        found = self._parents.get(span.key)
        if found is not None:
            return found
        out: list[TreeSpan] = []
        seen: set[str | None] = {span.span_id}
        parent = self._by_key.get((span.trace_id, span.parent_span_id))
        while parent is not None and parent.span_id not in seen:
            out.append(parent)
            seen.add(parent.span_id)
            parent = self._by_key.get((parent.trace_id, parent.parent_span_id))
        self._parents[span.key] = out
        return out

    def inherited(self, span: TreeSpan, what: str) -> str | None:
        """The nearest value of ``what`` (a key of :data:`INHERITED`) on the span or its ancestors.

        For ``"session"``, a trace-wide session (any span of the trace) is the last resort.
        """
        return self.inherited_all(span)[what]

    def inherited_all(self, span: TreeSpan) -> dict[str, str | None]:
        """Everything the span inherits (every key of :data:`INHERITED`), in one walk up its lineage."""
        values = list(self._own_values(span))
        if span.parent_span_id is not None and None in values:
            for member in self.parents(span):
                for index, value in enumerate(self._own_values(member)):
                    if values[index] is None:
                        values[index] = value
                if None not in values:
                    break
        out = dict(zip(INHERITED, values, strict=True))
        if out["session"] is None:
            out["session"] = self._traces.get(span.trace_id)
        return out

    def _own_values(self, span: TreeSpan) -> tuple[str | None, ...]:
        """The span's own values (attributes first, then resource), in :data:`INHERITED` order."""
        key = span.key
        found = self._own.get(key)
        if found is None:
            from_resource = self._resource_values(span.resource)
            if _ANY_INHERITED.isdisjoint(span.attributes):
                found = from_resource
            else:
                found = tuple(
                    first(span.attributes, keys) or fallback
                    for keys, fallback in zip(INHERITED.values(), from_resource, strict=True)
                )
            self._own[key] = found
        return found

    def _resource_values(self, resource: Mapping[str, Any]) -> tuple[str | None, ...]:
        found = self._by_resource.get(id(resource))
        if found is None:
            found = self._by_resource[id(resource)] = tuple(
                first(resource, keys) for keys in INHERITED.values()
            )
        return found

    def wrappers(self, candidates: Iterable[TreeSpan]) -> set[Key]:
        """Keys of the candidate call spans that have another candidate below them.

        Such a span carries the sum of its children's usage, so it is not a call itself.
        """
        chosen = list(candidates)
        keys = {s.key for s in chosen}
        return {p.key for span in chosen for p in self.parents(span) if p.key in keys}
