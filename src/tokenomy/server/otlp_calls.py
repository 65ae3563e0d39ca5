"""Plain model calls as columns: ids, provider, models, result, times, usage and steps, for a whole request.

The rules are the OTLP importer's (:mod:`tokenomy.importers.otel_calls` with
:mod:`tokenomy.usage.otel`) reduced to what a plain call may hold (:mod:`tokenomy.server.otlp_keys`):
the response id is the call's id (else ``<trace id>:<span id>``); the provider is the canonical
``gen_ai.provider.name`` (or ``gen_ai.system``), else the prefix of a routed model name; usage
follows the OTel convention (input includes cache reads and writes, output includes reasoning);
steps number each session's calls by start time, ties in request order; the error type is
``error.type``, else a failed span's status message, each kept only when it is a classification
(:func:`tokenomy.errors.error_kind`, here as a regular expression on the column). Work that depends on a
value rather than a row (canonical provider names, model prefixes, string cleaning) is done
once per distinct value. Whatever a plain call may not hold raises :class:`NotPlainError`, and
the request goes the importer's way, which has the final word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from tokenomy.errors import DIGIT_PATTERN, ERROR_KIND_PATTERN, KEY_PREFIX_PATTERN, LONG_RUN_PATTERN
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import canonical, from_model_prefix
from tokenomy.schema import MAX_TOKENS as TOKEN_LIMIT
from tokenomy.server.otlp_columns import BOOL, DOUBLE, INT, SpanColumns
from tokenomy.server.otlp_fields import Ints
from tokenomy.server.otlp_keys import (
    CALL_KINDS,
    CODES,
    ERROR_TYPE,
    EXACT_TEXT,
    FINISH_REASONS,
    MAX_TOKENS,
    OPERATION,
    PROVIDER,
    REQUEST_MODEL,
    RESPONSE_ID,
    RESPONSE_MODEL,
    STREAM,
    SYSTEM,
    TTFT,
    USAGE,
    USAGE_KEYS,
)
from tokenomy.server.otlp_lineage import Inheritance
from tokenomy.server.otlp_tree import clean
from tokenomy.server.otlp_values import AttributeIndex
from tokenomy.store.arrow import CALLS_SCHEMA, TIME_TYPE
from tokenomy.usage.otel import ROUTERS

_STATUS_ERROR: Final = 2
_APIS: Final = {"text_completion": "completions", "completion": "completions"}
_MAX_COUNT: Final = TOKEN_LIMIT + 1
"""Counts from here on are read by the importer's mapping, which refuses them (records.out_of_range)."""
_STATUS: Final = pa.array(["ok", "error"])
_SEPARATOR: Final = pa.scalar(":")
_NO_TEXT: Final = pa.scalar(None, pa.string())
_LISTS: Final = frozenset({"server_tools", "modalities", "quality", "prefix_hashes", "tool_uses", "tags"})


class NotPlainError(Exception):
    """A call needs the importer's full mapping."""


def check_values(columns: SpanColumns, index: AttributeIndex, calls: NDArray[np.bool_]) -> None:
    """Require the ``calls`` spans' attributes to hold values the quick mapping reads as the importer does.

    Raises:
        NotPlainError: One does not.
    """
    attrs = columns.attributes
    on_call = calls[attrs.owner]
    if (on_call & (((CALL_KINDS[attrs.code + 1] >> attrs.kind) & 1) == 0)).any():
        raise NotPlainError
    counts = attrs.value[on_call & USAGE_KEYS[attrs.code + 1] & (attrs.kind == INT)]
    if counts.size and (counts.min() < 0 or counts.max() >= _MAX_COUNT):
        raise NotPlainError  # negative counts are flagged by the adapter; huge ones could overflow
    for key in EXACT_TEXT:  # strings both the usage adapter (raw) and the importer (cleaned) read
        doubtful = index.doubtful(CODES[key], calls)
        if doubtful.size:
            values = index.strings(CODES[key]).take(pa.array(doubtful)).to_pylist()
            if any(clean(value) != value for value in values):
                raise NotPlainError


