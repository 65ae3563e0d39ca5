"""Vectorised helpers over *segments*: runs of consecutive rows that belong together.

A segment is an agent's run inside a session (the main agent's steps, or a sub-agent's).
Rows of a segment are contiguous and in order; ``first`` marks the first row of each. These
helpers compute per-segment running sums and look-backs without a Python loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def repeat_index(counts: Array) -> tuple[Array, Array]:
    """Expand ``counts`` into rows: the owner of each row and its position within the owner.

    >>> owner, pos = repeat_index(np.array([2, 0, 3]))
    >>> owner.tolist(), pos.tolist()
    ([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])
    """
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def start_index(first: Array) -> Array:
    """For every row, the index of its segment's first row."""
    marks = np.where(first, np.arange(len(first)), 0)
    return np.asarray(np.maximum.accumulate(marks)) if len(marks) else marks


def exclusive_cumsum(values: Array, first: Array) -> Array:
    """Sum of the earlier rows of the same segment (0 on a segment's first row)."""
    if not len(values):
        return np.asarray(values)
    total = np.cumsum(values)
    before = total - values
    return np.asarray(before - before[start_index(first)])


def previous(first: Array) -> Array:
    """Index of the previous row of the same segment, or -1 on a segment's first row."""
    index = np.arange(len(first)) - 1
    return np.where(first, -1, index)


def last_where(mask: Array, first: Array) -> Array:
    """Index of the latest earlier row of the same segment where ``mask`` holds, or -1."""
    n = len(mask)
    if not n:
        return np.zeros(0, dtype=np.int64)
    marks = np.where(mask, np.arange(n), -1)
    shifted = np.concatenate(([-1], marks[:-1]))
    shifted = np.where(first, -1, shifted)
    # Running maximum restarted at each segment: offset segments so earlier ones cannot leak in.
    seg = np.cumsum(first) - 1
    big = n + 1
    running = np.maximum.accumulate(np.where(shifted >= 0, shifted + seg * big, seg * big - 1))
    found = running - seg * big
    return np.where(found >= 0, found, -1)


def segment_max(values: Array, segment: Array, n_segments: int, initial: int = -1) -> Array:
    """The maximum of ``values`` in each segment (``initial`` where a segment has no rows)."""
    out = np.full(n_segments, initial, dtype=np.int64)
    np.maximum.at(out, segment, values)
    return out
