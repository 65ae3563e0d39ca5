"""Text columns: numpy columns turned into Arrow string columns, and lines joined from them.

The fast writer builds every JSON line of a chunk at once: each field is a column of strings
(numbers cast to text, names taken from small tables, hex ids viewed without copying), and a
:class:`Line` joins literals and columns element-wise. Nothing here runs Python code per row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]  # pyarrow ships no type information

Array = npt.NDArray[Any]

EMPTY: Final = pa.scalar("", pa.string())
_MINUTE_SECOND: Final = pa.array([f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)], pa.string())
_MILLIS: Final = pa.array([f".{i:03d}" for i in range(1000)], pa.string())
_RARE: Final = 0.25
"""Below this share of rows, an optional field is joined for its rows only and scattered back."""


class Line:
    """The parts of every line of a batch: literal text and string columns of equal length."""

    def __init__(self) -> None:
        self._parts: list[Any] = []
        self._pending: list[str] = []

    def text(self, value: str) -> None:
        """Append the same text to every line."""
        self._pending.append(value)

    def column(self, *values: Any) -> None:
        """Append string columns (one value per line)."""
        if self._pending:
            self._parts.append(pa.scalar("".join(self._pending), pa.string()))
            self._pending = []
        self._parts.extend(values)

    def finish(self) -> Any:
        """The joined lines."""
        self.column()
        return pc.binary_join_element_wise(*self._parts, "")


def ints(values: Array) -> Any:
    """Integers as decimal text."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def floats(values: Array) -> Any:
    """Floats as the shortest text that reads back as the same float."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.float64)), pa.string())


def hex_ids(values: Array) -> Any:
    """A fixed-width ``S16`` numpy column as a string column, without copying."""
    data = np.ascontiguousarray(values, dtype="S16")
    offsets = np.arange(0, 16 * len(data) + 1, 16, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def pick(table: tuple[str, ...] | list[str], index: Array) -> Any:
    """``table[index]`` for every row."""
    return pc.take(pa.array(list(table), pa.string()), pa.array(np.asarray(index, dtype=np.int64)))


def take(column: Any, index: Array) -> Any:
    """Rows of a string column, by index."""
    return pc.take(column, pa.array(np.asarray(index, dtype=np.int64)))


def bools(values: Array) -> Any:
    """``true`` or ``false``."""
    return pick(("false", "true"), np.asarray(values, dtype=np.int64))


def times(ms: Array) -> tuple[Any, Any, Any]:
    """Epoch milliseconds as the three parts of ``YYYY-MM-DDTHH:`` ``MM:SS`` ``.mmm`` (UTC)."""
    ms = np.asarray(ms, dtype=np.int64)
    hours, where = np.unique(ms // 3_600_000, return_inverse=True)
    epoch = datetime(1970, 1, 1)
    prefixes = [(epoch + timedelta(hours=int(h))).strftime("%Y-%m-%dT%H:") for h in hours.tolist()]
    return (
        take(pa.array(prefixes, pa.string()), where.ravel()),
        take(_MINUTE_SECOND, ms // 1000 % 3600),
        take(_MILLIS, ms % 1000),
    )


def optional(mask: Array, *parts: Any) -> Any:
    """The joined parts on rows where ``mask`` holds, an empty string elsewhere.

    Parts are literal strings or columns over all rows.
    """
    mask = np.asarray(mask, dtype=bool)
    flags = pa.array(mask)
    share = float(mask.mean()) if len(mask) else 0.0
    if share >= _RARE:
        joined = pc.binary_join_element_wise(*[_as_part(p) for p in parts], "")
        return pc.if_else(flags, joined, EMPTY)
    few = [p if isinstance(p, str) else pc.filter(p, flags) for p in parts]
    joined = pc.binary_join_element_wise(*[_as_part(p) for p in few], "")
    return pc.replace_with_mask(pc.if_else(flags, EMPTY, EMPTY), flags, joined)


def _as_part(part: Any) -> Any:
    return pa.scalar(part, pa.string()) if isinstance(part, str) else part


def or_null(column: Any, known: Array) -> Any:
    """The column where ``known`` holds, ``null`` (the JSON literal) elsewhere."""
    known = np.asarray(known, dtype=bool)
    if known.all():
        return column
    return pc.if_else(pa.array(known), column, pa.scalar("null", pa.string()))


def buffer(lines: Any) -> memoryview:
    """The UTF-8 bytes of a string column's values, back to back, without copying."""
    bounds = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=lines.offset + len(lines) + 1)
    start, end = int(bounds[lines.offset]), int(bounds[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:end]
