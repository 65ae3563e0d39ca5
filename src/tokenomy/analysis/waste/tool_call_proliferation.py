"""Tool-call proliferation: an agent run making many times more tool calls than its peers.

Rule. The route is the agent (else the feature); its runs with at least one tool call are the
peers, trusted from ``2 x min_baseline`` (20) runs. A run proliferates when its tool calls reach
``tool_ratio`` (5x) the route's median, ``tool_p90_ratio`` (2.5x) its 90th percentile, and
``tool_min`` (20), all three: far out in the tail, not a somewhat long task (at 3x the median and
1.5x the 90th percentile, a million simulated calls without any injected loop still gave five runs,
all of them ordinary long tasks).

Waste: the calls of the run made after its tool calls passed the route's 90th percentile, whole
(input and output, their billed cost). This is an upper bound: some of those steps may have been
needed, so the low end of the savings assumes a quarter of them could be saved.

Evidence kept: the run's tool calls, the route's median and 90th percentile, the number of peers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_ORDER
from tokenomy.schema import WasteEffect, WasteRole


def _prefixed(columns: str) -> str:
    return ", ".join(f"a.{c.strip()}" for c in columns.split(","))


def proliferation_sql(ctx: Context) -> str:
    """The calls of proliferating runs, with cumulative tool counts and the route's statistics."""
    o = ctx.options
    q = ctx.dialect.quantile
    return f"""
        , per_run AS (
            SELECT run, coalesce(agent, feature) AS owner, sum(n_tools) AS tools
            FROM audited WHERE coalesce(agent, feature) IS NOT NULL GROUP BY ALL)
        , peers AS (
            SELECT owner, {q("tools", 0.5)} AS median, {q("tools", 0.9)} AS p90, count(*) AS runs
            FROM per_run WHERE tools > 0 GROUP BY owner HAVING count(*) >= {2 * int(o.min_baseline)})
        , flagged AS (
            SELECT per_run.*, peers.median, peers.p90, peers.runs FROM per_run JOIN peers USING (owner)
            WHERE tools >= {int(o.tool_min)} AND tools >= {float(o.tool_ratio)} * median
              AND tools >= {float(o.tool_p90_ratio)} * p90)
        SELECT a.id, a.session, a.run, a.started_at, {_prefixed(ROUTE_COLUMNS)},
               a.cost_total, a.input_total, a.output_total, a.n_tools,
               f.tools, f.median, f.p90, f.runs,
               sum(a.n_tools) OVER (
                   PARTITION BY a.run ORDER BY {_prefixed(RUN_ORDER)}
                   ROWS UNBOUNDED PRECEDING) AS cumulative
        FROM audited a JOIN flagged f ON f.run = a.run
        ORDER BY a.session, a.run, {_prefixed(RUN_ORDER)}
    """


class ToolCallProliferation:
    """Tool-call proliferation (see the module docstring)."""

    category: Final = "tool_call_proliferation"
    version: Final = 1
    title: Final = "Tool-call proliferation"
    fix: Final = (
        "Cap tool calls per run near the route's 90th percentile and make the agent stop and answer "
        "(or ask) when it hits the cap; give it a search tool that returns enough per call, and "
        "batch lookups into one call where the tool allows it."
    )
    fix_share: Final = (Decimal("0.25"), Decimal(1))
    assumption: Final = (
        "a quarter (low) to all (high) of the calls past the route's tool-call p90 were unneeded"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find runs far out in their route's tail of tool calls."""
        by_run: dict[str, list[dict[str, Any]]] = {}
        for row in ctx.rows(proliferation_sql(ctx)):
            by_run.setdefault(row["run"], []).append(row)
        evidence = {
            "ratio_to_median": ctx.options.tool_ratio,
            "ratio_to_p90": ctx.options.tool_p90_ratio,
            "min_tool_calls": ctx.options.tool_min,
        }
        hits = [hit for rows in by_run.values() if (hit := self._hit(rows)) is not None]
        return Detection(hits, evidence)

    def _hit(self, rows: list[dict[str, Any]]) -> Hit | None:
        p90 = float(rows[0]["p90"])
        extra = [r for r in rows if int(r["cumulative"]) - int(r["n_tools"]) >= p90]
        if not extra:
            return None
        calls = tuple(
            HitCall(
                r["id"],
                WasteRole.WASTED,
                (r["input_total"] or 0) + (r["output_total"] or 0),
                r["cost_total"],
                effect=WasteEffect.CALL,
                note=f"after tool call {int(r['cumulative']) - int(r['n_tools'])}; peers stop near {p90:.0f}",
                started_at=r["started_at"],
            )
            for r in extra
        )
        first = rows[0]
        note = (
            f"{int(first['tools'])} tool calls in one run; the route's median is "
            f"{float(first['median']):.0f} and 90th percentile {p90:.0f} over {int(first['runs']):,} runs"
        )
        return Hit(self.category, first["session"], Route.of(first), calls, note)
