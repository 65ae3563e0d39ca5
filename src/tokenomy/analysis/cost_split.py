"""Where the LLM cost goes: the priced calls' cost split by part, with the rate each part was paid at.

A stored call keeps its cost per part (the ``cost_<part>`` columns: the six usage buckets, server
tools, request fees and overhead, :data:`tokenomy.schema.COST_PARTS`), and a call tokenomy priced has
parts that add up to its total. A FinOps reader then sees at once what share goes to reasoning, to
cache writes, to uncached input. A cost that came without parts (a total recorded by a provider or
another tool) is never spread over them: such calls' whole cost is the row ``unsplit``, so the rows
still add up to the priced calls' LLM cost exactly. Tokens are summed over the calls whose parts are
known, as the pricer billed them (:func:`_billed`), which makes a part's effective rate (its cost
per million tokens) compare like with like: cache reads against uncached input, reasoning against
visible output.

The sums ride on a scan the report makes anyway: the calls are split by :data:`SPLIT_FLAGS` beside
the KPI facets (:data:`tokenomy.analysis.kpis.SPLIT_FACETS`), and :func:`split_from_facets` adds up
:data:`SPLIT_SUMS` and the facets' own token sums over the facets where :data:`SPLIT_FLAG` holds
(the total over all of them); a session's view adds up the rows it read (:func:`split_from_rows`).
Charges (non-LLM costs) are not calls and are left out (the reports show them apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.grouped import add
from tokenomy.analysis.results import jsonable, share
from tokenomy.analysis.wire_values import (
    amount_from_json,
    float_from_json,
    int_from_json,
    money_from_json,
    text_from_json,
)
from tokenomy.pricing.rates import MONEY_QUANTUM
from tokenomy.schema import BUCKETS, COST_PARTS, INPUT_BUCKETS, OUTPUT_BUCKETS

UNSPLIT: Final = "unsplit"
"""The row of the cost that came without parts."""
SPLIT_FLAG: Final = (
    "c.cost_total = "
    + " + ".join(f"coalesce(c.cost_{part}, 0)" for part in COST_PARTS)
    + " AND coalesce("
    + ", ".join(f"c.cost_{part}" for part in COST_PARTS)
    + ") IS NOT NULL"
)
"""A priced call with parts, which add up to its total (a flag of the facets: evaluated once a call).
A total of $0 with no parts is not split: its tokens would lower every rate."""
_SIDES: Final = (("input_total", INPUT_BUCKETS), ("output_total", OUTPUT_BUCKETS))
SPLIT_FLAGS: Final = {
    "split": SPLIT_FLAG,
    **{f"split_{total}": f"c.{total} IS NOT NULL" for total, _ in _SIDES},
}
"""The facet flags the split reads: whether a call is split by part, and whether each side's total
is known (the tokens billed to the side's first bucket then follow from the facet's own sums)."""
SPLIT_SUMS: Final = {f"split_cost_{part}": f"sum(c.cost_{part})" for part in COST_PARTS}
"""The calls' cost per part (additive sums), added up over the facets where :data:`SPLIT_FLAG`
holds; the total is the facets' own ``llm_cost`` over all of them, the tokens their own bucket
sums (:func:`split_from_facets`)."""


def _billed(row: Mapping[str, Any], bucket: str) -> int | None:
    """The tokens the pricer billed to ``bucket`` (``pricing.compute``): as reported, but for the first
    bucket of a side whose total is known, which also takes what the total leaves unsplit (a call
    that reported only its totals is billed its input at the uncached rate). ``row`` is a call's
    row, or a facet's sums over calls whose side totals are all known or all unknown."""
    for total, buckets in _SIDES:
        known = row.get(total)
        if bucket == buckets[0] and known is not None:
            return int(known) - sum(int(row.get(b) or 0) for b in buckets[1:])
    value = row.get(bucket)
    return None if value is None else int(value)


PART_LABELS: Final = {
    "input_uncached": "uncached input",
    "cache_read": "cache reads",
    "cache_write_5m": "cache writes (5 min)",
    "cache_write_1h": "cache writes (1 h)",
    "output_visible": "visible output",
    "reasoning": "reasoning",
    "server_tools": "server tools",
    "requests": "request fees",
    "overhead": "overhead",
    UNSPLIT: "not split by part",
}
"""How each part is named for people."""
_MILLION: Final = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class PartRow:
    """One part of the LLM cost."""

    part: str
    """A name of :data:`tokenomy.schema.COST_PARTS`, or :data:`UNSPLIT`."""
    cost: Decimal
    tokens: int | None
    """The tokens billed to this usage bucket in the calls split by part (a call that reported only
    its totals was billed them in its side's first bucket); None for a part that is not a bucket
    (server tools, request fees, overhead, the unsplit cost) or a bucket none of them reported."""
    share: float | None
    """Its share of the LLM cost (None when that cost is 0)."""

    @property
    def label(self) -> str:
        """The part's name for people."""
        return PART_LABELS.get(self.part, self.part)

    @property
    def per_million(self) -> Decimal | None:
        """Cost per million tokens: the rate this part was paid at on average (None without tokens)."""
        if not self.tokens:
            return None
        return self.cost * _MILLION / self.tokens


@dataclass(frozen=True, slots=True)
class CostSplit:
    """The priced calls' LLM cost by part: the parts with a cost or tokens, in :data:`COST_PARTS`
    order, then the cost that came without parts (:data:`UNSPLIT`, when there is some); their
    costs add up to ``total``."""

    rows: tuple[PartRow, ...]
    total: Decimal | None
    """The priced calls' LLM cost; None when no call was priced."""


