"""One session as a tree of steps: calls, the tools they asked for, sub-agents, spans and charges.

How the tree is built from what the store holds:

* every call of the session (its own, or of its trace when it names no session) is a node; its
  tool uses are its children (name and argument hash, never arguments);
* a call whose ``parent_span_id`` is another call's span hangs below that call; when its agent
  differs from the parent's, the calls of that agent are grouped under a *sub-agent* node (below
  the parent's ``delegate_<agent>`` tool use when there is one);
* when the store has a ``spans`` table, the session's non-LLM spans (agent runs, tool executions)
  are nodes too, linked the same way, so calls below an agent span hang below it;
* a charge hangs below the call that ended last before it (below that call's tool use of the
  same name when there is one: one charge per such tool use, in order), else at the top.

Every node has its own cost (calls and charges) and a ``subtotal`` (its cost plus its
children's), so the top-level subtotals add up to the session's total. ``running_total`` is the
session's cumulative cost, in time order, after each call or charge (a call counted when it ended,
or when it started if its end is unknown); None before the first known cost (unpriced calls add
nothing, and before any price is known the total is unknown, not $0).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from tokenomy.analysis.cost_split import CostSplit, split_from_rows
from tokenomy.analysis.dimensions import ScopeSQL
from tokenomy.analysis.sessions import recorded_outcomes
from tokenomy.analysis.sources import ESTIMATED, Sources, detect
from tokenomy.errors import StoreError
from tokenomy.schema import ATTRIBUTION_FIELDS, BUCKETS
from tokenomy.store.base import Store

StepKind = Literal["call", "tool", "subagent", "span", "charge"]
_KIND_ORDER: Final = {"span": 0, "call": 1, "subagent": 2, "tool": 3, "charge": 4}


@dataclass(slots=True)
class Step:
    """A node of the session tree."""

    kind: StepKind
    id: str
    label: str
    agent: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    latency_ms: float | None = None
    tokens: Mapping[str, int | None] = field(default_factory=dict)
    """The six buckets of a call (None when not reported)."""
    modalities: Mapping[str, int] = field(default_factory=dict)
    """A call's non-text tokens inside its buckets (:attr:`tokenomy.schema.Usage.modalities`)."""
    input_total: int | None = None
    output_total: int | None = None
    cost: Decimal | None = None
    """A call's or a charge's own cost; None for other nodes and for unpriced calls."""
    status: str | None = None
    unpriced: bool = False
    running_total: Decimal | None = None
    children: list[Step] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal | None:
        """This node's cost plus its children's, priced parts only; None when nothing in it is priced
        (unpriced calls alone, or no call or charge at all): unknown, never $0."""
        known = [c for c in (self.cost, *(child.subtotal for child in self.children)) if c is not None]
        return sum(known[1:], known[0]) if known else None

    @property
    def partial(self) -> bool:
        """True when an unpriced call in this node's subtree is left out of its subtotal."""
        return self.unpriced or any(child.partial for child in self.children)

    def walk(self) -> Iterator[tuple[int, Step]]:
        """This node and its descendants, depth first, with their depth (0 for this node)."""
        yield 0, self
        for child in self.children:
            for depth, step in child.walk():
                yield depth + 1, step


@dataclass(frozen=True, slots=True)
class SessionTree:
    """A session's steps as a tree, and its totals."""

    session_id: str
    roots: tuple[Step, ...]
    calls: int
    charges: int
    cost: Decimal | None
    """Calls plus charges; None when nothing is priced (never $0 for unpriced calls)."""
    unpriced: int
    attribution: Mapping[str, str]
    success: bool | None
    action: str | None
    notes: tuple[str, ...] = ()
    split: CostSplit | None = None
    """Where the session's LLM cost goes, by part (:func:`session_tree` always sets it)."""

    def walk(self) -> Iterator[tuple[int, Step]]:
        """Every node, depth first, with its depth."""
        for root in self.roots:
            yield from root.walk()


