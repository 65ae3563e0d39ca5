"""The typed results of the efficiency metrics, and their JSON form.

A metric's value is ``None`` when there is nothing to compute it from, and ``reason`` then says
why: a metric with no data is never shown as 0. ``coverage`` is the share of the group's calls
whose inputs to the metric were known (cache reads reported, a price found...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tokenomy.native import money_text
from tokenomy.pricing.rates import MONEY_QUANTUM

Number = float | Decimal | int


@dataclass(frozen=True, slots=True)
class MetricRow:
    """A metric for one group (or for everything selected, when ``group`` is empty)."""

    group: Mapping[str, str]
    bucket: datetime | None
    value: Number | None
    numerator: Number | None = None
    denominator: Number | None = None
    calls: int = 0
    coverage: float | None = None
    """Share of the group's calls whose inputs were known; None when the group has no calls."""
    reason: str | None = None
    """Why ``value`` is None."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Figures specific to the metric (percentiles, parts of a cost...)."""


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric over a selection: per group rows and the total over everything selected."""

    name: str
    unit: str
    """``ratio`` (0..1 or more), ``x`` (a multiple), ``USD``, ``USD/100ms``."""
    formula: str
    rows: tuple[MetricRow, ...]
    total: MetricRow
    by: tuple[str, ...] = ()
    bucket: str | None = None
    notes: tuple[str, ...] = ()
    """What the reader must know to read the figures (for example: waste not assessed)."""


def share(part: Number | None, whole: Number | None) -> float | None:
    """``part / whole`` as a float, or None when either is unknown or ``whole`` is 0."""
    if part is None or whole is None or whole == 0:
        return None
    return float(Decimal(part) / Decimal(whole)) if isinstance(part, Decimal) else float(part) / float(whole)


def per_unit(cost: Any, units: int) -> Decimal:
    """Money per unit (session, action...) with the stored 12 places, rounded half to even."""
    return (Decimal(cost) / units).quantize(MONEY_QUANTUM)


def jsonable(value: Any) -> Any:
    """``value`` with Decimals as plain decimal strings (``0.000000000000``, never ``0E-12``),
    datetimes in ISO 8601 UTC with a ``Z`` (the store's naive times are UTC) and mappings as dicts
    (recursively)."""
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def metric_json(result: MetricResult) -> dict[str, Any]:
    """A metric result as JSON-ready data (money as decimal strings, no value as null)."""

    def row(r: MetricRow) -> dict[str, Any]:
        return {
            "group": dict(r.group),
            "bucket": jsonable(r.bucket),
            "value": jsonable(r.value),
            "numerator": jsonable(r.numerator),
            "denominator": jsonable(r.denominator),
            "calls": r.calls,
            "coverage": r.coverage,
            "reason": r.reason,
            "details": jsonable(r.details),
        }

    return {
        "metric": result.name,
        "unit": result.unit,
        "formula": result.formula,
        "by": list(result.by),
        "bucket": result.bucket,
        "notes": list(result.notes),
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
    }
