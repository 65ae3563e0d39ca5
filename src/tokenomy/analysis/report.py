"""The first report: calls, tokens per bucket and cost by UTC day, provider and model.

Token sums add the values that are known (a bucket a provider did not report counts as
nothing, not as 0 reported); a bucket or total none of a group's calls reported is unknown (None:
null in JSON, an empty CSV cell), never 0, and ``usage_unknown`` counts the calls that left a
bucket or a total unreported, as the report table (analysis.attribution) does. ``cost`` sums the
priced calls only, and ``unpriced`` counts the others, so an unpriced call is never shown as $0. A
group whose calls are all unpriced has no cost at all (None), which the CLI shows as "—".

With ``charges=True`` the report also carries the charges (non-LLM costs): they have no provider
or model, so each UTC day's charges are the row of that day with no provider and no model (the
"(unattributed)" row of the report table), and every row's ``spend`` is its calls' cost plus its
charges, as the report table's Spend: the rows' spend adds up to the total spend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.dimensions import Grouping, Scope, as_utc
from tokenomy.analysis.grouped import Selection, add, grouped_charges
from tokenomy.schema import BUCKETS
from tokenomy.store.base import CallFilter, Store

CHARGE_SUMS: Final = {"charges": "count(*)", "charge_cost": "sum(c.amount)"}
"""The charges' count and cost, as the report table sums them (analysis.attribution)."""


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Totals for one (day, provider, model), or for everything when those are None."""

    day: date | None
    provider: str | None
    model: str | None
    calls: int
    tokens: Mapping[str, int | None] = field(default_factory=dict)
    """Sum of each of the six buckets over the calls that reported it; None when the row has calls
    and none of them reported it (unknown, never 0). A bucket missing here is 0 (a row of charges)."""
    input_total: int | None = 0
    """Sum over the calls that reported their input total; None when none did."""
    output_total: int | None = 0
    """Sum over the calls that reported their output total; None when none did."""
    cost: Decimal | None = None
    """Sum over priced calls; None when no call of the group is priced."""
    unpriced: int = 0
    usage_unknown: int = 0
    """Calls that left a bucket or a total unreported: the token sums do not cover them there."""
    charges: int = 0
    """Charges (non-LLM costs) of the group; only with ``daily_totals(..., charges=True)``."""
    charge_cost: Decimal | None = None
    """Sum of those charges; None when the group has none."""

    @property
    def priced(self) -> int:
        """Calls with a cost."""
        return self.calls - self.unpriced

    @property
    def spend(self) -> Decimal | None:
        """The calls' cost plus the charges (the report table's Spend); None when neither is known."""
        spend: Decimal | None = add(self.cost, self.charge_cost)
        return spend


@dataclass(frozen=True, slots=True)
class Report:
    """The rows (by day, provider, model) and their grand total."""

    rows: tuple[ReportRow, ...]
    total: ReportRow
    filters: CallFilter


def daily_totals(store: Store, filters: CallFilter | None = None, *, charges: bool = False) -> Report:
    """Totals by UTC day, provider and model over the calls ``filters`` selects.

    Args:
        store: Any store (the query itself is the backend's :meth:`Store.totals`).
        filters: Which calls; all of them when None.
        charges: Also the charges of the period (and session, if the filters name one): per UTC
            day, in the row with no provider and no model. A provider or model filter selects no
            charge (a charge has neither).

    Returns:
        The rows ordered by day, provider and model, with their grand total.
    """
    filters = filters or CallFilter()
    rows = [_row(r) for r in store.totals(filters).to_pylist()]
    if charges and filters.provider is None and filters.model is None:
        rows = _with_charges(rows, _daily_charges(store, filters))
    return Report(rows=tuple(rows), total=grand_total(rows), filters=filters)


def _daily_charges(store: Store, filters: CallFilter) -> dict[date, dict[str, Any]]:
    """The charges' count and cost per UTC day, by the query the report table runs for them."""
    scope = Scope(as_utc(filters.since), as_utc(filters.until))
    if filters.session_id is not None:
        scope = scope.with_where("session", [filters.session_id])
    grouped = grouped_charges(store, Selection(scope, Grouping((), "day")), CHARGE_SUMS, additive=True)
    return {_day(r["bucket"]): r for r in grouped.rows}


def _with_charges(rows: list[ReportRow], by_day: Mapping[date, Mapping[str, Any]]) -> list[ReportRow]:
    """``rows`` with each day's charges in its row with no provider and no model (added when missing)."""
    out = {(r.day, r.provider, r.model): r for r in rows}
    for day, sums in by_day.items():
        count, cost = int(sums["charges"] or 0), sums["charge_cost"]
        row = out.get((day, None, None)) or ReportRow(day=day, provider=None, model=None, calls=0)
        out[(day, None, None)] = replace(row, charges=count, charge_cost=cost)
    return sorted(out.values(), key=_order)


def _order(row: ReportRow) -> tuple[Any, ...]:
    """Day, provider, model, a missing value first (as :meth:`Store.totals` orders them)."""
    return (
        row.day is not None,
        row.day or date.min,
        row.provider is not None,
        row.provider or "",
        row.model is not None,
        row.model or "",
    )


def _day(bucket: Any) -> date:
    return bucket.date() if isinstance(bucket, datetime) else bucket


def _row(values: Mapping[str, Any]) -> ReportRow:
    """A row of :meth:`Store.totals`, with its count of calls with unreported usage."""
    return ReportRow(
        day=values["day"],
        provider=values["provider"],
        model=values["model"],
        calls=int(values["calls"]),
        tokens={b: _count(values[b]) for b in BUCKETS},
        input_total=_count(values["input_total"]),
        output_total=_count(values["output_total"]),
        cost=values["cost"],
        unpriced=int(values["unpriced"]),
        usage_unknown=int(values["usage_unknown"] or 0),
    )


def _count(value: Any) -> int | None:
    """A sum of the known values: None when no call of the row reported it (the engine's NULL)."""
    return None if value is None else int(value)


def grand_total(rows: Iterable[ReportRow]) -> ReportRow:
    """The sum of ``rows`` (cost None when no row has a cost; a token figure None when there are
    calls and no row's calls reported it)."""
    rows = list(rows)
    costs = [r.cost for r in rows if r.cost is not None]
    with_calls = [r for r in rows if r.calls]
    return ReportRow(
        day=None,
        provider=None,
        model=None,
        calls=sum(r.calls for r in rows),
        tokens={b: _known_count(r.tokens.get(b, 0) for r in with_calls) for b in BUCKETS},
        input_total=_known_count(r.input_total for r in with_calls),
        output_total=_known_count(r.output_total for r in with_calls),
        cost=sum(costs, Decimal(0)) if costs else None,
        unpriced=sum(r.unpriced for r in rows),
        usage_unknown=sum(r.usage_unknown for r in rows),
        charges=sum(r.charges for r in rows),
        charge_cost=_known_sum(r.charge_cost for r in rows),
    )


def _known_count(values: Iterable[int | None]) -> int | None:
    """The sum of the known token figures; 0 when there are none at all, None when all are unknown."""
    values = list(values)
    known = [v for v in values if v is not None]
    return sum(known) if known or not values else None


def _known_sum(values: Iterable[Decimal | None]) -> Decimal | None:
    out: Decimal | None = None
    for value in values:
        out = add(out, value)
    return out
