"""Pricing at insert time: each new call joins its row of the price table; the few left are priced in Python.

The insert takes any source of rows with the ``calls`` columns and the flags of
:func:`tokenomy.store.duckdb_sql.pricing_flags`: the checked read of a file, or a staging table
built from records. The distinct price keys go to :meth:`Pricer.price_table` first (a small
table, :data:`RATES`); each call then joins the row of its key and long-context tier
(``tier_start < input_total <= next tier_start``) in a plain hash join, and its cost is computed
in the same statement that inserts it:

* a call that carries a cost keeps it (history is never rewritten);
* a call with no model, with data-quality flags, with no usage at all, or whose key the catalog
  cannot price is unpriced with the reason :meth:`Pricer.price` would give;
* a call with every bucket known, no server tools and no audio, image or video tokens is priced
  part by part,
  ``CAST(tokens * rate AS DECIMAL(38, 12))``, plus the request fee and the overhead, the total
  being the sum of the parts, exactly as :func:`tokenomy.pricing.compute.cost_of` does;
* every other call (unknown buckets, server tools, modality tokens, a rate the catalog had to assume,
  per-second overhead without a latency, no start time, a model whose prices change during the
  day) is stored without a cost and then priced by
  :meth:`Pricer.price` in Python (:func:`price_leftovers`), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.pricing import PriceKey
from tokenomy.pricing.compute import KIND_NOTES
from tokenomy.schema import ATTRIBUTION_FIELDS, BUCKETS, COST_PARTS
from tokenomy.store.arrow import CALLS_SCHEMA, calls_from_arrow, calls_to_arrow
from tokenomy.store.base import PricerLike
from tokenomy.store.duckdb_compat import arrow_reader

RATES: Final = "_tokenomy_rates"
MONEY: Final = "DECIMAL(38, 12)"
NO_MODEL: Final = "the call names no model; record its request or response model"
"""The reason :meth:`Pricer.price` gives a call without a model (kept word for word)."""
COST_COLUMNS: Final = (
    "cost_total",
    *(f"cost_{p}" for p in COST_PARTS),
    "cost_currency",
    "cost_source",
    "cost_price_date",
    "cost_estimated",
    "cost_reason",
)
_FLAGS: Final = ("_has_cost", "_model", "_day", "_tod", "_pricing")
_PLAIN: Final = tuple(f.name for f in CALLS_SCHEMA if f.name not in COST_COLUMNS and f.name != "imported_at")
_HOW: Final = {"kept": 0, "unnamed": 1, "unpriced": 2, "flagged": 3, "empty": 4, "full": 5}
"""How a joined call is priced, as a small code (cheaper to test per row than a string)."""
_RATE_COLUMNS: Final = (
    "source",
    "price_date",
    "estimated",
    "reason",
    "_fee",
    "_overhead",
    "overhead_per_request",
    "overhead_per_microsecond",
    *(f"_hi_{b}" for b in BUCKETS),
    *(f"_lo_{b}" for b in BUCKETS),
)
_PICO: Final = "0.000000000001::DECIMAL(18, 12)"
"""Times a whole number of picodollars (10^-12 $), gives the amount in dollars at 12 places."""


def load_rates(con: duckdb.DuckDBPyConnection, pricer: PricerLike, keys: Iterable[PriceKey]) -> None:
    """Price ``keys`` with the Pricer into the temporary table :data:`RATES`, ready to join.

    Each per-token rate (18 decimal places) is split into whole picodollars (``_hi_<bucket>``)
    and the millionths of a picodollar below (``_lo_<bucket>``), so that a part,
    ``tokens * rate`` rounded half up to 12 places, is computed exactly in 64-bit integers:
    ``tokens * hi + (tokens * lo + 500000) // 1000000`` picodollars (DuckDB's 128-bit decimal
    rounding costs more than reading the file). ``_cap_<bucket>`` is the most tokens for which
    that cannot overflow; a call above it, or a rate below 0 or above $9 a token (``_odd``), is
    left to Python.
    """
    table = pricer.price_table(keys)
    split = [
        f"{_atto(b)} // 1000000 AS _hi_{b}, {_atto(b)} % 1000000 AS _lo_{b},"
        f" least({_PICO_CAP} // ({_atto(b)} // 1000000 + 1), {_LO_CAP}) AS _cap_{b}"
        for b in BUCKETS
    ]
    assumed = " OR ".join(f"list_contains(assumed_buckets, '{b}')" for b in BUCKETS)
    odd = " OR ".join(f"rate_{b} < 0 OR rate_{b} >= 9" for b in BUCKETS)
    con.register("_tokenomy_rates_arrow", table)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {RATES} AS SELECT *,
                coalesce(provider, '') AS _kp, coalesce(service_tier, '') AS _kt,
                coalesce(lead(tier_start) OVER (PARTITION BY provider, model, day, service_tier, batch,
                                                window_from ORDER BY tier_start), 9223372036854775807)
                    AS _tier_end,
                CASE WHEN request_fee <> 0 THEN CAST(request_fee AS {MONEY}) END AS _fee,
                coalesce(overhead_per_request, 0) <> 0 OR coalesce(overhead_per_microsecond, 0) <> 0
                    AS _overhead,
                coalesce(overhead_per_microsecond, 0) <> 0 AS _per_us,
                coalesce({odd}, false) AS _odd,
                coalesce(by_time_of_day, false) AS _by_time,
                priced AND ({assumed} OR {odd} OR coalesce(overhead_per_microsecond, 0) <> 0
                            OR coalesce(by_time_of_day, false)) AS _special,
                {", ".join(split)},
                {", ".join(f"list_contains(assumed_buckets, '{b}') AS _a_{b}" for b in BUCKETS)}
            FROM _tokenomy_rates_arrow"""
        )
    finally:
        con.unregister("_tokenomy_rates_arrow")