def call_columns(
    columns: SpanColumns, index: AttributeIndex, calls: Ints, inherited: Inheritance
) -> dict[str, Any]:
    """The columns of the calls at span indices ``calls`` (in request order).

    Raises:
        NotPlainError: A call's values do not add up the way the mapping requires.
    """
    rows = pa.array(calls)

    def text(key: str) -> Any:
        return index.strings(CODES[key]).take(rows)

    out: dict[str, Any] = {
        "id": _ids(columns, text(RESPONSE_ID), rows),
        "trace_id": columns.trace_id.take(rows),
        "span_id": columns.span_id.take(rows),
        "parent_span_id": columns.parent_span_id.take(rows),
        "response_model": text(RESPONSE_MODEL),
    }
    out.update(_models(text(PROVIDER), text(SYSTEM), text(REQUEST_MODEL), out["response_model"]))
    out.update(_operations(text(OPERATION)))
    out.update(_result(columns, index, calls))
    out.update(_times(columns.start_ns[calls], columns.end_ns[calls]))
    out.update(_usage(index, calls))
    for what in ("session", "user", "environment", "agent"):
        out["session_id" if what == "session" else what] = inherited.values[what].take(rows)
    out["step"] = _steps(out["session_id"], out["started_at"])
    return out


def _ids(columns: SpanColumns, response_ids: Any, rows: Any) -> Any:
    """The response id, else ``<trace id>:<span id>``."""
    if response_ids.null_count == 0:
        return response_ids
    spans = pc.binary_join_element_wise(columns.trace_id, columns.span_id, _SEPARATOR).take(rows)
    return pc.coalesce(response_ids, spans)


def calls_table(columns: dict[str, Any], rows: int, source: str) -> pa.Table:
    """The calls table from computed columns; every other column takes a call's default."""
    arrays = []
    for field in CALLS_SCHEMA:
        values = columns.get(field.name)
        if values is None:
            values = _default(field, rows, source)
        arrays.append(values.cast(field.type) if values.type != field.type else values)
    return pa.Table.from_arrays(arrays, schema=CALLS_SCHEMA)


def _default(field: Any, rows: int, source: str) -> Any:
    """A column of ``rows`` defaults: empty lists and maps, ``batch`` false, ``usage_kind`` reported."""
    if field.name in _EMPTY:
        block = _EMPTY[field.name]
        return block.slice(0, rows) if rows <= len(block) else _empty(field.type, rows)
    if field.name == "batch":
        return pa.array(np.zeros(rows, dtype=np.bool_))
    if field.name in ("usage_kind", "source"):
        text = ("reported" if field.name == "usage_kind" else source).encode()
        offsets = np.arange(rows + 1, dtype=np.int32) * len(text)
        return pa.Array.from_buffers(
            pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(text * rows)]
        )
    return pa.nulls(rows, type=field.type)


def _empty(kind: Any, rows: int) -> Any:
    """``rows`` empty lists (or maps) of this type."""
    offsets = pa.array(np.zeros(rows + 1, dtype=np.int32))
    if isinstance(kind, pa.MapType):
        return pa.MapArray.from_arrays(offsets, pa.array([], kind.key_type), pa.array([], kind.item_type))
    return pa.ListArray.from_arrays(offsets, pa.array([], kind.value_type))


_EMPTY: Final = {f.name: _empty(f.type, 4096) for f in CALLS_SCHEMA if f.name in _LISTS}
"""Blocks of empty lists, sliced to size (Arrow arrays are immutable)."""


