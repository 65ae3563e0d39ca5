"""Unpruned history growth: a conversation carried past the size at which its route compacts.

Rule. The route is the agent (else the feature). Its runs show where it compacts: a call whose
``history_tokens`` falls below ``history_drop`` (70%) of the previous call's, from at least 1,000
tokens, is a compaction. Two sizes bound the route's compaction threshold: the smallest history a
compacted call *would* have carried, the previous history plus its newest turn and answer (the
threshold is below that, or it would not have compacted); and the largest history seen just before
a compaction, among those below that bound (the threshold is at least that). The bound leaves out
a drop after a re-asked step, whose history was the whole earlier prompt. Both are trusted from
``history_min_compactions`` (5) compactions. A successful call whose history is above both bounds,
by ``history_margin`` (1%, for the few tokens by which a carried answer may differ from the answer
billed), carries more than its route lets any run carry: it was not compacted when its peers would
have been. A run that compacts is never
flagged for where it compacts. Re-asks of a step (:mod:`.relations`: ``dropped``, ``again``) are
left out: their history is the earlier prompt, whose size the retry finding already counts. The
median history just after a compaction is what a compaction keeps.

A route that never compacts has no threshold and is not judged (an agent that needs a long
context is not wrong by itself); the context-window utilization metric shows overflow risk.

Waste: the history above the threshold, at the rate the call paid per input token; the upper
estimate counts the history above what a compaction keeps.

Evidence kept: the threshold, the kept size, and the number of compactions they come from.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.relations import reask
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_WINDOW, lagged
from tokenomy.schema import WasteEffect, WasteRole

_MIN_HISTORY: Final = 1_000
_OK_COLUMNS: Final = (
    "status",
    "history_tokens",
    "user_tokens",
    "output_total",
    "output_visible",
    "ph_first",
    "ph_before",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "n_tools",
)
_LAGGED: Final = ("id", "history_tokens", "user_tokens", "output_visible")
"""Only what a compaction needs is carried by the window over every run; the few calls past a
threshold are joined to their previous call (``prev_id``) to test for a re-ask, which is cheaper
than lagging every column a re-ask reads over every call."""


def history_sql(ctx: Context) -> str:
    """Calls whose history is past their route's compaction threshold, with the threshold."""
    o = ctx.options
    median = ctx.dialect.quantile
    return f"""
        , ok AS (
            SELECT id, session, agent, step, started_at, {ROUTE_COLUMNS}, input_total, cost_in,
                   {", ".join(_OK_COLUMNS)}, coalesce(agent, feature) AS owner
            FROM audited
            WHERE status = 'ok' AND history_tokens IS NOT NULL AND coalesce(agent, feature) IS NOT NULL)
        , h AS MATERIALIZED (
            SELECT id, session, step, started_at, owner, history_tokens, {lagged(*_LAGGED)}
            FROM ok WINDOW w AS ({RUN_WINDOW}))
        , drops AS (
            SELECT owner, prev_history_tokens AS before, history_tokens AS after,
                   prev_history_tokens + coalesce(prev_user_tokens, 0) + coalesce(prev_output_visible, 0)
                     AS would_be
            FROM h
            WHERE prev_history_tokens >= {_MIN_HISTORY}
              AND history_tokens < {float(o.history_drop)} * prev_history_tokens)
        , bounds AS (
            SELECT owner, min(would_be) AS triggers_at, {median("after", 0.5)} AS kept,
                   count(*) AS compactions
            FROM drops GROUP BY owner HAVING count(*) >= {int(o.history_min_compactions)})
        , limits AS (
            SELECT b.owner, max(d.before) AS prune_at, any_value(b.triggers_at) AS triggers_at,
                   any_value(b.kept) AS kept, any_value(b.compactions) AS compactions
            FROM bounds b JOIN drops d ON d.owner = b.owner AND d.before < b.triggers_at
            GROUP BY b.owner)
        , past AS (
            SELECT h.id, h.prev_id, l.prune_at, l.triggers_at, l.kept, l.compactions
            FROM h JOIN limits l USING (owner)
            WHERE h.history_tokens > {float(o.history_margin)} * greatest(l.prune_at, l.triggers_at))
        SELECT m.id, m.session, m.started_at, {", ".join(f"m.{c}" for c in ROUTE_COLUMNS.split(", "))},
               m.history_tokens, m.input_total, m.cost_in, x.prune_at, x.triggers_at, x.kept, x.compactions
        FROM past x JOIN ok m ON m.id = x.id LEFT JOIN ok p ON p.id = x.prev_id
        WHERE NOT {reask("m.", "p.")}
        ORDER BY m.session, m.started_at NULLS FIRST, m.step NULLS FIRST, m.id
    """


class UnprunedHistory:
    """Unpruned history growth (see the module docstring)."""

    category: Final = "unpruned_history"
    version: Final = 1
    title: Final = "Unpruned history growth"
    fix: Final = (
        "Compact the conversation when it passes the route's threshold, as its other sessions do: "
        "summarise old turns, drop stale tool results, keep the last few turns verbatim."
    )
    fix_share: Final = (Decimal(1), Decimal(1))
    assumption: Final = (
        "compaction at the route's own threshold (low: history above the threshold; high: history "
        "above what a compaction keeps)"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find calls carrying history past their route's compaction threshold."""
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in ctx.rows(history_sql(ctx)):
            by_session.setdefault(row["session"], []).append(row)
        evidence = {
            "drop_share": ctx.options.history_drop,
            "min_compactions": ctx.options.history_min_compactions,
            "margin": ctx.options.history_margin,
        }
        return Detection([self._hit(rows) for rows in by_session.values()], evidence)

    def _hit(self, rows: list[dict[str, Any]]) -> Hit:
        prune_at, kept = int(rows[0]["prune_at"]), int(rows[0]["kept"])
        calls = []
        for row in rows:
            history = int(row["history_tokens"])
            rate = money.input_rate(row)
            calls.append(
                HitCall(
                    row["id"],
                    WasteRole.PARTIAL,
                    history - prune_at,
                    money.dollars(history - prune_at, rate),
                    money.dollars(max(history - kept, 0), rate),
                    WasteEffect.INPUT,
                    f"history {history:,} tokens; the route compacts at {prune_at:,}",
                    row["started_at"],
                )
            )
        peak = max(int(r["history_tokens"]) for r in rows)
        note = (
            f"history grew to {peak:,} tokens; this route compacts at {prune_at:,} down to about {kept:,} "
            f"({int(rows[0]['compactions']):,} compactions seen)"
        )
        return Hit(self.category, rows[0]["session"], Route.of(rows[0]), tuple(calls), note)