_PICO_CAP: Final = 10**17
"""Most picodollars per part: six parts then add up to less than 10^18, which DECIMAL(18, 12) holds."""
_LO_CAP: Final = 9 * 10**12
"""Most tokens per bucket, so that ``tokens * lo`` (lo < 10^6) stays within 64 bits."""


def _atto(bucket: str) -> str:
    """The rate of ``bucket`` in attodollars (10^-18 $): a whole number, rates having 18 places."""
    exact = f"CAST(rate_{bucket} * {10**18} AS BIGINT)"  # an integer literal keeps it DECIMAL
    return f"CASE WHEN rate_{bucket} >= 0 AND rate_{bucket} < 9 THEN {exact} END"


def drop_rates(con: duckdb.DuckDBPyConnection) -> None:
    """Drop :data:`RATES`."""
    con.execute(f"DROP TABLE IF EXISTS {RATES}")


def _how() -> str:
    """How the joined call is priced (:data:`_HOW`): its ``_pricing`` refined by its rate row.

    NULL leaves the call to Python: no rate row, a rate row with an assumed price for a bucket
    the call has tokens in, an odd rate, per-second overhead and no latency, prices that change
    during the day (priced at the call's start time there), or more tokens than the integer
    arithmetic holds.
    """
    leftover = " OR ".join(f"(r._a_{b} AND s.{b} > 0)" for b in BUCKETS)
    too_many = " OR ".join(f"s.{b} > r._cap_{b}" for b in BUCKETS)
    codes = " ".join(f"WHEN '{name}' THEN {code}" for name, code in _HOW.items())
    return f"""CASE WHEN s._pricing IN ('kept', 'unnamed') THEN CASE s._pricing {codes} END
             WHEN r.model IS NULL THEN NULL
             WHEN NOT r.priced THEN {_HOW["unpriced"]}
             WHEN s._pricing = 'full' AND r._special AND ({leftover}
                  OR (r._per_us AND s.latency_ms IS NULL) OR r._odd OR r._by_time) THEN NULL
             WHEN s._pricing = 'full' AND ({too_many}) THEN NULL
             ELSE CASE s._pricing {codes} END END"""


def _parts() -> list[str]:
    """The parts of a ``full`` call: ``_pico_<bucket>`` (whole picodollars) and ``_p_overhead``."""
    full = _HOW["full"]
    exprs = [
        f"CASE WHEN _how = {full} AND {b} <> 0"
        f" THEN {b} * _r__hi_{b} + ({b} * _r__lo_{b} + 500000) // 1000000 END AS _pico_{b}"
        for b in BUCKETS
    ]
    overhead = (
        "coalesce(_r_overhead_per_request, 0) + coalesce(_r_overhead_per_microsecond, 0)"
        " * coalesce(CAST(round(latency_ms * 1000) AS BIGINT), 0)"
    )
    exprs.append(
        f"CASE WHEN _how = {full} AND _r__overhead THEN nullif(CAST({overhead} AS {MONEY}), 0) END"
        " AS _p_overhead"
    )
    return exprs


_KIND_NOTE: Final = (
    "CASE usage_kind "
    + " ".join(f"WHEN '{kind.value}' THEN '{note}'" for kind, note in KIND_NOTES.items())
    + " END"
)
"""The note a cost's reason ends with when its usage was not reported (as :mod:`tokenomy.pricing.compute`)."""