def session_tree(store: Store, session_id: str, *, sources: Sources | None = None) -> SessionTree:
    """The session ``session_id`` as a tree (see the module docstring).

    Raises:
        StoreError: No call or charge belongs to the session.
    """
    src = sources or detect(store)
    estimated_column = f"coalesce({ESTIMATED}, FALSE) AS _estimated"
    calls = store.query(
        src.calls_sql(store.dialect, ScopeSQL("c._session = ?", [session_id]), [estimated_column])
        + " ORDER BY c.started_at NULLS FIRST, c.step NULLS FIRST, c.id",
        [session_id],
    ).to_pylist()
    charges = store.query(
        'SELECT * FROM charges WHERE session_id = ? ORDER BY "at", id', [session_id]
    ).to_pylist()
    if not calls and not charges:
        raise unknown_session(session_id)
    spans = _spans(store, src, session_id, {c["trace_id"] for c in calls if c["trace_id"]})
    notes = [] if src.spans else ["the store has no spans table: only calls, tool uses and charges are shown"]
    estimated = sum(1 for c in calls if c["_estimated"])
    if estimated:
        notes.append(
            f"{estimated:,} of its {len(calls):,} call(s) have estimated figures: tokens counted locally"
            " rather than reported, or a cost whose price was assumed; each call's cost_reason says which"
            " (tokenomy export)"
        )
    roots = _assemble(calls, spans, charges)
    _running_totals(roots)
    priced = [c["cost_total"] for c in calls if c["cost_total"] is not None]
    amounts = [g["amount"] for g in charges]
    cost = sum((*priced, *amounts), Decimal(0)) if priced or amounts else None
    success, action = _success(calls), _action(calls)
    if not calls:  # charges alone: no call carries the outcome recorded for the session
        success, action = recorded_outcomes(store, src, [session_id]).get(session_id, (None, None))
    return SessionTree(
        session_id=session_id,
        roots=tuple(roots),
        calls=len(calls),
        charges=len(charges),
        cost=cost,
        unpriced=len(calls) - len(priced),
        attribution=_attribution(calls, charges),
        success=success,
        action=action,
        notes=tuple(notes),
        split=split_from_rows(calls),
    )


def unknown_session(session_id: str) -> StoreError:
    """The error for a session nothing belongs to, in the same words whoever reads it (the store, or
    a collector's API that answers 404)."""
    return StoreError(
        f"no call or charge belongs to session {session_id!r}; list sessions with `tokenomy sessions`"
    )


def _spans(store: Store, src: Sources, session_id: str, traces: set[str]) -> list[dict[str, Any]]:
    if not {"trace_id", "span_id", "parent_span_id", "name", "session_id"} <= set(src.spans):
        return []
    marks = ", ".join("?" for _ in traces) or "NULL"
    rows: list[dict[str, Any]] = store.query(
        f"SELECT * FROM spans WHERE session_id = ? OR trace_id IN ({marks}) ORDER BY started_at NULLS FIRST",
        [session_id, *sorted(traces)],
    ).to_pylist()
    return rows


