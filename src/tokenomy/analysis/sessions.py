"""Session costing: sessions ranked by what they cost, calls and charges together.

A session's cost is the cost of every call below it (its own calls, its sub-agents' calls, calls
of its trace that name no session) plus its charges, so it equals the sum of its parts. Unpriced
calls are counted and add nothing (a session whose calls are all unpriced and that has no charge
has no cost, never $0). A session's outcome is the one recorded for the session, else the
outcomes of its calls (a failure wins); its action is the one recorded, else a call's (a session of
charges alone has the one recorded for it too).
With ``by`` dimensions, sessions are ranked within each group; a session belongs to the smallest
value of the dimension among its calls (a session rarely spans two teams or features), its
charges' only when it has no call: a charge recorded without a team does not take its session out
of its calls' team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.cost_split import PART_LABELS, SPLIT_FLAG, SPLIT_SUMS, part_costs
from tokenomy.analysis.dimensions import Grouping
from tokenomy.analysis.formats import percent
from tokenomy.analysis.grouped import Selection, spend_sql
from tokenomy.analysis.sources import ESTIMATED, Sources, detect
from tokenomy.schema import BUCKETS, COST_PARTS
from tokenomy.store.base import Store

_NONE: Final = "CAST(NULL AS BIGINT)"
_COLUMNS: Final = {
    "first_at": ("c.started_at", 'g."at"'),
    "last_at": ("coalesce(c.ended_at, c.started_at)", 'g."at"'),
    "ends": ("c.ended_at IS NOT NULL", "TRUE"),  # a charge is a point in time: its time is its end
    **{b: (f"c.{b}", _NONE) for b in (*BUCKETS, "input_total", "output_total")},
    "call_success": ("c._call_success", "CAST(NULL AS BOOLEAN)"),
    "session_success": ("c._session_success", "CAST(NULL AS BOOLEAN)"),
    "call_action": ("c._call_action", "CAST(NULL AS VARCHAR)"),
    "session_action": ("c._session_action", "CAST(NULL AS VARCHAR)"),
    "agent": ('c."agent"', "CAST(NULL AS VARCHAR)"),
    "sub_call": ("c.parent_span_id IS NOT NULL", "FALSE"),
    "estimated": (f"coalesce({ESTIMATED}, FALSE)", "FALSE"),
}
_AGGREGATES: Final = {
    "calls": "count(*) FILTER (WHERE c.kind = 'call')",
    "charges": "count(*) FILTER (WHERE c.kind = 'charge')",
    **{b: f"CAST(sum(c.{b}) AS BIGINT)" for b in (*BUCKETS, "input_total", "output_total")},
    "llm_cost": "sum(c.cost) FILTER (WHERE c.kind = 'call')",
    "charge_cost": "sum(c.cost) FILTER (WHERE c.kind = 'charge')",
    "unpriced": "count(*) FILTER (WHERE c.kind = 'call' AND c.cost IS NULL)",
    "untotalled": (
        "count(*) FILTER (WHERE c.kind = 'call' AND (c.input_total IS NULL OR c.output_total IS NULL))"
    ),
    "first_at": "min(c.first_at)",
    "last_at": "max(c.last_at)",
    # whether the last activity's time is an end, not a start (a tie with a start: unknown)
    "end_known": (
        "coalesce(max(c.last_at) FILTER (WHERE c.ends) > max(c.last_at) FILTER (WHERE NOT c.ends),"
        " max(c.last_at) FILTER (WHERE NOT c.ends) IS NULL)"
    ),
    "success": "coalesce(bool_and(c.session_success), bool_and(c.call_success))",
    "action": "coalesce(max(c.session_action), max(c.call_action))",
    "agents": "count(DISTINCT c.agent)",
    "sub_calls": "count(*) FILTER (WHERE c.sub_call)",
    "estimated": "count(*) FILTER (WHERE c.kind = 'call' AND c.estimated)",
}
_PART_COLUMNS: Final = {
    "split": (SPLIT_FLAG, "FALSE"),
    **{f"cost_{p}": (f"c.cost_{p}", "CAST(NULL AS DECIMAL(38, 12))") for p in COST_PARTS},
}
_PART_SUMS: Final = (
    "sum(c.cost) AS llm_cost, "  # the calls split by part (cost_split.SPLIT_FLAG): the rest is unsplit
    + ", ".join(f"{expr} FILTER (WHERE c.split) AS {name}" for name, expr in SPLIT_SUMS.items())
)
CHARGES: Final = "charges"
"""A session's non-LLM cost, as a candidate for :attr:`SessionRow.main_part`."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session's totals."""

    session_id: str
    group: Mapping[str, str]
    calls: int
    charges: int
    tokens: Mapping[str, int | None]
    """Per bucket, the sum over the calls that reported it; None when none did (unknown, never 0)."""
    input_total: int | None
    output_total: int | None
    """The sums of the input and output totals the calls reported; None when none reported one."""
    llm_cost: Decimal | None
    charge_cost: Decimal | None
    unpriced: int
    started_at: datetime | None
    ended_at: datetime | None
    success: bool | None
    """The session's outcome: True, False, or None when none was recorded."""
    action: str | None
    agents: int
    sub_calls: int
    """Calls made below another call or span (sub-agents, tools)."""
    untotalled: int = 0
    """Calls that did not report their input or output total: ``input_total`` and ``output_total``
    (and the buckets) add only what was reported, so they read low for such a session."""
    estimated: int = 0
    """Calls with estimated figures: tokens counted locally, or a cost at an assumed price."""
    parts: Mapping[str, Decimal] | None = None
    """Its LLM cost per part of :data:`tokenomy.analysis.cost_split.ROW_PARTS` (adding up to
    ``llm_cost``; the cost recorded without parts is ``unsplit``); None when no call is priced, or
    read from a collector older than the field."""

    @property
    def main_part(self) -> tuple[str, float] | None:
        """What most of the session's cost went to, with its share of :attr:`cost`: a part of its LLM
        cost (:attr:`parts`), or :data:`CHARGES` when its non-LLM charges outweigh every part; None
        when its cost is unknown or $0, or its parts are not known."""
        cost = self.cost
        if not cost or cost < 0 or (self.parts is None and self.llm_cost is not None):
            return None
        amounts = {**(self.parts or {}), CHARGES: self.charge_cost or Decimal(0)}
        name = max(amounts, key=lambda part: amounts[part])  # ties: the first, in ROW_PARTS order
        return (name, float(amounts[name] / cost)) if amounts[name] > 0 else None

    @property
    def cost(self) -> Decimal | None:
        """LLM cost plus charges; None when neither is known."""
        if self.llm_cost is None and self.charge_cost is None:
            return None
        return (self.llm_cost or Decimal(0)) + (self.charge_cost or Decimal(0))

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first call (or charge) to the end of the last one; None when the last one's
        end was not recorded (its start is no end: a duration of 0 would be made up)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def outcome(self) -> str:
        """``success``, ``failure`` or ``unknown``."""
        return "unknown" if self.success is None else ("success" if self.success else "failure")


