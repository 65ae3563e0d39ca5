"""``tokenomy report --server``: the report read through a running collector's API.

The collector runs the very analyses the store path runs, on its own store, and answers them in
the CLI's own JSON (``GET /api/v1/report``, :mod:`tokenomy.analysis.report_wire`):

* ``view=summary``: the default table (:func:`tokenomy.analysis.summary.summary`);
* ``charges=true``: the first report's rows by day, provider and model, charges included (what
  ``--format json`` and ``csv`` print without an analysis option);
* ``by``, ``bucket``, ``where``: the attribution table and its KPIs
  (:func:`tokenomy.analysis.kpis.spend_report`).

The answers are read back into the same objects, so the CLI prints them with the same code as
the store's. What the route does not compute (``--compare``, ``--metrics``, ``--budget-tokens``,
``--parity``, ``--format html``) is refused by name (:func:`unserved`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import InvalidOperation
from typing import Any, Final, TypeVar

from tokenomy.analysis.attribution import AttributionTable
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import Kpi
from tokenomy.analysis.report import Report
from tokenomy.analysis.report_wire import grouped_from_json, report_from_json, summary_from_json
from tokenomy.analysis.summary import Summary
from tokenomy.cli.collector_client import BadRequestError, CollectorClient, CollectorError
from tokenomy.cli.collector_reads import period_query, refusal
from tokenomy.store.base import CallFilter

ROUTE: Final = "/api/v1/report"
_RECENT: Final = "is the collector's tokenomy as recent as this one?"
T = TypeVar("T")


def unserved(
    *,
    compare: str | None = None,
    metrics: bool = False,
    budget_tokens: int | None = None,
    parity: str | None = None,
    fmt: str = "table",
) -> None:
    """Refuse the options of ``tokenomy report`` the collector's API cannot serve, naming them.

    Raises:
        click.UsageError: One of them was given with ``--server``.
    """
    refused = [
        (compare is not None, "--compare", "compares two periods"),
        (metrics, "--metrics", "computes the efficiency metrics"),
        (budget_tokens is not None, "--budget-tokens", "computes token utilization"),
        (parity is not None, "--parity", "computes latency-cost parity"),
    ]
    for given, option, what in refused:
        if given:
            raise refusal(
                option,
                ROUTE,
                f"serves the report for --since, --until, --by, --bucket and --where, and no route {what}",
            )
    if fmt == "html":
        raise refusal(
            "--format html",
            ROUTE,
            "does not build the HTML report",
            instead="use --format table, json or csv",
        )


def summary(client: CollectorClient, scope: Scope) -> Summary:
    """The default report over ``scope``'s period (``scope`` holds no where filter).

    Raises:
        CollectorError: The collector could not be read, or its answer does not read.
    """
    if scope.where:
        raise ValueError("the default report takes a period only")
    query = [*_period(scope.since, scope.until), ("view", "summary")]
    return _read(client, query, summary_from_json)


def first_report(client: CollectorClient, since: datetime | None, until: datetime | None) -> Report:
    """The first report's rows over the period (by UTC day, provider and model, each day's charges
    in its row with no provider and no model), with the filters the store path shows.

    Raises:
        CollectorError: The collector could not be read, or its answer does not read.
    """
    filters = CallFilter(since=since, until=until)
    query = [*_period(since, until), ("charges", "true")]
    return _read(client, query, lambda data: report_from_json(data, filters))


def grouped(client: CollectorClient, selection: Selection) -> tuple[AttributionTable, tuple[Kpi, ...]]:
    """The attribution table of ``selection`` (period, where filters, dimensions, time bucket) and
    its KPIs, as ``tokenomy report --by...`` computes them from the store.

    Raises:
        CollectorError: The collector could not be read, or its answer does not read.
    """
    scope, grouping = selection.scope, selection.grouping
    if not (grouping.by or grouping.bucket or scope.where):
        raise ValueError("a grouped report needs a dimension, a time bucket or a where filter")
    query = _period(scope.since, scope.until)
    if grouping.by:
        query.append(("by", ",".join(grouping.by)))
    if grouping.bucket is not None:
        query.append(("bucket", grouping.bucket))
    query += [("where", f"{name}={value}") for name, values in scope.where for value in values]
    return _read(client, query, grouped_from_json)


def _period(since: datetime | None, until: datetime | None) -> list[tuple[str, str]]:
    return list(period_query(since, until).items())


def _read(client: CollectorClient, query: list[tuple[str, str]], read: Callable[[Any], T]) -> T:
    """``GET /api/v1/report?query`` read by ``read``; a collector older than this CLI (it refuses a
    parameter by name, or answers another shape) is told apart in the message."""
    try:
        body = client.get(ROUTE, query)
    except BadRequestError as exc:
        if "unknown query parameter" not in exc.reason:
            raise
        raise CollectorError(f"{exc}; {_RECENT}") from exc
    try:
        return read(body)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise CollectorError(
            f"the collector at {client.url} answered GET {ROUTE} with a report that does not read "
            f"({type(exc).__name__}: {exc}); {_RECENT}"
        ) from exc
