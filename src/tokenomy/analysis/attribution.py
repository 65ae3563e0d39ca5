"""Showback and chargeback: cost and tokens by any dimensions and time bucket, with shares.

One query over the selected calls and one over the selected charges group them by the requested
dimensions (``team``, ``feature``, ``model``, ``tag:<key>``...) and time bucket; per group come
the calls, charges, tokens per bucket, LLM cost, non-LLM cost and unpriced calls, and their total
is added up in Python (exact integers and decimals: no second pass over the calls). Rules:

* spend with no value for a dimension is its own row, :data:`UNATTRIBUTED`, never dropped;
* charges (non-LLM costs) are included with their own attribution (they have no model or
  provider, so by model they are unattributed);
* an unpriced call is counted in ``unpriced`` and adds nothing to the cost; a group with no
  priced call and no charge has no cost (None), never $0;
* a token figure is summed over the calls that reported it and is None ("—") when a group's calls
  reported none of it, never 0; ``usage_unknown`` counts the calls that left a bucket or a total
  unreported, and the token shares are shares of the reported tokens;
* the rows add up to the total exactly (money is summed as decimals in the engine).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.cost_split import ROW_SUMS, part_costs
from tokenomy.analysis.dimensions import UNATTRIBUTED, Scope
from tokenomy.analysis.formats import money
from tokenomy.analysis.grouped import (
    FACETS_KEY,
    Facets,
    Selection,
    add,
    group_key,
    grouped_calls,
    grouped_charges,
)
from tokenomy.analysis.results import share
from tokenomy.analysis.sources import ESTIMATED, Sources, detect
from tokenomy.schema import BUCKETS
from tokenomy.store.base import Store

__all__ = ["UNATTRIBUTED", "AttributionTable", "SpendRow", "attribute", "top_rows"]

_TOKENS: Final = (*BUCKETS, "input_total", "output_total")
_CALL_AGGREGATES: Final = {
    "calls": "count(*)",
    **{b: f"CAST(sum(c.{b}) AS BIGINT)" for b in _TOKENS},
    "llm_cost": "sum(c.cost_total)",
    "unpriced": "count(*) FILTER (WHERE c.cost_total IS NULL)",
    "usage_unknown": "count(*) FILTER (WHERE " + " OR ".join(f"c.{b} IS NULL" for b in _TOKENS) + ")",
    "estimated": f"count(*) FILTER (WHERE {ESTIMATED})",
}
_CHARGE_AGGREGATES: Final = {"charges": "count(*)", "charge_cost": "sum(c.amount)"}


@dataclass(frozen=True, slots=True)
class SpendRow:
    """Spend of one group (or of everything selected, when ``group`` is empty)."""

    group: Mapping[str, str]
    bucket: datetime | None
    calls: int
    charges: int
    tokens: Mapping[str, int | None]
    """Sum of each exclusive bucket over the calls that reported it; None when the group has calls
    and none of them reported it (unknown is never 0)."""
    input_total: int | None
    """Sum over the calls that reported their input total; None when none did."""
    output_total: int | None
    """Sum over the calls that reported their output total; None when none did."""
    llm_cost: Decimal | None
    """Sum over priced calls; None when no call of the group is priced."""
    charge_cost: Decimal | None
    """Sum of the charges; None when the group has none."""
    unpriced: int
    usage_unknown: int = 0
    """Calls that left a bucket or a total unreported: the token sums do not cover them there."""
    cost_share: float | None = None
    """This row's share of the total cost (None when the total is unknown or 0)."""
    token_share: float | None = None
    """This row's share of the reported tokens processed (input + output), over the reported tokens of
    every row; None when none of this row's calls reported a total (or nothing was reported)."""
    parts: Mapping[str, Decimal] | None = None
    """Computed with the split's facets (``tokenomy report --parts``): the priced calls' cost per part,
    each of :data:`~tokenomy.analysis.cost_split.ROW_PARTS`, adding up to ``llm_cost``; None
    otherwise, or when no call of the row is priced."""

    @property
    def cost(self) -> Decimal | None:
        """LLM cost plus charges; None when neither is known (never $0 for unpriced calls)."""
        if self.llm_cost is None and self.charge_cost is None:
            return None
        return (self.llm_cost or Decimal(0)) + (self.charge_cost or Decimal(0))

    @property
    def tokens_processed(self) -> int | None:
        """Input plus output tokens, of the totals that were reported; None when neither side was."""
        if self.input_total is None and self.output_total is None:
            return None
        return (self.input_total or 0) + (self.output_total or 0)


