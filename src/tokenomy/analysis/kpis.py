"""The headline figures of a report (spend, calls, cost per session, cache-hit ratio, token
efficiency, unpriced calls), with their trend against a previous period.

The figures reuse the definitions of :mod:`tokenomy.analysis.metrics`. Spend, calls and unpriced
calls are the attribution table's total. The sums behind the cache-hit ratio, token efficiency
and the session calls' cost come from the same scan as the table: :func:`attribute` also splits
the calls by :data:`KPI_FACETS` (whether each metric's inputs are known, whether the call is in
a session), and the sums are added up over those splits. Two small queries give the rest: over
the charges, the session charges' cost; and the distinct sessions of calls and charges
(:data:`~tokenomy.analysis.metrics.SESSION_SUMS` split into its additive parts), counted from the
store's ``session_days`` rollup when the scope allows it (:func:`session_units`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any, Final, Literal

from tokenomy.analysis.attribution import AttributionTable, attribute
from tokenomy.analysis.cost_split import ROW_SUMS, SPLIT_FLAGS, SPLIT_SUMS
from tokenomy.analysis.dimensions import Scope, as_utc
from tokenomy.analysis.formats import money
from tokenomy.analysis.grouped import Facets, Selection, add, grouped_charges, grouped_spend, spend_sql
from tokenomy.analysis.metric_rows import sum_int
from tokenomy.analysis.metrics import (
    CACHE_KNOWN,
    EFFICIENCY_KNOWN,
    USEFUL_OUTPUT,
    USEFUL_WHERE,
    session_cost_row,
)
from tokenomy.analysis.results import Number, share
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store
from tokenomy.store.session_days import SESSION_DAYS, session_units_sql

KPI_FACETS: Final = Facets(
    flags={
        "cache": CACHE_KNOWN,
        "efficiency": EFFICIENCY_KNOWN,
        "useful": USEFUL_WHERE,
        "session": "c._session IS NOT NULL",
    },
    sums={"useful_output": sum_int(USEFUL_OUTPUT)},
)
"""How :func:`attribute` splits the calls so that the KPIs need no pass of their own: the sums of
:data:`~tokenomy.analysis.metrics.CACHE_SUMS` and :data:`~tokenomy.analysis.metrics.EFFICIENCY_SUMS`
are the table's own sums over the calls where each flag holds."""
SPLIT_FACETS: Final = Facets({**KPI_FACETS.flags, **SPLIT_FLAGS}, {**KPI_FACETS.sums, **SPLIT_SUMS})
"""The KPI facets, the calls also split by whether their cost is split by part and whether their
side totals are known, with the cost parts' sums (:mod:`tokenomy.analysis.cost_split`):
for the reports that show where the LLM cost goes. Not in the KPI facets themselves: over 10M calls
they cost the scan about 0.5 s (docs/reports.md)."""
ROW_SPLIT_FACETS: Final = dataclasses.replace(SPLIT_FACETS, per_row=ROW_SUMS)
""":data:`SPLIT_FACETS` with each row keeping what its own cost by part needs (``--by ... --parts``)."""
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
    note: str | None = None
    """A caveat on a known value (token efficiency: ``waste not assessed``, ``waste assessed in part``)."""

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
    charges: int = 0
    """Charges in the period (spend with no priced call is still known when there are some)."""
    waste: str | None = None
    """The caveat on waste in the period: no stored audit at all, or none that covers it."""
    sessions_left_out: str | None = None
    """The caveat on the cost per session: the sessions with no priced call or charge, left out."""


