"""Retry and correction loops: one step asked again and again, each earlier answer thrown away.

Rule. Within one agent run, consecutive calls whose prompts say the previous step was asked again
(:mod:`.relations`): the identical prompt re-sent (``resend``), or the previous prompt re-sent with
a short new turn and without the previous answer (``dropped``); further re-asks of the same step
with the same history (``again``) extend the chain. Every attempt but the last was superseded; its
tokens (input and output, as billed) are the waste, and its dollars its billed cost.

A chain is reported only when the record shows that an earlier answer was *rejected*, which is
what makes it a loop rather than the same request made more than once:

* a correction: the prompt re-sent with a new note and without the answer (``dropped``);
* a failed attempt that billed tokens (a stream cut after output, a timeout after the answer
  started), followed by the identical request;
* a complete answer followed by the identical request, sent after that answer came back, *and*
  the run carried on after the last attempt (a later call of the same run): a step of a working
  run was done again.

Identical requests with none of these are *independent repeats*, not a loop: a test or a cache
warm-up that sends a request twice on purpose, several answers sampled for one prompt (sent
side by side), a batch that happens to contain the same item, a run that is nothing but the
same request. Nothing in their record says an answer was thrown away. They are counted in the
evidence (``independent_repeats``), never reported.

Not waste, and never reported either:

* a retry after a provider error (429, 5xx, a timeout) that billed nothing: backing off and
  retrying is what a client should do; a chain whose superseded attempts billed no tokens is
  dropped (an error that did bill tokens, such as a stream cut after output, counts);
* a re-run after a truncated answer (``finish_reason`` at the limit): that is a truncation re-run
  (:mod:`.truncation_rerun`), reported there so the same call is not counted twice;
* a follow-up that carries the previous answer: that is a conversation going on.

Evidence kept: the attempts in order, how each relates to the one before it, and their tokens;
per audit, the links seen by kind and the independent repeats left out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.chains import Attempt, Chain, Row, chains
from tokenomy.analysis.waste.relations import PAIRS
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_ORDER, TRUNCATED
from tokenomy.schema import WasteEffect, WasteRole

_PREV: Final = ", ".join(
    f"prev_{c}"
    for c in (
        "id",
        "status",
        "http_status",
        "input_total",
        "output_total",
        "cost_total",
        "finish_reason",
        "max_output_tokens",
        "started_at",
        "ended_at",
    )
)
LINKS_SQL: Final = f"""{PAIRS}
    SELECT id, session, run, link, status, http_status, input_total, output_total, cost_total, finish_reason,
           max_output_tokens, started_at, ended_at, next_id, step, {ROUTE_COLUMNS}, {_PREV}
    FROM pairs WHERE link IS NOT NULL ORDER BY run, {RUN_ORDER}
"""
_WHY: Final = {
    "resend": "the identical prompt was sent again, without this answer in it",
    "dropped": "its answer was dropped and the prompt re-sent with a new note",
    "again": "the step was asked again over the same history",
}


def _after_truncation(row: Row) -> bool:
    return row["link"] == "resend" and row["prev_status"] == "ok" and row["prev_finish_reason"] in TRUNCATED


def _sent_after(before: Attempt, after: Attempt) -> bool:
    """``after`` went out once ``before`` had answered (True when either time is unknown)."""
    if before.ended_at is None or after.started_at is None:
        return True
    return bool(after.started_at >= before.ended_at)


def rejected(chain: Chain) -> bool:
    """Whether the chain shows an earlier answer was rejected (the module docstring's three cases)."""
    pairs = list(zip(chain.attempts, chain.attempts[1:], strict=False))
    if any(after.link == "dropped" for _, after in pairs):
        return True
    if any(before.status != "ok" and before.tokens > 0 for before, _ in pairs):
        return True
    carried_on = chain.row.get("next_id") is not None
    return carried_on and all(_sent_after(before, after) for before, after in pairs)


class RetryLoop:
    """Retry and correction loops (see the module docstring)."""

    category: Final = "retry_loop"
    version: Final = 1
    title: Final = "Retry and correction loops"
    fix: Final = (
        "Validate the answer and repair it in place (structured outputs or a JSON schema, a parser "
        "that tolerates small slips) instead of re-asking the whole step; when a re-ask is needed, "
        "keep the earlier answer and send only the correction, and cap the attempts."
    )
    fix_share: Final = (Decimal("0.5"), Decimal(1))
    assumption: Final = "a validation or structured-output fix removes half to all of the superseded attempts"

    def detect(self, ctx: Context) -> Detection:
        """Find chains of re-asked steps whose superseded attempts billed tokens."""
        rows = ctx.shared_rows(LINKS_SQL)
        found = chains(
            rows,
            starts=lambda r: r["link"] in ("resend", "dropped") and not _after_truncation(r),
            extends=lambda r: r["link"] == "again",
        )
        loops = [chain for chain in found if rejected(chain)]
        hits = [hit for chain in loops if (hit := self._hit(chain)) is not None]
        links = {k: sum(1 for r in rows if r["link"] == k) for k in _WHY}
        repeats = sum(1 for c in found if not rejected(c) and all(a.status == "ok" for a in c.superseded))
        evidence = {"links_seen": links, "independent_repeats": repeats}
        return Detection(hits=hits, evidence=evidence)

    def _hit(self, chain: Chain) -> Hit | None:
        superseded = chain.superseded
        if sum(a.tokens for a in superseded) == 0:
            return None  # retries after errors that billed nothing: not waste
        n = len(chain.attempts)
        calls = [self._superseded(a, i, n, chain.attempts[i + 1]) for i, a in enumerate(superseded)]
        last = chain.attempts[-1]
        calls.append(
            HitCall(last.id, WasteRole.CONTEXT, note=f"attempt {n} of {n}: kept", started_at=last.started_at)
        )
        tokens = sum(a.tokens for a in superseded)
        note = f"one step asked {n} times; {n - 1} earlier attempt(s) thrown away ({tokens:,} tokens)"
        return Hit(self.category, chain.row["session"], Route.of(chain.row), tuple(calls), note)

    @staticmethod
    def _superseded(attempt: Attempt, i: int, n: int, after: Attempt) -> HitCall:
        state = "failed" if attempt.status != "ok" else "answered"
        why = _WHY.get(after.link or "", "the step was asked again")
        return HitCall(
            attempt.id,
            WasteRole.WASTED,
            tokens=attempt.tokens,
            cost=Decimal(0) if attempt.refused else attempt.cost_total,
            effect=WasteEffect.CALL,
            note=f"attempt {i + 1} of {n} {state}; {why}",
            started_at=attempt.started_at,
        )
