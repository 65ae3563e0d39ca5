"""The report's results as JSON and back: what the collector's ``GET /api/v1/report`` answers and
``tokenomy report --server`` reads, so that both print what the store path prints.

The JSON is the CLI's own (:func:`~tokenomy.analysis.serialize.attribution_json`,
:func:`~tokenomy.analysis.overview.kpi_json`, :func:`~tokenomy.analysis.serialize.drivers_json`,
:func:`~tokenomy.analysis.results.metric_json`, the first report's rows): money as decimal strings,
times as ISO 8601 UTC, shares as floats (which JSON keeps exactly). Reading it back gives equal
objects, amounts with the same digits, so the CLI draws them with the very code it draws the
store's results with. The forms:

* :func:`analysis_json`: an attribution table and its KPIs, with the cost drivers and intent
  baselines of ``--compare`` and the metrics of ``--metrics``, ``--budget-tokens``, ``--parity``
  (``tokenomy report --by/--bucket/--where/...``; :func:`grouped_json` is its table and KPIs);
* :func:`summary_json`: the default report (:mod:`tokenomy.analysis.summary`), with the LLM cost
  by part (:func:`~tokenomy.analysis.cost_split.split_json`: null unless asked for, and read as
  none when absent, as an older collector answers);
* :func:`report_row_json`: a row of the first report (totals by UTC day, provider and model).

The HTML report's data has a module of its own (:mod:`tokenomy.analysis.overview_wire`). A metric's
``details`` (figures no report draws) are read back as their JSON values, which write the same JSON.
Each ``*_from_json`` raises ``KeyError``, ``TypeError``, ``ValueError`` or ``ArithmeticError`` on
data that does not read; callers name the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal, cast

from tokenomy.analysis.attribution import AttributionTable, SpendRow
from tokenomy.analysis.baselines import IntentBaseline, IntentFigures
from tokenomy.analysis.cost_split import ROW_PARTS, UNSPLIT, split_from_json, split_json
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.drivers import CostDrivers, DriverRow
from tokenomy.analysis.kpis import BETTER, Kpi
from tokenomy.analysis.overview import kpi_json
from tokenomy.analysis.report import Report, ReportRow
from tokenomy.analysis.report_analyses import AnalysisReport
from tokenomy.analysis.results import MetricResult, MetricRow, Number, jsonable, metric_json
from tokenomy.analysis.serialize import attribution_json, baselines_json, drivers_json
from tokenomy.analysis.summary import Summary
from tokenomy.analysis.wire_values import (
    amount_from_json,
    flag_from_json,
    float_from_json,
    int_from_json,
    labels_from_json,
    money_from_json,
    number_from_json,
    period_from_json,
    period_json,
    text_from_json,
    time_from_json,
)
from tokenomy.schema import BUCKETS
from tokenomy.store.base import CallFilter

__all__ = [
    "analysis_from_json",
    "analysis_json",
    "attribution_from_json",
    "baselines_from_json",
    "drivers_from_json",
    "grouped_from_json",
    "grouped_json",
    "kpis_from_json",
    "metric_from_json",
    "report_from_json",
    "report_row_json",
    "scope_from_json",
    "summary_from_json",
    "summary_json",
]

_UNITS = ("USD", "ratio", "count")


def grouped_json(table: AttributionTable, items: Sequence[Kpi]) -> dict[str, Any]:
    """An attribution table with its KPIs: what ``tokenomy report --format json`` prints for it."""
    data = attribution_json(table)
    data["kpis"] = kpi_json(items)
    return data


def grouped_from_json(data: Mapping[str, Any]) -> tuple[AttributionTable, tuple[Kpi, ...]]:
    """The table and KPIs :func:`grouped_json` wrote."""
    return attribution_from_json(data), kpis_from_json(data["kpis"])


def analysis_json(report: AnalysisReport) -> dict[str, Any]:
    """The report of ``tokenomy report --by...``: what ``--format json`` prints (the table and KPIs,
    ``drivers`` and ``baselines`` with a comparison, ``metrics`` with a metric option, ``split``:
    where the LLM cost goes, with ``parts``)."""
    data = grouped_json(report.table, report.kpis)
    if report.split is not None:
        data["split"] = split_json(report.split)
    if report.drivers is not None:
        data["drivers"] = drivers_json(report.drivers)
        data["baselines"] = baselines_json(report.baselines)
    if report.metrics is not None:
        data["metrics"] = [metric_json(m) for m in report.metrics]
    return data


def analysis_from_json(data: Mapping[str, Any]) -> AnalysisReport:
    """The report :func:`analysis_json` wrote (its table without the facets)."""
    table, items = grouped_from_json(data)
    drivers = drivers_from_json(data["drivers"]) if "drivers" in data else None
    return AnalysisReport(
        table=table,
        kpis=items,
        drivers=drivers,
        baselines=() if drivers is None else baselines_from_json(data["baselines"]),
        metrics=tuple(metric_from_json(m) for m in data["metrics"]) if "metrics" in data else None,
        split=split_from_json(data.get("split")),
    )


def scope_from_json(data: Mapping[str, Any]) -> Scope:
    """The period and filters :func:`~tokenomy.analysis.serialize.scope_json` wrote."""
    where = data["where"]
    if not isinstance(where, Mapping):
        raise TypeError(f"where should be an object, got {where!r}")
    return Scope(
        time_from_json(data["since"]),
        time_from_json(data["until"]),
        tuple((str(name), tuple(str(v) for v in values)) for name, values in where.items()),
    )


def attribution_from_json(data: Mapping[str, Any]) -> AttributionTable:
    """The table :func:`~tokenomy.analysis.serialize.attribution_json` wrote (without the facets,
    which it does not write)."""
    by = tuple(str(name) for name in data["by"])
    bucket = data["bucket"]
    if bucket is not None and not isinstance(bucket, str):
        raise TypeError(f"bucket should be a string or null, got {bucket!r}")
    return AttributionTable(
        by=by,
        bucket=bucket,
        scope=scope_from_json(data),
        rows=tuple(_spend_row(row, by, bucket is not None) for row in data["rows"]),
        total=_spend_row(data["total"], (), False),
        notes=tuple(str(note) for note in data["notes"]),
        parts=f"part_{UNSPLIT}" in data["total"],  # (written for every row and the total, or none)
    )


def _spend_row(row: Mapping[str, Any], by: Sequence[str], bucket: bool) -> SpendRow:
    return SpendRow(
        group={name: str(row[name]) for name in by},
        bucket=time_from_json(row["bucket"]) if bucket else None,
        calls=int_from_json(row["calls"]),
        charges=int_from_json(row["charges"]),
        tokens={b: _count(row[b]) for b in BUCKETS},
        input_total=_count(row["input_total"]),
        output_total=_count(row["output_total"]),
        llm_cost=money_from_json(row["llm_cost"]),
        charge_cost=money_from_json(row["charge_cost"]),
        unpriced=int_from_json(row["unpriced"]),
        usage_unknown=int_from_json(row.get("usage_unknown", 0)),  # 0 from a collector older than the field
        cost_share=float_from_json(row["cost_share"]),
        token_share=float_from_json(row["token_share"]),
        parts={p: amount_from_json(row[f"part_{p}"]) for p in ROW_PARTS}
        if row.get(f"part_{UNSPLIT}") is not None
        else None,
    )


def _count(value: Any) -> int | None:
    """A token figure: a whole number, or null when it was not reported."""
    return None if value is None else int_from_json(value)


def kpis_from_json(data: Mapping[str, Any]) -> tuple[Kpi, ...]:
    """The KPIs :func:`~tokenomy.analysis.overview.kpi_json` wrote, in its order; which way each
    is better comes from the KPI's name (:data:`~tokenomy.analysis.kpis.BETTER`)."""
    out = []
    for name, item in data.items():
        unit = item["unit"]
        if unit not in _UNITS:
            raise ValueError(f"KPI {name!r} has unit {unit!r}, not one of {', '.join(_UNITS)}")
        typed = cast(Literal["USD", "ratio", "count"], unit)
        reason = item["reason"]
        out.append(
            Kpi(
                name=str(name),
                label=str(item["label"]),
                unit=typed,
                value=_kpi_value(typed, item["value"]),
                previous=_kpi_value(typed, item["previous"]),
                reason=None if reason is None else str(reason),
                better=BETTER.get(str(name), "down"),
                note=None if item.get("note") is None else str(item["note"]),  # none from older servers
            )
        )
    return tuple(out)


