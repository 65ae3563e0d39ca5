"""tokenomy: meter what AI agents spend in tokens and money, find the waste, stop runaway spend."""

from __future__ import annotations

from tokenomy.schema import (
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    Outcome,
    Quality,
    Status,
    ToolUse,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "Call",
    "Charge",
    "Content",
    "Cost",
    "Kind",
    "Outcome",
    "Quality",
    "Status",
    "ToolUse",
    "Usage",
    "__version__",
]
