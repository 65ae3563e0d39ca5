"""The default report, short enough to read at a glance: KPIs, spend over time, the costliest models.

``tokenomy report`` without an analysis option prints this (its JSON and CSV forms keep the first
report's rows by day, provider and model, for scripts). Over the selected period:

* the KPI tiles of :mod:`tokenomy.analysis.kpis`, with their trend against the period of the same
  length just before (when it holds calls);
* spend over time in one row per day (per week past :data:`MAX_DAYS` days, per month past
  :data:`MAX_WEEKS` weeks), calls and charges together;
* spend by provider and model, the :data:`DEFAULT_TOP` costliest rows and the rest added up in
  one row, so the rows still add up to the total;
* with ``parts``, where the LLM cost goes: the priced calls' cost by part
  (:mod:`tokenomy.analysis.cost_split`), from sums the scan of the spend over time then makes too
  (over 10M calls they take the report from 0.8 s to 1.4 s: asked for, not by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokenomy.analysis.attribution import AttributionTable, attribute, top_rows
from tokenomy.analysis.cost_split import CostSplit, split_from_facets
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import KPI_FACETS, SPLIT_FACETS, Kpi, figures, kpis
from tokenomy.analysis.overview import report_period
from tokenomy.analysis.periods import Period, baseline_period
from tokenomy.analysis.sources import detect
from tokenomy.store.base import Store, TimeUnit

DEFAULT_TOP: Final = 8
"""Provider and model rows shown before the rest are added up."""
MAX_DAYS: Final = 14
"""Longest period shown one row per day."""
MAX_WEEKS: Final = 26
"""Longest period shown one row per week."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What the default report shows (see the module docstring)."""

    period: Period | None
    previous: Period | None
    kpis: tuple[Kpi, ...]
    over_time: AttributionTable
    """Spend per time bucket (no dimension)."""
    models: AttributionTable
    """Spend by provider and model: the costliest rows, then one row for the rest."""
    folded: int
    """How many provider and model rows were added up into the last one."""
    split: CostSplit | None = None
    """With ``parts``: the LLM cost by part."""


def summary_bucket(period: Period | None) -> TimeUnit:
    """Day up to :data:`MAX_DAYS` days (and for an unknown period), week up to :data:`MAX_WEEKS`
    weeks, else month: a few rows either way."""
    days = period.length.days if period else 0
    if days <= MAX_DAYS:
        return "day"
    return "week" if days <= 7 * MAX_WEEKS else "month"


def summary(
    store: Store, scope: Scope | None = None, *, top: int = DEFAULT_TOP, parts: bool = False
) -> Summary:
    """The default report over ``scope`` (every call and charge when None).

    Args:
        store: The store to read.
        scope: Period and filters; an open period covers every whole UTC day holding calls.
        top: Provider and model rows to keep before adding up the rest.
        parts: Also split the LLM cost by part.
    """
    src = detect(store)
    scope = scope or Scope()
    period = report_period(store, scope)
    over_time = attribute(
        store,
        Selection(scope, Grouping((), summary_bucket(period))),
        sources=src,
        facets=SPLIT_FACETS if parts else KPI_FACETS,
    )
    now = figures(store, scope, table=over_time, sources=src)
    previous = baseline_period(period, "previous") if period else None
    before = None
    if previous is not None:
        before = figures(store, scope.between(previous.since, previous.until), sources=src)
    models, folded = top_rows(
        attribute(store, Selection(scope, Grouping(("provider", "model"))), sources=src, untimed_note=False),
        top,
    )
    return Summary(
        period=period,
        previous=previous if before is not None and before.calls else None,
        kpis=kpis(now, before if before is not None and before.calls else None),
        over_time=over_time,
        models=models,
        folded=folded,
        split=split_from_facets(over_time.facets) if parts else None,
    )
