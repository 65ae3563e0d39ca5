"""Truncation re-runs: an answer cut at its output limit, then the same prompt sent again.

Rule. Within one agent run, a successful call whose ``finish_reason`` says the output hit its limit
(:data:`~tokenomy.analysis.waste.sql.TRUNCATED`: ``length``, ``max_tokens``, ``MAX_TOKENS``,
``max_output_tokens``) is followed by a call with the same prompt (``resend`` in
:mod:`.relations`: every prefix hash and every part of the prompt shape equal). The cut call was
thrown away: all its tokens are the waste. A re-run that is cut again is wasted too (a chain).
A *continuation* (the cut answer sent back with "continue") is not a re-run: its prompt differs.

Evidence kept: the limit of each attempt (``max_output_tokens``) and the output it produced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.chains import Chain, Row, chains
from tokenomy.analysis.waste.retry_loop import LINKS_SQL
from tokenomy.analysis.waste.sql import TRUNCATED
from tokenomy.schema import WasteEffect, WasteRole


def _rerun(row: Row) -> bool:
    return row["link"] == "resend" and row["prev_status"] == "ok" and row["prev_finish_reason"] in TRUNCATED


class TruncationRerun:
    """Truncation re-runs (see the module docstring)."""

    category: Final = "truncation_rerun"
    version: Final = 1
    title: Final = "Truncation re-runs"
    fix: Final = (
        "Set max_output_tokens from the route's observed answer sizes (its 99th percentile plus "
        "headroom; for reasoning models leave room for the reasoning too), or continue a cut answer "
        "instead of re-running the whole prompt."
    )
    fix_share: Final = (Decimal("0.8"), Decimal(1))
    assumption: Final = "a limit sized to the route's answers avoids 80% to all of the cut-and-re-run calls"

    def detect(self, ctx: Context) -> Detection:
        """Find cut calls that were re-run with the same prompt."""
        found = chains(ctx.shared_rows(LINKS_SQL), starts=_rerun, extends=lambda r: False)
        return Detection(hits=[self._hit(c) for c in found])

    def _hit(self, chain: Chain) -> Hit:
        calls = []
        for attempt in chain.superseded:
            limit = attempt.max_output_tokens
            note = f"cut at its output limit ({limit:,} tokens)" if limit else "cut at its output limit"
            calls.append(
                HitCall(
                    attempt.id,
                    WasteRole.WASTED,
                    tokens=attempt.tokens,
                    cost=attempt.cost_total,
                    effect=WasteEffect.CALL,
                    note=note + "; the same prompt was sent again",
                    started_at=attempt.started_at,
                )
            )
        last = chain.attempts[-1]
        limits = [a.max_output_tokens for a in chain.attempts]
        calls.append(
            HitCall(
                last.id,
                WasteRole.CONTEXT,
                note=f"re-run (limit {_limit(last.max_output_tokens)})",
                started_at=None,
            )
        )
        note = (
            f"answer cut at its limit and the prompt re-run (limits: {', '.join(_limit(v) for v in limits)})"
        )
        return Hit(self.category, chain.row["session"], Route.of(chain.row), tuple(calls), note)


def _limit(value: int | None) -> str:
    """An output limit for people: ``1,024``, or "not recorded" when the record has none."""
    return "not recorded" if value is None else f"{value:,}"