def _call_step(row: Mapping[str, Any]) -> Step:
    model = row["response_model"] or row["request_model"] or "(unknown model)"
    step = Step(
        kind="call",
        id=str(row["id"]),
        label=model,
        agent=row["agent"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        latency_ms=row["latency_ms"],
        tokens={b: row[b] for b in BUCKETS},
        modalities=dict(row.get("modalities") or ()),
        input_total=row["input_total"],
        output_total=row["output_total"],
        cost=row["cost_total"],
        status=row["status"],
        unpriced=row["cost_total"] is None,
    )
    for i, tool in enumerate(row["tool_uses"] or []):
        label = tool["name"] + (f" [{tool['args_hash'][:8]}]" if tool.get("args_hash") else "")
        step.children.append(
            Step("tool", f"{step.id}#tool{i}", label, agent=row["agent"], started_at=row["ended_at"])
        )
    return step


def _span_step(row: Mapping[str, Any]) -> Step:
    label = row.get("tool_name") or row.get("agent_name") or row["name"]
    return Step(
        "span",
        f"{row['trace_id']}:{row['span_id']}",
        str(label),
        agent=row.get("agent_name"),
        started_at=row.get("started_at"),
        ended_at=row.get("ended_at"),
        status=row.get("status"),
    )


def _assemble(
    calls: list[dict[str, Any]], spans: list[dict[str, Any]], charges: list[dict[str, Any]]
) -> list[Step]:
    by_span: dict[tuple[Any, Any], int] = {}
    ordered: list[tuple[Step, Mapping[str, Any]]] = []
    ordered.extend((_span_step(span), span) for span in spans)
    ordered.extend((_call_step(call), call) for call in calls)
    for i, (_, row) in enumerate(ordered):
        if row.get("span_id"):
            by_span.setdefault((row.get("trace_id"), row["span_id"]), i)
    parents = _parents([by_span.get((row.get("trace_id"), row.get("parent_span_id"))) for _, row in ordered])
    roots: list[Step] = []
    groups: dict[tuple[str, str], Step] = {}
    for (step, _), at in zip(ordered, parents, strict=True):
        parent = None if at is None else ordered[at][0]
        if parent is None:
            roots.append(step)
        elif step.kind == "call" and parent.kind == "call" and step.agent != parent.agent:
            _subagent(parent, step, groups).children.append(step)
        else:
            parent.children.append(step)
    ends = _Ends([s for s, _ in ordered if s.kind == "call"])
    for charge in charges:
        _place_charge(charge, ends, roots)
    _sort(roots)
    return roots


def _parents(parents: list[int | None]) -> list[int | None]:
    """Each node's parent (an index, None for a root) with every cycle broken: parent ids that loop
    (a span its own parent, two spans each the other's) would hang their nodes below each other and
    nowhere below a root, so the tree would lose them. The node of a loop listed first (spans come
    before calls) becomes a root. Linear: each node's chain is followed once."""
    out = list(parents)
    state = [0] * len(out)  # 0 not seen, 1 on the chain being followed, 2 done
    for first in range(len(out)):
        chain: list[int] = []
        node: int | None = first
        while node is not None and state[node] == 0:
            state[node] = 1
            chain.append(node)
            node = out[node]
        if node is not None and state[node] == 1:  # the chain came back to itself: a loop
            out[min(chain[chain.index(node) :])] = None
        for seen in chain:
            state[seen] = 2
    return out


def _subagent(parent: Step, child: Step, groups: dict[tuple[str, str], Step]) -> Step:
    agent = child.agent or "(sub-agent)"
    key = (parent.id, agent)
    if key not in groups:
        node = Step("subagent", f"{parent.id}>{agent}", agent, agent=agent, started_at=child.started_at)
        tool = next(
            (t for t in parent.children if t.kind == "tool" and _tool_name(t) == f"delegate_{agent}"), None
        )
        (tool or parent).children.append(node)
        groups[key] = node
    return groups[key]


class _Ends:
    """The calls by the time they ended, to find the one that ended last at or before a time in
    O(log n) (a session of 30,000 calls and 3,000 charges took 25 s with a scan per charge)."""

    def __init__(self, calls: list[Step]) -> None:
        # calls that ended at the same moment keep their order (the first one wins)
        ended = sorted(((c.ended_at, i) for i, c in enumerate(calls) if c.ended_at is not None))
        self._calls = [calls[i] for _, i in ended]
        self._times = [at for at, _ in ended]

    def owner(self, at: datetime) -> Step | None:
        """The call that ended last at or before ``at`` (the first of those that ended together)."""
        after = bisect_right(self._times, at)
        if after == 0:
            return None
        return self._calls[bisect_left(self._times, self._times[after - 1])]


def _tool_name(step: Step) -> str:
    """A tool use's name (its label without the argument hash)."""
    return step.label.split(" [")[0]


def _place_charge(row: Mapping[str, Any], ends: _Ends, roots: list[Step]) -> None:
    step = Step(
        "charge",
        str(row["id"]),
        f"{row['kind']}" + (f" ({row['description']})" if row.get("description") else ""),
        agent=row.get("agent"),
        started_at=row["at"],
        ended_at=row["at"],
        cost=row["amount"],
    )
    owner = ends.owner(row["at"])
    if owner is None:
        roots.append(step)
        return
    tools = [t for t in owner.children if t.kind == "tool" and _tool_name(t) == row.get("description")]
    # one charge per tool use of that name, in order; extra charges join the last one
    tool = next((t for t in tools if not t.children), tools[-1] if tools else None)
    (tool or owner).children.append(step)


def _sort(steps: list[Step]) -> None:
    steps.sort(key=lambda s: (s.started_at is not None, s.started_at or datetime.min, _KIND_ORDER[s.kind]))
    for step in steps:
        _sort(step.children)


def _running_totals(roots: list[Step]) -> None:
    costed = [s for root in roots for _, s in root.walk() if s.kind in ("call", "charge")]
    # a call is counted when it ended, else (its end unknown) when it started; one with neither first
    costed.sort(key=lambda s: ((at := s.ended_at or s.started_at) is not None, at or datetime.min))
    total: Decimal | None = None  # unknown until a cost is known: unpriced calls are never $0
    for step in costed:
        if step.cost is not None:
            total = (total or Decimal(0)) + step.cost
        step.running_total = total


def _attribution(calls: list[dict[str, Any]], charges: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ATTRIBUTION_FIELDS:
        values = sorted({str(r[name]) for r in (*calls, *charges) if r.get(name)})
        if values:
            out[name] = ", ".join(values)
    return out


def _action(calls: list[dict[str, Any]]) -> str | None:
    """The session's action: the one recorded for the session, else a call's."""
    return next(
        (
            c["_session_action"] or c["_call_action"]
            for c in calls
            if c["_session_action"] or c["_call_action"]
        ),
        None,
    )


def _success(calls: list[dict[str, Any]]) -> bool | None:
    session = [c["_session_success"] for c in calls if c["_session_success"] is not None]
    if session:
        return all(session)
    flags = [c["_call_success"] for c in calls if c["_call_success"] is not None]
    return all(flags) if flags else None
