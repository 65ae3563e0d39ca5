"""Cost drivers: why spend changed between two periods, split exactly into named causes.

The LLM cost of a period is written per model ``m`` as::

    C = N · Σ_m s_m · c_m
    c_m = I_m · ((1 − h_m) · pu_m + h_m · pr_m) + O_m · po_m + f_m

with ``N`` the priced calls (volume), ``s_m`` the share of them on model m (model mix), ``I_m`` and
``O_m`` input and output tokens per call, ``h_m = cache_read / input`` (cache-hit rate), and the
effective prices actually paid: ``pu`` per uncached input token (cache writes included), ``pr`` per
cache-read token, ``po`` per output token and ``f`` per call (request fees, server tools,
overhead). These are read from the stored costs, so ``C`` equals the stored cost exactly.

The change ``C₁ − C₀`` is split among six drivers (volume, model_mix, input_tokens_per_call,
output_tokens_per_call, cache_hit_rate, prices) by Shapley values (:mod:`tokenomy.analysis.shapley`),
computed in exact rational arithmetic: the parts add up to the change exactly and do not depend on
an order. Two more parts complete the picture: ``charges`` (the change in non-LLM costs) and
``untracked`` (the change in cost of priced calls whose token counts are unknown). A model missing
from one period has no per-call figures there; it borrows the other period's, so its whole
effect is volume and mix. Parts are shown as decimals with 12 places; the rounding residue (a few
1e-12 at most) goes to the largest part so the shown parts still add up to the shown change.
Unpriced calls are left out of both periods and counted in the notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any, Final

from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection, grouped_calls, grouped_charges
from tokenomy.analysis.metric_rows import count_if, money_sum, sum_int
from tokenomy.analysis.periods import Period
from tokenomy.analysis.shapley import shapley
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store

DRIVERS: Final = (
    "volume",
    "model_mix",
    "input_tokens_per_call",
    "output_tokens_per_call",
    "cache_hit_rate",
    "prices",
)
PARTS: Final = (*DRIVERS, "charges", "untracked")
QUANTUM: Final = Decimal(1).scaleb(-12)
_TRACKED: Final = (
    "c.cost_total IS NOT NULL AND c.input_total IS NOT NULL AND c.output_total IS NOT NULL"
    " AND c.cache_read IS NOT NULL"
)
_AGGREGATES: Final = {
    "calls": count_if(_TRACKED),
    "input": sum_int("c.input_total", _TRACKED),
    "cache_read": sum_int("c.cache_read", _TRACKED),
    "output": sum_int("c.output_total", _TRACKED),
    "cost_input": money_sum(("input_uncached", "cache_write_5m", "cache_write_1h"), _TRACKED),
    "cost_read": money_sum(("cache_read",), _TRACKED),
    "cost_output": money_sum(("output_visible", "reasoning"), _TRACKED),
    "cost": f"sum(c.cost_total) FILTER (WHERE {_TRACKED})",
    "untracked": f"sum(c.cost_total) FILTER (WHERE c.cost_total IS NOT NULL AND NOT ({_TRACKED}))",
    "unpriced": count_if("c.cost_total IS NULL"),
}
_SUM_FIELDS: Final = (
    "calls",
    "input",
    "cache_read",
    "output",
    "cost_input",
    "cost_read",
    "cost_output",
    "cost",
)


@dataclass(slots=True)
class PeriodSums:
    """What one period spent, per model (priced calls with token counts), plus the rest."""

    models: dict[str, dict[str, Fraction]] = field(default_factory=dict)
    charges: Fraction = Fraction(0)
    untracked: Fraction = Fraction(0)
    unpriced: int = 0

    def add_model(self, model: str, raw: Mapping[str, Any]) -> None:
        """Add one aggregated row of ``model``."""
        sums = self.models.setdefault(model, dict.fromkeys(_SUM_FIELDS, Fraction(0)))
        for name in _SUM_FIELDS:
            sums[name] += Fraction(raw[name] or 0)
        self.untracked += Fraction(raw["untracked"] or 0)
        self.unpriced += int(raw["unpriced"] or 0)

    @property
    def cost(self) -> Fraction:
        """LLM cost (tracked and untracked) plus charges."""
        return sum((m["cost"] for m in self.models.values()), Fraction(0)) + self.charges + self.untracked


@dataclass(frozen=True, slots=True)
class DriverRow:
    """The change in cost of one group (everything, when ``group`` is empty), split by cause."""

    group: Mapping[str, str]
    baseline_cost: Decimal
    current_cost: Decimal
    parts: Mapping[str, Decimal]
    """Part name (:data:`PARTS`) -> dollars; the parts add up to :attr:`change` exactly."""
    baseline_calls: int = 0
    current_calls: int = 0

    @property
    def change(self) -> Decimal:
        """Current minus baseline cost."""
        return self.current_cost - self.baseline_cost

    @property
    def dominant(self) -> str | None:
        """The part with the largest effect (by absolute value), or None when nothing changed."""
        name, amount = max(self.parts.items(), key=lambda item: abs(item[1]))
        return name if amount else None


@dataclass(frozen=True, slots=True)
class CostDrivers:
    """Cost drivers between two periods: in total and per value of each dimension."""

    current: Period
    baseline: Period
    total: DriverRow
    groups: Mapping[str, tuple[DriverRow, ...]]
    notes: tuple[str, ...] = ()


def cost_drivers(
    store: Store,
    current: Period,
    baseline: Period,
    *,
    scope: Scope | None = None,
    by: Sequence[str] = ("team", "feature"),
    sources: Sources | None = None,
) -> CostDrivers:
    """Split the change in cost from ``baseline`` to ``current`` into drivers, in total and per group.

    Args:
        store: The store to read.
        current: The period to explain.
        baseline: The period to compare it with.
        scope: Filters (``--where``); its period is replaced by each of the two periods.
        by: Dimensions to explain per value (the dominant driver of each team, feature...).
        sources: The optional tables (detected when None).

    Returns:
        Driver rows whose parts add up exactly to each change.
    """
    src = sources or detect(store)
    scope = scope or Scope()
    sums = {
        "baseline": _period_rows(store, src, scope.between(baseline.since, baseline.until), by),
        "current": _period_rows(store, src, scope.between(current.since, current.until), by),
    }
    total = _decompose({}, _merge(sums["baseline"]), _merge(sums["current"]))
    groups: dict[str, tuple[DriverRow, ...]] = {}
    for dim in by:
        values = sorted({g[dim] for rows in sums.values() for g, _ in rows})
        rows = []
        for value in values:
            before = _merge((g, r) for g, r in sums["baseline"] if g[dim] == value)
            after = _merge((g, r) for g, r in sums["current"] if g[dim] == value)
            rows.append(_decompose({dim: value}, before, after))
        groups[dim] = tuple(sorted(rows, key=lambda r: -abs(r.change)))
    notes = _notes(_merge(sums["baseline"]), _merge(sums["current"]))
    return CostDrivers(current, baseline, total, groups, tuple(notes))


PARTIAL_SHARE: Final = 0.25
"""A last day holding less than this share of the period's other days' mean calls may be partial."""


def partial_end(store: Store, sources: Sources, scope: Scope, period: Period) -> str | None:
    """A note when ``period`` ends where the store's calls do (``scope`` sets no ``--until``) but the
    selected calls do not fill its end: they stop days before it (a ``--where`` whose team stopped
    earlier), or their last day holds far fewer calls than their other days on average (a day still
    in progress, or cut where the data stops). Either reads as a fall in spend and makes volume
    the driver of every group."""
    if scope.until is not None or period.length < timedelta(days=2):
        return None
    final = (period.until - timedelta(days=1)).date()  # the period's last UTC day
    start = f"TIMESTAMP '{final:%Y-%m-%d} 00:00:00'"
    aggregates = {
        "calls": "count(*)",
        "last_at": "max(c.started_at)",
        "on_last": f"count(*) FILTER (WHERE c.started_at >= {start})",
    }
    total = grouped_calls(
        store, sources, Selection(scope.between(period.since, period.until)), aggregates
    ).total
    calls, last_at = int(total["calls"] or 0), total["last_at"]
    if not calls or last_at is None:
        return None
    stop = last_at.date()
    if stop < final:
        return (
            f"the selected calls stop on {stop:%Y-%m-%d}, {(final - stop).days} day(s) before the period"
            " ends (where the store's calls do): those days read as a fall in spend; --until"
            f" {stop + timedelta(days=1):%Y-%m-%d} ends the period with them"
        )
    on_last = int(total["on_last"] or 0)
    mean = (calls - on_last) / (period.length.days - 1)
    if mean <= 0 or on_last >= PARTIAL_SHARE * mean:
        return None
    return (
        f"the period's last day, {final:%Y-%m-%d}, holds {on_last:,} call(s) against {mean:,.0f} a day"
        f" before it: it may be partial (the data stops there), which reads as a fall in spend; --until"
        f" {final:%Y-%m-%d} compares whole days"
    )


Rows = list[tuple[dict[str, str], tuple[str, Mapping[str, Any]] | Fraction]]


def _period_rows(store: Store, sources: Sources, scope: Scope, by: Sequence[str]) -> Rows:
    """(group, (model, sums)) rows of the calls, and (group, amount) rows of the charges."""
    dims = tuple(dict.fromkeys((*by, "model")))
    calls = grouped_calls(store, sources, Selection(scope, Grouping(dims)), _AGGREGATES, total=False)
    charges = grouped_charges(
        store, Selection(scope, Grouping(tuple(by))), {"amount": "sum(c.amount)"}, total=False
    )
    rows: Rows = []
    for raw in calls.rows:
        group = {k: raw["group"][k] for k in by}
        rows.append((group, (raw["group"]["model"], raw)))
    rows.extend((raw["group"], Fraction(raw["amount"] or 0)) for raw in charges.rows)
    return rows


def _merge(rows: Iterable[tuple[dict[str, str], tuple[str, Mapping[str, Any]] | Fraction]]) -> PeriodSums:
    sums = PeriodSums()
    for _, item in rows:
        if isinstance(item, Fraction):
            sums.charges += item
        else:
            sums.add_model(*item)
    return sums


def _factors(sums: Mapping[str, Fraction]) -> dict[str, Fraction | None]:
    """Per-call figures and effective prices of one model in one period (None: undefined)."""
    n, tokens_in, read, out = sums["calls"], sums["input"], sums["cache_read"], sums["output"]

    def per(amount: Fraction, base: Fraction) -> Fraction | None:
        return amount / base if base else None

    pu, pr, po = (
        per(sums["cost_input"], tokens_in - read),
        per(sums["cost_read"], read),
        per(sums["cost_output"], out),
    )
    paid = (("cost_input", pu), ("cost_read", pr), ("cost_output", po))
    priced_by_token = sum((sums[k] for k, price in paid if price is not None), Fraction(0))
    return {
        "I": per(tokens_in, n),
        "O": per(out, n),
        "h": per(read, tokens_in),
        "pu": pu,
        "pr": pr,
        "po": po,
        "f": per(sums["cost"] - priced_by_token, n),
    }


_FACTOR_OF: Final = {
    "I": "input_tokens_per_call",
    "O": "output_tokens_per_call",
    "h": "cache_hit_rate",
    "pu": "prices",
    "pr": "prices",
    "po": "prices",
    "f": "prices",
}


def _filled(before: PeriodSums, after: PeriodSums) -> tuple[dict[str, dict[str, Fraction]], ...]:
    """Per model and period, every per-call figure, borrowing the other period's where undefined."""
    models = sorted(set(before.models) | set(after.models))
    empty = dict.fromkeys(_SUM_FIELDS, Fraction(0))
    out: tuple[dict[str, dict[str, Fraction]], dict[str, dict[str, Fraction]]] = ({}, {})
    for model in models:
        a = _factors(before.models.get(model, empty))
        b = _factors(after.models.get(model, empty))
        out[0][model] = {k: _pick(a[k], b[k]) for k in a}
        out[1][model] = {k: _pick(b[k], a[k]) for k in b}
    return out