ROW_PARTS: Final = (*COST_PARTS, UNSPLIT)
"""The parts a table row gives its cost in (``part_<part>`` columns in JSON and CSV)."""
ROW_SUMS: Final = ("llm_cost", *(f"split_cost_{part}" for part in COST_PARTS))
"""The sums a row keeps of its own facets, beside their flags, for its cost by part
(:func:`part_costs`)."""
_ZERO: Final = Decimal(0).quantize(MONEY_QUANTUM)


def part_costs(facets: Iterable[Mapping[str, Any]]) -> dict[str, Decimal] | None:
    """A table row's cost per part of :data:`ROW_PARTS` from its facets (a row's own, or the whole
    table's for its total; :data:`ROW_SUMS`): the parts of its calls split by part, the rest of its
    LLM cost unsplit, $0 with the stored 12 places for a part it has none of; None when none of it
    is priced. The costs of :func:`split_from_facets`, without the tokens a row does not show."""
    total: Decimal | None = None
    costs = dict.fromkeys(COST_PARTS, _ZERO)
    for facet in facets:
        total = add(total, facet.get("llm_cost"))
        if facet.get("split"):
            for part in COST_PARTS:
                costs[part] += facet.get(f"split_cost_{part}") or _ZERO
    if total is None:
        return None
    unsplit = total - sum(costs.values(), _ZERO)
    return {**costs, UNSPLIT: unsplit if unsplit else _ZERO}


def split_from_sums(sums: Mapping[str, Any]) -> CostSplit:
    """The split from the sums of :data:`SPLIT_SUMS` (a missing or null sum is nothing)."""
    costs: dict[str, Any] = {part: sums.get(f"split_cost_{part}") for part in COST_PARTS}
    total = sums.get("split_total")
    if total is not None:
        unsplit = total - sum((value for value in costs.values() if value is not None), Decimal(0))
        costs[UNSPLIT] = unsplit or None
    rows = []
    for part, cost in costs.items():
        count = sums.get(f"split_tokens_{part}") if part in BUCKETS else None
        if not cost and not count:
            continue
        amount = cost or _ZERO  # (a part with tokens and no cost: $0 with the stored places)
        rows.append(PartRow(part, amount, None if count is None else int(count), share(amount, total)))
    return CostSplit(tuple(rows), total)


def split_from_facets(facets: Iterable[Mapping[str, Any]]) -> CostSplit:
    """The split over the facets of a table computed with :data:`SPLIT_FLAG` among their flags (as
    ``split``): the parts and tokens of the calls split by part, the total of every call."""
    sums: dict[str, Any] = {}
    for facet in facets:
        sums["split_total"] = add(sums.get("split_total"), facet.get("llm_cost"))
        if facet.get("split"):
            for name in SPLIT_SUMS:
                sums[name] = add(sums.get(name), facet.get(name))
            # a side's total is known for every call of this facet or for none (its flag)
            known = {total: facet.get(total) if facet.get(f"split_{total}") else None for total, _ in _SIDES}
            billed = {**facet, **known}
            for bucket in BUCKETS:
                sums[f"split_tokens_{bucket}"] = add(
                    sums.get(f"split_tokens_{bucket}"), _billed(billed, bucket)
                )
    return split_from_sums(sums)


def split_from_rows(rows: Iterable[Mapping[str, Any]]) -> CostSplit:
    """The split of some calls' rows (``cost_total``, ``cost_<part>`` and the bucket columns), added
    up here: a session's, which its view has read already."""
    sums: dict[str, Any] = {}
    for row in rows:
        total = row.get("cost_total")
        if total is None:
            continue
        sums["split_total"] = add(sums.get("split_total"), total)
        parts = [row.get(f"cost_{part}") for part in COST_PARTS]
        if all(value is None for value in parts) or total != sum(
            (v or Decimal(0) for v in parts), Decimal(0)
        ):
            continue  # a cost without its parts: in the unsplit row (as SPLIT_FLAG decides)
        for part, value in zip(COST_PARTS, parts, strict=True):
            sums[f"split_cost_{part}"] = add(sums.get(f"split_cost_{part}"), value)
        for bucket in BUCKETS:
            sums[f"split_tokens_{bucket}"] = add(sums.get(f"split_tokens_{bucket}"), _billed(row, bucket))
    return split_from_sums(sums)


def split_json(split: CostSplit | None) -> dict[str, Any] | None:
    """The LLM cost by part: ``{"total", "parts": [{"part", "cost", "tokens", "share"}]}`` (money as
    decimal strings, ``tokens`` null for a part that is not a usage bucket), or null."""
    if split is None:
        return None
    return {
        "total": jsonable(split.total),
        "parts": [
            {"part": row.part, "cost": jsonable(row.cost), "tokens": row.tokens, "share": row.share}
            for row in split.rows
        ],
    }


def split_from_json(data: Any) -> CostSplit | None:
    """The LLM cost by part :func:`split_json` wrote (None for null or absent)."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise TypeError(f"split should be an object, got {data!r}")
    rows = []
    for item in data["parts"]:
        part = text_from_json(item["part"])
        if part is None or part not in PART_LABELS:
            raise ValueError(f"unknown cost part {part!r}")
        tokens = item["tokens"]
        rows.append(
            PartRow(
                part,
                amount_from_json(item["cost"]),
                None if tokens is None else int_from_json(tokens),
                float_from_json(item["share"]),
            )
        )
    return CostSplit(tuple(rows), money_from_json(data["total"]))
