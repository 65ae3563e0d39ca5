"""Lineage over columns: each span's parent in the request, and what it inherits, for all spans at once.

The rules are :class:`tokenomy.server.otlp_tree.Lineage`'s (the OTLP importer's): a span's
session, user, environment and agent are the first of their attributes found on the span itself,
then on its resource, then on its ancestors nearest first (each with its own resource); a session
not found that way is the one set on the spans of the same trace, when they set one alone
(attributes only). Here
the walk up the tree is one array step per generation for every span at once, and values are
compared as integer codes. A request whose parent links form a cycle is left to the row-wise
rules (:class:`CycleError`), which stop at the first span seen twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from tokenomy.server.otlp_columns import SpanColumns
from tokenomy.server.otlp_fields import Ints
from tokenomy.server.otlp_tree import INHERITED, first
from tokenomy.server.otlp_values import AttributeIndex

_KEY: Final = pa.binary(24)


class CycleError(Exception):
    """The parent links of a request loop."""


@dataclass(frozen=True, slots=True)
class Inheritance:
    """What every span of a request inherits (Arrow string arrays, null when nothing is found)."""

    parent: Ints
    """Each span's parent's index in the request, -1 when it has none there."""
    values: dict[str, Any]
    """``session``, ``user``, ``environment``, ``agent`` (the keys of :data:`INHERITED`)."""


def span_keys(columns: SpanColumns) -> tuple[Any, Any]:
    """Each span's (trace id, span id), and its parent's (trace id, parent id), as 24-byte Arrow values.

    A span without a parent has a null parent key.
    """
    ids = columns.ids
    own = np.ascontiguousarray(ids[:, :24])
    parent = np.ascontiguousarray(np.concatenate([ids[:, :16], ids[:, 24:]], axis=1))
    has_parent = pa.py_buffer(np.packbits(ids[:, 24:].any(axis=1), bitorder="little"))
    count = columns.count
    return (
        pa.Array.from_buffers(_KEY, count, [None, pa.py_buffer(own)]),
        pa.Array.from_buffers(_KEY, count, [has_parent, pa.py_buffer(parent)]),
    )


def parents(keys: Any, parent_keys: Any) -> Ints:
    """Each span's parent's index in the request (-1 when absent); span keys must be unique."""
    found = pc.index_in(parent_keys, value_set=keys)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def inherit(
    columns: SpanColumns, index: AttributeIndex, codes: Mapping[str, int], parent: Ints
) -> Inheritance:
    """What every span inherits (see the module docstring).

    Args:
        columns: The request.
        index: Its attributes by key.
        codes: The vocabulary code of every key of :data:`INHERITED`.
        parent: Each span's parent (:func:`parents`).

    Raises:
        CycleError: The parent links loop.
    """
    own: list[tuple[Ints, Any]] = []
    sessions: Any = None
    for what, keys in INHERITED.items():
        from_attributes = _first_clean(index, [codes[k] for k in keys])
        if what == "session":
            sessions = from_attributes
        fallback = [first(r, keys) for r in columns.resources]
        if any(v is not None for v in fallback):
            value = pc.coalesce(
                from_attributes, pa.array(fallback, type=pa.string()).take(pa.array(columns.resource))
            )
        else:
            value = from_attributes
        own.append(_encode(value))
    found = _walk([c for c, _ in own], parent)
    values = {
        what: dictionary.take(_nullable(code)) if len(dictionary) else pa.nulls(columns.count, pa.string())
        for what, code, (_, dictionary) in zip(INHERITED, found, own, strict=True)
    }
    if values["session"].null_count and len(sessions) > sessions.null_count:
        values["session"] = pc.coalesce(values["session"], _trace_first(columns, sessions))
    return Inheritance(parent=parent, values=values)


def wrappers(candidates: NDArray[np.bool_], parent: Ints) -> NDArray[np.bool_]:
    """The candidate calls that have another candidate below them (they carry their children's usage).

    Raises:
        CycleError: The parent links loop.
    """
    found = np.zeros(candidates.size, dtype=np.bool_)
    current = parent[np.flatnonzero(candidates)]
    for _ in range(candidates.size + 1):
        current = current[current >= 0]
        if current.size == 0:
            return found
        found[current[candidates[current]]] = True
        current = parent[current]
    raise CycleError("the spans' parent links loop")


def _first_clean(index: AttributeIndex, codes: list[int]) -> Any:
    """For every span, the first of these keys holding a string that stays non-empty once cleaned."""
    columns = [index.cleaned(code) for code in codes if index.pairs(code).size]
    if not columns:
        return pa.nulls(index.count, pa.string())
    return columns[0] if len(columns) == 1 else pc.coalesce(*columns)


def _trace_first(columns: SpanColumns, sessions: Any) -> Any:
    """For every span, the session set on the spans of its trace, when they set one alone (a trace
    of several sessions gives none: a worker's spans outside them are no session's)."""
    traces = columns.trace_id.dictionary_encode()
    trace = np.asarray(traces.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    holders = np.flatnonzero(sessions.is_valid().to_numpy(zero_copy_only=False) & (trace >= 0))
    size = len(traces.dictionary) + 1
    chosen = np.full(size, -1, dtype=np.int64)
    held = _encode(sessions)[0][holders]
    low, high = np.full(size, np.iinfo(np.int64).max, dtype=np.int64), np.full(size, -1, dtype=np.int64)
    np.minimum.at(low, trace[holders], held)
    np.maximum.at(high, trace[holders], held)
    distinct, first_at = np.unique(trace[holders], return_index=True)
    alone = low[distinct] == high[distinct]
    chosen[distinct[alone]] = holders[first_at[alone]]
    return sessions.take(_nullable(chosen[trace]))


def _encode(values: Any) -> tuple[Ints, Any]:
    """Integer codes (-1 for null) and the distinct values they index."""
    if values.null_count == len(values):
        return np.full(len(values), -1, dtype=np.int64), pa.array([], type=pa.string())
    encoded = values.dictionary_encode()
    codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, encoded.dictionary


def _nullable(codes: Ints) -> Any:
    return pa.array(codes, mask=codes < 0)


def _walk(own: list[Ints], parent: Ints) -> list[Ints]:
    """Fill each span's missing codes from its ancestors, nearest first, one generation per step."""
    found = [codes.copy() for codes in own]
    at = parent.copy()
    active = np.flatnonzero(at >= 0)
    for _ in range(parent.size + 1):
        missing = np.zeros(active.size, dtype=np.bool_)
        for codes in found:
            missing |= codes[active] < 0
        active = active[missing]
        if active.size == 0:
            return found
        ancestor = at[active]
        for codes, theirs in zip(found, own, strict=True):
            gap = codes[active] < 0
            codes[active[gap]] = theirs[ancestor[gap]]
        at[active] = parent[ancestor]
        active = active[at[active] >= 0]
    raise CycleError("the spans' parent links loop")
