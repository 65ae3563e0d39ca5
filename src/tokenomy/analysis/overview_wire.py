"""The HTML report's data (:class:`~tokenomy.analysis.overview.Overview`) as JSON and back.

The collector's ``GET /api/v1/report?view=overview`` computes the overview over one snapshot of its
store and answers it in this form; ``tokenomy report --server ... --format html`` reads it back and
draws the page with :func:`tokenomy.analysis.html_report.render`, as from a store file. The parts
are written as the other report forms write them (:mod:`tokenomy.analysis.report_wire`): the
period and its previous one, the scope, the spend table, the KPIs, the cost drivers (or null), the
most expensive sessions (read by :mod:`tokenomy.analysis.sessions_wire`), the notes and the LLM
cost by part (:func:`~tokenomy.analysis.cost_split.split_json`; absent from an older collector's
answer, read as none); spend over
time is ``{unit, labels, values}`` per chart, an amount per label as a decimal string. Read back,
every object equals the one computed (the table without its facets, which the page does not draw).

:func:`overview_from_json` raises ``KeyError``, ``TypeError``, ``ValueError`` or
``ArithmeticError`` on data that does not read; callers name the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenomy.analysis.cost_split import split_from_json, split_json
from tokenomy.analysis.overview import Overview, Series, kpi_json
from tokenomy.analysis.report_wire import (
    attribution_from_json,
    drivers_from_json,
    kpis_from_json,
    scope_from_json,
)
from tokenomy.analysis.results import jsonable
from tokenomy.analysis.serialize import attribution_json, drivers_json, scope_json, sessions_json
from tokenomy.analysis.sessions_wire import sessions_from_json
from tokenomy.analysis.wire_values import amount_from_json, period_from_json, period_json
from tokenomy.store.base import TIME_UNITS, TimeUnit


def overview_json(data: Overview) -> dict[str, Any]:
    """The full report's data (see the module docstring)."""
    return {
        "period": period_json(data.period),
        "previous": period_json(data.previous),
        "scope": scope_json(data.scope),
        "table": attribution_json(data.table),
        "kpis": kpi_json(data.kpis),
        "over_time": {name: series_json(series) for name, series in data.over_time.items()},
        "drivers": None if data.drivers is None else drivers_json(data.drivers),
        "sessions": sessions_json(data.sessions),
        "notes": list(data.notes),
        "split": split_json(data.split),
    }


def overview_from_json(data: Mapping[str, Any]) -> Overview:
    """The full report's data :func:`overview_json` wrote."""
    over_time = data["over_time"]
    if not isinstance(over_time, Mapping):
        raise TypeError(f"over_time should be an object, got {over_time!r}")
    drivers = data["drivers"]
    return Overview(
        period=period_from_json(data["period"]),
        previous=period_from_json(data["previous"]),
        scope=scope_from_json(data["scope"]),
        table=attribution_from_json(data["table"]),
        kpis=kpis_from_json(data["kpis"]),
        over_time={str(name): series_from_json(series) for name, series in over_time.items()},
        drivers=None if drivers is None else drivers_from_json(drivers),
        sessions=sessions_from_json(data["sessions"]),
        notes=tuple(str(note) for note in data["notes"]),
        split=split_from_json(data.get("split")),
    )


def series_json(series: Series) -> dict[str, Any]:
    """Spend over time: the bucket unit, the x labels, and per series one amount per label."""
    return {
        "unit": series.unit,
        "labels": list(series.labels),
        "values": {name: jsonable(list(amounts)) for name, amounts in series.values.items()},
    }


def series_from_json(data: Mapping[str, Any]) -> Series:
    """The spend over time :func:`series_json` wrote."""
    values = data["values"]
    if not isinstance(values, Mapping):
        raise TypeError(f"a series' values should be an object, got {values!r}")
    return Series(
        unit=_unit(data["unit"]),
        labels=tuple(str(label) for label in data["labels"]),
        values={
            str(name): tuple(amount_from_json(amount) for amount in amounts)
            for name, amounts in values.items()
        },
    )


def _unit(value: Any) -> TimeUnit:
    for unit in TIME_UNITS:
        if value == unit:
            return unit
    raise ValueError(f"a series' unit should be one of {', '.join(TIME_UNITS)}, got {value!r}")
