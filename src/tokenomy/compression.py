"""The optional Brotli module, for the bodies providers send compressed with ``br``: read by the
gateway (answers it relays and meters) and the importers (recorded answers)."""

from __future__ import annotations

import functools
import importlib
from typing import Any


@functools.cache
def brotli_module() -> Any:
    """The installed Brotli module (``brotli``, else ``brotlicffi``), or None: none is required."""
    for name in ("brotli", "brotlicffi"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