@dataclass(frozen=True, slots=True)
class AttributionTable:
    """Spend by group, and in total, over a scope."""

    by: tuple[str, ...]
    bucket: str | None
    scope: Scope
    rows: tuple[SpendRow, ...]
    total: SpendRow
    notes: tuple[str, ...] = field(default_factory=tuple)
    facet_spec: Facets | None = None
    """The flags the calls were also split by (see ``facets`` of :func:`attribute`), if any."""
    facets: tuple[Mapping[str, Any], ...] = ()
    """Per combination of :attr:`facet_spec`'s flags: the flags and the calls' aggregates over every group."""
    parts: bool = False
    """Whether its rows carry their cost per part (``--parts``: the ``part_<part>`` columns, empty for
    a row with no priced call)."""


def attribute(
    store: Store,
    selection: Selection | None = None,
    *,
    sources: Sources | None = None,
    facets: Facets | None = None,
    untimed_note: bool = True,
) -> AttributionTable:
    """Cost and tokens by the dimensions and time bucket of ``selection``, with shares of the total.

    Args:
        store: The store to read.
        selection: Scope (period, ``--where`` filters) and grouping; everything, ungrouped, when None.
        sources: The optional tables (detected when None).
        facets: Also split the calls by these flags in the same scan (for figures beside the
            table, such as the report's KPIs); the table itself is unchanged, but with
            :data:`~tokenomy.analysis.kpis.ROW_SPLIT_FACETS`, whose rows then carry their cost per part.
        untimed_note: Note the calls with no start time a period leaves out (:func:`untimed_left_out`,
            a query of its own); False for a table whose notes are not shown (another table of the
            same report says it).

    Returns:
        Rows ordered by group then bucket; the total over everything selected. Rows' costs,
        tokens, calls and charges add up to the total exactly.
    """
    selection = selection or Selection()
    src = sources or detect(store)
    calls = grouped_calls(store, src, selection, _CALL_AGGREGATES, additive=True, facets=facets)
    charges = grouped_charges(store, selection, _CHARGE_AGGREGATES, additive=True)
    merged: dict[Any, dict[str, Any]] = {}
    for raw in (*calls.rows, *charges.rows):
        row = merged.setdefault(group_key(raw), {"group": raw["group"], "bucket": raw["bucket"]})
        for name, value in raw.items():
            if name not in ("group", "bucket"):
                row[name] = add(row.get(name), value)
    # without dimensions the engine answers one row even over nothing: a group holds a call or a charge
    ordered = [
        merged[key]
        for key in sorted(merged, key=_order)
        if merged[key].get("calls") or merged[key].get("charges")
    ]
    whole = {**calls.total, **charges.total}
    total_cost = _cost(whole)
    total = _spend(whole, total_cost, None)
    rows = tuple(_spend(raw, total_cost, total.tokens_processed) for raw in ordered)
    with_parts = facets is not None and facets.per_row == ROW_SUMS
    if with_parts:  # the cost by part, row by row (a row of charges alone has no FACETS_KEY)
        rows = tuple(
            dataclasses.replace(row, parts=part_costs(raw.get(FACETS_KEY, ())))
            for row, raw in zip(rows, ordered, strict=True)
        )
        total = dataclasses.replace(total, parts=part_costs(calls.facets))
    total = dataclasses.replace(total, token_share=share(total.tokens_processed, total.tokens_processed))
    notes = []
    if total.unpriced:
        notes.append(f"{total.unpriced:,} unpriced call(s): counted, not in the cost (never shown as $0)")
    if total.usage_unknown:
        notes.append(
            f"{total.usage_unknown:,} call(s) did not report all of their usage: a token figure is the sum"
            ' over the calls that reported it, "—" (null) where none did, and the token shares are shares'
            " of the reported tokens"
        )
    estimated = int(whole.get("estimated") or 0)
    if estimated:
        notes.append(
            f"{estimated:,} call(s) have estimated figures: tokens counted locally rather than reported, or a"
            " cost whose price was assumed (a missing rate, a peak rate, no start time); each call's"
            " cost_reason says which (tokenomy export)"
        )
    if untimed_note:
        notes.extend(untimed_left_out(store, src, selection.scope))
    return AttributionTable(
        by=selection.grouping.by,
        bucket=selection.grouping.bucket,
        scope=selection.scope,
        rows=rows,
        total=total,
        notes=tuple(notes),
        facet_spec=facets,
        facets=tuple(calls.facets),
        parts=with_parts,
    )


