"""The first report: calls, tokens per bucket and cost by UTC day, provider and model.

Token sums add the values that are known (a bucket a provider did not report counts as
nothing, not as 0 reported); ``cost`` sums the priced calls only, and ``unpriced`` counts the
others, so an unpriced call is never shown as $0. A group whose calls are all unpriced has no
cost at all (None), which the CLI shows as "—".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tokenomy.schema import BUCKETS
from tokenomy.store.base import CallFilter, Store


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Totals for one (day, provider, model), or for everything when those are None."""

    day: date | None
    provider: str | None
    model: str | None
    calls: int
    tokens: Mapping[str, int] = field(default_factory=dict)
    """Sum of each of the six buckets over the calls that reported it."""
    input_total: int = 0
    output_total: int = 0
    cost: Decimal | None = None
    """Sum over priced calls; None when no call of the group is priced."""
    unpriced: int = 0

    @property
    def priced(self) -> int:
        """Calls with a cost."""
        return self.calls - self.unpriced


@dataclass(frozen=True, slots=True)
class Report:
    """The rows (by day, provider, model) and their grand total."""

    rows: tuple[ReportRow, ...]
    total: ReportRow
    filters: CallFilter


def daily_totals(store: Store, filters: CallFilter | None = None) -> Report:
    """Totals by UTC day, provider and model over the calls ``filters`` selects.

    Args:
        store: Any store (the query itself is the backend's :meth:`Store.totals`).
        filters: Which calls; all of them when None.

    Returns:
        The rows ordered by day, provider and model, with their grand total.
    """
    filters = filters or CallFilter()
    rows = tuple(_row(r) for r in store.totals(filters).to_pylist())
    return Report(rows=rows, total=grand_total(rows), filters=filters)


def _row(values: Mapping[str, Any]) -> ReportRow:
    return ReportRow(
        day=values["day"],
        provider=values["provider"],
        model=values["model"],
        calls=int(values["calls"]),
        tokens={b: int(values[b] or 0) for b in BUCKETS},
        input_total=int(values["input_total"] or 0),
        output_total=int(values["output_total"] or 0),
        cost=values["cost"],
        unpriced=int(values["unpriced"]),
    )


def grand_total(rows: Iterable[ReportRow]) -> ReportRow:
    """The sum of ``rows`` (cost None when no row has a cost)."""
    rows = list(rows)
    costs = [r.cost for r in rows if r.cost is not None]
    return ReportRow(
        day=None,
        provider=None,
        model=None,
        calls=sum(r.calls for r in rows),
        tokens={b: sum(r.tokens.get(b, 0) for r in rows) for b in BUCKETS},
        input_total=sum(r.input_total for r in rows),
        output_total=sum(r.output_total for r in rows),
        cost=sum(costs, Decimal(0)) if costs else None,
        unpriced=sum(r.unpriced for r in rows),
    )
