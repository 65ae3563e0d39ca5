"""The savings plan: the top fixes by monthly dollars, adding up without counting the same money twice.

Findings overlap: a superseded retry can also carry a bloated prompt; tokens a history compaction
removes are also tokens a cache would have discounted; a call moved to a smaller model can also be
batched. Each finding's own dollars (``wasted_cost``) are right on their own, but their sum is not
what fixing all of them saves. The plan applies the fixes call by call, in an order where each fix
works on what the earlier ones left:

1. whole calls go away (retries, truncated attempts, extra steps: effect ``call``);
2. tokens go away: system prompt, other input, output (``system``, ``input``, ``output``), each
   capped by what is left of that side of the call;
3. the stable prefix is cached (``prefix``), less the system tokens step 2 already removed;
4. the call is repriced (``price``: a smaller model, batch pricing), as a share of what is left;
5. money outside the call's own tokens (``extra``: a paid tool's charge, a repeated result) counts
   once.

Within a step, bigger findings go first. Each finding's *marginal* dollars are what it saves in
that order; the plan projects each to a month with its finding's range (the finding's low and
high monthly figures scaled by marginal / own dollars) and ranks fixes by the high end of it (by
marginal dollars when there is no monthly figure). The totals are the sum of marginal dollars,
and the plan says how much overlap it removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

from tokenomy.analysis.waste.money import ZERO, quantize
from tokenomy.analysis.waste.sql import cost_sum
from tokenomy.schema import INPUT_BUCKETS, OUTPUT_BUCKETS, Finding, FindingCall, WasteEffect, WasteRole
from tokenomy.store.base import Store

ORDER: Final = (
    WasteEffect.CALL,
    WasteEffect.SYSTEM,
    WasteEffect.INPUT,
    WasteEffect.OUTPUT,
    WasteEffect.PREFIX,
    WasteEffect.PRICE,
    WasteEffect.EXTRA,
)
"""The order fixes are applied in (see the module docstring)."""

CallCosts = Mapping[str, tuple[Decimal, Decimal]]
"""Per call id: (input-side cost, output-side cost), as billed."""


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One fix of the plan: its finding, and what it saves after the fixes before it."""

    finding: Finding
    saving: Decimal
    """Marginal dollars over the audited period."""
    monthly_low: Decimal | None
    monthly_high: Decimal | None

    @property
    def overlap(self) -> Decimal:
        """The finding's own dollars that an earlier fix already saved."""
        return max((self.finding.wasted_cost or ZERO) - self.saving, ZERO)


@dataclass(frozen=True, slots=True)
class SavingsPlan:
    """The top fixes by monthly dollars, and totals that count every dollar once."""

    entries: tuple[PlanEntry, ...]
    total: Decimal
    """Marginal dollars of every fix over the audited period (not only the top ones)."""
    monthly_low: Decimal | None
    monthly_high: Decimal | None
    standalone: Decimal
    """The sum of the findings' own dollars, which counts overlapping waste more than once."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    fixes: int = 0
    """How many fixes the totals cover: every priced finding's, of which ``entries`` lists the top."""

    @property
    def listed(self) -> Decimal:
        """The marginal dollars of the listed fixes alone (the total covers every fix)."""
        return sum((e.saving for e in self.entries), ZERO)

    @property
    def overlap(self) -> Decimal:
        """Dollars the plan did not count twice."""
        return max(self.standalone - self.total, ZERO)


