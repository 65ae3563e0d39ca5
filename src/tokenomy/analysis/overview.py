"""Everything a full report shows, computed once: KPIs with trends, spend by group and over time,
where the LLM cost goes, cost drivers and the most expensive sessions.

The current period is ``--since``/``--until`` when given, else every whole UTC day holding calls;
with ``compare`` asked for, a missing bound is filled as ``tokenomy report --compare`` fills it in
its table and JSON (:func:`~tokenomy.analysis.periods.current_period`: the 7 days ending with the
last day holding calls), so that the HTML page compares the same two periods.
The previous period (for trends and the driver waterfall) is the one ``compare`` names
(:mod:`tokenomy.analysis.periods`, default the period of the same length just before). When no
``compare`` was asked for and that previous period holds no calls (a report over all the data
has nothing before it), the cost drivers explain the last :data:`FALLBACK_DAYS` days of the
period against the days just before them instead, and say so; the KPI tiles then show no trend.
Spend over time is bucketed by hour (periods up to two days), day (up to 62 days), week (up to
a year) or month. The HTML report (:mod:`tokenomy.analysis.html_report`) draws this object; its JSON
form is :func:`tokenomy.analysis.overview_wire.overview_json`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.attribution import AttributionTable, attribute, untimed_calls
from tokenomy.analysis.cost_split import CostSplit, split_from_facets
from tokenomy.analysis.dimensions import UNATTRIBUTED, Grouping, Scope
from tokenomy.analysis.drivers import CostDrivers, cost_drivers, partial_end
from tokenomy.analysis.formats import bucket_label
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import SPLIT_FACETS, Kpi, figures, kpis
from tokenomy.analysis.periods import Period, baseline_period, current_period, data_span
from tokenomy.analysis.sessions import SessionList, top_sessions
from tokenomy.analysis.sources import Sources, detect
from tokenomy.native import money_text
from tokenomy.store.base import Store, TimeUnit

FALLBACK_DAYS: Final = 7
"""Days the cost drivers explain when the previous period holds no calls."""
MAX_SERIES: Final = 8
"""Series drawn per chart; the rest are added up as ``(other)``."""
OTHER: Final = "(other)"
CHARGES: Final = "(non-LLM charges)"
"""The series of charges where the dimension is one they never carry (model, provider)."""
_CALL_ONLY: Final = ("model", "request_model", "provider")


@dataclass(frozen=True, slots=True)
class Series:
    """Spend over time: x labels and, per series (a team, a model), one amount per label."""

    unit: TimeUnit
    labels: tuple[str, ...]
    values: Mapping[str, tuple[Decimal, ...]]


@dataclass(frozen=True, slots=True)
class Overview:
    """The data of a full report (see the module docstring)."""

    period: Period | None
    previous: Period | None
    scope: Scope
    table: AttributionTable
    kpis: tuple[Kpi, ...]
    over_time: Mapping[str, Series]
    drivers: CostDrivers | None
    sessions: SessionList
    notes: tuple[str, ...] = ()
    split: CostSplit | None = None
    """The LLM cost by part (None: a collector older than this field did not say)."""


def report_period(store: Store, scope: Scope) -> Period | None:
    """The period a report covers: the scope's bounds, else the whole UTC days holding calls."""
    span = data_span(store) if scope.since is None or scope.until is None else None
    since = scope.since or (datetime.combine(span[0].date(), datetime.min.time()) if span else None)
    until = scope.until or (
        datetime.combine(span[1].date(), datetime.min.time()) + timedelta(days=1) if span else None
    )
    if since is None or until is None:
        return None
    return Period(since, until)


def bucket_for(period: Period | None) -> TimeUnit:
    """The time bucket that gives a readable number of bars for ``period``."""
    days = period.length.total_seconds() / 86400 if period else 30
    if days <= 2:
        return "hour"
    if days <= 62:
        return "day"
    return "week" if days <= 366 else "month"


def overview(
    store: Store,
    scope: Scope | None = None,
    *,
    by: Sequence[str] = ("team",),
    compare: str | None = None,
    top: int = 10,
) -> Overview:
    """Compute a full report over ``scope`` (see the module docstring).

    Args:
        store: The store to read.
        scope: Period and filters; the whole data when the period is open.
        by: Dimensions of the spend table (the charts are by team and by model).
        compare: The previous period: ``previous``, ``last-week`` or ``DATE..DATE``; None is
            ``previous``, with the cost drivers over the last days when it holds no calls.
        top: How many sessions to list.
    """
    src = detect(store)
    scope = scope or Scope()
    if compare is not None:
        # the period `report --compare` compares in its table and JSON: the last days unless given
        period = current_period(store, scope.since, scope.until)
        bounded = period is not None
    else:
        period = report_period(store, scope)
        bounded = scope.since is not None or scope.until is not None
    # an open scope keeps the calls that have no start time: the period only places the others
    current = scope.between(period.since, period.until) if period and bounded else scope
    previous = baseline_period(period, compare or "previous") if period else None
    table = attribute(store, Selection(current, Grouping(tuple(by))), sources=src, facets=SPLIT_FACETS)
    now = figures(store, current, table=table, sources=src)
    before = figures(store, scope.between(previous.since, previous.until), sources=src) if previous else None
    unit = bucket_for(period)
    over_time = {dim: _series(store, current, dim, unit, period) for dim in ("team", "model")}
    empty_before = before is not None and before.calls == 0
    drivers = None
    if period and previous and (compare is not None or not empty_before):
        drivers = cost_drivers(store, period, previous, scope=scope, sources=src)
        partial = partial_end(store, src, scope, period)
        if partial is not None:
            drivers = dataclasses.replace(drivers, notes=(*drivers.notes, partial))
    elif period:
        drivers = _last_days_drivers(store, scope, period, src)
    notes = [*table.notes, *_untimed(store, current, src)]
    if before is not None and before.calls == 0:
        notes.append(f"no calls in the previous period {previous.label() if previous else ''}: no trends")
    return Overview(
        period=period,
        previous=previous,
        scope=scope,
        table=table,
        kpis=kpis(now, before if before is not None and before.calls else None),
        over_time=over_time,
        drivers=drivers,
        sessions=top_sessions(store, Selection(current), top=top, sources=src),
        notes=tuple(notes),
        split=split_from_facets(table.facets),
    )


