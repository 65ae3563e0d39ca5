"""The headline figures of a report (spend, calls, cost per session, cache-hit ratio, token
efficiency, unpriced calls), with their trend against a previous period.

The figures reuse the definitions of :mod:`tokenomy.analysis.metrics`. Spend, calls and unpriced
calls are the attribution table's total; one more query, ungrouped (much cheaper than adding
aggregates to the grouped scan), gives the distinct sessions and their cost and the sums behind the
cache-hit ratio and token efficiency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from tokenomy.analysis.attribution import AttributionTable, attribute
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection, grouped_spend
from tokenomy.analysis.metrics import CACHE_SUMS, EFFICIENCY_SUMS, KPI_COLUMNS, SESSION_SUMS, session_cost_row
from tokenomy.analysis.results import Number, share
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store

KPI_SUMS: Final = {**CACHE_SUMS, **EFFICIENCY_SUMS}
"""The sums behind the cache-hit ratio and token efficiency KPIs."""


@dataclass(frozen=True, slots=True)
class Kpi:
    """One headline figure, its value over the previous period, and which way is better."""

    name: str
    label: str
    unit: Literal["USD", "ratio", "count"]
    value: Number | None
    previous: Number | None = None
    reason: str | None = None
    """Why ``value`` is None."""
    better: Literal["up", "down", "neither"] = "down"

    @property
    def change(self) -> float | None:
        """Relative change from the previous period (+0.12 = 12% more), or None when unknown."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return float(self.value) / float(self.previous) - 1

    @property
    def improved(self) -> bool | None:
        """True when the change goes the better way; None when there is no change to judge."""
        change = self.change
        if change is None or change == 0 or self.better == "neither":
            return None
        return (change > 0) == (self.better == "up")


@dataclass(frozen=True, slots=True)
class Figures:
    """What the KPIs are computed from, for one period."""

    spend: Decimal | None
    calls: int
    unpriced: int
    session_cost: Number | None
    session_reason: str | None
    sums: Mapping[str, Any]


def figures(
    store: Store,
    scope: Scope,
    *,
    table: AttributionTable | None = None,
    sources: Sources | None = None,
) -> Figures:
    """The KPI inputs over ``scope``: spend, calls and unpriced from ``table`` (computed when None),
    the rest from one more query over the calls and charges (sessions, cache and efficiency sums).
    """
    src = sources or detect(store)
    table = table or attribute(store, Selection(scope), sources=src)
    aggregates = {**{f"session_{k}": v for k, v in SESSION_SUMS.items()}, **KPI_SUMS}
    whole = grouped_spend(store, src, Selection(scope), aggregates, KPI_COLUMNS).total
    sessions = session_cost_row({k.removeprefix("session_"): v for k, v in whole.items()})
    total = table.total
    return Figures(total.cost, total.calls, total.unpriced, sessions.value, sessions.reason, whole)


def kpis(current: Figures, previous: Figures | None = None) -> tuple[Kpi, ...]:
    """The six headline KPIs of ``current``, with ``previous`` values for their trend."""
    before = previous

    def pick(f: Figures | None, name: str) -> Any:
        if f is None:
            return None
        return _values(f)[name][0]

    out = []
    for name, label, unit, better in _KPIS:
        value, reason = _values(current)[name]
        out.append(Kpi(name, label, unit, value, pick(before, name), reason, better))
    return tuple(out)


Better = Literal["up", "down", "neither"]
_KPIS: Final[tuple[tuple[str, str, Literal["USD", "ratio", "count"], Better], ...]] = (
    ("spend", "Spend", "USD", "down"),
    ("calls", "Calls", "count", "neither"),
    ("cost_per_session", "Cost per session", "USD", "down"),
    ("cache_hit_ratio", "Cache-hit ratio", "ratio", "up"),
    ("token_efficiency", "Token efficiency", "ratio", "up"),
    ("unpriced", "Unpriced calls", "count", "down"),
)


def _values(f: Figures) -> dict[str, tuple[Number | None, str | None]]:
    s = f.sums
    hit = share(s.get("cache_read_tokens"), s.get("cache_input_tokens")) if s.get("cache_known") else None
    efficiency = share(s.get("useful") or 0, s.get("processed")) if s.get("efficiency_known") else None
    return {
        "spend": (f.spend, None if f.spend is not None else "no call is priced"),
        "calls": (f.calls, None),
        "cost_per_session": (f.session_cost, f.session_reason),
        "cache_hit_ratio": (hit, None if hit is not None else "no call reports cache reads"),
        "token_efficiency": (efficiency, None if efficiency is not None else "no call reports its tokens"),
        "unpriced": (f.unpriced, None),
    }
