"""Analyses over the store: plain functions that return typed results.

* :mod:`~tokenomy.analysis.metrics`: the efficiency metrics of DESIGN section 6 (docs/metrics.md);
* :func:`attribute`: showback and chargeback by any dimensions and time bucket;
* :func:`cost_drivers` and :func:`intent_baselines`: why spend changed, and regressions;
* :func:`top_sessions` and :func:`session_tree`: session costing;
* :func:`overview`: everything a full report shows (the HTML report draws it);
* :func:`summary`: the short default report (KPIs, spend over time, the costliest models).

Every analysis reads a :class:`Selection` (a :class:`Scope` of period and filters, and a
:class:`Grouping` of dimensions and time bucket) and runs its SQL inside the store's engine.
"""

from __future__ import annotations

from tokenomy.analysis.attribution import UNATTRIBUTED, AttributionTable, SpendRow, attribute, top_rows
from tokenomy.analysis.baselines import IntentBaseline, intent_baselines
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.drivers import CostDrivers, DriverRow, cost_drivers
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import Kpi
from tokenomy.analysis.metrics import METRICS, latency_cost_parity, token_utilization
from tokenomy.analysis.overview import Overview, overview
from tokenomy.analysis.periods import Period, baseline_period, current_period
from tokenomy.analysis.report import Report, ReportRow, daily_totals
from tokenomy.analysis.results import MetricResult, MetricRow
from tokenomy.analysis.session_tree import SessionTree, Step, session_tree
from tokenomy.analysis.sessions import SessionList, SessionRow, top_sessions
from tokenomy.analysis.summary import Summary, summary

__all__ = [
    "METRICS",
    "UNATTRIBUTED",
    "AttributionTable",
    "CostDrivers",
    "DriverRow",
    "Grouping",
    "IntentBaseline",
    "Kpi",
    "MetricResult",
    "MetricRow",
    "Overview",
    "Period",
    "Report",
    "ReportRow",
    "Scope",
    "Selection",
    "SessionList",
    "SessionRow",
    "SessionTree",
    "SpendRow",
    "Step",
    "Summary",
    "attribute",
    "baseline_period",
    "cost_drivers",
    "current_period",
    "daily_totals",
    "intent_baselines",
    "latency_cost_parity",
    "overview",
    "session_tree",
    "summary",
    "token_utilization",
    "top_rows",
    "top_sessions",
]
