"""Per-segment running sums and look-backs, checked against plain loops."""

from __future__ import annotations

import numpy as np

from tokenomy.simulate import segments

FIRST = np.array([True, False, False, True, True, False])
VALUES = np.array([3, 4, 5, 6, 7, 8])


def test_repeat_index() -> None:
    owner, pos = segments.repeat_index(np.array([2, 0, 3]))
    assert owner.tolist() == [0, 0, 2, 2, 2]
    assert pos.tolist() == [0, 1, 0, 1, 2]


def test_exclusive_cumsum_restarts_at_each_segment() -> None:
    assert segments.exclusive_cumsum(VALUES, FIRST).tolist() == [0, 3, 7, 0, 0, 7]


def test_previous_and_start_index() -> None:
    assert segments.previous(FIRST).tolist() == [-1, 0, 1, -1, -1, 4]
    assert segments.start_index(FIRST).tolist() == [0, 0, 0, 3, 4, 4]


def test_last_where_looks_back_within_the_segment_only() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        first = rng.random(n) < 0.3
        first[0] = True
        mask = rng.random(n) < 0.5
        expected = []
        for i in range(n):
            j = i - 1
            while j >= 0 and not first[j + 1] and not mask[j]:
                j -= 1
            expected.append(j if j >= 0 and not first[j + 1] and mask[j] else -1)
        assert segments.last_where(mask, first).tolist() == expected


def test_segment_max() -> None:
    segment = np.array([0, 0, 2, 2])
    assert segments.segment_max(np.array([5, 1, 2, 9]), segment, 3).tolist() == [5, -1, 9]
