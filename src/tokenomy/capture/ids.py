"""W3C trace-context identifiers: 32-hex trace ids and 16-hex span ids, never all zeros.

Calls and agent scopes get these ids so that what the capture SDK records lines up with OTLP
traces (an exported span keeps the call's ids). They come from :mod:`random`, which CPython
reseeds in a forked child, so parent and child never hand out the same ids.
"""

from __future__ import annotations

import random
from typing import Final

_TRACE_BITS: Final = 128
_SPAN_BITS: Final = 64


def new_trace_id() -> str:
    """A random trace id: 32 lowercase hex digits, not all zero."""
    return f"{random.getrandbits(_TRACE_BITS) or 1:032x}"


def new_span_id() -> str:
    """A random span id: 16 lowercase hex digits, not all zero."""
    return f"{random.getrandbits(_SPAN_BITS) or 1:016x}"


def is_trace_id(value: str) -> bool:
    """True for a valid W3C trace id (32 lowercase hex digits, not all zero)."""
    return _is_hex(value, 32)


def is_span_id(value: str) -> bool:
    """True for a valid W3C span id (16 lowercase hex digits, not all zero)."""
    return _is_hex(value, 16)


def _is_hex(value: str, length: int) -> bool:
    if len(value) != length or value.strip("0") == "":
        return False
    return all(c in "0123456789abcdef" for c in value)