def _kpi_value(unit: str, value: Any) -> Number | None:
    if value is None:
        return None
    if unit == "USD":
        return money_from_json(value) if isinstance(value, str) else number_from_json(value)
    if unit == "ratio":
        return float_from_json(value)
    return int_from_json(value)


def drivers_from_json(data: Mapping[str, Any]) -> CostDrivers:
    """The cost drivers :func:`~tokenomy.analysis.serialize.drivers_json` wrote (a row's change and
    dominant driver, which it writes too, follow from its costs and parts)."""
    current, baseline = period_from_json(data["current"]), period_from_json(data["baseline"])
    if current is None or baseline is None:
        raise ValueError("cost drivers need their two periods")
    groups = data["groups"]
    if not isinstance(groups, Mapping):
        raise TypeError(f"the drivers' groups should be an object, got {groups!r}")
    return CostDrivers(
        current=current,
        baseline=baseline,
        total=_driver_row(data["total"]),
        groups={str(dim): tuple(_driver_row(row) for row in rows) for dim, rows in groups.items()},
        notes=tuple(str(note) for note in data["notes"]),
    )


def _driver_row(row: Mapping[str, Any]) -> DriverRow:
    return DriverRow(
        group=labels_from_json(row["group"]),
        baseline_cost=amount_from_json(row["baseline_cost"]),
        current_cost=amount_from_json(row["current_cost"]),
        parts={str(name): amount_from_json(value) for name, value in row["parts"].items()},
        baseline_calls=int_from_json(row["baseline_calls"]),
        current_calls=int_from_json(row["current_calls"]),
    )


