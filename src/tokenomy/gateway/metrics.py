"""The gateway's Prometheus metrics, kept in one object per gateway and written in the text format.

Written by hand rather than with prometheus_client: the gateway needs a handful of counters and
histograms, updated from the event loop and the sink's thread, and an ``observe`` here is one
``bisect`` and two additions under a lock (no registry, no label objects).

Exposed at ``GET /metrics`` (``text/plain; version=0.0.4``):

| metric | type | labels |
|---|---|---|
| ``tokenomy_gateway_requests_total`` | counter | ``path``, ``status`` |
| ``tokenomy_gateway_tokens_total`` | counter | ``bucket`` (the exclusive buckets) |
| ``tokenomy_gateway_cost_usd_total`` | counter | |
| ``tokenomy_gateway_request_duration_seconds`` | histogram | ``path`` |
| ``tokenomy_gateway_added_latency_seconds`` | histogram | |
| ``tokenomy_gateway_upstream_errors_total`` | counter | ``kind`` |
| ``tokenomy_gateway_budget_rejections_total`` | counter | |
| ``tokenomy_gateway_open_streams`` | gauge | |
| ``tokenomy_gateway_sink_queue_depth`` | gauge | |
| ``tokenomy_gateway_sink_dropped_total`` | counter | |
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Final

from tokenomy import schema
from tokenomy.capture.sink.stats import SinkStats
from tokenomy.gateway.building import CallCounters

BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TOKEN_BUCKETS: Final = schema.BUCKETS
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Cumulative-bucket histogram of seconds."""

    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        """Its exposition lines (``labels`` without braces, may be empty)."""
        sep = "," if labels else ""
        out, running = [], 0
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        brace = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{brace} {self.sum!r}", f"{name}_count{brace} {self.count}"]
        return out


class GatewayMetrics:
    """The gateway's counters (see the module docstring); safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.calls = CallCounters(self._lock)
        """The tokens and cost of the built calls: its ``add``, an exchange's ``on_built``, counts each
        call where it is built (the loop or the sink's thread)."""
        self.durations: defaultdict[str, Histogram] = defaultdict(Histogram)
        self.added = Histogram()
        self.upstream_errors: defaultdict[str, int] = defaultdict(int)
        self.budget_rejections = 0
        self.open_streams = 0

    def request_done(self, path: str, status: int, seconds: float, added: float | None) -> None:
        """Count one answered request, its duration and the latency the gateway added."""
        with self._lock:
            self.requests[(path, status)] += 1
            self.durations[path].observe(seconds)
            if added is not None:
                self.added.observe(max(0.0, added))

    def upstream_error(self, kind: str) -> None:
        """Count an upstream failure (``connect``, ``timeout``, ``protocol``, ``status``)."""
        with self._lock:
            self.upstream_errors[kind] += 1

    def rejected(self) -> None:
        """Count a budget refusal."""
        with self._lock:
            self.budget_rejections += 1

    @property
    def tokens(self) -> dict[str, int]:
        """Tokens metered by bucket (see :class:`~tokenomy.gateway.building.CallCounters`)."""
        return self.calls.tokens

    @property
    def cost_usd(self) -> Decimal:
        """Dollars metered, summed exactly."""
        return self.calls.cost_usd

    def render(self, sink: SinkStats | None) -> bytes:
        """The exposition text."""
        with self._lock:
            lines = self._counters() + self._histograms()
        lines += _gauge("tokenomy_gateway_open_streams", "Streams being relayed now.", self.open_streams)
        if sink is not None:
            lines += _gauge("tokenomy_gateway_sink_queue_depth", "Calls waiting in the sink.", sink.queued)
            lines += [
                "# HELP tokenomy_gateway_sink_dropped_total Calls the sink dropped (queue and spool full).",
                "# TYPE tokenomy_gateway_sink_dropped_total counter",
                f"tokenomy_gateway_sink_dropped_total {sink.dropped}",
            ]
        return ("\n".join(lines) + "\n").encode()

    def _counters(self) -> list[str]:
        out = _head("tokenomy_gateway_requests_total", "Requests answered.", "counter")
        out += [
            f'tokenomy_gateway_requests_total{{path="{p}",status="{s}"}} {n}'
            for (p, s), n in sorted(self.requests.items())
        ]
        out += _head("tokenomy_gateway_tokens_total", "Tokens metered, by exclusive bucket.", "counter")
        out += [f'tokenomy_gateway_tokens_total{{bucket="{b}"}} {n}' for b, n in sorted(self.tokens.items())]
        out += _head("tokenomy_gateway_cost_usd_total", "Dollars metered (priced calls).", "counter")
        out.append(f"tokenomy_gateway_cost_usd_total {float(self.cost_usd)!r}")
        out += _head("tokenomy_gateway_upstream_errors_total", "Upstream failures by kind.", "counter")
        out += [
            f'tokenomy_gateway_upstream_errors_total{{kind="{k}"}} {n}'
            for k, n in sorted(self.upstream_errors.items())
        ]
        out += _head("tokenomy_gateway_budget_rejections_total", "Requests refused by a budget.", "counter")
        out.append(f"tokenomy_gateway_budget_rejections_total {self.budget_rejections}")
        return out

    def _histograms(self) -> list[str]:
        name = "tokenomy_gateway_request_duration_seconds"
        out = _head(name, "Time from request to last byte.", "histogram")
        for path, histogram in sorted(self.durations.items()):
            out += histogram.lines(name, f'path="{path}"')
        name = "tokenomy_gateway_added_latency_seconds"
        out += _head(name, "Time the gateway added to the upstream's own time.", "histogram")
        return out + self.added.lines(name, "")


def _head(name: str, text: str, kind: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def _gauge(name: str, text: str, value: int) -> list[str]:
    return [*_head(name, text, "gauge"), f"{name} {value}"]
