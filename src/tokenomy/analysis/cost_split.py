"""Where the LLM cost goes: the priced calls' cost split by part, with the rate each part was paid at.

A stored call keeps its cost per part (the ``cost_<part>`` columns: the six usage buckets, server
tools, request fees and overhead, :data:`tokenomy.schema.COST_PARTS`), and a priced call's parts add
up to its total. So the parts here add up to the priced calls' LLM cost exactly, and a FinOps reader
sees at once what share goes to reasoning, to cache writes, to uncached input. Tokens are summed
over the same priced calls, which makes a part's effective rate (its cost per million tokens)
compare like with like: cache reads against uncached input, reasoning against visible output.

The sums ride on a scan the report makes anyway: :data:`SPLIT_SUMS` is part of the KPI facets
(:data:`tokenomy.analysis.kpis.KPI_FACETS`), and :func:`split_from_facets` adds them up; charges
(non-LLM costs) are not calls and are left out (the report shows them apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.grouped import add
from tokenomy.analysis.metric_rows import sum_int
from tokenomy.analysis.results import share
from tokenomy.schema import BUCKETS, COST_PARTS

_PRICED: Final = "c.cost_total IS NOT NULL"
SPLIT_SUMS: Final = {
    **{f"split_cost_{part}": f"sum(c.cost_{part}) FILTER (WHERE {_PRICED})" for part in COST_PARTS},
    **{f"split_tokens_{bucket}": sum_int(f"c.{bucket}", _PRICED) for bucket in BUCKETS},
}
"""Per part, the priced calls' cost; per usage bucket, the same calls' tokens (additive sums)."""
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
}
"""How each part is named for people."""
_MILLION: Final = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class PartRow:
    """One part of the LLM cost."""

    part: str
    """A name of :data:`tokenomy.schema.COST_PARTS`."""
    cost: Decimal
    tokens: int | None
    """The priced calls' tokens of this usage bucket; None for a part that is not a bucket (server
    tools, request fees, overhead) or a bucket no priced call reported."""
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
    order; their costs add up to ``total``."""

    rows: tuple[PartRow, ...]
    total: Decimal | None
    """The priced calls' LLM cost; None when no call was priced."""


def split_from_sums(sums: Mapping[str, Any]) -> CostSplit:
    """The split from the sums of :data:`SPLIT_SUMS` (a missing or null sum is nothing)."""
    costs = {part: sums.get(f"split_cost_{part}") for part in COST_PARTS}
    known = [value for value in costs.values() if value is not None]
    total = sum(known, Decimal(0)) if known else None
    rows = []
    for part, cost in costs.items():
        count = sums.get(f"split_tokens_{part}") if part in BUCKETS else None
        if not cost and not count:
            continue
        amount = cost or Decimal(0)
        rows.append(PartRow(part, amount, None if count is None else int(count), share(amount, total)))
    return CostSplit(tuple(rows), total)


def split_from_facets(facets: Iterable[Mapping[str, Any]]) -> CostSplit:
    """The split over every facet of a table computed with the KPI facets (their sums added up)."""
    sums: dict[str, Any] = {}
    for facet in facets:
        for name in SPLIT_SUMS:
            sums[name] = add(sums.get(name), facet.get(name))
    return split_from_sums(sums)