def figures(
    store: Store,
    scope: Scope,
    *,
    table: AttributionTable | None = None,
    sources: Sources | None = None,
) -> Figures:
    """The KPI inputs over ``scope``: spend, calls and unpriced from ``table``'s total, the call
    sums from its facets (``table`` computed with ``facets=KPI_FACETS`` or a split's saves a
    pass over the calls; without it, or when None, an ungrouped one is computed), and two small
    queries for the charges and the distinct sessions.
    """
    src = sources or detect(store)
    selection = Selection(scope)
    split = table
    if split is None or split.facet_spec not in (KPI_FACETS, SPLIT_FACETS, ROW_SPLIT_FACETS):
        split = attribute(store, selection, sources=src, facets=KPI_FACETS, untimed_note=False)
    table = table or split
    calls = call_sums(split.facets)
    charges = grouped_charges(store, selection, _CHARGE_SUMS).total
    units = session_units(store, src, scope)
    # the sessions whose cost is known (a priced call or a charge): all of them when every call is priced
    priced = units if calls["known"] == calls["calls"] else units - unpriced_session_units(store, src, scope)
    raw = {
        **calls,
        "charges": charges["charges"],
        "cost": add(calls["cost"], charges["cost"]),
        "sessions": units,
        "units": priced,
        "group": {},
        "bucket": None,
    }
    sessions = session_cost_row(raw)
    total = table.total
    caveat = src.waste_caveat(scope)
    notes = [f"{units - priced:,} of {units:,} sessions unpriced, left out"] if priced < units else []
    # a call or a charge with no session is no session's cost: said, since the spend tile holds it
    loose_calls, loose_charges = total.calls - calls["calls"], total.charges - int(charges["charges"] or 0)
    loose = [(loose_calls, "call(s)"), (loose_charges, "charge(s)")]
    named = " and ".join(f"{count:,} {what}" for count, what in loose if count > 0)
    if named:
        unpriced = total.unpriced - (calls["calls"] - calls["known"])  # of the calls with no session
        if unpriced >= loose_calls and not loose_charges:  # nothing of it is priced: unknown, never $0
            cost = "cost unknown"
        else:
            cost = money((total.cost or Decimal(0)) - (raw["cost"] or Decimal(0)))
            cost += f", {unpriced:,} unpriced call(s) not in it" if unpriced > 0 else ""
        notes.append(f"{named} with no session left out ({cost})")
    left_out = "; ".join(notes) or None
    return Figures(
        total.cost,
        total.calls,
        total.unpriced,
        sessions.value,
        sessions.reason,
        calls,
        total.charges,
        caveat,
        left_out,
    )


def session_units(store: Store, sources: Sources, scope: Scope) -> int:
    """The distinct sessions of the calls and charges in ``scope``.

    From the ``session_days`` rollup (store/session_days.py) when it gives the same number: the
    store has it, the scope is whole UTC days with no ``where`` filter, and every call's session
    is its own (none taken from its trace). Otherwise over the selected calls and charges.
    """
    if _rollup_counts(store, sources, scope):
        since, until = as_utc(scope.since), as_utc(scope.until)
        bounds = [(bound, op) for bound, op in ((since, ">="), (until, "<")) if bound is not None]
        condition = " AND ".join(f"day {op} ?" for _, op in bounds) or "TRUE"
        days = [bound.date() for bound, _ in bounds]
        rows = store.query(session_units_sql(condition), days + days).to_pylist()
    else:
        total = grouped_spend(
            store, sources, Selection(scope), {"units": "count(DISTINCT c.session_id)"}
        ).total
        rows = [total]
    return int(rows[0]["units"] or 0)


def unpriced_session_units(store: Store, sources: Sources, scope: Scope) -> int:
    """The distinct sessions in ``scope`` with no priced call and no charge: those of the unpriced
    calls (few) that no priced call or charge of the scope shares: a semi-join on that small set
    (0.15 s over 10M calls), not a distinct count over every call (0.35 s, which undid the saving of
    the ``session_days`` rollup)."""
    sql, params = spend_sql(store, sources, Selection(scope), {})
    query = f"""
        WITH s AS NOT MATERIALIZED ({sql}),
        u AS MATERIALIZED (SELECT DISTINCT session_id FROM s
                           WHERE kind = 'call' AND cost IS NULL AND session_id IS NOT NULL)
        SELECT (SELECT count(*) FROM u) - (
            SELECT count(DISTINCT x.session_id) FROM s x SEMI JOIN u ON x.session_id = u.session_id
            WHERE x.cost IS NOT NULL OR x.kind = 'charge') AS n"""
    return int(store.query(query, params).to_pylist()[0]["n"] or 0)


def _rollup_counts(store: Store, sources: Sources, scope: Scope) -> bool:
    def whole_day(bound: datetime | None) -> bool:
        utc = as_utc(bound)
        return utc is None or utc.time() == time(0)

    return (
        not scope.where
        and not sources.trace_sessions
        and whole_day(scope.since)
        and whole_day(scope.until)
        and bool(store.table_columns(SESSION_DAYS))
    )


