"""The report's results as JSON and back: what the collector's ``GET /api/v1/report`` answers and
``tokenomy report --server`` reads, so that both print what the store path prints.

The JSON is the CLI's own (:func:`~tokenomy.analysis.serialize.attribution_json`,
:func:`~tokenomy.analysis.overview.kpi_json`, the first report's rows): money as decimal strings,
times as ISO 8601 UTC, shares as floats (which JSON keeps exactly). Reading it back gives equal
objects, amounts with the same digits, so the CLI draws them with the very code it draws the
store's results with. Three forms:

* :func:`grouped_json`: an attribution table and its KPIs (``tokenomy report --by/--bucket/--where``);
* :func:`summary_json`: the default report (:mod:`tokenomy.analysis.summary`);
* :func:`report_row_json`: a row of the first report (totals by UTC day, provider and model).

Each ``*_from_json`` raises ``KeyError``, ``TypeError``, ``ValueError`` or ``ArithmeticError`` on
data that does not read; callers name the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, cast

from tokenomy.analysis.attribution import AttributionTable, SpendRow
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.kpis import BETTER, Kpi
from tokenomy.analysis.overview import kpi_json
from tokenomy.analysis.periods import Period
from tokenomy.analysis.report import Report, ReportRow
from tokenomy.analysis.results import Number, jsonable
from tokenomy.analysis.serialize import attribution_json
from tokenomy.analysis.summary import Summary
from tokenomy.native import parse_time
from tokenomy.schema import BUCKETS
from tokenomy.store.base import CallFilter

_UNITS = ("USD", "ratio", "count")


def grouped_json(table: AttributionTable, items: Sequence[Kpi]) -> dict[str, Any]:
    """An attribution table with its KPIs: what ``tokenomy report --format json`` prints for it."""
    data = attribution_json(table)
    data["kpis"] = kpi_json(items)
    return data


def grouped_from_json(data: Mapping[str, Any]) -> tuple[AttributionTable, tuple[Kpi, ...]]:
    """The table and KPIs :func:`grouped_json` wrote."""
    return attribution_from_json(data), kpis_from_json(data["kpis"])


def attribution_from_json(data: Mapping[str, Any]) -> AttributionTable:
    """The table :func:`~tokenomy.analysis.serialize.attribution_json` wrote (without the facets,
    which it does not write)."""
    by = tuple(str(name) for name in data["by"])
    bucket = data["bucket"]
    if bucket is not None and not isinstance(bucket, str):
        raise TypeError(f"bucket should be a string or null, got {bucket!r}")
    where = data["where"]
    if not isinstance(where, Mapping):
        raise TypeError(f"where should be an object, got {where!r}")
    scope = Scope(
        _time(data["since"]),
        _time(data["until"]),
        tuple((str(name), tuple(str(v) for v in values)) for name, values in where.items()),
    )
    return AttributionTable(
        by=by,
        bucket=bucket,
        scope=scope,
        rows=tuple(_spend_row(row, by, bucket is not None) for row in data["rows"]),
        total=_spend_row(data["total"], (), False),
        notes=tuple(str(note) for note in data["notes"]),
    )


def _spend_row(row: Mapping[str, Any], by: Sequence[str], bucket: bool) -> SpendRow:
    return SpendRow(
        group={name: str(row[name]) for name in by},
        bucket=_time(row["bucket"]) if bucket else None,
        calls=_int(row["calls"]),
        charges=_int(row["charges"]),
        tokens={b: _int(row[b]) for b in BUCKETS},
        input_total=_int(row["input_total"]),
        output_total=_int(row["output_total"]),
        llm_cost=money_from_json(row["llm_cost"]),
        charge_cost=money_from_json(row["charge_cost"]),
        unpriced=_int(row["unpriced"]),
        cost_share=_float(row["cost_share"]),
        token_share=_float(row["token_share"]),
    )


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
            )
        )
    return tuple(out)


def _kpi_value(unit: str, value: Any) -> Number | None:
    if value is None:
        return None
    if unit == "USD":
        return money_from_json(value) if isinstance(value, str) else _number(value)
    if unit == "ratio":
        return _float(value)
    return _int(value)


def summary_json(data: Summary) -> dict[str, Any]:
    """The default report (KPIs with their trend, spend over time, the costliest models)."""
    return {
        "period": _period_json(data.period),
        "previous": _period_json(data.previous),
        "kpis": kpi_json(data.kpis),
        "over_time": attribution_json(data.over_time),
        "models": attribution_json(data.models),
        "folded": data.folded,
    }


def summary_from_json(data: Mapping[str, Any]) -> Summary:
    """The default report :func:`summary_json` wrote."""
    return Summary(
        period=_period(data["period"]),
        previous=_period(data["previous"]),
        kpis=kpis_from_json(data["kpis"]),
        over_time=attribution_from_json(data["over_time"]),
        models=attribution_from_json(data["models"]),
        folded=_int(data["folded"]),
    )


def report_row_json(row: ReportRow, *, with_keys: bool, charges: bool = False) -> dict[str, Any]:
    """A row of the first report (``with_keys``: its day, provider and model; ``charges``: its
    charges, their cost and the row's spend, as ``daily_totals(..., charges=True)`` gives them)."""
    out: dict[str, Any] = {}
    if with_keys:
        out.update(
            day=None if row.day is None else row.day.isoformat(), provider=row.provider, model=row.model
        )
    out["calls"] = row.calls
    out.update({b: row.tokens.get(b, 0) for b in BUCKETS})
    out.update(
        input_total=row.input_total,
        output_total=row.output_total,
        cost=jsonable(row.cost),
        unpriced=row.unpriced,
    )
    if charges:
        out.update(charges=row.charges, charge_cost=jsonable(row.charge_cost), spend=jsonable(row.spend))
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
        provider=_optional_text(row["provider"]) if with_keys else None,
        model=_optional_text(row["model"]) if with_keys else None,
        calls=_int(row["calls"]),
        tokens={b: _int(row[b]) for b in BUCKETS},
        input_total=_int(row["input_total"]),
        output_total=_int(row["output_total"]),
        cost=money_from_json(row["cost"]),
        unpriced=_int(row["unpriced"]),
        charges=_int(row.get("charges", 0)),
        charge_cost=money_from_json(row.get("charge_cost")),
    )


def _period_json(period: Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {"since": jsonable(period.since), "until": jsonable(period.until)}


def _period(data: Mapping[str, Any] | None) -> Period | None:
    if data is None:
        return None
    since, until = _time(data["since"]), _time(data["until"])
    if since is None or until is None:
        raise ValueError("a period needs both since and until")
    return Period(since, until)


def _time(value: Any) -> datetime | None:
    """A naive UTC datetime from ISO 8601 text (``Z`` or an offset, as :func:`jsonable` writes)."""
    return None if value is None else parse_time(value, "time")


def money_from_json(value: Any) -> Decimal | None:
    """An amount as the API writes it: a decimal string (its digits kept), or null for no amount.

    Raises:
        TypeError: ``value`` is neither (a JSON number would have lost digits).
        decimal.InvalidOperation: The string is not a decimal number.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"an amount should be a decimal string, got {value!r}")
    return Decimal(value)


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _number(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return value