def baselines_from_json(items: Sequence[Mapping[str, Any]]) -> tuple[IntentBaseline, ...]:
    """The intent baselines :func:`~tokenomy.analysis.serialize.baselines_json` wrote, in order."""
    return tuple(
        IntentBaseline(
            intent=str(item["intent"]),
            baseline=_intent_figures(item["baseline"]),
            current=_intent_figures(item["current"]),
            input_change=float_from_json(item["input_change"]),
            output_change=float_from_json(item["output_change"]),
            cost_change=float_from_json(item["cost_change"]),
            regression=flag_from_json(item["regression"]),
            reason=str(item["reason"]),
        )
        for item in items
    )


def _intent_figures(data: Mapping[str, Any]) -> IntentFigures:
    return IntentFigures(
        calls=int_from_json(data["calls"]),
        input_per_call=float_from_json(data["input_per_call"]),
        output_per_call=float_from_json(data["output_per_call"]),
        cost_per_call=money_from_json(data["cost_per_call"]),
    )


def metric_from_json(data: Mapping[str, Any]) -> MetricResult:
    """A metric result :func:`~tokenomy.analysis.results.metric_json` wrote."""
    return MetricResult(
        name=str(data["metric"]),
        unit=str(data["unit"]),
        formula=str(data["formula"]),
        rows=tuple(_metric_row(row) for row in data["rows"]),
        total=_metric_row(data["total"]),
        by=tuple(str(name) for name in data["by"]),
        bucket=text_from_json(data["bucket"]),
        notes=tuple(str(note) for note in data["notes"]),
    )