def call_sums(facets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The cache-hit, token-efficiency and session-call sums over the calls, from :data:`KPI_FACETS`.

    Keys: those of :data:`~tokenomy.analysis.metrics.CACHE_SUMS` and
    :data:`~tokenomy.analysis.metrics.EFFICIENCY_SUMS` (same values), plus ``calls``, ``known``
    (priced) and ``cost`` of the calls in a session.
    """
    out: dict[str, Any] = dict.fromkeys(
        ("cache_read_tokens", "cache_input_tokens", "useful", "processed", "cost")
    ) | {"cache_known": 0, "efficiency_known": 0, "calls": 0, "known": 0}
    for f in facets:
        if f["cache"]:
            out["cache_known"] += f["calls"]
            out["cache_read_tokens"] = add(out["cache_read_tokens"], f["cache_read"])
            out["cache_input_tokens"] = add(out["cache_input_tokens"], f["input_total"])
        if f["efficiency"]:
            out["efficiency_known"] += f["calls"]
            out["processed"] = add(out["processed"], add(f["input_total"], f["output_total"]))
        if f["useful"]:
            out["useful"] = add(out["useful"], f["useful_output"])
        if f["session"]:
            out["calls"] += f["calls"]
            out["known"] += f["calls"] - f["unpriced"]
            out["cost"] = add(out["cost"], f["llm_cost"])
    return out


def kpis(current: Figures, previous: Figures | None = None) -> tuple[Kpi, ...]:
    """The six headline KPIs of ``current``, with ``previous`` values for their trend."""
    before = previous

    def pick(f: Figures | None, name: str) -> Any:
        if f is None:
            return None
        return _values(f)[name][0]

    notes = {"token_efficiency": current.waste, "cost_per_session": current.sessions_left_out}
    out = []
    for name, label, unit, better in _KPIS:
        value, reason = _values(current)[name]
        note = notes.get(name) if value is not None else None  # a caveat on a known value
        out.append(Kpi(name, label, unit, value, pick(before, name), reason, better, note))
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


BETTER: Final[Mapping[str, Better]] = {name: better for name, _, _, better in _KPIS}
"""Which way each KPI is better, by name (what :func:`kpis` sets; its JSON form leaves it out)."""


def spend_report(
    store: Store,
    selection: Selection,
    *,
    baseline: Scope | None = None,
    sources: Sources | None = None,
    parts: bool = False,
) -> tuple[AttributionTable, tuple[Kpi, ...]]:
    """The report's attribution table over ``selection`` and its KPIs (``tokenomy report --by...``).

    The table is computed with :data:`KPI_FACETS` (:data:`ROW_SPLIT_FACETS` with ``parts``: its
    facets then hold the cost split by part too, and each row its cost per part), so the KPIs need
    no pass of their own over the calls.
    With ``baseline`` (the same filters over an earlier period), the KPIs carry that period's values
    for their trend, when it holds calls.
    """
    src = sources or detect(store)
    table = attribute(store, selection, sources=src, facets=ROW_SPLIT_FACETS if parts else KPI_FACETS)
    now = figures(store, selection.scope, table=table, sources=src)
    before = None if baseline is None else figures(store, baseline, sources=src)
    return table, kpis(now, before if before is not None and before.calls else None)


def _values(f: Figures) -> dict[str, tuple[Number | None, str | None]]:
    s = f.sums
    hit = share(s.get("cache_read_tokens"), s.get("cache_input_tokens")) if s.get("cache_known") else None
    efficiency = share(s.get("useful") or 0, s.get("processed")) if s.get("efficiency_known") else None
    spend_reason = "no call is priced" if f.calls or f.charges else "no calls or charges"
    return {
        "spend": (f.spend, None if f.spend is not None else spend_reason),
        "calls": (f.calls, None),
        "cost_per_session": (f.session_cost, f.session_reason),
        "cache_hit_ratio": (
            hit,
            _ratio_reason(f, hit, "cache_known", "no call reports cache reads", "no input tokens"),
        ),
        "token_efficiency": (
            efficiency,
            _ratio_reason(f, efficiency, "efficiency_known", "no call reports its tokens", "no tokens"),
        ),
        "unpriced": (f.unpriced, None),
    }


def _ratio_reason(f: Figures, value: float | None, known: str, missing: str, zero: str) -> str | None:
    """Why a ratio KPI has no value, in the words of its metric (:func:`~.metric_rows.quotient`):
    no calls at all, no call reporting its inputs, or calls that reported them with nothing to divide
    by (failed calls of 0 tokens are known, not missing)."""
    if value is not None:
        return None
    if not f.calls:
        return "no calls"
    if not f.sums.get(known):
        return missing
    return zero