def _pick(own: Fraction | None, other: Fraction | None) -> Fraction:
    if own is not None:
        return own
    return other if other is not None else Fraction(0)


def _decompose(group: dict[str, str], before: PeriodSums, after: PeriodSums) -> DriverRow:
    figures = _filled(before, after)
    volume = [sum((m["calls"] for m in p.models.values()), Fraction(0)) for p in (before, after)]
    mix = [_mix(p, volume[i], figures[0]) for i, p in enumerate((before, after))]
    for i in (0, 1):  # a period with no calls has no mix: it borrows the other's (times a volume of 0)
        if not volume[i]:
            mix[i] = mix[1 - i]

    per_call: dict[tuple[int, ...], dict[str, Fraction]] = {}

    def cost(switched: frozenset[str]) -> Fraction:
        def at(driver: str) -> int:
            return 1 if driver in switched else 0

        # per-call costs depend on four drivers only: computed once per combination of them
        key = tuple(at(d) for d in _PER_CALL_DRIVERS)
        if key not in per_call:
            per_call[key] = {model: _per_call(figures, model, at) for model in figures[0]}
        mixed = sum((mix[at("model_mix")][m] * c for m, c in per_call[key].items()), Fraction(0))
        return volume[at("volume")] * mixed

    shares = shapley(DRIVERS, cost)
    shares["charges"] = after.charges - before.charges
    shares["untracked"] = after.untracked - before.untracked
    baseline, current = _money(before.cost), _money(after.cost)
    return DriverRow(
        group=group,
        baseline_cost=baseline,
        current_cost=current,
        parts=_rounded(shares, current - baseline),
        baseline_calls=int(volume[0]),
        current_calls=int(volume[1]),
    )


