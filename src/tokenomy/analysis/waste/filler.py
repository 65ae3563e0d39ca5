"""Verbose filler: stock pleasantries opening and closing answers, billed as output.

Rule. A successful call whose ``filler_tokens`` was measured above zero (by the capture, the
simulator or an importer); or, when it was not measured but the completion text was captured, the
filler the text shows at its two ends (:mod:`.filler_text`). Waste: the filler tokens, at the rate
the call paid per visible output token.

This needs content or a measurement: calls with neither are not judged, and the detection's notes
say how many calls were covered. Prompt content is off by default, so on most stores this detector
covers only what the capture measured.

Evidence kept: the calls judged, measured and read from text, and the filler per answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.filler_text import filler_tokens
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS
from tokenomy.schema import WasteEffect, WasteRole

MEASURED_SQL: Final = f"""
    SELECT id, session, started_at, {ROUTE_COLUMNS}, filler_tokens AS filler, output_visible,
           cost_output_visible, output_total, cost_out
    FROM audited WHERE status = 'ok' AND filler_tokens > 0
    ORDER BY session, started_at NULLS FIRST, step NULLS FIRST, id
"""
COVERAGE_SQL: Final = """
    SELECT count(*) AS calls, count(filler_tokens) AS measured FROM audited WHERE status = 'ok'
"""
TEXT_SQL: Final = f"""
    SELECT a.id, a.session, a.started_at, {", ".join(f"a.{c.strip()}" for c in ROUTE_COLUMNS.split(","))},
           a.output_visible, a.cost_output_visible, a.output_total, a.cost_out, t.completion_text AS text
    FROM audited a JOIN calls t ON t.id = a.id
    WHERE a.status = 'ok' AND a.filler_tokens IS NULL AND t.completion_text IS NOT NULL
    ORDER BY a.session, a.started_at NULLS FIRST, a.step NULLS FIRST, a.id
"""


class Filler:
    """Verbose filler (see the module docstring)."""

    category: Final = "filler"
    version: Final = 1
    title: Final = "Verbose filler"
    fix: Final = (
        "Tell the model to answer directly: no preamble, no restating the question, no closing "
        'offers of help (a line in the system prompt such as "Start with the answer; no greetings '
        'or sign-offs."), and strip what slips through before showing it.'
    )
    fix_share: Final = (Decimal("0.7"), Decimal(1))
    assumption: Final = "a no-preamble instruction removes 70% to all of the filler"

    def detect(self, ctx: Context) -> Detection:
        """Find answers with measured or visible filler."""
        coverage = ctx.rows(COVERAGE_SQL)[0]
        rows = ctx.rows(MEASURED_SQL)
        texts = ctx.rows(TEXT_SQL)
        for row in texts:
            row["filler"] = filler_tokens(row["text"] or "", row["model"])
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in (*rows, *(r for r in texts if r["filler"] > 0)):
            by_session.setdefault(row["session"], []).append(row)
        calls, judged = int(coverage["calls"]), int(coverage["measured"]) + len(texts)
        notes = []
        if judged < calls:
            notes.append(
                f"filler judged on {judged:,} of {calls:,} successful calls (measured filler_tokens or "
                "captured completion text); the rest carry neither"
            )
        evidence = {"calls": calls, "measured": int(coverage["measured"]), "read_from_text": len(texts)}
        return Detection([self._hit(r) for r in by_session.values()], evidence, notes)

    def _hit(self, rows: list[dict[str, Any]]) -> Hit:
        calls = []
        for row in rows:
            per_token = money.rate(row["cost_output_visible"], row["output_visible"]) or money.output_rate(
                row
            )
            tokens = int(row["filler"])
            calls.append(
                HitCall(
                    row["id"],
                    WasteRole.PARTIAL,
                    tokens,
                    money.dollars(tokens, per_token),
                    effect=WasteEffect.OUTPUT,
                    note=f"{tokens} tokens of opening and closing pleasantries",
                    started_at=row["started_at"],
                )
            )
        total = sum(c.tokens for c in calls)
        note = f"{len(calls)} answer(s) open and close with filler ({total:,} tokens)"
        return Hit(self.category, rows[0]["session"], Route.of(rows[0]), tuple(calls), note)
