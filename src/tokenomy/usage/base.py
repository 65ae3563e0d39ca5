"""What every usage adapter returns, and the small helpers adapters share.

An adapter reads one provider's response body (or stream) and returns an :class:`Extracted`:
the usage in exclusive buckets plus the facts about the response that sit next to it (model
served, finish reason, tool uses, service tier). Adapters never raise on odd numbers: they
record what was reported and flag it (see :class:`tokenomy.schema.Quality`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tokenomy.schema import ToolUse, Usage


@dataclass(frozen=True, slots=True)
class Extracted:
    """A usage body read by an adapter."""

    usage: Usage
    provider: str
    api: str
    adapter: str
    response_model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    tool_uses: tuple[ToolUse, ...] = ()
    service_tier: str | None = None
    created_at: datetime | None = None
    provider_reported_cost: Decimal | None = None
    completion_text: str | None = None
    """Visible output text, for local counting and (only when capture is on) for storage."""
    extra: Mapping[str, Any] = field(default_factory=dict)


def get_int(obj: Mapping[str, Any] | None, *path: str) -> int | None:
    """The integer at ``path`` inside nested mappings, or None when any step is missing or null.

    Whole-number floats (``12.0``) are accepted; anything else that is not an integer is
    returned as None so that the caller treats it as unreported.
    """
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    if isinstance(cur, bool) or cur is None:
        return None
    if isinstance(cur, int):
        return cur
    if isinstance(cur, float) and cur.is_integer():
        return int(cur)
    return None


def get_str(obj: Mapping[str, Any] | None, *path: str) -> str | None:
    """The string at ``path`` inside nested mappings, or None."""
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur if isinstance(cur, str) else None


def minus(total: int | None, *parts: int | None) -> int | None:
    """``total`` minus the known ``parts`` (None parts count as 0); None when total is unknown."""
    if total is None:
        return None
    return total - sum(p for p in parts if p is not None)


def args_hash(arguments: Any) -> str:
    """A stable hash of tool-call arguments: canonical JSON (sorted keys, compact), sha256, 16 hex.

    Arguments given as a JSON string are parsed first so that ``'{"b":1, "a":2}'`` and
    ``{"a": 2, "b": 1}`` hash alike; a string that is not JSON is hashed as it is.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return hashlib.sha256(arguments.encode("utf-8")).hexdigest()[:16]
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def to_decimal(value: Any) -> Decimal | None:
    """A reported money amount as Decimal (via its string form, so 0.1 stays 0.1), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str | Decimal):
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            return None
        return result if result.is_finite() else None
    return None