def _costs() -> list[str]:
    """Each cost column, chosen by ``_how`` (a NULL ``_how`` leaves the cost to Python)."""
    h = _HOW
    picos = " + ".join(f"coalesce(_pico_{b}, 0)" for b in BUCKETS)
    unpriced = f"{h['unpriced']}, {h['flagged']}, {h['empty']}"
    computed = {
        "cost_total": f"WHEN _how = {h['full']} THEN CAST(({picos})::DECIMAL(18, 0) * {_PICO} AS {MONEY})"
        " + coalesce(_r__fee, 0) + coalesce(_p_overhead, 0)",
        "cost_server_tools": "",
        "cost_requests": f"WHEN _how = {h['full']} THEN _r__fee",
        "cost_overhead": "ELSE _p_overhead",
        "cost_currency": "WHEN _how IS NOT NULL THEN 'USD'",
        "cost_source": f"WHEN _how = {h['full']} THEN _r_source",
        "cost_price_date": f"WHEN _how IN ({unpriced}, {h['full']}) THEN _r_price_date",
        "cost_estimated": f"WHEN _how = {h['full']} THEN usage_kind <> 'reported' OR _r_estimated"
        " WHEN _how IS NOT NULL THEN false",
        "cost_reason": f"WHEN _how = {h['unnamed']} THEN '{NO_MODEL}'"
        f" WHEN _how = {h['full']} THEN nullif(concat_ws('; ', _r_reason, {_KIND_NOTE}), '')"
        f" WHEN _how = {h['unpriced']} THEN _r_reason"
        f" WHEN _how = {h['flagged']} THEN 'usage does not add up: ' || array_to_string(quality, ', ')"
        f" WHEN _how = {h['empty']} THEN 'no usage reported'",
    }
    computed.update({f"cost_{b}": f"ELSE _pico_{b}::DECIMAL(18, 0) * {_PICO}" for b in BUCKETS})
    return [
        f"CASE WHEN _how = {h['kept']} THEN {name} {computed[name]} END AS {name}" for name in COST_COLUMNS
    ]


_JOIN: Final = (
    "r._kp = coalesce(nullif(s.provider, ''), '') AND r.model = s._model AND r.day = s._day"
    " AND r._kt = coalesce(nullif(s.service_tier, ''), '') AND r.batch = s.batch"
    " AND coalesce(s.input_total, 0) > r.tier_start AND coalesce(s.input_total, 0) <= r._tier_end"
    " AND s._tod >= r.window_from AND s._tod < r.window_to"  # the price window the call started in
)


def insert_calls_sql(source: str, *, skip: str = "") -> str:
    """``INSERT INTO calls``: the rows of ``source`` whose id is new, priced (parameter: the stamp).

    Args:
        source: A query or table with the ``calls`` columns and the pricing flags.
        skip: An extra ``ANTI JOIN ... ON ... = s.<column>`` that drops repeated rows.
    """
    rates = ", ".join(f"r.{c} AS _r_{c}" for c in _RATE_COLUMNS)
    plain = ", ".join(f'"{name}"' for name in _PLAIN)
    return f"""
    INSERT INTO calls BY NAME
    SELECT {plain}, {", ".join(_costs())}, ?::TIMESTAMP AS imported_at
    FROM (
        SELECT *, {", ".join(_parts())}
        FROM (
            SELECT s.* EXCLUDE ({", ".join(_FLAGS)}), {_how()} AS _how, {rates}
            FROM ({source}) s
            ANTI JOIN calls c ON c.id = s.id
            {skip}
            LEFT JOIN {RATES} r ON {_JOIN}
        )
    )
    """


def insert_charges_sql(source: str, *, skip: str = "") -> str:
    """``INSERT INTO charges``: the rows of ``source`` whose id is new (parameter: the stamp)."""
    attribution = ", ".join(f's."{name}"' for name in ATTRIBUTION_FIELDS)
    return f"""
    INSERT INTO charges BY NAME
    SELECT s.id, s.session_id, s."at", s.kind, s.amount, s.currency, s.quantity, s.unit, s.description,
           {attribution}, s.tags, s.source, ?::TIMESTAMP AS imported_at
    FROM ({source}) s
    ANTI JOIN charges c ON c.id = s.id
    {skip}
    """


def price_leftovers(
    con: duckdb.DuckDBPyConnection,
    pricer: PricerLike,
    stamp: datetime,
    *,
    among: str | None = None,
    batch_size: int = 50_000,
) -> int:
    """Price in Python the calls stored at ``stamp`` that SQL left without a cost; returns how many.

    Args:
        con: The connection, inside the import's transaction.
        pricer: Prices each call (:meth:`Pricer.price`).
        stamp: The ``imported_at`` of the calls just inserted.
        among: A query of ids that limits the calls looked at (the batch just staged), or None.
        batch_size: Calls read and priced at a time.
    """
    where = "imported_at = ? AND cost_currency IS NULL"
    if among is not None:
        where += f" AND id IN ({among})"
    reader = arrow_reader(
        con, f"SELECT rowid AS _row, * FROM calls WHERE {where}", [stamp], batch_size=batch_size
    )
    costs = []
    for batch in reader:  # the query must finish before the connection runs another statement
        priced = calls_to_arrow([call.replace(cost=pricer.price(call)) for call in calls_from_arrow(batch)])
        columns = {"_row": batch.column("_row")}
        columns.update({name: priced.column(name) for name in COST_COLUMNS})
        costs.append(pa.table(columns))
    if not costs:
        return 0
    table = pa.concat_tables(costs)
    assignments = ", ".join(f"{name} = p.{name}" for name in COST_COLUMNS)
    con.register("_tokenomy_leftover_costs", table)
    try:
        con.execute(
            f"UPDATE calls SET {assignments} FROM _tokenomy_leftover_costs p WHERE calls.rowid = p._row"
        )
    finally:
        con.unregister("_tokenomy_leftover_costs")
    return int(table.num_rows)
