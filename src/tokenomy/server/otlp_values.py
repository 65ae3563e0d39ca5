"""Attribute values by key, as columns: one entry per span, read from a request's columns on demand.

:class:`AttributeIndex` groups a request's key-value pairs by vocabulary key once; each reader
then returns, for every span, the value of one key with one type (strings as an Arrow array,
integers and floats as numpy arrays), plus what kind of value each span holds there, so callers
can require a type the way the importer's mapping reads one. A span's attributes can also be
decoded whole, as a dict (:meth:`AttributeIndex.decoded`), for the few spans that need all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
from numpy.typing import NDArray

from tokenomy.server.otlp_columns import (
    ARRAY,
    BOOL,
    DOUBLE,
    INT,
    STRING,
    VALUE_WIRES,
    SpanColumns,
    scatter,
    texts,
)
from tokenomy.server.otlp_fields import LEN, Ints, UnreadableError, check_wires, fixed64, read_fields, single
from tokenomy.server.otlp_tree import clean
from tokenomy.server.otlp_wire import any_value

_QUOTE: Final = ord('"')
ABSENT: Final = -1
"""The kind of a key a span does not carry."""
_VALUES: Final = 1  # ArrayValue.values


class AttributeIndex:
    """A request's attributes grouped by vocabulary key (see the module docstring).

    Raises:
        UnreadableError: A span repeats a vocabulary key (protobuf keeps the last; rare enough to
            leave to the importer's decoder).
    """

    def __init__(self, columns: SpanColumns, size: int) -> None:
        self.columns = columns
        self.count = columns.count
        attrs = columns.attributes
        self._order = np.argsort(attrs.code, kind="stable")
        self._bounds = np.searchsorted(attrs.code[self._order], np.arange(-1, size + 1))
        self._spans = np.searchsorted(attrs.owner, np.arange(self.count + 1))
        self._size = size
        self._texts: tuple[Any, Ints, Ints] | None = None
        known = attrs.code >= 0
        if known.any():
            single_keys = attrs.owner[known] * (size + 1) + attrs.code[known]
            if np.bincount(single_keys).max() > 1:
                raise UnreadableError("a span repeats an attribute key")

    def pairs(self, code: int) -> Ints:
        """Indices of the pairs with this key, in request order."""
        return self._order[self._bounds[code + 1] : self._bounds[code + 2]]

    def _strings(self) -> tuple[Any, Ints, Ints]:
        """Every string value of a vocabulary key, grouped by key (read and checked at once).

        Returns:
            The strings; the pair each one belongs to; where each key's group starts.
        """
        if self._texts is None:
            attrs = self.columns.attributes
            strings = (attrs.kind == STRING) & (attrs.code >= 0)
            rank = np.cumsum(strings) - 1  # each string pair's position among them, in request order
            grouped = self._order[strings[self._order]]
            values = texts(
                self.columns.arrow_data, attrs.start[strings], attrs.end[strings], pick=rank[grouped]
            )
            bounds = np.searchsorted(attrs.code[grouped], np.arange(self._size + 1))
            self._texts = (values, grouped, bounds)
        return self._texts

    def kinds(self, code: int) -> Ints:
        """For every span, the kind of its value for this key (:data:`ABSENT` when it has none)."""
        out = np.full(self.count, ABSENT, dtype=np.int64)
        pairs = self.pairs(code)
        out[self.columns.attributes.owner[pairs]] = self.columns.attributes.kind[pairs]
        return out

    def cleaned(self, code: int) -> Any:
        """:meth:`strings`, each as :func:`~tokenomy.server.otlp_tree.clean` reads it."""
        values = self.strings(code)
        doubtful = self.doubtful(code)
        if doubtful.size == 0:
            return values
        fixed = np.array(values.to_pylist(), dtype=object)
        fixed[doubtful] = [clean(v) for v in fixed[doubtful].tolist()]
        return pa.array(fixed.tolist(), type=pa.string())

    def doubtful(self, code: int, spans: NDArray[np.bool_] | None = None) -> Ints:
        """The spans whose string for this key :func:`~tokenomy.server.otlp_tree.clean` might change.

        Read from the bytes at both ends of each string: a printable ASCII character that is not
        a space at each end, without quotes around, is kept as it is; the others (spaces, other
        characters, quotes, the empty string) are doubtful, since ``str.strip`` also removes
        Unicode spaces.

        Args:
            code: The key.
            spans: Only these spans (all by default).
        """
        attrs, buf = self.columns.attributes, self.columns.buf
        pairs = self.pairs(code)
        pairs = pairs[attrs.kind[pairs] == STRING]
        if spans is not None:
            pairs = pairs[spans[attrs.owner[pairs]]]
        start, end = attrs.start[pairs], attrs.end[pairs]
        first, last = buf[start], buf[np.maximum(end - 1, start)]
        simple = (end > start) & (first > 0x20) & (first < 0x7F) & (last > 0x20) & (last < 0x7F)
        simple &= (first != _QUOTE) | (last != _QUOTE) | (end - start == 1)
        return np.asarray(attrs.owner[pairs[~simple]], dtype=np.int64)

    def strings(self, code: int) -> Any:
        """For every span, its string value for this key (an Arrow array, null when not a string)."""
        values, grouped, bounds = self._strings()
        low, high = int(bounds[code]), int(bounds[code + 1])
        if low == high:
            return pa.nulls(self.count, pa.string())
        chosen = values.slice(low, high - low)
        if high - low == self.count:  # every span holds one (a group is in request order)
            return chosen
        return scatter(chosen, self.columns.attributes.owner[grouped[low:high]], self.count)

    def ints(self, code: int) -> Ints:
        """For every span, its integer value for this key (0 when not an integer)."""
        attrs = self.columns.attributes
        pairs = self.pairs(code)
        pairs = pairs[attrs.kind[pairs] == INT]
        out = np.zeros(self.count, dtype=np.int64)
        out[attrs.owner[pairs]] = attrs.value[pairs]
        return out

    def bools(self, code: int) -> NDArray[np.bool_]:
        """For every span, its boolean value for this key (False when not a boolean)."""
        attrs = self.columns.attributes
        pairs = self.pairs(code)
        pairs = pairs[attrs.kind[pairs] == BOOL]
        out = np.zeros(self.count, dtype=np.bool_)
        out[attrs.owner[pairs]] = attrs.value[pairs] != 0
        return out

    def numbers(self, code: int) -> NDArray[np.float64]:
        """For every span, its integer or double value for this key as a float (NaN when neither)."""
        attrs = self.columns.attributes
        pairs = self.pairs(code)
        out = np.full(self.count, np.nan)
        ints = pairs[attrs.kind[pairs] == INT]
        out[attrs.owner[ints]] = attrs.value[ints].astype(np.float64)
        doubles = pairs[attrs.kind[pairs] == DOUBLE]
        if doubles.size:
            out[attrs.owner[doubles]] = fixed64(self.columns.buf, attrs.start[doubles]).view(np.float64)
        return out

    def first_strings(self, code: int) -> tuple[Any, NDArray[np.bool_]]:
        """For every span holding an array here, the array's first string (null for an empty array).

        Returns:
            The first strings, and for every span whether it holds an array of non-empty strings.
        """
        attrs = self.columns.attributes
        pairs = self.pairs(code)
        pairs = pairs[attrs.kind[pairs] == ARRAY]
        fine = np.zeros(self.count, dtype=np.bool_)
        if pairs.size == 0:
            return pa.nulls(self.count, pa.string()), fine
        single_string = self._single_strings(pairs)
        if single_string is not None:
            fine[attrs.owner[pairs]] = True
            return single_string, fine
        items = read_fields(self.columns.buf, attrs.start[pairs], attrs.end[pairs])
        values = read_fields(self.columns.buf, items.start, items.end)
        check_wires(values, VALUE_WIRES)
        single(values, len(items), tuple(VALUE_WIRES))
        kinds, sizes = np.zeros(len(items), dtype=np.int64), np.zeros(len(items), dtype=np.int64)
        kinds[values.owner], sizes[values.owner] = values.number, values.end - values.start
        good = (items.number == _VALUES) & (items.wire == LEN) & (kinds == STRING) & (sizes > 0)
        fine[attrs.owner[pairs]] = np.bincount(items.owner[~good], minlength=pairs.size) == 0
        strings = values.where(values.number == STRING)
        text = texts(self.columns.arrow_data, strings.start, strings.end)  # every item is checked
        head = np.zeros(len(items), dtype=np.bool_)
        head[np.unique(items.owner, return_index=True)[1]] = True  # step order: an array's first item
        chosen = head[strings.owner]
        owners = attrs.owner[pairs[items.owner[strings.owner[chosen]]]]
        return scatter(text.filter(pa.array(chosen)), owners, self.count), fine

    def _single_strings(self, pairs: Ints) -> Any:
        """The arrays at ``pairs`` when each holds exactly one non-empty string (the usual case), else None.

        ``ArrayValue{values: [AnyValue{string_value: s}]}`` is ``0A n 0A m s`` with one-byte lengths.
        """
        attrs, buf = self.columns.attributes, self.columns.buf
        start, end = attrs.start[pairs], attrs.end[pairs]
        outer, inner = buf[start + 1].astype(np.int64), buf[start + 3].astype(np.int64)
        usual = (buf[start] == 0x0A) & (buf[start + 2] == 0x0A) & (outer < 0x80) & (inner < 0x80)
        if not (usual & (inner > 0) & (start + 2 + outer == end) & (start + 4 + inner == end)).all():
            return None
        text = texts(self.columns.arrow_data, start + 4, end)
        return text if pairs.size == self.count else scatter(text, attrs.owner[pairs], self.count)

    def outside(self, allowed: NDArray[np.bool_]) -> Ints:
        """For every span, how many of its keys are not allowed (``allowed`` is indexed by code + 1)."""
        attrs = self.columns.attributes
        return np.asarray(np.bincount(attrs.owner[~allowed[attrs.code + 1]], minlength=self.count))

    def any_key(self, mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """For every span, whether one of its pairs is selected by ``mask`` (one entry per pair)."""
        return np.asarray(np.bincount(self.columns.attributes.owner[mask], minlength=self.count) > 0)

    def decoded(self, span: int) -> dict[str, Any]:
        """A span's attributes, decoded as the importer's decoder reads them.

        Raises:
            UnreadableError: A key or a value does not decode.
        """
        low, high = int(self._spans[span]), int(self._spans[span + 1])
        keys: Sequence[bytes] = self.columns.attributes.keys.slice(low, high - low).to_pylist()
        try:
            return {key.decode(): any_value(self.columns.value_bytes(low + i)) for i, key in enumerate(keys)}
        except Exception as exc:  # not UTF-8, or a value that does not decode
            raise UnreadableError(str(exc)) from exc