def main_part_text(session: SessionRow) -> str:
    """What most of a session's cost went to, with its share, for people: ``uncached input 98%``
    ("" when not known)."""
    main = session.main_part
    if main is None:
        return ""
    part, portion = main
    label = "charges (non-LLM)" if part == CHARGES else PART_LABELS.get(part, part)
    return f"{label} {percent(portion, 0)}"


@dataclass(frozen=True, slots=True)
class SessionList:
    """The most expensive sessions (per group when grouped), and how many sessions there are."""

    rows: tuple[SessionRow, ...]
    sessions: int
    """Sessions in the scope (all of them, not only the rows shown)."""
    by: tuple[str, ...] = ()
    no_session_calls: int = 0
    """Calls in the scope that belong to no session (not listed)."""


def top_sessions(
    store: Store, selection: Selection | None = None, *, top: int = 20, sources: Sources | None = None
) -> SessionList:
    """The ``top`` most expensive sessions of the scope (within each group of ``selection.grouping.by``).

    Args:
        store: The store to read.
        selection: Scope (period, filters) and the dimensions to rank within (the bucket is ignored).
        top: How many sessions to keep (per group).
        sources: The optional tables (detected when None).

    Raises:
        ValueError: ``top`` is not positive.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    selection = selection or Selection()
    by = selection.grouping.by
    src = sources or detect(store)
    relation, params = spend_sql(store, src, Selection(selection.scope, Grouping(by)), _COLUMNS)
    rows = store.query(_ranking_sql(relation, len(by), top), params).to_pylist()
    if rows:
        sessions, orphans = int(rows[0]["_sessions"]), int(rows[0]["_orphans"] or 0)
    else:  # no session at all: only the calls that belong to none are left to count
        counted = f"SELECT count(*) FILTER (WHERE kind = 'call') AS n FROM ({relation}) c"
        sessions, orphans = 0, int(store.query(counted, params).to_pylist()[0]["n"])
    listed = [_session(raw, by) for raw in rows if raw["session_id"] is not None]
    parts = _parts(store, src, selection, [r.session_id for r in listed if r.llm_cost is not None])
    listed = [replace(r, parts=parts[r.session_id]) if r.session_id in parts else r for r in listed]
    # a session of charges alone has no call to carry the outcome recorded for it
    recorded = recorded_outcomes(store, src, [r.session_id for r in listed if r.calls == 0])
    return SessionList(
        rows=tuple(
            replace(r, success=recorded[r.session_id][0], action=recorded[r.session_id][1])
            if r.session_id in recorded
            else r
            for r in listed
        ),
        sessions=sessions,
        by=by,
        no_session_calls=orphans,
    )


def recorded_outcomes(
    store: Store, sources: Sources, session_ids: Sequence[str]
) -> dict[str, tuple[bool | None, str | None]]:
    """The outcome last recorded for each of these sessions that has one: ``(success, action)``.

    The analyses read a session's outcome through its calls (:meth:`Sources.calls_sql`); a session of
    charges alone has none, so its outcome is read here, in the same terms (the latest one wins).
    """
    if sources.outcomes is None or not session_ids:
        return {}
    marks = ", ".join("?" for _ in session_ids)
    rows = store.query(
        f"SELECT target_id AS id, success, action FROM ({sources.latest(store.dialect, 'session')}) o "
        f"WHERE target_id IN ({marks})",
        list(session_ids),
    ).to_pylist()
    return {str(r["id"]): (r["success"], r["action"]) for r in rows}


def _parts(
    store: Store, sources: Sources, selection: Selection, session_ids: Sequence[str]
) -> dict[str, dict[str, Decimal]]:
    """The LLM cost per part of these sessions (:func:`~tokenomy.analysis.cost_split.part_costs`),
    read apart from the ranking: carried through it, the nine part columns of every call in the
    scope were held in memory (1.3 GB more over 10M calls), when a few sessions are listed."""
    if not session_ids:
        return {}
    relation, params = spend_sql(store, sources, Selection(selection.scope), _PART_COLUMNS)
    marks = ", ".join("?" for _ in session_ids)
    rows = store.query(
        f"SELECT c.session_id, {_PART_SUMS} FROM ({relation}) c "
        f"WHERE c.kind = 'call' AND c.session_id IN ({marks}) GROUP BY c.session_id",
        [*params, *session_ids],
    ).to_pylist()
    found = {str(r["session_id"]): part_costs([{**r, "split": True}]) for r in rows}
    return {session: costs for session, costs in found.items() if costs is not None}


def _ranking_sql(relation: str, dims: int, top: int) -> str:
    """Rank sessions on a light pass (cost only), then aggregate everything for the top ones only."""
    keys = [f"k{i}" for i in range(dims)]
    # a session's group is its calls' (smallest) value; its charges' only when it has no call
    firsts = "".join(
        f", coalesce(min(c.{k}) FILTER (WHERE c.kind = 'call'), min(c.{k})) AS {k}" for k in keys
    )
    partition = f"PARTITION BY {', '.join(keys)} " if keys else ""
    aggregates = ", ".join(f"{expr} AS {name}" for name, expr in _AGGREGATES.items())
    listed = "".join(f"t.{k}, " for k in keys)
    order = ", ".join([*(f"t.{k}" for k in keys), "t._rank"])
    return f"""
        WITH rel AS ({relation}),
        per AS (
            SELECT c.session_id{firsts}, coalesce(sum(c.cost), 0) AS spend,
                   count(*) FILTER (WHERE c.kind = 'call') AS session_calls
            FROM rel c GROUP BY c.session_id),
        ranked AS (
            SELECT *, row_number() OVER ({partition}ORDER BY spend DESC, session_id) AS _rank,
                   count(*) OVER () AS _sessions
            FROM per WHERE session_id IS NOT NULL),
        top AS (SELECT * FROM ranked WHERE _rank <= {int(top)})
        SELECT t.session_id, {listed}t._rank, t._sessions,
               (SELECT session_calls FROM per WHERE session_id IS NULL) AS _orphans, {aggregates}
        FROM rel c JOIN top t ON c.session_id = t.session_id
        GROUP BY ALL ORDER BY {order}
    """


def _session(raw: Mapping[str, Any], by: tuple[str, ...]) -> SessionRow:
    return SessionRow(
        session_id=str(raw["session_id"]),
        group={name: str(raw[f"k{i}"]) for i, name in enumerate(by)},
        calls=int(raw["calls"] or 0),
        charges=int(raw["charges"] or 0),
        tokens={b: _count(raw[b]) for b in BUCKETS},
        input_total=_count(raw["input_total"]),
        output_total=_count(raw["output_total"]),
        llm_cost=raw["llm_cost"],
        charge_cost=raw["charge_cost"],
        unpriced=int(raw["unpriced"] or 0),
        started_at=raw["first_at"],
        ended_at=raw["last_at"] if raw["end_known"] else None,  # a call's start is no end
        success=raw["success"],
        action=raw["action"],
        agents=int(raw["agents"] or 0),
        sub_calls=int(raw["sub_calls"] or 0),
        untotalled=int(raw["untotalled"] or 0),
        estimated=int(raw["estimated"] or 0),
    )


def _count(value: Any) -> int | None:
    """A sum of token counts; None (unknown) when no call reported any."""
    return None if value is None else int(value)
