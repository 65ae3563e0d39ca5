"""How a metric's aggregated sums become result rows: quotients, coverage, reasons, notes.

The metrics in :mod:`tokenomy.analysis.metrics` say what to sum in SQL; the helpers here build
the SQL aggregates (whole-number sums, filtered counts) and turn each aggregated row into a
:class:`~tokenomy.analysis.results.MetricRow` with its coverage and, when there is nothing to
divide, a reason instead of a value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.grouped import Grouped, Selection, grouped_calls
from tokenomy.analysis.results import MetricResult, MetricRow, Number, share
from tokenomy.analysis.sources import Sources, detect
from tokenomy.pricing.rates import MONEY_QUANTUM
from tokenomy.store.base import Store

PRICED_NOTE: Final = "{n} unpriced call(s) left out of the cost (never counted as $0)"

Compute = Callable[[Mapping[str, Any]], MetricRow]


def sum_int(expr: str, where: str | None = None) -> str:
    """``sum(expr)`` as a whole number (NULL over no rows), optionally filtered."""
    filtered = f" FILTER (WHERE {where})" if where else ""
    return f"CAST(sum({expr}){filtered} AS BIGINT)"


def count_if(where: str) -> str:
    """``count(*)`` of the rows where ``where`` holds."""
    return f"count(*) FILTER (WHERE {where})"


def metric_row(
    raw: Mapping[str, Any], value: Number | None, num: Any, den: Any, known: int, **kw: Any
) -> MetricRow:
    """A row of a metric: its group, value, parts and coverage (``known`` of the row's calls)."""
    calls = int(raw["calls"] or 0)
    return MetricRow(
        group=raw["group"],
        bucket=raw["bucket"],
        value=value,
        numerator=num,
        denominator=den,
        calls=calls,
        coverage=known / calls if calls else None,
        **kw,
    )


def quotient(
    raw: Mapping[str, Any],
    num: str,
    den: str,
    *,
    missing: str,
    zero: str,
    known: str = "known",
    complement: bool = False,
) -> MetricRow:
    """``num / den`` (or ``1 - num / den``) of a row with ``calls`` and ``known`` counts.

    The value is None, with a reason, when the row has no calls, when no call's inputs were
    known (``missing``), or when the denominator is 0 (``zero``).
    """
    known_calls = int(raw[known] or 0)
    n, d = raw[num] or 0, raw[den] or 0
    if not raw["calls"]:
        return metric_row(raw, None, None, None, 0, reason="no calls")
    if known_calls == 0:
        return metric_row(raw, None, None, None, 0, reason=missing)
    if d == 0:
        return metric_row(raw, None, n, d, known_calls, reason=zero)
    value = share(n, d)
    assert value is not None
    return metric_row(raw, 1 - value if complement else value, n, d, known_calls)


def build_result(
    spec: tuple[str, str, str],
    selection: Selection,
    grouped: Grouped,
    compute: Compute,
    notes: list[str],
) -> MetricResult:
    """A metric's result: ``spec`` is (name, unit, formula); ``compute`` makes each row."""
    name, unit, formula = spec
    return MetricResult(
        name=name,
        unit=unit,
        formula=formula,
        rows=tuple(compute(r) for r in grouped.rows),
        total=compute(grouped.total),
        by=selection.grouping.by,
        bucket=selection.grouping.bucket,
        notes=tuple(notes),
    )


def with_details(row: MetricRow, details: Mapping[str, Any]) -> MetricRow:
    """``row`` with its metric-specific details."""
    return dataclasses.replace(row, details=dict(details))


def unpriced_notes(grouped: Grouped) -> list[str]:
    """A note counting the unpriced calls left out of a cost, if any."""
    total = grouped.total
    missing = int(total["calls"] or 0) - int(total["known"] or 0)
    return [PRICED_NOTE.format(n=f"{missing:,}")] if missing else []


def money_sum(parts: tuple[str, ...], where: str) -> str:
    """The SQL sum of some cost parts (``cost_<part>`` columns) over the rows where ``where`` holds."""
    return "sum(" + " + ".join(f"coalesce(c.cost_{p}, 0)" for p in parts) + f") FILTER (WHERE {where})"


def parent_key(raw: Mapping[str, Any], dimension: str) -> tuple[Any, ...]:
    """A row's group without one dimension, and its bucket: the key of its parent group."""
    return tuple((k, v) for k, v in raw["group"].items() if k != dimension), raw["bucket"]


def parent_sums(
    rows: list[dict[str, Any]], names: tuple[str, ...], dimension: str
) -> dict[Any, dict[str, Any]]:
    """Each parent group's sums of ``names`` over its rows (the rows split it by ``dimension``)."""
    parents: dict[Any, dict[str, Any]] = {}
    for raw in rows:
        parent = parents.setdefault(parent_key(raw, dimension), dict.fromkeys(names, 0))
        for name in names:
            parent[name] += raw[name] or 0
    return parents


def parity_row(key: Any, by_model: Mapping[str, Mapping[str, Any]], a: str, b: str) -> MetricRow:
    """Latency-cost parity of models ``a`` and ``b`` in one group, from their summed latency and cost.

    ``key`` is the group and bucket; ``by_model`` holds each model's ``calls``, ``known`` (calls
    with a latency and a price), ``latency`` and ``cost`` sums. The means are computed in Decimal;
    the value, the extra cost per call and the costs per call are rounded to the stored 12 places.
    """
    group, bucket = dict(key[0]), key[1]
    calls = sum(int(r["calls"] or 0) for r in by_model.values())
    known = sum(int(r["known"] or 0) for r in by_model.values())
    coverage = known / calls if calls else None
    means: dict[str, tuple[Decimal, Decimal]] = {}
    for model in (a, b):
        raw = by_model.get(model)
        if raw and raw["known"]:
            # Decimal means: float means would put binary noise into the 12 places of the result
            means[model] = (
                Decimal(repr(float(raw["latency"]))) / raw["known"],
                Decimal(raw["cost"]) / raw["known"],
            )
    if len(means) < 2:
        missing = [m for m in (a, b) if m not in means]
        return MetricRow(
            group,
            bucket,
            None,
            calls=calls,
            coverage=coverage,
            reason=f"no priced successful call with a latency on {', '.join(missing)}",
        )
    (fast, (lat_f, cost_f)), (slow, (lat_s, cost_s)) = sorted(means.items(), key=lambda item: item[1][0])
    details = {
        "faster": fast,
        "slower": slow,
        "latency_ms": {a: float(means[a][0]), b: float(means[b][0])},
        "cost_per_call": {a: means[a][1].quantize(MONEY_QUANTUM), b: means[b][1].quantize(MONEY_QUANTUM)},
    }
    if lat_s == lat_f:
        return MetricRow(
            group,
            bucket,
            None,
            calls=calls,
            coverage=coverage,
            reason="both models have the same mean latency",
            details=details,
        )
    saved = (lat_s - lat_f) / 100
    value = ((cost_f - cost_s) / saved).quantize(MONEY_QUANTUM)
    extra = (cost_f - cost_s).quantize(MONEY_QUANTUM)
    return MetricRow(group, bucket, value, extra, float(saved), calls, coverage, None, details)


_CALLED: Final = re.compile(r"\w+\(.*\)")
"""A SQL expression that is one function call (no parentheses needed around it in a formula)."""


def quotient_metric(
    store: Store,
    selection: Selection,
    sources: Sources | None,
    spec: tuple[str, str, str, str, str],
    *,
    complement: bool = False,
) -> MetricResult:
    """A plain quotient metric: ``Σ num / Σ den`` (or one minus it) over calls where ``known`` holds.

    ``spec`` is (name, unit, known condition, numerator, denominator), the last three in SQL.
    """
    name, unit, known, num, den = spec
    aggs = {
        "calls": "count(*)",
        "known": count_if(known),
        "num": sum_int(num, known),
        "den": sum_int(den, known),
    }
    grouped = grouped_calls(store, sources or detect(store), selection, aggs)
    missing = f"no call reports {_inputs(known)}"

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        return quotient(raw, "num", "den", missing=missing, zero=f"Σ {den} is 0", complement=complement)

    parts = [f"({e})" if " + " in e and not _CALLED.fullmatch(e) else e for e in (num, den)]
    formula = f"{'1 − ' if complement else ''}Σ {parts[0]} / Σ {parts[1]}".replace("c.", "")
    return build_result((name, unit, formula), selection, grouped, compute, [])


def _inputs(known: str) -> str:
    return ", ".join(part.split(" ")[0].replace("c.", "") for part in known.split(" AND "))
