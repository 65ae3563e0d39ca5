"""Bulk pricing for the store: per-token rates for many keys as one Arrow table to join in SQL.

One row per (key, long-context tier). A call takes the row of its key with the largest
``tier_start`` below its total input tokens (``input_total > tier_start``; the base row has -1).
The store multiplies each bucket by its rate and casts each part to DECIMAL(38, 12); docs/pricing.md
gives the reference query, and the tests check that it reproduces :meth:`Pricer.price` exactly.

Columns:

* key: ``provider``, ``model``, ``day``, ``service_tier``, ``batch`` (as given);
* ``priced``: false for keys that cannot be priced (every rate null, ``reason`` says why);
* ``tier_start`` (int64);
* ``rate_<bucket>`` for the six buckets, ``request_fee``, ``overhead_per_request`` and
  ``overhead_per_microsecond``: decimal128(38, 18) dollars;
* ``server_tool_rates``: map of server-tool unit to $ per use;
* ``assumed_buckets``: buckets whose rate was assumed (a call with tokens there is estimated);
* ``source``, ``price_date``, ``estimated`` (assumed whatever the usage), ``reason``,
  ``catalog_model`` (the priced model) and ``context_window``;
* ``by_time_of_day``: the day's prices change during it (the rates are its peak's): a call with a
  start time is priced at that time's rates instead (:meth:`Pricer.price`);
* ``window_from``, ``window_to``: the part of the day (microseconds since UTC midnight, the end
  excluded) the row's rates hold for; the whole day but for a model whose prices change during it
  (DeepSeek's off-peak hours), which has one set of rows per price window.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.pricing.rates import RATE_PLACES, Rates
from tokenomy.schema import BUCKETS

if TYPE_CHECKING:
    from tokenomy.pricing.pricer import PriceKey, Pricer

RATE_TYPE: Final = pa.decimal128(38, RATE_PLACES)

SCHEMA: Final = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("day", pa.date32()),
        ("service_tier", pa.string()),
        ("batch", pa.bool_()),
        ("priced", pa.bool_()),
        ("tier_start", pa.int64()),
        *[(f"rate_{bucket}", RATE_TYPE) for bucket in BUCKETS],
        ("request_fee", RATE_TYPE),
        ("overhead_per_request", RATE_TYPE),
        ("overhead_per_microsecond", RATE_TYPE),
        ("server_tool_rates", pa.map_(pa.string(), RATE_TYPE)),
        ("assumed_buckets", pa.list_(pa.string())),
        ("source", pa.string()),
        ("price_date", pa.date32()),
        ("estimated", pa.bool_()),
        ("reason", pa.string()),
        ("catalog_model", pa.string()),
        ("context_window", pa.int64()),
        ("window_from", pa.int64()),
        ("window_to", pa.int64()),
        ("by_time_of_day", pa.bool_()),
    ]
)


def price_table(pricer: Pricer, keys: Iterable[PriceKey]) -> pa.Table:
    """Resolve every distinct key with ``pricer`` and return the rates as an Arrow table.

    Args:
        pricer: The Pricer whose catalog and overrides to use.
        keys: (provider, model, day, service_tier, batch) keys; duplicates are resolved once.

    Returns:
        A table with :data:`SCHEMA`.
    """
    from tokenomy.pricing.pricer import Unpriced  # noqa: PLC0415  (pricer imports this module lazily)

    rows: list[dict[str, Any]] = []
    for key in dict.fromkeys(keys):
        if key.model is None:
            rows.append(_unpriced(key, "the call names no model; record its request or response model"))
            continue
        found = pricer.lookup(
            model=key.model, provider=key.provider, at=key.day, batch=key.batch, service_tier=key.service_tier
        )
        if isinstance(found, Unpriced):
            rows.append(_unpriced(key, found.reason))
        elif found.by_time_of_day:
            rows.extend(_windowed(pricer, key))
        else:
            rows.extend(_priced(key, found))
    return pa.Table.from_pylist(rows, schema=SCHEMA)


DAY_US: Final = 86_400_000_000
"""Microseconds in a (UTC) day: the end of the last price window."""


def _windowed(pricer: Pricer, key: PriceKey) -> list[dict[str, Any]]:
    """The rows of a key whose prices change during its day: one set per price window, each with the
    rates from the window's start (as :meth:`Pricer.price` prices a call by its start time)."""
    from tokenomy.pricing.pricer import Unpriced  # noqa: PLC0415

    assert key.model is not None  # (the caller looked it up)
    starts = pricer.window_starts(key.provider, key.model, key.day)
    bounds = [_since_midnight(start) for start in starts] + [DAY_US]
    rows: list[dict[str, Any]] = []
    for start, (begin, end) in zip(starts, itertools.pairwise(bounds), strict=True):
        found = pricer.lookup(
            model=key.model, provider=key.provider, at=start, batch=key.batch, service_tier=key.service_tier
        )
        if isinstance(found, Unpriced):
            rows.append({**_unpriced(key, found.reason), "window_from": begin, "window_to": end})
        else:
            rows.extend({**row, "window_from": begin, "window_to": end} for row in _priced(key, found))
    return rows


def _since_midnight(instant: datetime) -> int:
    """Microseconds from the UTC midnight before ``instant`` (aware, UTC)."""
    return ((instant.hour * 60 + instant.minute) * 60 + instant.second) * 1_000_000 + instant.microsecond


def _key_columns(key: PriceKey) -> dict[str, Any]:
    return {
        "provider": key.provider,
        "model": key.model,
        "day": key.day,
        "service_tier": key.service_tier,
        "batch": key.batch,
    }


def _unpriced(key: PriceKey, reason: str) -> dict[str, Any]:
    return {
        **_key_columns(key),
        "priced": False,
        "tier_start": -1,
        "price_date": key.day,
        "reason": reason,
        "window_from": 0,
        "window_to": DAY_US,
    }


def _priced(key: PriceKey, rates: Rates) -> list[dict[str, Any]]:
    reason = "; ".join((*rates.notes, *rates.remarks)) or None
    common = {
        **_key_columns(key),
        "priced": True,
        "overhead_per_request": rates.overhead.per_request,
        "overhead_per_microsecond": rates.overhead.per_microsecond,
        "assumed_buckets": sorted(rates.assumed),
        "source": rates.source,
        "price_date": rates.price_date,
        "estimated": rates.estimated,
        "reason": reason,
        "catalog_model": rates.model,
        "context_window": rates.context_window,
        "by_time_of_day": rates.by_time_of_day,
        "window_from": 0,
        "window_to": DAY_US,
    }
    rows = []
    for tier in rates.tiers:
        row: dict[str, Any] = {**common, "tier_start": tier.start, "request_fee": tier.request_fee}
        row.update({f"rate_{bucket}": tier.tokens[bucket] for bucket in BUCKETS})
        row["server_tool_rates"] = list(tier.server_tools.items()) or None
        rows.append(row)
    return rows
