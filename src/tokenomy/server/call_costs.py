"""Costs of complete calls as columns, from rates kept per price key: the store's SQL pricing, in numpy.

The store prices calls as it inserts them (``store/duckdb_pricing.py``): each call joins the rates
of its (provider, model, UTC day, service tier, batch) key and long-context tier, and each part is
``CAST(tokens * rate AS DECIMAL(38, 12))``, rounded half away from zero. For the calls the
collector receives most (usage in every bucket, a model the catalog knows or does not know, or
no usage at all) this module gives the very same cost columns without a statement per batch:
rates come from :meth:`Pricer.price_table <tokenomy.pricing.Pricer.price_table>` once per key and
are kept for the life of the :class:`ColumnPricer`, and each part is exact integer arithmetic. A
rate has 18 decimal places; split into whole 12th-place units and a remainder below 10**6, the
rounded part is ``tokens * whole + (tokens * rest + 500000) // 10**6``, in 64-bit integers. Decimal
arithmetic happens once per key, never per call.

What the store would price in Python (unknown buckets, server tools, data-quality flags, no start
time), keys whose rates were assumed, charge per second of latency or change during the day, and
amounts that could overflow 64 bits are not handled here: :meth:`ColumnPricer.price` returns None
and the batch goes to the store's general path. A test prices varied calls both ways and requires
the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from tokenomy.pricing import PriceKey
from tokenomy.pricing.compute import KIND_NOTES
from tokenomy.schema import BUCKETS
from tokenomy.store.arrow import CALLS_SCHEMA, MONEY_TYPE
from tokenomy.store.base import PricerLike

Ints = NDArray[np.int64]
Mask = NDArray[np.bool_]

KEPT, UNNAMED, UNPRICED, EMPTY, FULL = range(5)
"""How a call is priced (the store's ``_how``): its own cost, no model, no price, no usage, priced."""
NO_MODEL: Final = "the call names no model; record its request or response model"
NO_USAGE: Final = "no usage reported"
_COUNTS: Final = (*BUCKETS, "input_total", "output_total")
_SPLIT: Final = 10**6
_SCALE: Final = 12
_LIMIT: Final = 1 << 62
_DAY_US: Final = 86_400_000_000
_EPOCH: Final = date(1970, 1, 1)
_NO_TEXT: Final = pa.scalar(None, pa.string())
_BLANK: Final = pa.scalar("")
_REPORTED: Final = pa.scalar("reported")  # scalars made once: each pa.scalar() looks for dateutil
_KIND_NOTES: Final = tuple((pa.scalar(kind.value), pa.scalar(note)) for kind, note in KIND_NOTES.items())
"""Each kind of usage not reported, and the note its cost's reason ends with."""
_NO_DATE: Final = pa.scalar(None, pa.date32())


@dataclass(frozen=True, slots=True)
class _Tier:
    start: int
    whole: tuple[int, ...]
    """Per bucket: the rate in units of 10**-12 dollars (rounded down)."""
    rest: tuple[int, ...]
    """Per bucket: the rest of the rate in units of 10**-18 dollars (below 10**6)."""
    fee: int
    """The request fee in units of 10**-12 dollars."""
    has_fee: bool
    """Whether the catalog charges a request fee (a part even when it rounds to 0)."""


@dataclass(frozen=True, slots=True)
class _KeyRates:
    priced: bool
    tiers: tuple[_Tier, ...]
    overhead: int | None
    source: str | None
    price_date: date | None
    estimated: bool
    reason: str | None
    simple: bool
    """False when overhead depends on latency, a rate is missing, or the prices change during the
    day (a call is then priced at its start time's rates, in Python)."""
    assumed: frozenset[str] = frozenset()
    """Buckets whose rate was assumed: the store prices calls with tokens there in Python."""


class ColumnPricer:
    """Prices complete calls as columns, with the rates of each key kept once resolved.

    Args:
        pricer: Resolves the rates of a key (:meth:`price_table`).
    """

    def __init__(self, pricer: PricerLike) -> None:
        self._pricer = pricer
        self._rates: dict[PriceKey, _KeyRates] = {}

    def price(self, calls: pa.Table) -> pa.Table | None:
        """``calls`` with the cost columns the store would compute, or None when it must price them.

        Calls that carry a cost keep it.
        """
        how = _how(calls)
        if how is None:
            return calls
        if (how < 0).any():
            return None
        keys, codes = self._keys(calls, how)
        if keys is None:
            return None
        return _Costs(calls, how, keys, codes).table()

    def _keys(self, calls: pa.Table, how: Ints) -> tuple[list[_KeyRates] | None, Ints]:
        """The rates of every call that needs them (``codes`` indexes the list; -1 for the others)."""
        needed = (how == EMPTY) | (how == FULL)
        codes = np.full(how.size, -1, dtype=np.int64)
        if not needed.any():
            return [], codes
        distinct, where = _distinct_keys(calls, np.flatnonzero(needed))
        codes[needed] = where
        rates = [self._resolve(key) for key in distinct]
        full = np.zeros(len(rates), dtype=np.bool_)
        full[np.unique(codes[how == FULL])] = True
        if any(f and r.priced and not r.simple for f, r in zip(full.tolist(), rates, strict=True)):
            return None, codes
        how[needed & ~np.array([r.priced for r in rates], dtype=np.bool_)[np.maximum(codes, 0)]] = UNPRICED
        return rates, codes

    def _resolve(self, key: PriceKey) -> _KeyRates:
        found = self._rates.get(key)
        if found is None:
            found = self._rates[key] = _key_rates(self._pricer.price_table([key]).to_pylist())
        return found


def _how(calls: pa.Table) -> Ints | None:
    """How each call is priced (:data:`KEPT`...); None when every call keeps its own cost.

    Calls the store would leave to Python are marked -1.
    """
    kept = _valid(calls.column("cost_currency"))
    if kept.all():
        return None
    response, request = calls.column("response_model"), calls.column("request_model")
    no_response = ~_valid(response) | _equal(response, _BLANK)
    unnamed = no_response & ~_valid(request)
    odd = (no_response & _equal(request, _BLANK)) | ~_valid(calls.column("started_at"))
    flagged = _lengths(calls.column("quality")) > 0
    empty = np.logical_and.reduce([~_valid(calls.column(name)) for name in _COUNTS])
    full = np.logical_and.reduce([_valid(calls.column(name)) for name in BUCKETS])
    full &= (_lengths(calls.column("server_tools")) == 0) & _valid(calls.column("usage_kind"))
    text = _lengths(calls.column("modalities")) == 0  # audio, image or video tokens: priced in Python
    empty &= text
    full &= text
    choices = [kept, unnamed, odd | flagged, empty, full]
    return np.select(choices, [KEPT, UNNAMED, -1, EMPTY, FULL], default=-1).astype(np.int64)


def _valid(column: Any) -> Mask:
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def _equal(column: Any, text: Any) -> Mask:
    equal = pc.equal(column, text).fill_null(False)
    return np.asarray(equal.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _lengths(column: Any) -> Ints:
    """The length of each list (or map) of a column; 0 for null."""
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(_valid(lists), np.diff(offsets), 0)


def _distinct_keys(calls: pa.Table, rows: Ints) -> tuple[list[PriceKey], Ints]:
    """The distinct price keys of ``rows``, and each row's index among them."""
    every = rows.size == calls.num_rows

    def column(name: str) -> Any:
        values = _column(calls, name)
        return values if every else values.take(pa.array(rows))

    response = column("response_model")
    model = pc.if_else(pc.not_equal(response, _BLANK).fill_null(False), response, column("request_model"))
    micros = column("started_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
    day = pa.array(np.floor_divide(micros, _DAY_US).astype(np.int32), type=pa.date32())
    parts = [
        _blank_as_null(column("provider")),
        model,
        day,
        _blank_as_null(column("service_tier")),
        column("batch"),
    ]
    combined = np.zeros(rows.size, dtype=np.int64)
    values: list[list[Any]] = []
    for part in parts:
        encoded = part.dictionary_encode()
        dictionary = [*encoded.dictionary.to_pylist(), None]
        code = encoded.indices.fill_null(len(dictionary) - 1).to_numpy(zero_copy_only=False)
        combined = combined * len(dictionary) + np.asarray(code, dtype=np.int64)
        values.append(dictionary)
    distinct, where = np.unique(combined, return_inverse=True)
    keys = []
    for number in distinct.tolist():
        chosen, rest = [], number
        for dictionary in reversed(values):
            rest, code = divmod(rest, len(dictionary))
            chosen.append(dictionary[code])
        provider, model_name, day_value, tier, batch = reversed(chosen)
        keys.append(PriceKey(provider, model_name, day_value, tier, bool(batch)))
    return keys, np.asarray(where, dtype=np.int64).ravel()


def _blank_as_null(column: Any) -> Any:
    return pc.if_else(pc.equal(column, _BLANK).fill_null(False), _NO_TEXT, column)


def _key_rates(rows: list[dict[str, Any]]) -> _KeyRates:
    """A key's rates from its rows of the price table (one per long-context tier)."""
    first = rows[0]
    if not first["priced"]:
        return _KeyRates(False, (), None, None, first["price_date"], False, first["reason"], True)
    simple = not any(
        r["overhead_per_microsecond"] or r.get("by_time_of_day") or (r.get("window_from") or 0) > 0
        for r in rows
    )  # (a key with price windows: its rows are per window, priced in Python here)
    tiers = []
    for row in sorted(rows, key=lambda r: int(r["tier_start"])):
        rates = [row[f"rate_{b}"] for b in BUCKETS]
        simple = simple and all(isinstance(r, Decimal) for r in rates)
        units = [_units(r, 18) if isinstance(r, Decimal) else 0 for r in rates]
        fee = row["request_fee"]
        tiers.append(
            _Tier(
                start=int(row["tier_start"]),
                whole=tuple(u // _SPLIT for u in units),
                rest=tuple(u % _SPLIT for u in units),
                fee=_money(fee) if fee else 0,
                has_fee=bool(fee),
            )
        )
    overhead = first["overhead_per_request"]
    return _KeyRates(
        priced=True,
        tiers=tuple(tiers),
        overhead=_money(overhead) if overhead else None,
        source=first["source"],
        price_date=first["price_date"],
        estimated=bool(first["estimated"]),
        reason=first["reason"],
        simple=simple and all(u >= 0 for t in tiers for u in t.whole),
        assumed=frozenset(b for r in rows for b in r["assumed_buckets"] or ()),
    )


def _units(value: Decimal, places: int) -> int:
    """``value`` in units of ``10**-places`` (exact: the price table holds at most 18 places)."""
    with localcontext(prec=80):
        return int(value.scaleb(places).to_integral_value(rounding=ROUND_HALF_UP))


def _money(value: Decimal) -> int:
    """``value`` rounded half away from zero to 12 places, in units of 10**-12 (as DECIMAL(38, 12))."""
    return _units(value, _SCALE)


class _Costs:
    """The cost columns of one batch (see :meth:`ColumnPricer.price`)."""

    def __init__(self, calls: pa.Table, how: Ints, rates: list[_KeyRates], codes: Ints) -> None:
        self.calls, self.how, self.rates, self.codes = calls, how, rates, codes
        self.count = calls.num_rows
        self.full = how == FULL
        self.slot = self._slots()

    def table(self) -> pa.Table | None:
        amounts = self._amounts()
        if amounts is None:
            return None
        columns = {name: self._keep(name, array) for name, array in amounts.items()}
        columns.update(self._facts())
        table = self.calls
        for name, array in columns.items():
            table = table.set_column(CALLS_SCHEMA.get_field_index(name), CALLS_SCHEMA.field(name), array)
        return table

    def _keep(self, name: str, computed: Any) -> Any:
        """Calls that carry a cost keep theirs."""
        kept = self.how == KEPT
        if not kept.any():
            return computed
        return pc.if_else(pa.array(kept), _column(self.calls, name), computed)

    def _amounts(self) -> dict[str, Any] | None:
        full = self.full
        units: dict[str, Ints] = {}
        valid: dict[str, Mask] = {}
        for index, bucket in enumerate(BUCKETS):
            tokens = _numbers(self.calls, bucket)
            whole = self._per_tier([t.whole[index] for t in self._tiers()])
            rest = self._per_tier([t.rest[index] for t in self._tiers()])
            assumed = np.array([bucket in r.assumed for r in self.rates] + [False], dtype=np.bool_)
            if (full & assumed[self.codes] & (tokens > 0)).any():
                return None  # the store prices these in Python (the rate was assumed: a note says so)
            counted = tokens[full]
            if counted.size and (
                counted.min() < 0 or counted.max() >= _LIMIT // max(int(whole.max()), _SPLIT)
            ):
                return None  # a negative count, or an amount that could overflow 64 bits
            valid[bucket] = full & (tokens != 0)
            units[bucket] = np.where(
                valid[bucket], tokens * whole + (tokens * rest + _SPLIT // 2) // _SPLIT, 0
            )
        fee = self._per_tier([t.fee for t in self._tiers()])
        has_fee = self._per_tier([int(t.has_fee) for t in self._tiers()])
        valid["requests"] = full & (has_fee != 0)
        units["requests"] = np.where(valid["requests"], fee, 0)
        overhead = np.array([r.overhead or 0 for r in self.rates] + [0], dtype=np.int64)[self.codes]
        valid["overhead"] = full & (overhead != 0)
        units["overhead"] = np.where(valid["overhead"], overhead, 0)
        total = np.sum([units[name] for name in units], axis=0)
        out = {f"cost_{name}": _decimals(units[name], valid[name]) for name in units}
        out["cost_server_tools"] = pa.nulls(self.count, MONEY_TYPE)
        out["cost_total"] = _decimals(total, full)
        return out

    def _slots(self) -> Ints:
        """Each call's (key, long-context tier) in the flattened tiers of all keys; the last slot for none.

        A call's tier is the last whose start is below its input total.
        """
        slots = np.full(self.count, sum(len(r.tiers) for r in self.rates), dtype=np.int64)
        inputs = _numbers(self.calls, "input_total")
        first = 0
        for code, rates in enumerate(self.rates):
            if rates.tiers:
                rows = self.codes == code
                starts = np.array([t.start for t in rates.tiers], dtype=np.int64)
                slots[rows] = first + np.searchsorted(starts, inputs[rows], side="left") - 1
            first += len(rates.tiers)
        return slots

    def _per_tier(self, values: list[int]) -> Ints:
        """For every call, its key's tier value in ``values`` (one per slot; 0 for calls without rates)."""
        return np.array([*values, 0], dtype=np.int64)[self.slot]

    def _tiers(self) -> list[_Tier]:
        return [t for r in self.rates for t in r.tiers]

    def _facts(self) -> dict[str, Any]:
        """Currency, source, price date, estimated and reason, by how each call was priced."""
        how = self.how
        codes = pa.array(np.where(self.codes >= 0, self.codes, len(self.rates)))
        keyed = (how == UNPRICED) | (how == EMPTY) | (how == FULL)
        sources = pa.array([r.source for r in self.rates] + [None], pa.string()).take(codes)
        dates = pa.array([r.price_date for r in self.rates] + [None], pa.date32()).take(codes)
        reasons = pa.array([r.reason for r in self.rates] + [None], pa.string()).take(codes)
        priced = _with_kind_notes(reasons, _column(self.calls, "usage_kind"))  # (unpriced: the key's own)
        estimated = np.array([r.estimated for r in self.rates] + [False], dtype=np.bool_)[codes.to_numpy()]
        estimated |= ~_equal(self.calls.column("usage_kind"), _REPORTED)
        fixed = pa.array(np.select([how == UNNAMED, how == EMPTY], [NO_MODEL, NO_USAGE], default=""))
        return {
            "cost_currency": self._keep("cost_currency", pa.array(np.full(self.count, "USD"))),
            "cost_source": self._keep("cost_source", pc.if_else(pa.array(self.full), sources, _NO_TEXT)),
            "cost_price_date": self._keep("cost_price_date", pc.if_else(pa.array(keyed), dates, _NO_DATE)),
            "cost_estimated": self._keep("cost_estimated", pa.array(estimated & self.full)),
            "cost_reason": self._keep(
                "cost_reason",
                pc.if_else(
                    pa.array(self.full), priced, pc.if_else(pa.array(how == UNPRICED), reasons, fixed)
                ),
            ),
        }


def _with_kind_notes(reasons: Any, kinds: Any) -> Any:
    """Each reason with the note of a usage not reported appended (as :func:`tokenomy.pricing.compute
    .with_kind_note` words it), for the calls whose usage was counted or estimated locally."""
    notes = pa.nulls(len(kinds), pa.string())
    for kind, note in _KIND_NOTES:
        notes = pc.if_else(pc.equal(kinds, kind), note, notes)
    joined = pc.if_else(pc.is_null(reasons), notes, pc.binary_join_element_wise(reasons, notes, "; "))
    return pc.if_else(pc.is_null(notes), reasons, joined)


def _column(calls: pa.Table, name: str) -> Any:
    return calls.column(name).combine_chunks()


def _numbers(calls: pa.Table, name: str) -> Ints:
    return np.asarray(_column(calls, name).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _decimals(units: Ints, valid: Mask) -> Any:
    """DECIMAL(38, 12) values from integers in units of 10**-12 (null where not ``valid``)."""
    words = np.empty((units.size, 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = np.where(units < 0, -1, 0)  # the high word of a 128-bit two's complement
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(MONEY_TYPE, units.size, [validity, pa.py_buffer(words)])