def untimed_left_out(store: Store, sources: Sources, scope: Scope) -> list[str]:
    """A note when ``scope`` sets a period and some calls its filters select have no start time:
    no period holds them, so they are left out (their number and their cost)."""
    if scope.since is None and scope.until is None:
        return []
    untimed, spent = untimed_calls(store, sources, scope.between(None, None))
    if not untimed:
        return []
    cost = "none priced" if spent is None else f"{money(spent)} of cost"
    return [
        f"{untimed:,} call(s) with no start time left out ({cost}): no period holds them; a report"
        " without --since and --until counts them"
    ]


def untimed_calls(store: Store, sources: Sources, scope: Scope) -> tuple[int, Decimal | None]:
    """How many calls ``scope`` selects have no start time, and their cost (None: none priced)."""
    aggregates = {
        "n": "count(*) FILTER (WHERE c.started_at IS NULL)",
        "cost": "sum(c.cost_total) FILTER (WHERE c.started_at IS NULL)",
    }
    total = grouped_calls(store, sources, Selection(scope), aggregates).total
    return int(total["n"] or 0), total["cost"]


def _order(key: Any) -> tuple[Any, ...]:
    group, bucket = key
    return (tuple(value for _, value in group), bucket is None, bucket or 0)


def _cost(raw: Mapping[str, Any]) -> Decimal | None:
    llm, charges = raw.get("llm_cost"), raw.get("charge_cost")
    if llm is None and charges is None:
        return None
    return (llm or Decimal(0)) + (charges or Decimal(0))


def _spend(raw: Mapping[str, Any], total_cost: Decimal | None, total_tokens: int | None) -> SpendRow:
    calls = int(raw.get("calls") or 0)

    def summed(name: str) -> int | None:
        value = raw.get(name)
        if value is None:
            return None if calls else 0  # no call reported it: unknown; no call at all: none
        return int(value)

    row = SpendRow(
        group=raw["group"],
        bucket=raw["bucket"],
        calls=calls,
        charges=int(raw.get("charges") or 0),
        tokens={b: summed(b) for b in BUCKETS},
        input_total=summed("input_total"),
        output_total=summed("output_total"),
        llm_cost=raw.get("llm_cost"),
        charge_cost=raw.get("charge_cost"),
        unpriced=int(raw.get("unpriced") or 0),
        usage_unknown=int(raw.get("usage_unknown") or 0),
    )
    return dataclasses.replace(
        row, cost_share=share(row.cost, total_cost), token_share=share(row.tokens_processed, total_tokens)
    )


def top_rows(table: AttributionTable, top: int) -> tuple[AttributionTable, int]:
    """``table`` with its ``top`` costliest rows, the others added up into one row ``(N more)``.

    Rows are ranked by cost (groups with no known cost last, then by calls). The folded row's
    first dimension reads ``(N more)`` and its others are empty; the total is unchanged, so the
    shown rows still add up to it.

    Returns:
        The shortened table and how many rows were folded (0 when there were ``top`` or fewer).

    Raises:
        ValueError: ``top`` is not positive.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    ranked = sorted(table.rows, key=lambda r: (r.cost is None, -(r.cost or 0), -r.calls))
    if len(ranked) <= top:
        return dataclasses.replace(table, rows=tuple(ranked)), 0
    kept, rest = ranked[:top], ranked[top:]
    label = {name: (f"({len(rest):,} more)" if i == 0 else "") for i, name in enumerate(table.by)}
    folded = SpendRow(
        group=label,
        bucket=None,
        calls=sum(r.calls for r in rest),
        charges=sum(r.charges for r in rest),
        tokens={b: _added(r.tokens[b] for r in rest) for b in BUCKETS},
        input_total=_added(r.input_total for r in rest),
        output_total=_added(r.output_total for r in rest),
        llm_cost=_added(r.llm_cost for r in rest),
        charge_cost=_added(r.charge_cost for r in rest),
        unpriced=sum(r.unpriced for r in rest),
        usage_unknown=sum(r.usage_unknown for r in rest),
        cost_share=_added(r.cost_share for r in rest),
        token_share=_added(r.token_share for r in rest),
        parts=_added_parts(r.parts for r in rest),
    )
    return dataclasses.replace(table, rows=(*kept, folded)), len(rest)


def _added_parts(values: Iterable[Mapping[str, Decimal] | None]) -> Mapping[str, Decimal] | None:
    """The rows' costs per part added up, None when no row has them."""
    out: dict[str, Decimal] | None = None
    for parts in values:
        if parts is not None:
            out = {name: (out or {}).get(name, Decimal(0)) + amount for name, amount in parts.items()}
    return out


def _added(values: Iterable[Any]) -> Any:
    """The sum of the known values, None when none is known."""
    out = None
    for value in values:
        out = add(out, value)
    return out
