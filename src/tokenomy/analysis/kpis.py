"""The headline figures of a report (spend, calls, cost per session, cache-hit ratio, token
efficiency, unpriced calls), with their trend against a previous period.

The figures reuse the definitions of :mod:`tokenomy.analysis.metrics`. Spend, calls and unpriced
calls are the attribution table's total. Three more ungrouped queries (cheaper than adding
aggregates to the grouped scan, and than one pass over calls and charges together) give the rest:
over the calls, the sums behind the cache-hit ratio and token efficiency and the session calls'
cost; over the charges, the session charges' cost; over the session ids of both, the distinct
sessions (:data:`~tokenomy.analysis.metrics.SESSION_SUMS` split into its additive parts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from tokenomy.analysis.attribution import AttributionTable, attribute
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection, add, grouped_calls, grouped_charges, grouped_spend
from tokenomy.analysis.metrics import CACHE_SUMS, EFFICIENCY_SUMS, session_cost_row
from tokenomy.analysis.results import Number, share
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store

KPI_SUMS: Final = {**CACHE_SUMS, **EFFICIENCY_SUMS}
"""The sums behind the cache-hit ratio and token efficiency KPIs."""
_IN_SESSION: Final = "c._session IS NOT NULL"
_CALL_SUMS: Final = {
    **KPI_SUMS,
    "calls": f"count(*) FILTER (WHERE {_IN_SESSION})",
    "known": f"count(*) FILTER (WHERE {_IN_SESSION} AND c.cost_total IS NOT NULL)",
    "cost": f"sum(c.cost_total) FILTER (WHERE {_IN_SESSION})",
}
_CHARGE_SUMS: Final = {
    "charges": "count(*) FILTER (WHERE c.session_id IS NOT NULL)",
    "cost": "sum(c.amount) FILTER (WHERE c.session_id IS NOT NULL)",
}


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
    selection = Selection(scope)
    table = table or attribute(store, selection, sources=src)
    calls = grouped_calls(store, src, selection, _CALL_SUMS).total
    charges = grouped_charges(store, selection, _CHARGE_SUMS).total
    units = grouped_spend(store, src, selection, {"units": "count(DISTINCT c.session_id)"}).total
    raw = {
        **calls,
        "charges": charges["charges"],
        "cost": add(calls["cost"], charges["cost"]),
        "units": units["units"],
    }
    sessions = session_cost_row(raw)
    total = table.total
    return Figures(total.cost, total.calls, total.unpriced, sessions.value, sessions.reason, calls)


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
