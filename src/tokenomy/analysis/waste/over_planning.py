"""Over-planning: reasoning far beyond what the same kind of task needs on the same model.

Rule. Calls are compared with their peers: the same task (intent, else feature, else agent), the
same model and the same kind of step (a step that calls tools, or one that answers), over successful
calls with reasoning tokens; a peer group is trusted from ``reasoning_min_calls`` (30) calls. A call
over-plans when three things hold at once: its reasoning is at least ``reasoning_ratio`` (8x) the
group's median; it is at least ``reasoning_min_excess`` (1,000) tokens above the group's 90th
percentile; and its reasoning *per visible output token* is an outlier, at least ``reasoning_z``
(4.5) robust standard deviations above the group's (log scale; median and median absolute
deviation, so the outliers do not set their own bar). The last condition separates a call that
thought far more for what it produced from one that simply had more to say. Calls of unknown task,
or whose reasoning is not reported separately, are not judged.

Waste: the reasoning above the group's 90th percentile, at the rate the call paid per reasoning
token; the upper estimate counts the reasoning above the median.

Evidence kept: the group's median and 90th percentile and its size.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS
from tokenomy.schema import WasteEffect, WasteRole

_MAD_SCALE: Final = 1.4826
"""Scales a median absolute deviation to a standard deviation (for normally distributed values)."""


def reasoning_sql(ctx: Context) -> str:
    """Calls whose reasoning is far out in their peer group's tail, with the group's statistics."""
    o = ctx.options
    q = ctx.dialect.quantile
    return f"""
        , r AS (
            SELECT *, coalesce(intent, feature, agent) AS task, n_tools > 0 AS tool_step,
                   ln(reasoning / greatest(coalesce(output_visible, 0), 1)) AS per_output
            FROM audited
            WHERE status = 'ok' AND reasoning > 0 AND coalesce(intent, feature, agent) IS NOT NULL)
        , centre AS (
            SELECT task, model, tool_step, {q("reasoning", 0.5)} AS median, {q("reasoning", 0.9)} AS p90,
                   {q("per_output", 0.5)} AS centre, count(*) AS calls
            FROM r GROUP BY ALL HAVING count(*) >= {int(o.reasoning_min_calls)})
        , spread AS (
            SELECT task, model, tool_step, {q("abs(r.per_output - c.centre)", 0.5)} AS mad
            FROM r JOIN centre c USING (task, model, tool_step) GROUP BY ALL)
        SELECT r.id, r.session, r.started_at, {ROUTE_COLUMNS}, r.reasoning, r.cost_reasoning, r.output_total,
               r.cost_out, r.tool_step, c.median, c.p90, c.calls AS peers,
               (r.per_output - c.centre) / ({_MAD_SCALE} * s.mad) AS z
        FROM r JOIN centre c USING (task, model, tool_step) JOIN spread s USING (task, model, tool_step)
        WHERE s.mad > 0 AND r.reasoning >= {float(o.reasoning_ratio)} * c.median
          AND r.reasoning - c.p90 >= {int(o.reasoning_min_excess)}
          AND (r.per_output - c.centre) / ({_MAD_SCALE} * s.mad) >= {float(o.reasoning_z)}
        ORDER BY r.session, r.started_at NULLS FIRST, r.step NULLS FIRST, r.id
    """


class OverPlanning:
    """Over-planning (see the module docstring)."""

    category: Final = "over_planning"
    version: Final = 1
    title: Final = "Over-planning (excess reasoning)"
    fix: Final = (
        "Cap reasoning for this route (reasoning effort low or medium, or a thinking budget near the "
        "route's 90th percentile), and give the model the plan or constraints it keeps re-deriving."
    )
    fix_share: Final = (Decimal(1), Decimal(1))
    assumption: Final = (
        "a reasoning cap at the peer group's 90th percentile (low) or median (high), with answers "
        "of the same quality"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find calls whose reasoning is far beyond their peers'."""
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in ctx.rows(reasoning_sql(ctx)):
            by_session.setdefault(row["session"], []).append(row)
        evidence = {
            "robust_z": ctx.options.reasoning_z,
            "ratio_to_median": ctx.options.reasoning_ratio,
            "min_tokens_above_p90": ctx.options.reasoning_min_excess,
            "min_peer_calls": ctx.options.reasoning_min_calls,
        }
        return Detection([self._hit(rows) for rows in by_session.values()], evidence)

    def _hit(self, rows: list[dict[str, Any]]) -> Hit:
        calls = []
        for row in rows:
            reasoning, p90, median = int(row["reasoning"]), float(row["p90"]), float(row["median"])
            rate = money.rate(row["cost_reasoning"], reasoning) or money.output_rate(row)
            excess, upper = int(reasoning - p90), int(reasoning - median)
            calls.append(
                HitCall(
                    row["id"],
                    WasteRole.PARTIAL,
                    excess,
                    money.dollars(excess, rate),
                    money.dollars(upper, rate),
                    WasteEffect.OUTPUT,
                    f"{reasoning:,} reasoning tokens; peers: median {median:,.0f}, p90 {p90:,.0f}",
                    row["started_at"],
                )
            )
        top = max(int(r["reasoning"]) for r in rows)
        note = (
            f"reasoning up to {top:,} tokens, {top / max(float(rows[0]['median']), 1):.0f}x the median of "
            f"{int(rows[0]['peers']):,} peer calls"
        )
        return Hit(self.category, rows[0]["session"], Route.of(rows[0]), tuple(calls), note)
