"""The collector's tables besides calls and charges: outcomes, and the spans of trace trees.

* ``outcomes``: what a call or a session achieved (success, score, action), which may arrive
  after the call (:class:`tokenomy.schema.OutcomeEvent`). Keyed by (``target``, ``id``, ``at``):
  storing the same event twice keeps one row; a later outcome for the same call or session is
  another row, and readers take the latest.
* ``spans``: the spans of a trace that are not model calls (agent runs, tool executions,
  workflow steps...), keyed by (``trace_id``, ``span_id``), so a session can be shown as a
  tree together with its calls (which keep their own trace and span ids). Only a few
  attributes are kept, as JSON text, never prompt content.

This module holds their Arrow layouts (the same columns as the tables, in table order) and the
conversions shared by every backend; the SQL lives in the backend modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.schema import OutcomeEvent
from tokenomy.store.arrow import CALLS_SCHEMA, CHARGES_SCHEMA, TIME_TYPE, utc_naive

OUTCOMES_SCHEMA: Final = pa.schema(
    [
        ("target", pa.string()),
        ("id", pa.string()),
        ("success", pa.bool_()),
        ("score", pa.float64()),
        ("action", pa.string()),
        ("at", TIME_TYPE),
        ("source", pa.string()),
        ("imported_at", TIME_TYPE),
    ]
)
"""The ``outcomes`` table's columns, in table order."""

SPANS_SCHEMA: Final = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("started_at", TIME_TYPE),
        ("ended_at", TIME_TYPE),
        ("status", pa.string()),
        ("status_message", pa.string()),
        ("session_id", pa.string()),
        ("agent_name", pa.string()),
        ("tool_name", pa.string()),
        ("service_name", pa.string()),
        ("attributes", pa.string()),
        ("source", pa.string()),
        ("imported_at", TIME_TYPE),
    ]
)
"""The ``spans`` table's columns, in table order. ``attributes`` is JSON text (an object)."""


def outcomes_to_arrow(
    events: Iterable[OutcomeEvent], *, source: str | None = None, imported_at: datetime | None = None
) -> pa.Table:
    """An Arrow table (:data:`OUTCOMES_SCHEMA`) holding ``events`` in order (``at`` as naive UTC)."""
    rows = [
        {
            "target": e.target,
            "id": e.id,
            "success": e.success,
            "score": e.score,
            "action": e.action,
            "at": utc_naive(e.at),
            "source": source,
            "imported_at": imported_at,
        }
        for e in events
    ]
    return pa.Table.from_pylist(rows, schema=OUTCOMES_SCHEMA)


def spans_to_arrow(rows: Iterable[dict[str, Any]], *, imported_at: datetime | None = None) -> pa.Table:
    """An Arrow table (:data:`SPANS_SCHEMA`) from span rows (dicts keyed by column)."""
    shaped = [
        {
            **{name: row.get(name) for name in SPANS_SCHEMA.names},
            "imported_at": row.get("imported_at") or imported_at,
        }
        for row in rows
    ]
    return pa.Table.from_pylist(shaped, schema=SPANS_SCHEMA)


@dataclass(slots=True)
class EventBatch:
    """Records to store together, in one transaction: each table may be empty.

    ``calls`` that carry no cost (``cost_currency`` null) are priced as they are stored.
    """

    calls: pa.Table = field(default_factory=CALLS_SCHEMA.empty_table)
    charges: pa.Table = field(default_factory=CHARGES_SCHEMA.empty_table)
    outcomes: pa.Table = field(default_factory=OUTCOMES_SCHEMA.empty_table)
    spans: pa.Table = field(default_factory=SPANS_SCHEMA.empty_table)

    @property
    def rows(self) -> int:
        """Rows across the four tables."""
        return sum(t.num_rows for t in (self.calls, self.charges, self.outcomes, self.spans))

    @staticmethod
    def concat(batches: Iterable[EventBatch]) -> EventBatch:
        """One batch holding the rows of ``batches``, in order (the first of repeated ids wins)."""
        chosen = list(batches)
        if len(chosen) == 1:
            return chosen[0]
        return EventBatch(
            *(
                pa.concat_tables([getattr(b, name) for b in chosen])
                for name in ("calls", "charges", "outcomes", "spans")
            )
        )


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Rows stored by a :class:`EventBatch` write (rows already stored are not counted)."""

    calls: int = 0
    charges: int = 0
    outcomes: int = 0
    spans: int = 0


@dataclass(frozen=True, slots=True)
class SessionRecords:
    """Everything stored for one session, each table ordered by time."""

    calls: pa.Table
    charges: pa.Table
    outcomes: pa.Table
    spans: pa.Table
