"""A few sessions, step by step: what each call cost, what was wasted on it, and why.

:func:`sample_sessions` picks N sessions stratified by cost: the audited sessions sorted by their
LLM cost are cut into N groups of (nearly) equal size, and the middle session of each group is
taken, so the sample runs from cheap to expensive sessions and is the same every time.
:func:`walk` lays out each session's calls in order with the audit's hits on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste.base import Context, Hit
from tokenomy.analysis.waste.money import ZERO
from tokenomy.schema import WasteRole

SESSIONS_SQL: Final = """
    SELECT session, sum(cost_total) AS cost, count(*) AS calls,
           count(*) FILTER (WHERE cost_total IS NULL) AS unpriced
    FROM audited GROUP BY session ORDER BY coalesce(sum(cost_total), 0), session
"""
STEPS_SQL: Final = """
    SELECT id, session, step, started_at, agent, model, status, finish_reason, input_total, output_total,
           cache_read, cost_total
    FROM audited WHERE session IN (SELECT unnest(?::VARCHAR[]))
    ORDER BY session, started_at NULLS FIRST, step NULLS FIRST, id
"""


@dataclass(frozen=True, slots=True)
class Waste:
    """One finding's waste on one call."""

    category: str
    role: WasteRole
    tokens: int
    cost: Decimal | None
    why: str


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a walked session."""

    call_id: str
    step: int | None
    started_at: datetime | None
    agent: str | None
    model: str | None
    status: str | None
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read: int | None
    cost: Decimal | None
    wastes: tuple[Waste, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionWalk:
    """One sampled session: its stratum, its steps and the waste found in it."""

    session_id: str
    stratum: int
    """1 for the cheapest group of sessions, N for the most expensive."""
    cost: Decimal | None
    """The session's LLM cost over its priced calls; None when none is priced."""
    unpriced_calls: int
    steps: tuple[Step, ...]
    findings: tuple[str, ...] = field(default_factory=tuple)
    """The hits' one-line reasons, by category."""

    @property
    def wasted_cost(self) -> Decimal:
        """Dollars wasted in the session, each call counted once per category."""
        return sum((w.cost or ZERO for s in self.steps for w in s.wastes), ZERO)


Sampled = tuple[str, int, Decimal | None, int]
"""A sampled session: its id, its stratum, its cost (None when unpriced) and its unpriced calls."""


def sample_sessions(ctx: Context, n: int) -> list[Sampled]:
    """``n`` sessions stratified by cost: (session, stratum, cost, unpriced calls), cheapest first."""
    rows = ctx.rows(SESSIONS_SQL)
    if n <= 0 or not rows:
        return []
    n = min(n, len(rows))
    picked = []
    for stratum in range(n):
        lo, hi = stratum * len(rows) // n, (stratum + 1) * len(rows) // n
        row = rows[(lo + hi - 1) // 2]
        cost = None if row["cost"] is None else Decimal(row["cost"])
        picked.append((str(row["session"]), stratum + 1, cost, int(row["unpriced"])))
    return picked


def walk(ctx: Context, sampled: Iterable[Sampled], hits: Iterable[Hit]) -> list[SessionWalk]:
    """Each sampled session's calls in order, with the hits on them."""
    chosen = list(sampled)
    ids = [s[0] for s in chosen]
    by_call: dict[str, list[Waste]] = {}
    notes: dict[str, list[str]] = {}
    for hit in hits:
        if hit.session_id not in ids:
            continue
        notes.setdefault(hit.session_id, []).append(f"{hit.category}: {hit.note}")
        for call in hit.calls:
            waste = Waste(hit.category, call.role, call.tokens, call.cost, call.note or hit.note)
            by_call.setdefault(call.call_id, []).append(waste)
    steps: dict[str, list[Step]] = {}
    for row in ctx.rows(STEPS_SQL, [ids]) if ids else []:
        steps.setdefault(row["session"], []).append(_step(row, by_call.get(row["id"], [])))
    return [
        SessionWalk(sid, stratum, cost, unpriced, tuple(steps.get(sid, [])), tuple(notes.get(sid, [])))
        for sid, stratum, cost, unpriced in chosen
    ]


def _step(row: Mapping[str, Any], wastes: list[Waste]) -> Step:
    return Step(
        call_id=row["id"],
        step=row["step"],
        started_at=row["started_at"],
        agent=row["agent"],
        model=row["model"],
        status=row["status"],
        finish_reason=row["finish_reason"],
        input_tokens=row["input_total"],
        output_tokens=row["output_total"],
        cache_read=row["cache_read"],
        cost=row["cost_total"],
        wastes=tuple(wastes),
    )
