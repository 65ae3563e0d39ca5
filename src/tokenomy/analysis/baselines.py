"""Per-intent baselines (tokens and cost per call over a baseline window) and regressions against them.

For each intent, over the baseline period and the current one: calls, input and output tokens per
call (``Σ tokens / calls``, over calls whose totals are known) and cost per call (over priced
calls). An intent *regressed* when its input or its output tokens per call rose by more than
``threshold`` (default +25%) from the baseline, judged only when both periods have at least
``min_calls`` calls (default 20) so that a handful of calls cannot raise an alarm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection, grouped_calls
from tokenomy.analysis.metric_rows import count_if, sum_int
from tokenomy.analysis.periods import Period
from tokenomy.analysis.sources import Sources, detect
from tokenomy.pricing.rates import MONEY_QUANTUM
from tokenomy.store.base import Store

DEFAULT_THRESHOLD: Final = 0.25
DEFAULT_MIN_CALLS: Final = 20
_KNOWN: Final = "c.input_total IS NOT NULL AND c.output_total IS NOT NULL"
_AGGREGATES: Final = {
    "calls": count_if(_KNOWN),
    "input": sum_int("c.input_total", _KNOWN),
    "output": sum_int("c.output_total", _KNOWN),
    "priced": count_if("c.cost_total IS NOT NULL"),
    "cost": "sum(c.cost_total)",
}


@dataclass(frozen=True, slots=True)
class IntentFigures:
    """An intent's per-call figures over one period (None when there is nothing to divide)."""

    calls: int
    input_per_call: float | None
    output_per_call: float | None
    cost_per_call: Decimal | None

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> IntentFigures:
        """Figures from an aggregated row (or none at all)."""
        if raw is None:
            return cls(0, None, None, None)
        calls, priced = int(raw["calls"] or 0), int(raw["priced"] or 0)
        return cls(
            calls=calls,
            input_per_call=raw["input"] / calls if calls else None,
            output_per_call=raw["output"] / calls if calls else None,
            cost_per_call=(raw["cost"] / priced).quantize(MONEY_QUANTUM) if priced else None,
        )


@dataclass(frozen=True, slots=True)
class IntentBaseline:
    """One intent: its baseline, its current figures, the changes and whether it regressed."""

    intent: str
    baseline: IntentFigures
    current: IntentFigures
    input_change: float | None
    """Relative change of input tokens per call (+0.4 = 40% more)."""
    output_change: float | None
    cost_change: float | None
    regression: bool
    reason: str
    """Why it is (or is not) flagged, in words."""


def _change(before: float | Decimal | None, after: float | Decimal | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return float(after) / float(before) - 1


def _verdict(
    base: IntentFigures,
    now: IntentFigures,
    changes: dict[str, float | None],
    threshold: float,
    min_calls: int,
) -> tuple[bool, str]:
    if base.calls < min_calls or now.calls < min_calls:
        return (
            False,
            f"too few calls to judge ({base.calls:,} then {now.calls:,}; need {min_calls:,} in each)",
        )
    risen = [
        f"{side} tokens per call {change:+.0%}"
        for side, change in changes.items()
        if change is not None and change > threshold
    ]
    if risen:
        return True, f"{' and '.join(risen)} (threshold {threshold:+.0%})"
    return False, f"within {threshold:+.0%} of the baseline"


def intent_baselines(
    store: Store,
    current: Period,
    baseline: Period,
    *,
    scope: Scope | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_calls: int = DEFAULT_MIN_CALLS,
    sources: Sources | None = None,
) -> tuple[IntentBaseline, ...]:
    """Every intent's baseline and current figures, regressions first, then by current calls.

    Args:
        store: The store to read.
        current: The period to judge.
        baseline: The baseline window.
        scope: Filters (``--where``); its period is replaced by each of the two periods.
        threshold: Relative rise of input or output tokens per call that flags a regression.
        min_calls: Calls needed in each period before an intent is judged.
        sources: The optional tables (detected when None).
    """
    src = sources or detect(store)
    scope = scope or Scope()
    figures: list[dict[str, Mapping[str, Any]]] = []
    for period in (baseline, current):
        selection = Selection(scope.between(period.since, period.until), Grouping(("intent",)))
        rows = grouped_calls(store, src, selection, _AGGREGATES).rows
        figures.append({raw["group"]["intent"]: raw for raw in rows})
    out = []
    for intent in sorted(set(figures[0]) | set(figures[1])):
        base, now = IntentFigures.of(figures[0].get(intent)), IntentFigures.of(figures[1].get(intent))
        changes = {
            "input": _change(base.input_per_call, now.input_per_call),
            "output": _change(base.output_per_call, now.output_per_call),
        }
        flagged, reason = _verdict(base, now, changes, threshold, min_calls)
        out.append(
            IntentBaseline(
                intent=intent,
                baseline=base,
                current=now,
                input_change=changes["input"],
                output_change=changes["output"],
                cost_change=_change(base.cost_per_call, now.cost_per_call),
                regression=flagged,
                reason=reason,
            )
        )
    return tuple(sorted(out, key=lambda b: (not b.regression, -b.current.calls, b.intent)))
