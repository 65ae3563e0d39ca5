"""Ids are deterministic, distinct for distinct keys, and look like OpenTelemetry's hex ids."""

from __future__ import annotations

import numpy as np

from tokenomy.simulate import ids


def test_hex_matches_python_formatting() -> None:
    values = np.array([0, 1, 0x0123456789ABCDEF, 2**64 - 1], dtype=np.uint64)
    assert [h.decode() for h in ids.hex16(values)] == [f"{int(v):016x}" for v in values]


def test_mixing_is_one_to_one() -> None:
    keys = np.arange(200_000, dtype=np.uint64) | (np.uint64(7) << np.uint64(32))
    assert len(np.unique(ids.mix(keys))) == len(keys)
    assert len(np.unique(ids.salted(3, ids.SPAN, keys))) == len(keys)


def test_salts_separate_seeds_and_purposes() -> None:
    keys = np.arange(1000, dtype=np.uint64)
    a = set(ids.salted(1, ids.CALL, keys).tolist())
    assert not a & set(ids.salted(2, ids.CALL, keys).tolist())
    assert not a & set(ids.salted(1, ids.SPAN, keys).tolist())
    assert (ids.salted(1, ids.CALL, keys) == ids.salted(1, ids.CALL, keys)).all()