def call_costs(store: Store, call_ids: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """The input-side and output-side cost of each priced call among ``call_ids``."""
    wanted = pa.array(sorted(set(call_ids)), type=pa.string())
    if len(wanted) == 0:
        return {}
    sql = (
        f"SELECT c.id, {cost_sum(INPUT_BUCKETS)} AS cost_in, {cost_sum(OUTPUT_BUCKETS)} AS cost_out "
        "FROM calls c WHERE c.cost_total IS NOT NULL"
    )
    table = store.query(sql)
    # The ids are matched in Arrow: passing tens of thousands of them as a SQL parameter is slower.
    rows = table.filter(pc.is_in(table.column("id"), value_set=wanted)).to_pylist()
    return {r["id"]: (Decimal(r["cost_in"]), Decimal(r["cost_out"])) for r in rows}


def build_plan(findings: Sequence[Finding], costs: CallCosts, *, top: int = 10) -> SavingsPlan:
    """The savings plan of an audit's findings (see the module docstring).

    Args:
        findings: The audit's findings (with their calls).
        costs: Each involved call's input-side and output-side cost (:func:`call_costs`).
        top: How many fixes to list.
    """
    ledger = _Ledger(costs)
    marginal: dict[str, Decimal] = {}
    for effect in ORDER:
        steps = [
            (f, [c for c in f.calls if c.effect is effect and c.role is not WasteRole.CONTEXT])
            for f in findings
        ]
        steps = sorted((s for s in steps if s[1]), key=lambda s: -(s[0].wasted_cost or ZERO))
        for finding, calls in steps:
            saved = sum((ledger.apply(c) for c in calls), ZERO)
            marginal[finding.id] = marginal.get(finding.id, ZERO) + saved
    entries = [_entry(f, marginal.get(f.id, ZERO)) for f in findings if f.wasted_cost is not None]
    entries.sort(key=lambda e: (-(e.monthly_high or e.saving), -e.saving, e.finding.id))
    total = quantize(sum(marginal.values(), ZERO))
    lows = [e.monthly_low for e in entries]
    highs = [e.monthly_high for e in entries]
    notes = []
    if any(v is None for v in highs):
        notes.append("monthly figures need at least a day of audited calls")
    return SavingsPlan(
        entries=tuple(entries[:top]),
        total=total,
        monthly_low=None if not lows or None in lows else quantize(sum((v or ZERO for v in lows), ZERO)),
        monthly_high=None if not highs or None in highs else quantize(sum((v or ZERO for v in highs), ZERO)),
        standalone=quantize(sum((f.wasted_cost or ZERO for f in findings), ZERO)),
        notes=tuple(notes),
        fixes=len(entries),
    )


def _entry(finding: Finding, saving: Decimal) -> PlanEntry:
    own = finding.wasted_cost or ZERO
    scale = ZERO if own == 0 else min(saving / own, Decimal(1))
    low = None if finding.monthly_savings_low is None else quantize(finding.monthly_savings_low * scale)
    high = None if finding.monthly_savings_high is None else quantize(finding.monthly_savings_high * scale)
    return PlanEntry(finding, quantize(saving), low, high)


class _Ledger:
    """What is left of each call's money as fixes are applied."""

    def __init__(self, costs: CallCosts) -> None:
        self._costs = costs
        self._left: dict[str, list[Decimal]] = {}
        self._trimmed: dict[str, int] = {}

    def _state(self, call_id: str) -> list[Decimal] | None:
        if call_id not in self._left:
            cost = self._costs.get(call_id)
            if cost is None:
                return None
            self._left[call_id] = [cost[0], cost[1]]
        return self._left[call_id]

    def apply(self, call: FindingCall) -> Decimal:
        """Apply one call's share of a fix; returns the dollars it saves now."""
        if call.cost is None or call.cost <= 0:
            return ZERO
        if call.effect is WasteEffect.EXTRA:
            return call.cost
        left = self._state(call.call_id)
        if left is None:
            return ZERO
        return self._apply(call, left)

    def _apply(self, call: FindingCall, left: list[Decimal]) -> Decimal:
        cost = call.cost or ZERO
        effect = call.effect
        if effect is WasteEffect.CALL:
            saved = left[0] + left[1]
            left[0] = left[1] = ZERO
            return saved
        if effect is WasteEffect.OUTPUT:
            saved = min(cost, left[1])
            left[1] -= saved
            return saved
        if effect is WasteEffect.PRICE:
            whole = sum(self._costs[call.call_id], ZERO)
            share = min(cost / whole, Decimal(1)) if whole > 0 else ZERO
            saved = share * (left[0] + left[1])
            left[0], left[1] = left[0] * (1 - share), left[1] * (1 - share)
            return saved
        if effect is WasteEffect.PREFIX:
            trimmed = self._trimmed.get(call.call_id, 0)
            cost = (
                cost * Decimal(max(call.tokens - trimmed, 0)) / Decimal(call.tokens) if call.tokens else ZERO
            )
        elif effect is WasteEffect.SYSTEM:
            self._trimmed[call.call_id] = self._trimmed.get(call.call_id, 0) + call.tokens
        saved = min(cost, left[0])
        left[0] -= saved
        return saved
