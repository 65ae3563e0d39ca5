"""``tokenomy report --server``: the report read through a running collector's API.

The collector runs the very analyses the store path runs, over one snapshot of its own store, and
answers them in the CLI's own JSON (``GET /api/v1/report``, :mod:`tokenomy.analysis.report_wire`,
:mod:`tokenomy.analysis.overview_wire`):

* ``view=summary``: the default table (:func:`tokenomy.analysis.summary.summary`);
* ``charges=true``: the first report's rows by day, provider and model, charges included (what
  ``--format json`` and ``csv`` print without an analysis option);
* ``by``, ``bucket``, ``where``, ``compare`` (with ``threshold``), ``metrics``, ``budget_tokens``,
  ``parity``, ``parts``: the attribution table and its KPIs, with the cost drivers, intent
  baselines, metrics and cost split by part those add
  (:func:`tokenomy.analysis.report_analyses.analysis_report`);
* ``view=overview``: the HTML report's data (:func:`tokenomy.analysis.overview.overview`).

The answers are read back into the same objects (:class:`CollectorReports`), so the CLI prints
them with the same code as the store's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import Overview
from tokenomy.analysis.overview_wire import overview_from_json
from tokenomy.analysis.report import Report
from tokenomy.analysis.report_analyses import Analyses, AnalysisReport
from tokenomy.analysis.report_wire import analysis_from_json, report_from_json, summary_from_json
from tokenomy.analysis.summary import Summary
from tokenomy.cli.collector_client import CollectorClient
from tokenomy.cli.collector_reads import Query, period_query, read_analysis, where_query
from tokenomy.store.base import CallFilter

ROUTE: Final = "/api/v1/report"
T = TypeVar("T")


class CollectorReports:
    """The report's results from the collector at ``client`` (what ``StoreReports`` computes from
    a store file, in cli/report.py).

    Every method raises :class:`CollectorError` when the collector could not be read or its
    answer does not read.
    """

    def __init__(self, client: CollectorClient) -> None:
        self.client = client

    def summary(self, scope: Scope, *, parts: bool = False) -> Summary:
        """The default report over ``scope``'s period (``scope`` holds no where filter), with the cost
        split by part when ``parts``."""
        if scope.where:
            raise ValueError("the default report takes a period only")
        query = [*_period(scope), ("view", "summary"), *([("parts", "true")] if parts else [])]
        return _read(self.client, query, summary_from_json)

    def first_report(self, since: datetime | None, until: datetime | None) -> Report:
        """The first report's rows over the period (by UTC day, provider and model, each day's
        charges in its row with no provider and no model), with the filters the store path shows."""
        filters = CallFilter(since=since, until=until)
        query = [*_period(Scope(since, until)), ("charges", "true")]
        return _read(self.client, query, lambda data: report_from_json(data, filters))

    def analysis(self, selection: Selection, analyses: Analyses) -> AnalysisReport:
        """The attribution table of ``selection`` (period, where filters, dimensions, time bucket)
        and its KPIs, with what ``analyses`` adds, as ``tokenomy report --by...`` computes them."""
        scope, grouping = selection.scope, selection.grouping
        asked = where_query(scope)
        if grouping.by:
            asked.append(("by", ",".join(grouping.by)))
        if grouping.bucket is not None:
            asked.append(("bucket", grouping.bucket))
        asked += _analyses(analyses)
        if not asked:  # the route would answer the first report's totals
            raise ValueError("a grouped report needs a dimension, a time bucket, a filter or an analysis")
        query = [*_period(scope), *asked]
        return _read(self.client, query, lambda body: _answered(analysis_from_json(body), analyses))

    def overview(self, scope: Scope, *, by: tuple[str, ...], compare: str | None, top: int) -> Overview:
        """The HTML report's data over ``scope``: spend by ``by``, the previous period ``compare``
        names (None: the one just before), the ``top`` most expensive sessions."""
        query = [*_period(scope), *where_query(scope), ("view", "overview"), ("top", str(top))]
        if by:
            query.append(("by", ",".join(by)))
        if compare is not None:
            query.append(("compare", compare))
        return _read(self.client, query, overview_from_json)


def _period(scope: Scope) -> Query:
    return list(period_query(scope.since, scope.until).items())


def _analyses(analyses: Analyses) -> Query:
    """The parameters of the analyses the report adds (none by default)."""
    query: Query = []
    if analyses.compare is not None:
        query += [("compare", analyses.compare), ("threshold", repr(analyses.threshold))]
    if analyses.metrics:
        query.append(("metrics", "true"))
    if analyses.budget_tokens is not None:
        query.append(("budget_tokens", str(analyses.budget_tokens)))
    if analyses.parity is not None:
        query.append(("parity", ",".join(analyses.parity)))
    if analyses.parts:
        query.append(("parts", "true"))
    return query


def _answered(report: AnalysisReport, analyses: Analyses) -> AnalysisReport:
    """``report`` when it holds what ``analyses`` asked for. A collector from before the rows' cost by
    part takes ``parts`` but answers rows without it: refused here (read as an answer that does not
    read), rather than printed without the columns asked for.

    Raises:
        ValueError: ``parts`` was asked for and the table's rows do not carry it.
    """
    if analyses.parts and not report.table.parts:
        raise ValueError("its rows carry no cost per part (part_<part>), which parts=true asks for")
    return report


def _read(client: CollectorClient, query: Query, read: Callable[[Any], T]) -> T:
    """``GET /api/v1/report?query`` read by ``read`` (a collector older than this CLI told apart)."""
    return read_analysis(client, ROUTE, query, read, what="a report")