def _last_days_drivers(store: Store, scope: Scope, period: Period, sources: Sources) -> CostDrivers | None:
    """The cost drivers of the period's last days against the days before (None when too short)."""
    last = Period(period.until - timedelta(days=FALLBACK_DAYS), period.until)
    before = baseline_period(last, "previous")
    if before.since < period.since:
        return None
    drivers = cost_drivers(store, last, before, scope=scope, sources=sources)
    note = (
        f"the period before {period.label()} holds no calls: these drivers explain its last "
        f"{FALLBACK_DAYS} days against the {FALLBACK_DAYS} before (choose with --since/--until, --compare)"
    )
    return dataclasses.replace(drivers, notes=(note, *drivers.notes))


def _untimed(store: Store, scope: Scope, sources: Sources) -> list[str]:
    """A note when some selected calls have no start time (in the totals, not over time)."""
    if scope.since is not None or scope.until is not None:
        return []  # a bounded period leaves them out, as every time filter does
    untimed, _ = untimed_calls(store, sources, scope)
    if not untimed:
        return []
    return [
        f"{untimed:,} call(s) have no start time: counted in the totals and sessions, not drawn over "
        "time nor in the cost drivers"
    ]


def _series(store: Store, scope: Scope, dim: str, unit: TimeUnit, period: Period | None) -> Series:
    table = attribute(store, Selection(scope, Grouping((dim,), unit)), untimed_note=False)
    starts = _bucket_starts(period, unit) or sorted({r.bucket for r in table.rows if r.bucket is not None})
    totals: dict[str, Decimal] = {}
    for row in table.rows:
        totals[row.group[dim]] = totals.get(row.group[dim], Decimal(0)) + (row.cost or Decimal(0))
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    kept = ranked if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    index = {start: i for i, start in enumerate(starts)}
    values = {
        name: [Decimal(0)] * len(starts) for name in (*kept, *([OTHER] if len(kept) < len(ranked) else []))
    }
    for row in table.rows:
        if row.bucket in index and row.cost is not None:
            name = row.group[dim] if row.group[dim] in kept else OTHER
            values[name][index[row.bucket]] += row.cost
    labels = tuple(bucket_label(start, unit) for start in starts)
    charges_only = dim in _CALL_ONLY and not any(r.calls for r in table.rows if r.group[dim] == UNATTRIBUTED)
    named = {CHARGES if name == UNATTRIBUTED and charges_only else name: v for name, v in values.items()}
    return Series(unit, labels, {name: tuple(v) for name, v in named.items()})


def _bucket_starts(period: Period | None, unit: TimeUnit) -> list[datetime]:
    """Every bucket start of ``period`` (so empty days still get a slot)."""
    if period is None:
        return []
    start = _truncate(period.since, unit)
    out: list[datetime] = []
    while start < period.until and len(out) < 1000:
        out.append(start)
        start = _next(start, unit)
    return out


def _truncate(value: datetime, unit: TimeUnit) -> datetime:
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if unit == "month" else day


def _next(value: datetime, unit: TimeUnit) -> datetime:
    if unit == "hour":
        return value + timedelta(hours=1)
    if unit == "day":
        return value + timedelta(days=1)
    if unit == "week":
        return value + timedelta(days=7)
    return value.replace(year=value.year + value.month // 12, month=value.month % 12 + 1)


def kpi_json(items: Sequence[Kpi]) -> dict[str, dict[str, Any]]:
    """KPIs as JSON-ready data: name -> value, previous, change, unit, reason, note (money as plain decimal
    strings, ``0.000000075000``, never the exponent form ``str(Decimal)`` gives below a millionth)."""

    def plain(value: Any) -> Any:
        return money_text(value) if isinstance(value, Decimal) else value

    return {
        k.name: {
            "label": k.label,
            "unit": k.unit,
            "value": plain(k.value),
            "previous": plain(k.previous),
            "change": k.change,
            "reason": k.reason,
            "note": k.note,
        }
        for k in items
    }
