"""What ``tokenomy report`` computes for ``--by``, ``--bucket``, ``--where``, ``--compare`` and the
metric options: the attribution table with its KPIs, and what each option adds to it.

* ``--compare``: the table and KPIs cover the current period (``--since``/``--until``, a missing
  bound filled from the data: :func:`~tokenomy.analysis.periods.current_period`), the KPIs carry
  the baseline period's values for their trend, and the cost drivers and intent baselines explain
  the change (:mod:`tokenomy.analysis.drivers`, :mod:`tokenomy.analysis.baselines`);
* ``--metrics``, ``--budget-tokens``, ``--parity``: the efficiency metrics over the same selection
  (:mod:`tokenomy.analysis.metrics`);
* ``--parts``: where the LLM cost goes over the whole selection (:mod:`tokenomy.analysis.cost_split`),
  from sums the table's own scan then makes.

The store path and the collector's ``GET /api/v1/report`` both call :func:`analysis_report`, so
they compute the same thing (the collector over one snapshot of its store).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tokenomy.analysis import metrics as metrics_module
from tokenomy.analysis.attribution import AttributionTable
from tokenomy.analysis.baselines import DEFAULT_THRESHOLD, IntentBaseline, intent_baselines
from tokenomy.analysis.cost_split import CostSplit, split_from_facets
from tokenomy.analysis.drivers import CostDrivers, cost_drivers, partial_end
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import Kpi, spend_report
from tokenomy.analysis.periods import Period, baseline_period, current_period
from tokenomy.analysis.results import MetricResult
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store

DRIVER_DIMENSIONS = ("team", "feature")
"""What the cost drivers are split by when the report has no dimension."""


@dataclass(frozen=True, slots=True)
class Analyses:
    """The options of ``tokenomy report`` that add analyses to the table."""

    compare: str | None = None
    """The baseline period: ``previous``, ``last-week`` or ``YYYY-MM-DD..YYYY-MM-DD``."""
    threshold: float = DEFAULT_THRESHOLD
    """The rise in tokens per call that flags an intent as a regression (read with ``compare``)."""
    metrics: bool = False
    """Every efficiency metric."""
    budget_tokens: int | None = None
    """A token budget per group and bucket, for token utilization."""
    parity: tuple[str, str] | None = None
    """Two models whose latency-cost parity to compute, intent by intent."""
    parts: bool = False
    """Where the LLM cost goes, by part."""

    @property
    def any_metric(self) -> bool:
        """Whether a metric option was given (the report then has its ``metrics``)."""
        return self.metrics or self.budget_tokens is not None or self.parity is not None


@dataclass(frozen=True, slots=True)
class AnalysisReport:
    """The table and KPIs, and what :class:`Analyses` added (see the module docstring)."""

    table: AttributionTable
    kpis: tuple[Kpi, ...]
    drivers: CostDrivers | None = None
    """With ``compare``, when there is a current period (both bounds given, or calls with a time)."""
    baselines: tuple[IntentBaseline, ...] = ()
    """The intent baselines, computed beside the drivers."""
    metrics: tuple[MetricResult, ...] | None = None
    """With a metric option: every metric (``metrics``), then token utilization, then parity."""
    split: CostSplit | None = None
    """With ``parts``: the LLM cost by part over the table's selection."""


def analysis_report(store: Store, selection: Selection, analyses: Analyses | None = None) -> AnalysisReport:
    """The report over ``selection`` with what ``analyses`` adds (``tokenomy report --by...``).

    Args:
        store: The store to read (the collector passes a snapshot of its own).
        selection: The period and filters asked for, and the grouping of the table.
        analyses: The comparison and metrics to add; none when None.

    Raises:
        ConfigError: ``analyses.compare`` is not a baseline period, or the current period it
            needs is empty (``--since`` after the last call, ``--until`` missing).
    """
    analyses = analyses or Analyses()
    src = detect(store)
    periods = _periods(store, selection, analyses.compare)
    scope = selection.scope  # with a comparison, the table and KPIs cover the current period
    if periods is not None:
        scope = scope.between(periods[0].since, periods[0].until)
    current = Selection(scope, selection.grouping)
    baseline = None if periods is None else scope.between(periods[1].since, periods[1].until)
    table, items = spend_report(store, current, baseline=baseline, sources=src, parts=analyses.parts)
    drivers: CostDrivers | None = None
    baselines: tuple[IntentBaseline, ...] = ()
    if periods is not None:
        now, before = periods
        dims = selection.grouping.by or DRIVER_DIMENSIONS
        drivers = cost_drivers(store, now, before, scope=selection.scope, by=dims, sources=src)
        partial = partial_end(store, src, selection.scope, now)
        if partial is not None:
            drivers = dataclasses.replace(drivers, notes=(*drivers.notes, partial))
        baselines = intent_baselines(
            store, now, before, scope=selection.scope, threshold=analyses.threshold, sources=src
        )
    found = _metrics(store, current, analyses, src) if analyses.any_metric else None
    split = split_from_facets(table.facets) if analyses.parts else None
    return AnalysisReport(table, items, drivers, baselines, found, split)


def parity_pair(text: str) -> tuple[str, str]:
    """The two models of ``MODEL_A,MODEL_B`` (``--parity``).

    Raises:
        ValueError: ``text`` does not name exactly two different models.
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"expected two models, MODEL_A,MODEL_B; got {text!r}")
    if parts[0] == parts[1]:
        raise ValueError(f"expected two different models, MODEL_A,MODEL_B; got {parts[0]!r} twice")
    return parts[0], parts[1]


def _periods(store: Store, selection: Selection, compare: str | None) -> tuple[Period, Period] | None:
    if compare is None:
        return None
    current = current_period(store, selection.scope.since, selection.scope.until)
    if current is None:
        return None
    return current, baseline_period(current, compare)


def _metrics(
    store: Store, selection: Selection, analyses: Analyses, src: Sources
) -> tuple[MetricResult, ...]:
    results = []
    if analyses.metrics:
        results = [metric(store, selection, sources=src) for metric in metrics_module.METRICS.values()]
    if analyses.budget_tokens is not None:
        results.append(
            metrics_module.token_utilization(store, analyses.budget_tokens, selection, sources=src)
        )
    if analyses.parity is not None:
        a, b = analyses.parity
        results.append(metrics_module.latency_cost_parity(store, a, b, selection, sources=src))
    return tuple(results)
