"""Over-planning: reasoning far beyond what the same kind of task needs on the same model.

Rule. Calls are compared with their peers: the same task (intent, else feature, else agent), the
same model and the same kind of step (a step that calls tools, or one that answers), over successful
calls with reasoning tokens; a peer group is trusted from ``reasoning_min_calls`` (30) calls. Each
call's reasoning *per visible output token* is scored against its group's as a robust z (log scale;
median and median absolute deviation, so the outliers do not set their own bar): this separates a
call that thought far more for what it produced from one that simply had more to say.

Two ways to over-plan, either one is reported:

* **one call** far out: its reasoning is at least ``reasoning_ratio`` (8x) the group's median, at
  least ``reasoning_min_excess`` (1,000) tokens above the group's 90th percentile, and its z is at
  least ``reasoning_z`` (4.5);
* **a whole run** that over-thinks (a reasoning effort or thinking budget set too high for the
  route applies to every step, while each step alone may stay under the single-call bar, because a
  thinking budget or the output limit caps it): an agent run of at least two judged calls whose
  z's together reach ``reasoning_z`` (their sum over the square root of their number, the combined
  evidence of independent calls, so one noisy call cannot carry a run), whose reasoning adds up to
  at least ``reasoning_run_ratio`` (3x) what its peers' medians add up to, and at least
  ``reasoning_min_excess`` tokens above their 90th percentiles. The run's calls above their
  group's 90th percentile are named.

Calls of unknown task, or whose reasoning is not reported separately, are not judged.

Waste: the reasoning above the group's 90th percentile, at the rate the call paid per reasoning
token; the upper estimate counts the reasoning above the median.

Evidence kept: the group's median and 90th percentile and its size (each call's reason); a run's
number of judged calls and combined z (the hit's note).
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
    """Calls that over-plan alone or as part of a run that does, with their group's statistics."""
    o = ctx.options
    q = ctx.dialect.quantile
    ratio, excess, z = float(o.reasoning_ratio), int(o.reasoning_min_excess), float(o.reasoning_z)
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
        , scored AS (
            SELECT r.*, c.median, c.p90, c.calls AS peers,
                   (r.per_output - c.centre) / ({_MAD_SCALE} * s.mad) AS z
            FROM r JOIN centre c USING (task, model, tool_step) JOIN spread s USING (task, model, tool_step)
            WHERE s.mad > 0)
        , runs AS (
            SELECT run, count(*) AS run_calls, sum(z) / sqrt(count(*)) AS run_z
            FROM scored GROUP BY run
            HAVING count(*) >= 2 AND sum(z) / sqrt(count(*)) >= {z}
               AND sum(reasoning) >= {float(o.reasoning_run_ratio)} * sum(median)
               AND sum(reasoning) - sum(p90) >= {excess})
        SELECT s.id, s.session, s.started_at, {ROUTE_COLUMNS}, s.reasoning, s.cost_reasoning,
               s.output_total, s.cost_out, s.tool_step, s.median, s.p90, s.peers, s.z,
               runs.run_calls, runs.run_z
        FROM scored s LEFT JOIN runs ON runs.run = s.run
        WHERE (s.reasoning >= {ratio} * s.median AND s.reasoning - s.p90 >= {excess} AND s.z >= {z})
           OR (runs.run IS NOT NULL AND s.reasoning > s.p90)
        ORDER BY s.session, s.started_at NULLS FIRST, s.step NULLS FIRST, s.id
    """


class OverPlanning:
    """Over-planning (see the module docstring)."""

    category: Final = "over_planning"
    version: Final = 2
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
            "run_ratio_to_medians": ctx.options.reasoning_run_ratio,
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
        runs = [r for r in rows if r["run_calls"] is not None]
        if runs:
            note += (
                f"; the whole run over-thinks ({int(runs[0]['run_calls'])} calls, combined z "
                f"{float(runs[0]['run_z']):.1f})"
            )
        return Hit(self.category, rows[0]["session"], Route.of(rows[0]), tuple(calls), note)