def _mix(sums: PeriodSums, volume: Fraction, models: Iterable[str]) -> dict[str, Fraction]:
    return {
        m: sums.models[m]["calls"] / volume if volume and m in sums.models else Fraction(0) for m in models
    }


_PER_CALL_DRIVERS: Final = ("input_tokens_per_call", "output_tokens_per_call", "cache_hit_rate", "prices")


def _per_call(
    figures: tuple[dict[str, dict[str, Fraction]], ...], model: str, at: Callable[[str], int]
) -> Fraction:
    """``c_m`` of the module docstring, each figure taken from the period ``at`` says."""
    f = {k: figures[at(driver)][model][k] for k, driver in _FACTOR_OF.items()}
    return f["I"] * ((1 - f["h"]) * f["pu"] + f["h"] * f["pr"]) + f["O"] * f["po"] + f["f"]


def _money(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def _rounded(shares: Mapping[str, Fraction], change: Decimal) -> dict[str, Decimal]:
    """Parts rounded to 12 places; the residue goes to the largest part so they add up to ``change``."""
    return with_residue({name: _money(shares[name]) for name in PARTS}, shares, change)


def with_residue(
    rounded: dict[str, Decimal], exact: Mapping[str, Any], change: Decimal
) -> dict[str, Decimal]:
    """``rounded`` (each part of :data:`PARTS` rounded on its own) with what they miss of ``change``
    given to the largest part of ``exact``, so that they add up to ``change``."""
    residue = change - sum(rounded.values(), Decimal(0))
    if residue:
        largest = max(PARTS, key=lambda name: abs(exact[name]))
        rounded[largest] += residue
    return rounded


def _notes(before: PeriodSums, after: PeriodSums) -> list[str]:
    notes = []
    if before.unpriced or after.unpriced:
        notes.append(
            f"unpriced calls left out (never $0): {before.unpriced:,} in the baseline, {after.unpriced:,} now"
        )
    return notes
