"""tokenomy: meter what AI agents spend in tokens and money, find the waste, stop runaway spend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tokenomy import compiled as _compiled
from tokenomy.errors import BudgetExceeded
from tokenomy.schema import (
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    Outcome,
    OutcomeEvent,
    Quality,
    Status,
    ToolUse,
    Usage,
)

_compiled.install()  # before any compiled module loads (these imports load none; tokenomy.compiled)

if TYPE_CHECKING:
    from tokenomy.capture import (
        charge,
        configure,
        context,
        flush,
        instrument,
        record_outcome,
        run_in_context,
        shutdown,
        sink_stats,
        warm_up,
    )
    from tokenomy.pricing import price

__version__ = "0.1.0"

_CAPTURE: Final = (
    "charge",
    "configure",
    "context",
    "flush",
    "instrument",
    "record_outcome",
    "run_in_context",
    "shutdown",
    "sink_stats",
    "warm_up",
)
"""Live capture (docs/capture.md), imported on first use so that ``import tokenomy`` stays light."""

_PRICING: Final = ("price",)
"""``tokenomy.price(usage, model=...)``: a usage's catalog price (docs/pricing.md), also loaded lazily."""

__all__ = [
    "Attribution",
    "BudgetExceeded",
    "Call",
    "Charge",
    "Content",
    "Cost",
    "Kind",
    "Outcome",
    "OutcomeEvent",
    "Quality",
    "Status",
    "ToolUse",
    "Usage",
    "__version__",
    "charge",
    "configure",
    "context",
    "flush",
    "instrument",
    "price",
    "record_outcome",
    "run_in_context",
    "shutdown",
    "sink_stats",
    "warm_up",
]


def __getattr__(name: str) -> Any:
    """The capture API (``tokenomy.instrument``, ``tokenomy.context``...) and ``price``, on first use."""
    if name in _CAPTURE:
        from tokenomy import capture  # noqa: PLC0415  (deferred: most users of the CLI never capture)

        return getattr(capture, name)
    if name in _PRICING:
        from tokenomy import pricing  # noqa: PLC0415  (deferred: the catalog takes a moment to load)

        return getattr(pricing, name)
    raise AttributeError(f"module 'tokenomy' has no attribute {name!r}")
