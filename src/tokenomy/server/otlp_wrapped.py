"""Model spans that wrap a model call sent in an earlier request: spans, not calls.

A model span with another model span below it (a framework's ``llm`` span around the client's
``chat`` span, both carrying the same usage) carries its children's usage, and counting it would
count their tokens twice: within one request the mapping keeps it as a span of the tree
(:func:`tokenomy.importers.calls_from_spans`, :func:`tokenomy.server.otlp_lineage.wrappers`). A
span is exported when it ends, and the child ends first: a batching exporter that sends the child
in one request and its parent in the next (or an exporter that sends each span as it ends) had the
collector store both as calls.

:class:`WrappedSpans` remembers, for the spans of recent requests, which have a model call somewhere
below them, by (trace id, span id): a call of a later request that is one of them is taken for a
wrapper, and stored as a span. The memory is bounded (the least recently marked spans are
forgotten first) and lives as long as the collector: a parent sent after a restart, or after the
memory forgot its child, is a call again. A parent sent before its child (one that ends before a
call below it) stays a call. A wrapper moved to the spans keeps the tree ids, times, session, agent
and a failure its call row holds; its name, kind, service name and attributes are null (its span
row is built from its call row).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

from tokenomy.server.otlp_ingest import TraceBatch
from tokenomy.store.events import spans_to_arrow

LIMIT: Final = 262_144
"""Spans remembered (about 38 MB: a 24-byte key and its entry each)."""

Key = bytes | str


class WrappedSpans:
    """The spans of recent requests known to have a model call below them (see the module docstring).

    Args:
        limit: How many spans to remember.
    """

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._below: OrderedDict[Key, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._below)

    def apply(self, read: TraceBatch) -> TraceBatch:
        """``read`` with its calls that wrap an earlier request's call moved to its spans; what it
        holds is remembered for the requests after it. The keys are read outside the lock, which
        guards the marking and the memory's operations."""
        if read.calls.num_rows == 0 and read.spans.num_rows == 0:
            return read
        calls, spans = _rows(read.calls), _rows(read.spans)
        parent_of = {key: parent for key, parent in (*calls, *spans) if key is not None}
        # one section under the lock: two requests applied at once (one on the parser's thread)
        # each see the other's marks, as in either order they would
        with self._lock:
            below = self._below
            # a call's parent has a call below it, and so has every ancestor of a span that has one
            frontier = [parent for _, parent in calls if parent is not None]
            frontier += [parent for key, parent in parent_of.items() if parent is not None and key in below]
            marked: set[Key] = set()
            while frontier:
                key = frontier.pop()
                if key not in marked:
                    marked.add(key)
                    parent = parent_of.get(key)
                    if parent is not None:
                        frontier.append(parent)
            for key in marked:
                below[key] = None
                below.move_to_end(key)  # the order is of last marking: the first goes first
            # a call with a call below it, in an earlier request or through a span of this one (a
            # call above a call of this request was already kept as a span by the mapping)
            wrapped = [key is not None and key in below for key, _ in calls]
            while len(below) > self._limit:
                below.popitem(last=False)
        if not any(wrapped):
            return read
        mask = pa.array(wrapped)
        demoted = read.calls.filter(mask)
        spans_out = pa.concat_tables([read.spans, _as_spans(demoted).cast(read.spans.schema)])
        return dataclasses.replace(read, calls=read.calls.filter(pc.invert(mask)), spans=spans_out)


def _rows(table: pa.Table) -> list[tuple[Key | None, Key | None]]:
    """Each row's own key and its parent's: (trace id, span id) packed (None: no such id)."""
    if table.num_rows == 0:
        return []
    traces, own, parents = (table.column(n).to_pylist() for n in ("trace_id", "span_id", "parent_span_id"))
    return [
        (_key(trace, span), _key(trace, parent))
        for trace, span, parent in zip(traces, own, parents, strict=True)
    ]


def _key(trace: str | None, span: str | None) -> Key | None:
    """(trace id, span id) as 24 bytes (ids are hex), else as text; None without both."""
    if not trace or not span:
        return None
    try:
        return bytes.fromhex(trace + span)
    except ValueError:
        return f"{trace}:{span}"


def _as_spans(calls: pa.Table) -> pa.Table:
    """Call rows as ``spans`` rows: the tree ids, times, session, agent and a failure (a call row keeps
    no span name, kind, status message, service or attributes: those are null)."""
    rows: list[dict[str, Any]] = []
    for call in calls.to_pylist():
        rows.append(
            {
                "trace_id": call["trace_id"],
                "span_id": call["span_id"],
                "parent_span_id": call["parent_span_id"],
                "name": None,  # a call row keeps neither the span's name nor its kind
                "kind": None,
                "started_at": call.get("started_at"),
                "ended_at": call.get("ended_at"),
                "status": "error" if call.get("status") == "error" else None,  # (ok or unset: not kept)
                "session_id": call.get("session_id"),
                "agent_name": call.get("agent"),
                "source": call.get("source"),
            }
        )
    return spans_to_arrow(rows)
