"""The collector's quick path: requests made only of *plain* spans, mapped as columns, all spans at once.

Most of what an instrumented agent sends is plain: model calls that follow the current GenAI
semantic conventions (``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.usage.*`` as
whole numbers...) and agent, tool or other spans that carry no model call. For those the
importer's mapping (:func:`tokenomy.importers.calls_from_spans`, a few hundred µs a span in
Python) reduces to lookups that can be done for a whole request with array operations, on the
columns read by :mod:`tokenomy.server.otlp_columns`, without a Python object per span or per
attribute. A span is plain when it is a model call whose attributes are all listed in
:mod:`tokenomy.server.otlp_keys` with values of the expected kinds, or a span the importer would
surely not take for a model call. A request with any span that is not plain (or with repeated or
missing span ids, or parent links that loop) goes to the importer's mapping instead, which has
the final word. A test checks, span by span and column by column, that both paths give the same
rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from tokenomy.importers.otel_calls import CALL_OPERATIONS, WRAPPER_OPERATIONS
from tokenomy.server.otlp_calls import NotPlainError, call_columns, calls_table, check_values
from tokenomy.server.otlp_columns import SpanColumns
from tokenomy.server.otlp_fields import UnreadableError
from tokenomy.server.otlp_keys import CALL_KINDS, CODES, OPERATION, SIGNALS, VOCABULARY
from tokenomy.server.otlp_lineage import CycleError, inherit, parents, span_keys, wrappers
from tokenomy.server.otlp_tree import TreeSpan
from tokenomy.server.otlp_values import AttributeIndex

_CALL_OPERATIONS: Final = pa.array(sorted(CALL_OPERATIONS))
_WRAPPER_OPERATIONS: Final = pa.array(sorted(WRAPPER_OPERATIONS))
_IN_CALLS: Final = CALL_KINDS > 0


@dataclass(slots=True)
class PlainRequest:
    """A plain request, mapped: its calls as a table, and the spans that are not calls."""

    calls: pa.Table
    """:data:`~tokenomy.store.arrow.CALLS_SCHEMA` rows, cost columns empty."""
    spans: list[TreeSpan] = field(default_factory=list)
    """The spans stored as spans (every attribute decoded), in request order."""
    sessions: list[str | None] = field(default_factory=list)
    """The session each of ``spans`` inherits."""
    agents: list[str | None] = field(default_factory=list)
    """The agent each of ``spans`` inherits."""


def map_plain(columns: SpanColumns, *, source: str) -> PlainRequest | None:
    """The request's calls and other spans, or None when it is not plain (see the module docstring).

    Args:
        columns: The request, read by :func:`~tokenomy.server.otlp_columns.read_columns` with the
            vocabulary of :mod:`tokenomy.server.otlp_keys`.
        source: The calls' ``source``.
    """
    try:
        return _map(columns, source)
    except (NotPlainError, CycleError, UnreadableError):
        return None


def _map(columns: SpanColumns, source: str) -> PlainRequest | None:
    count = columns.count
    if columns.trace_id.null_count or columns.span_id.null_count:
        return None  # a span that cannot be placed: the importer's path counts it
    keys, parent_keys = span_keys(columns)
    if count and pc.count_distinct(keys).as_py() != count:
        return None
    index = AttributeIndex(columns, len(VOCABULARY))
    operations = index.strings(CODES[OPERATION])
    candidates = _candidates(index, operations)
    if not candidates.all() and not _plain_others(index, operations)[~candidates].all():
        return None
    parent = parents(keys, parent_keys)
    calls = candidates & ~wrappers(candidates, parent)
    check_values(columns, index, calls)
    inherited = inherit(columns, index, CODES, parent)
    chosen = np.flatnonzero(calls)
    table = calls_table(call_columns(columns, index, chosen, inherited), int(chosen.size), source)
    stored = pa.array(np.flatnonzero(~calls))
    return PlainRequest(
        calls=table,
        spans=_tree_spans(columns, index, stored),
        sessions=inherited.values["session"].take(stored).to_pylist(),
        agents=inherited.values["agent"].take(stored).to_pylist(),
    )


def _candidates(index: AttributeIndex, operations: Any) -> NDArray[np.bool_]:
    """Spans that name a model operation and carry only attributes a plain call may carry."""
    named = pc.is_in(operations, value_set=_CALL_OPERATIONS).to_numpy(zero_copy_only=False)
    only_call_keys: NDArray[np.bool_] = index.outside(_IN_CALLS) == 0
    return np.asarray(named, dtype=np.bool_) & only_call_keys


def _plain_others(index: AttributeIndex, operations: Any) -> NDArray[np.bool_]:
    """Spans the importer would surely not take for a model call: an agent or tool operation, or no
    operation and no model, usage or instrumentation markers."""
    attrs = index.columns.attributes
    has_operation = index.kinds(CODES[OPERATION]) > 0
    wrapper = np.asarray(pc.is_in(operations, value_set=_WRAPPER_OPERATIONS).to_numpy(zero_copy_only=False))
    signals = index.any_key(SIGNALS[attrs.code + 1])
    counted = pc.or_(pc.match_substring(attrs.keys, "usage"), pc.match_substring(attrs.keys, "token_count"))
    usage = index.any_key(np.asarray(counted.to_numpy(zero_copy_only=False), dtype=np.bool_))
    return np.asarray(np.where(has_operation, wrapper, ~signals & ~usage), dtype=np.bool_)


def _tree_spans(columns: SpanColumns, index: AttributeIndex, stored: Any) -> list[TreeSpan]:
    """The spans at ``stored`` with every attribute decoded, for the spans table."""
    if len(stored) == 0:
        return []
    at = stored.to_numpy()
    ids = [columns.trace_id.take(stored), columns.span_id.take(stored), columns.parent_span_id.take(stored)]
    traces, spans, parents_ = (a.to_pylist() for a in ids)
    names = columns.name.take(stored).to_pylist()
    messages = columns.status_message.take(stored).to_pylist()
    out = []
    for i, span in enumerate(at.tolist()):
        out.append(
            TreeSpan(
                trace_id=traces[i],
                span_id=spans[i],
                parent_span_id=parents_[i],
                name=names[i],
                kind=int(columns.kind[span]),
                start_ns=int(columns.start_ns[span]) or None,
                end_ns=int(columns.end_ns[span]) or None,
                attributes=index.decoded(span),
                resource=columns.resources[int(columns.resource[span])],
                status_code=int(columns.status_code[span]),
                status_message=messages[i],
            )
        )
    return out