def _metric_row(row: Mapping[str, Any]) -> MetricRow:
    details = row["details"]
    if not isinstance(details, Mapping):
        raise TypeError(f"a metric's details should be an object, got {details!r}")
    return MetricRow(
        group=labels_from_json(row["group"]),
        bucket=time_from_json(row["bucket"]),
        value=_metric_number(row["value"]),
        numerator=_metric_number(row["numerator"]),
        denominator=_metric_number(row["denominator"]),
        calls=int_from_json(row["calls"]),
        coverage=float_from_json(row["coverage"]),
        reason=text_from_json(row["reason"]),
        details=dict(details),
    )


def _metric_number(value: Any) -> Number | None:
    """A metric's figure: an amount (a decimal string) as a Decimal, a JSON number as it was."""
    if value is None or isinstance(value, str):
        return money_from_json(value)
    return number_from_json(value)


def summary_json(data: Summary) -> dict[str, Any]:
    """The default report (KPIs with their trend, spend over time, the costliest models)."""
    return {
        "period": period_json(data.period),
        "previous": period_json(data.previous),
        "kpis": kpi_json(data.kpis),
        "over_time": attribution_json(data.over_time),
        "models": attribution_json(data.models),
        "folded": data.folded,
        "split": split_json(data.split),
    }


def summary_from_json(data: Mapping[str, Any]) -> Summary:
    """The default report :func:`summary_json` wrote."""
    return Summary(
        period=period_from_json(data["period"]),
        previous=period_from_json(data["previous"]),
        kpis=kpis_from_json(data["kpis"]),
        over_time=attribution_from_json(data["over_time"]),
        models=attribution_from_json(data["models"]),
        folded=int_from_json(data["folded"]),
        split=split_from_json(data.get("split")),
    )


def report_row_json(row: ReportRow, *, with_keys: bool, charges: bool = False) -> dict[str, Any]:
    """A row of the first report (``with_keys``: its day, provider and model; ``charges``: its
    charges, their cost and the row's spend, as ``tokenomy report --format json`` prints them), and
    ``usage_unknown``, the calls that left a bucket or a total unreported. A token figure none of
    the row's calls reported is null, never 0."""
    out: dict[str, Any] = {}
    if with_keys:
        out.update(
            day=None if row.day is None else row.day.isoformat(), provider=row.provider, model=row.model
        )
    out["calls"] = row.calls
    out.update({b: row.tokens.get(b, 0) for b in BUCKETS})  # null when unknown; a row of charges has 0
    out.update(
        input_total=row.input_total,
        output_total=row.output_total,
        cost=jsonable(row.cost),
        unpriced=row.unpriced,
    )
    if charges:  # the row as ``tokenomy report --format json`` prints it (the plain form keeps its keys)
        out.update(
            charges=row.charges,
            charge_cost=jsonable(row.charge_cost),
            spend=jsonable(row.spend),
        )
    out["usage_unknown"] = row.usage_unknown  # so a token sum over some of the row's calls is told apart
    return out


def report_from_json(data: Mapping[str, Any], filters: CallFilter) -> Report:
    """The first report from its ``rows`` and ``total`` (as :func:`report_row_json` wrote them),
    for ``filters`` (the request's own, which the report shows as they were given)."""
    return Report(
        rows=tuple(_report_row(row, with_keys=True) for row in data["rows"]),
        total=_report_row(data["total"], with_keys=False),
        filters=filters,
    )


def _report_row(row: Mapping[str, Any], *, with_keys: bool) -> ReportRow:
    day = row["day"] if with_keys else None
    return ReportRow(
        day=None if day is None else date.fromisoformat(day),
        provider=text_from_json(row["provider"]) if with_keys else None,
        model=text_from_json(row["model"]) if with_keys else None,
        calls=int_from_json(row["calls"]),
        tokens={b: _count(row[b]) for b in BUCKETS},
        input_total=_count(row["input_total"]),
        output_total=_count(row["output_total"]),
        cost=money_from_json(row["cost"]),
        unpriced=int_from_json(row["unpriced"]),
        usage_unknown=int_from_json(row.get("usage_unknown", 0)),  # 0 from a collector older than the field
        charges=int_from_json(row.get("charges", 0)),
        charge_cost=money_from_json(row.get("charge_cost")),
    )
