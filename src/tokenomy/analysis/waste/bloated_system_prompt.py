"""Prompt bloat: a session whose system prompt is many times its route's usual one.

Rule. The route is the agent (else the feature): the owner of a system prompt. Each session's
system prompt size is the median ``system_tokens`` of its successful calls on that route; the
route's typical size is the median over its sessions, trusted from ``min_baseline`` sessions. A
session is bloated when its size is at least ``bloat_ratio`` (3x) the typical size *and* at least
``bloat_min_excess`` (500) tokens above it. Waste: on every successful call of the session, the
system tokens above the typical size, at the rates the call paid for those positions of its prompt:
the excess is taken as the end of the stable prefix (system prompt and tool definitions), and the
front of a prompt is what a cache reads, so a cached prompt counts at the cache-read rate even when
a long fresh history raises the call's average input rate (:func:`.money.span_cost`).

A route without an agent or feature has no peers to compare with and is not judged; neither is a
route where most sessions share the large prompt (then it is the route's prompt, and the cache
advisor is the place to look at it). DESIGN's ratio of system to user tokens is a metric
(``tokenomy report``), not a finding: a long system prompt for short questions is normal for chat
agents that cache it.

Evidence kept: the session's and the route's system prompt sizes and the number of peer sessions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS
from tokenomy.schema import INPUT_BUCKETS, WasteEffect, WasteRole


def bloat_sql(ctx: Context) -> str:
    """Calls of bloated sessions, with the session's and the route's system prompt sizes."""
    median = ctx.dialect.quantile
    o = ctx.options
    return f"""
        , ok AS (
            SELECT *, coalesce(agent, feature) AS owner FROM audited
            WHERE status = 'ok' AND system_tokens > 0 AND coalesce(agent, feature) IS NOT NULL)
        , per_session AS (
            SELECT session, owner, {median("system_tokens", 0.5)} AS size FROM ok GROUP BY ALL)
        , typical AS (
            SELECT owner, {median("size", 0.5)} AS typical, count(*) AS peers FROM per_session
            GROUP BY owner HAVING count(*) >= {int(o.min_baseline)})
        SELECT ok.id, ok.session, ok.started_at, {ROUTE_COLUMNS}, ok.system_tokens, ok.input_total,
               ok.tool_def_tokens, ok.cost_in, {", ".join(f"ok.{b}, ok.cost_{b}" for b in INPUT_BUCKETS)},
               s.size, t.typical, t.peers
        FROM ok JOIN per_session s USING (session, owner) JOIN typical t USING (owner)
        WHERE s.size >= {float(o.bloat_ratio)} * t.typical AND s.size - t.typical >= {int(o.bloat_min_excess)}
        ORDER BY ok.session, ok.started_at NULLS FIRST, ok.step NULLS FIRST, ok.id
    """


class BloatedSystemPrompt:
    """Prompt bloat (see the module docstring)."""

    category: Final = "bloated_system_prompt"
    version: Final = 1
    title: Final = "Bloated system prompts"
    fix: Final = (
        "Trim the system prompt back to the route's usual size: move reference material into "
        "retrieval or tools, drop examples and instructions this session type does not need, and "
        "check for text appended by accident (a whole document, repeated sections)."
    )
    fix_share: Final = (Decimal("0.8"), Decimal(1))
    assumption: Final = (
        "trimming brings the prompt back to the route's median size, keeping 0 to 20% of the excess"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find sessions whose system prompt is far above their route's typical size."""
        rows = ctx.rows(bloat_sql(ctx))
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_session.setdefault(row["session"], []).append(row)
        evidence = {
            "ratio": ctx.options.bloat_ratio,
            "min_excess_tokens": ctx.options.bloat_min_excess,
            "min_peer_sessions": ctx.options.min_baseline,
        }
        return Detection([self._hit(r) for r in by_session.values()], evidence)

    def _hit(self, rows: list[dict[str, Any]]) -> Hit:
        typical = int(rows[0]["typical"])
        size = int(rows[0]["size"])
        calls = []
        for row in rows:
            excess = max(int(row["system_tokens"]) - typical, 0)
            stable = int(row["system_tokens"]) + int(row["tool_def_tokens"] or 0)
            calls.append(
                HitCall(
                    row["id"],
                    WasteRole.PARTIAL,
                    excess,
                    money.span_cost(row, stable - excess, stable),
                    effect=WasteEffect.SYSTEM,
                    note=f"system prompt {row['system_tokens']:,} tokens; the route's usual is {typical:,}",
                    started_at=row["started_at"],
                )
            )
        note = (
            f"system prompt of {size:,} tokens, {size / typical:.1f}x the {typical:,} of "
            f"{int(rows[0]['peers']):,} sessions of the same route"
        )
        return Hit(self.category, rows[0]["session"], Route.of(rows[0]), tuple(calls), note)