def _per_value(columns: Sequence[Any], compute: Callable[..., tuple[Any, ...]], width: int) -> list[Any]:
    """``compute`` applied once per distinct combination of values across ``columns``, as columns."""
    if len(columns) == 1:
        return _per_distinct(columns[0], compute, width)
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    dictionaries = []
    for column in columns:
        encoded = column.dictionary_encode()
        values = encoded.dictionary.to_pylist()
        dictionaries.append([*values, None])
        code = np.asarray(
            encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        codes = codes * (len(values) + 1) + code
    distinct, where = np.unique(codes, return_inverse=True)
    results: list[list[Any]] = [[] for _ in range(width)]
    for combination in distinct.tolist():
        parts, rest = [], combination
        for dictionary in reversed(dictionaries):
            rest, code = divmod(rest, len(dictionary))
            parts.append(dictionary[code])
        for column, value in zip(results, compute(*reversed(parts)), strict=True):
            column.append(value)
    take = pa.array(where.ravel())
    return [pa.array(column, type=pa.string()).take(take) for column in results]


def _per_distinct(column: Any, compute: Callable[..., tuple[Any, ...]], width: int) -> list[Any]:
    """:func:`_per_value` for one column; a result that leaves every value as it is is the column itself."""
    encoded = column.dictionary_encode()
    values = encoded.dictionary.to_pylist()
    results = [compute(value) for value in values]
    nulls = compute(None) if column.null_count else (None,) * width
    out = []
    for i in range(width):
        mapped = [r[i] for r in results]
        if mapped == values and nulls[i] is None:
            out.append(column)
            continue
        table = pa.array([*mapped, nulls[i]], type=pa.string())
        out.append(table.take(encoded.indices.fill_null(len(values))))
    return out


def _models(provider: Any, system: Any, request: Any, response: Any) -> dict[str, Any]:
    """The canonical provider and the requested model (without a routing prefix), once per distinct case."""
    model = pc.coalesce(request, response)
    (requested,) = _per_value([model], lambda name: (from_model_prefix(name)[1] if name else None,), 1)
    if provider.null_count == 0:  # the usual case: the provider is named on every call
        (named,) = _per_value([provider], lambda name: (_not_router(canonical(name)),), 1)
        if named.null_count == 0:
            return {"provider": named, "request_model": requested}

    def compute(
        provider: str | None, system: str | None, model: str | None, response: str | None
    ) -> tuple[Any]:
        """As the importer's ``_provider`` (importers/otel_calls.py): the named provider (a router
        names none), a routed model name's prefix, the model's maker, else the router's own name."""
        given = canonical(provider or system)
        named = _not_router(given)
        if named is None:
            named = (
                from_model_prefix(model)[0]
                or from_model_prefix(response or model)[0]
                or provider_of_model(model)
                or (given if given in ROUTERS else None)
            )
        return (named,)

    (named,) = _per_value([provider, system, model, response], compute, 1)
    return {"provider": named, "request_model": requested}


def _not_router(name: str | None) -> str | None:
    """``name``, or None for a router's name (the Vercel AI Gateway's ``gateway``): it names no provider."""
    return None if name in ROUTERS else name


def _operations(operation: Any) -> dict[str, Any]:
    def compute(name: str | None) -> tuple[Any, ...]:
        if name is None:  # every call names its operation
            return None, None
        return ("text_completion" if name == "completion" else name), _APIS.get(name, name)

    if len(operation) == 0:
        return {"operation": operation, "api": operation}
    operations, apis = _per_value([operation], compute, 2)
    return {"operation": operations, "api": apis}


def _result(columns: SpanColumns, index: AttributeIndex, calls: Ints) -> dict[str, Any]:
    named = index.cleaned(CODES[ERROR_TYPE]).take(pa.array(calls))
    # an error.type says the call failed (the conventions set it only then), whatever the status
    status_error = columns.status_code[calls] == _STATUS_ERROR
    failed = status_error | named.is_valid().to_numpy(zero_copy_only=False)
    stream = index.kinds(CODES[STREAM])[calls]
    tokens = index.kinds(CODES[MAX_TOKENS])[calls]
    limit = index.ints(CODES[MAX_TOKENS])[calls]
    error = _kinds(named)
    if status_error.any():  # a status message names the error of a span whose status is ERROR
        message = _kinds(columns.status_message.take(pa.array(calls)))
        error = pc.coalesce(error, pc.if_else(pa.array(status_error), message, _NO_TEXT))
    return {
        "status": _STATUS.take(pa.array(failed.astype(np.int64))),
        "error_type": error,
        "streamed": pa.array(index.bools(CODES[STREAM])[calls], mask=stream != BOOL),
        "max_output_tokens": pa.array(limit, mask=(tokens != INT) | (limit <= 0)),
        "finish_reason": _finish_reason(index, calls),
        "ttft_ms": _ttft(index, calls),
    }


def _kinds(values: Any) -> Any:
    """The values that are error classifications, the others null: :func:`tokenomy.errors.error_kind`
    on a column (free text, an exception's message with its prompt or key, is never stored)."""
    if values.null_count == len(values):
        return values
    key = pc.or_(
        pc.match_substring_regex(values, KEY_PREFIX_PATTERN),
        pc.and_(
            pc.match_substring_regex(values, LONG_RUN_PATTERN),
            pc.match_substring_regex(values, DIGIT_PATTERN),
        ),
    )
    kept = pc.and_not(pc.match_substring_regex(values, ERROR_KIND_PATTERN), key)
    return pc.if_else(kept, values, _NO_TEXT)


def _finish_reason(index: AttributeIndex, calls: Ints) -> Any:
    code = CODES[FINISH_REASONS]
    kinds = index.kinds(code)[calls]
    first, fine = index.first_strings(code)
    if ((kinds > 0) & ~fine[calls]).any():
        raise NotPlainError  # an array holding something other than non-empty strings
    return first.take(pa.array(calls))


def _ttft(index: AttributeIndex, calls: Ints) -> Any:
    kinds = index.kinds(CODES[TTFT])[calls]
    seconds = index.numbers(CODES[TTFT])[calls]
    return pa.array(seconds * 1000, mask=(kinds != INT) & (kinds != DOUBLE))


def micros(nanos: Ints) -> Ints:
    """Nanosecond times as whole microseconds, rounded exactly as ``datetime.fromtimestamp(ns / 1e9)``.

    That is what the importer stores: the float seconds split into whole and fractional parts,
    the fraction rounded half to even to microseconds.
    """
    fraction, whole = np.modf(nanos / 1e9)
    us = np.rint(fraction * 1e6)
    carry = us >= 1e6
    us[carry] -= 1e6
    whole[carry] += 1.0
    return np.asarray(whole.astype(np.int64) * 1_000_000 + us.astype(np.int64), dtype=np.int64)


def _times(start: Ints, end: Ints) -> dict[str, Any]:
    both = (start != 0) & (end != 0)
    return {
        "started_at": pa.array(micros(start), type=TIME_TYPE, mask=start == 0),
        "ended_at": pa.array(micros(end), type=TIME_TYPE, mask=end == 0),
        "latency_ms": pa.array((end - start) / 1e6, mask=~both),
    }


def _usage(index: AttributeIndex, calls: Ints) -> dict[str, Any]:
    """The exclusive buckets, by the OTel convention (input includes cache, output includes reasoning)."""
    known, n = {}, {}
    for name, key in USAGE.items():
        known[name] = index.kinds(CODES[key])[calls] == INT
        n[name] = index.ints(CODES[key])[calls]
    all_in = known["input"] & known["cache_read"] & known["cache_write"]
    uncached = n["input"] - n["cache_read"] - n["cache_write"]
    if (known["input"] & (uncached < 0)).any():  # unknown parts count as 0 here
        raise NotPlainError  # flagged cache_exceeds_input by the adapter
    both_out = known["output"] & known["reasoning"]
    visible = n["output"] - n["reasoning"]
    if (both_out & (visible < 0)).any():
        raise NotPlainError
    return {
        "input_uncached": pa.array(uncached, mask=~all_in),
        "cache_read": pa.array(n["cache_read"], mask=~known["cache_read"]),
        "cache_write_5m": pa.array(n["cache_write"], mask=~known["cache_write"]),
        "cache_write_1h": pa.array(np.zeros(calls.size, dtype=np.int64), mask=~known["cache_write"]),
        "output_visible": pa.array(visible, mask=~both_out),
        "reasoning": pa.array(n["reasoning"], mask=~known["reasoning"]),
        "input_total": pa.array(n["input"], mask=~known["input"]),
        "output_total": pa.array(n["output"], mask=~known["output"]),
    }


def _steps(sessions: Any, started: Any) -> Any:
    """Each call's rank by start time in its session (ties in request order), as the importer numbers them."""
    count = len(sessions)
    steps = np.zeros(count, dtype=np.int64)
    have = np.asarray(pc.and_(sessions.is_valid(), started.is_valid()).to_numpy(zero_copy_only=False))
    chosen = np.flatnonzero(have)
    if chosen.size:
        session = np.asarray(sessions.dictionary_encode().indices.to_numpy(zero_copy_only=False))[chosen]
        start = np.asarray(started.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False))[chosen]
        order = np.lexsort((chosen, start, session))
        ordered = session[order]
        first = np.ones(chosen.size, dtype=np.bool_)
        first[1:] = ordered[1:] != ordered[:-1]
        positions = np.arange(chosen.size)
        steps[chosen[order]] = positions - np.maximum.accumulate(np.where(first, positions, 0)) + 1
    return pa.array(steps, mask=~have)
