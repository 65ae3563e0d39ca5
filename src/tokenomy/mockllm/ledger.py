"""Ground truth: what the mock served, per request and totalled per model.

Every answered request is recorded once, when its last byte is written or its connection
ends: tokens are those actually sent, so a stream cut by a fault or abandoned by its client
counts only the frames written before it ended (its input still counts, as providers bill it).
Requests answered with an error status or a hang-up record no tokens. Token fields use one
convention for every API (see docs/mock-upstream.md): ``input_tokens`` includes cache reads
and writes, ``output_tokens`` includes reasoning.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Final

TOKEN_FIELDS: Final = (
    "input_tokens",
    "cached_tokens",
    "cache_write_5m",
    "cache_write_1h",
    "output_tokens",
    "reasoning_tokens",
)


@dataclass(slots=True)
class Served:
    """One request as the mock answered it.

    Attributes:
        request_id: The ``x-request-id`` it was answered with.
        model: The model asked for ("" when the body named none).
        endpoint: The path, e.g. ``/v1/chat/completions``.
        status: The HTTP status sent (0 when the connection was dropped without one).
        fault: The injected fault, if any (``hangup``, ``stall``, ``cut``, ``malformed``...).
        streamed: Whether the answer was a stream.
        complete: Whether every byte of the answer was written.
        input_tokens: All input tokens (cache reads and writes included).
        cached_tokens: Input tokens read from the prompt cache.
        cache_write_5m: Input tokens written to the cache for 5 minutes.
        cache_write_1h: Input tokens written to the cache for 1 hour.
        output_tokens: Output tokens sent, reasoning included.
        reasoning_tokens: Reasoning / thinking tokens sent.
    """

    request_id: str
    model: str
    endpoint: str
    status: int
    fault: str | None = None
    streamed: bool = False
    complete: bool = True
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class Totals:
    """Sums over many requests."""

    requests: int = 0
    errors: int = 0
    incomplete: int = 0
    streamed: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def add(self, served: Served) -> None:
        """Add one request."""
        self.requests += 1
        self.errors += served.status == 0 or served.status >= 400
        self.incomplete += not served.complete
        self.streamed += served.streamed
        self.input_tokens += served.input_tokens
        self.cached_tokens += served.cached_tokens
        self.cache_write_5m += served.cache_write_5m
        self.cache_write_1h += served.cache_write_1h
        self.output_tokens += served.output_tokens
        self.reasoning_tokens += served.reasoning_tokens
        self.by_status[served.status] = self.by_status.get(served.status, 0) + 1

    def merge(self, other: Totals) -> None:
        """Add another set of totals."""
        for name in ("requests", "errors", "incomplete", "streamed", *TOKEN_FIELDS):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (status codes as string keys)."""
        data = asdict(self)
        data["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        return data


class Ledger:
    """Per-request records (the most recent ``keep``) and running totals (never dropped)."""

    def __init__(self, keep: int) -> None:
        self._keep = max(keep, 0)
        self._requests: OrderedDict[str, Served] = OrderedDict()
        self.models: dict[str, Totals] = {}

    @property
    def total(self) -> Totals:
        """Totals over every model."""
        total = Totals()
        for totals in self.models.values():
            total.merge(totals)
        return total

    def record(self, served: Served) -> None:
        """Add one answered request."""
        totals = self.models.get(served.model)
        if totals is None:
            totals = self.models[served.model] = Totals()
        totals.add(served)
        if self._keep:
            self._requests[served.request_id] = served
            if len(self._requests) > self._keep:
                self._requests.popitem(last=False)

    def get(self, request_id: str) -> Served | None:
        """The record of one request, if it is still kept."""
        return self._requests.get(request_id)

    def reset(self) -> None:
        """Forget everything."""
        self._requests.clear()
        self.models = {}

    def snapshot(self, *, with_requests: bool = True) -> dict[str, Any]:
        """Totals, per-model totals and (optionally) the kept per-request records, JSON-ready."""
        data: dict[str, Any] = {
            "totals": self.total.as_dict(),
            "models": {name: t.as_dict() for name, t in sorted(self.models.items())},
        }
        if with_requests:
            data["requests"] = {rid: asdict(s) for rid, s in self._requests.items()}
        return data
