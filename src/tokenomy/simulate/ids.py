"""Deterministic identifiers and hashes, derived from the seed and a unique integer key.

Keys are unique within a run (a chunk number in the high bits, a row in the low bits); they
are salted with the seed and a purpose, then mixed with the SplitMix64 finaliser, a bijection
on 64-bit integers, so distinct keys always give distinct ids. Ids are hexadecimal, like the
OpenTelemetry trace and span ids and the 16-hex-digit hashes of tokenomy's records.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

_HEX_PAIRS: Final = np.array(
    [int.from_bytes(f"{i:02x}".encode(), "little") for i in range(256)], dtype=np.uint16
)
"""Each byte value as its two ASCII hex digits, packed so that a uint16 array views as text."""
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)

CALL_PREFIX: Final = "call_"
SESSION_PREFIX: Final = "sess_"
CHARGE_PREFIX: Final = "chg_"
"""Rendered ids are a prefix and 16 hex digits: ``call_…``, ``sess_…``, ``chg_…``."""

# Purposes: each kind of id mixes its keys with its own salt.
CALL, SPAN, SESSION, TRACE_HI, TRACE_LO, TOOL_ARGS, PREFIX, CHARGE = range(8)


def mix(keys: Array) -> Array:
    """The SplitMix64 finaliser applied to unsigned 64-bit keys (wrapping arithmetic)."""
    z = keys.astype(np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return np.asarray(z ^ (z >> np.uint64(31)))


def salted(seed: int, purpose: int, keys: Array) -> Array:
    """Keys made specific to a run and a purpose, still one-to-one within a purpose."""
    salt = mix(np.array([(seed * 16 + purpose) % 2**64], dtype=np.uint64))[0]
    return mix(keys.astype(np.uint64) ^ salt)


def hex16(values: Array) -> Array:
    """Each 64-bit value as 16 lowercase hex digits (a fixed-width bytes array, dtype S16)."""
    as_bytes = np.ascontiguousarray(values, dtype=">u8").view(np.uint8)
    return np.asarray(_HEX_PAIRS[as_bytes].view("S16"))
