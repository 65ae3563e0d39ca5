"""The analyses' results as JSON-ready data and CSV rows, for the CLI, files and a future API.

Conventions: money is a decimal string (``"12.345000000000"``), never a float; a value that is not
known is ``null`` (an empty cell in CSV), never 0; times are ISO 8601 (UTC); shares are floats.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from tokenomy.analysis.attribution import AttributionTable, SpendRow
from tokenomy.analysis.baselines import IntentBaseline, IntentFigures
from tokenomy.analysis.cost_split import ROW_PARTS, split_json
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.drivers import CostDrivers, DriverRow
from tokenomy.analysis.results import jsonable
from tokenomy.analysis.session_tree import SessionTree, Step
from tokenomy.analysis.sessions import SessionList, SessionRow
from tokenomy.schema import BUCKETS


def scope_json(scope: Scope) -> dict[str, Any]:
    """The period and filters."""
    return {
        "since": jsonable(scope.since),
        "until": jsonable(scope.until),
        "where": {name: list(values) for name, values in scope.where},
    }


def spend_row_json(row: SpendRow, by: Sequence[str], bucket: bool, parts: bool = False) -> dict[str, Any]:
    """One attribution row (or the total) as a flat object: a token figure none of the row's calls
    reported is None (null, an empty CSV cell), never 0, and ``usage_unknown`` counts those calls;
    with ``parts`` (the table carries its rows' cost by part), one ``part_<part>`` column per part of
    :data:`~tokenomy.analysis.cost_split.ROW_PARTS` after the others, null (an empty CSV cell) for
    a row none of whose calls is priced."""
    out: dict[str, Any] = {name: row.group.get(name) for name in by}
    if bucket:
        out["bucket"] = jsonable(row.bucket)
    out.update(calls=row.calls, charges=row.charges, **{b: row.tokens.get(b, 0) for b in BUCKETS})
    out.update(
        input_total=row.input_total,
        output_total=row.output_total,
        llm_cost=jsonable(row.llm_cost),
        charge_cost=jsonable(row.charge_cost),
        cost=jsonable(row.cost),
        unpriced=row.unpriced,
        cost_share=row.cost_share,
        token_share=row.token_share,
        usage_unknown=row.usage_unknown,
        spend=jsonable(row.cost),  # the first report's name for it (its cost is the LLM cost); appended
    )
    if parts:
        amounts = row.parts or {}
        out.update({f"part_{part}": jsonable(amounts.get(part)) for part in ROW_PARTS})
    return out


def attribution_json(table: AttributionTable) -> dict[str, Any]:
    """An attribution table: scope, grouping, rows, total and notes."""
    bucket = table.bucket is not None
    total = spend_row_json(table.total, (), False, table.parts)
    return {
        **scope_json(table.scope),
        "by": list(table.by),
        "bucket": table.bucket,
        "rows": [spend_row_json(r, table.by, bucket, table.parts) for r in table.rows],
        "total": total,
        "notes": list(table.notes),
    }


def attribution_csv(table: AttributionTable) -> str:
    """The attribution rows as CSV (one header line; no total line, so columns add up)."""
    bucket = table.bucket is not None
    header = list(spend_row_json(table.total, table.by, bucket, table.parts))
    return to_csv((spend_row_json(r, table.by, bucket, table.parts) for r in table.rows), header)


_NUMBER: Final = re.compile(r"[-+]?\d[\d,]*(\.\d*)?([eE][-+]?\d+)?%?")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, and a text a spreadsheet would run as a formula (``=...``,
    ``+``, ``-``, ``@``, a tab or a carriage return first: a team named ``=HYPERLINK(...)`` from a
    request header) prefixed with ``'``, so it shows as text; numbers, signed ones too, stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(rows: Iterable[Mapping[str, Any]], header: Sequence[str] | None = None) -> str:
    """Flat objects as CSV text under ``header`` (else the first object's keys); each value a
    :func:`csv_cell` (None is an empty cell; a text that would run as a formula is neutralised)."""
    out = io.StringIO()
    writer: Any = None
    if header is not None:
        writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n")
        writer.writeheader()
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def driver_row_json(row: DriverRow) -> dict[str, Any]:
    """One decomposition: costs, change, parts and the dominant driver."""
    return {
        "group": dict(row.group),
        "baseline_cost": jsonable(row.baseline_cost),
        "current_cost": jsonable(row.current_cost),
        "change": jsonable(row.change),
        "parts": {name: jsonable(value) for name, value in row.parts.items()},
        "dominant": row.dominant,
        "baseline_calls": row.baseline_calls,
        "current_calls": row.current_calls,
    }


def drivers_json(drivers: CostDrivers) -> dict[str, Any]:
    """Cost drivers: the two periods (ISO 8601 UTC with a ``Z``, as every time in the report's JSON),
    the total decomposition and one per group value."""
    return {
        "current": {"since": jsonable(drivers.current.since), "until": jsonable(drivers.current.until)},
        "baseline": {"since": jsonable(drivers.baseline.since), "until": jsonable(drivers.baseline.until)},
        "total": driver_row_json(drivers.total),
        "groups": {dim: [driver_row_json(r) for r in rows] for dim, rows in drivers.groups.items()},
        "notes": list(drivers.notes),
    }


def _figures(f: IntentFigures) -> dict[str, Any]:
    return {
        "calls": f.calls,
        "input_per_call": f.input_per_call,
        "output_per_call": f.output_per_call,
        "cost_per_call": jsonable(f.cost_per_call),
    }


def baselines_json(items: Sequence[IntentBaseline]) -> list[dict[str, Any]]:
    """Intent baselines with their changes and regression flags."""
    return [
        {
            "intent": b.intent,
            "baseline": _figures(b.baseline),
            "current": _figures(b.current),
            "input_change": b.input_change,
            "output_change": b.output_change,
            "cost_change": b.cost_change,
            "regression": b.regression,
            "reason": b.reason,
        }
        for b in items
    ]


def session_row_json(row: SessionRow) -> dict[str, Any]:
    """One session's totals as a flat object: after them, its LLM cost per part (``part_<part>``
    columns, null when none of its calls is priced) and what most of its cost went to
    (``main_part``, a part or ``charges``, and ``main_part_share`` of ``cost``; null when unknown)."""
    amounts = row.parts or {}
    main = row.main_part
    return {
        "session_id": row.session_id,
        **dict(row.group),
        "calls": row.calls,
        "charges": row.charges,
        **{b: row.tokens.get(b) for b in BUCKETS},
        "input_total": row.input_total,
        "output_total": row.output_total,
        "llm_cost": jsonable(row.llm_cost),
        "charge_cost": jsonable(row.charge_cost),
        "cost": jsonable(row.cost),
        "unpriced": row.unpriced,
        "started_at": jsonable(row.started_at),
        "ended_at": jsonable(row.ended_at),
        "duration_s": row.duration_s,
        "outcome": row.outcome,
        "action": row.action,
        "agents": row.agents,
        "sub_calls": row.sub_calls,
        "untotalled": row.untotalled,
        "estimated": row.estimated,
        **{f"part_{part}": jsonable(amounts.get(part)) for part in ROW_PARTS},
        "main_part": None if main is None else main[0],
        "main_part_share": None if main is None else main[1],
    }


def sessions_json(sessions: SessionList) -> dict[str, Any]:
    """The session ranking."""
    return {
        "by": list(sessions.by),
        "sessions": sessions.sessions,
        "no_session_calls": sessions.no_session_calls,
        "rows": [session_row_json(r) for r in sessions.rows],
    }


def step_json(step: Step) -> dict[str, Any]:
    """A tree node and its children."""
    return {
        "kind": step.kind,
        "id": step.id,
        "label": step.label,
        "agent": step.agent,
        "started_at": jsonable(step.started_at),
        "ended_at": jsonable(step.ended_at),
        "latency_ms": step.latency_ms,
        "tokens": dict(step.tokens) if step.kind == "call" else None,
        **({"modalities": dict(step.modalities)} if step.modalities else {}),
        "input_total": step.input_total,
        "output_total": step.output_total,
        "cost": jsonable(step.cost),
        "unpriced": step.unpriced,
        "subtotal": jsonable(step.subtotal),
        "subtotal_partial": step.partial,
        "running_total": jsonable(step.running_total),
        "status": step.status,
        "children": [step_json(c) for c in step.children],
    }


def tree_json(tree: SessionTree) -> dict[str, Any]:
    """A session tree with its totals."""
    return {
        "session_id": tree.session_id,
        "calls": tree.calls,
        "charges": tree.charges,
        "cost": jsonable(tree.cost),
        "unpriced": tree.unpriced,
        "attribution": dict(tree.attribution),
        "outcome": "unknown" if tree.success is None else ("success" if tree.success else "failure"),
        "action": tree.action,
        "steps": [step_json(s) for s in tree.roots],
        "notes": list(tree.notes),
        "split": split_json(tree.split),
    }
