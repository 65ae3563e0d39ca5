"""The benchmark's load generator: keep-alive HTTP/1.1 clients on asyncio (tokenomy's own pool client).

Every target is driven the same way, so the client's own cost is the same in every figure: the
gateway's added latency is a difference of two latencies measured by this same client.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tokenomy.gateway.formats import SURFACES, carries_output
from tokenomy.gateway.upstream import PoolTransport, UpstreamRequest

CHAT = SURFACES["/v1/chat/completions"]
_IDS = re.compile(rb'"id":"[^"]*"|"created":\d+')


@dataclass
class Sample:
    """Latencies (ns) of one target, and the time to first token for streams."""

    total: list[int] = field(default_factory=list)
    ttft: list[int] = field(default_factory=list)

    def pct(self, q: float, *, ttft: bool = False) -> float:
        """A percentile in milliseconds."""
        values = sorted(self.ttft if ttft else self.total)
        return values[min(len(values) - 1, int(len(values) * q))] / 1e6


def request(url: str, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> UpstreamRequest:
    """A POST of ``body`` to ``url``."""
    return UpstreamRequest(
        "POST",
        url,
        [(b"content-type", b"application/json"), *headers],
        body,
        connect_timeout=10,
        read_timeout=120,
    )


async def one(
    pool: PoolTransport, req: UpstreamRequest, sample: Sample | None, events: list[bytes] | None = None
) -> None:
    """Send one request and read the whole answer, timing it."""
    t0 = time.perf_counter_ns()
    response = await pool.send(req)
    first = None
    chunks = []
    async for chunk in response.chunks():
        if first is None and carries_output(CHAT, chunk):
            first = time.perf_counter_ns() - t0
        chunks.append(chunk)
    if sample is not None:
        sample.total.append(time.perf_counter_ns() - t0)
        if first is not None:
            sample.ttft.append(first)
    if events is not None:
        events.append(b"".join(chunks))


async def alternate(requests: dict[str, UpstreamRequest], rounds: int) -> dict[str, Sample]:
    """Concurrency 1: each target once per round, in turn, so machine noise hits all alike."""
    pools = {name: PoolTransport() for name in requests}
    samples = {name: Sample() for name in requests}
    for name, req in requests.items():  # warm up the connections
        for _ in range(20):
            await one(pools[name], req, None)
    for _ in range(rounds):
        for name, req in requests.items():
            await one(pools[name], req, samples[name])
    for pool in pools.values():
        await pool.aclose()
    return samples


async def throughput(req: UpstreamRequest, concurrency: int, seconds: float) -> tuple[float, Sample]:
    """Requests per second with ``concurrency`` workers for ``seconds`` (after a short warm-up)."""
    pool = PoolTransport()
    sample = Sample()
    stop = time.perf_counter() + seconds

    async def worker(record: bool) -> None:
        end = time.perf_counter() + (seconds if record else 0.3)
        while time.perf_counter() < end:
            await one(pool, req, sample if record else None)

    await asyncio.gather(*(worker(False) for _ in range(concurrency)))
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(worker(True) for _ in range(concurrency)))
    elapsed = max(time.perf_counter() - started, stop - started)
    await pool.aclose()
    return len(sample.total) / elapsed, sample


async def streams(req: UpstreamRequest, count: int) -> list[bytes]:
    """``count`` streams at once, each on its own connection; the raw bytes each client received."""
    got: list[bytes] = []
    pools = [PoolTransport() for _ in range(count)]
    await asyncio.gather(*(one(pool, req, None, got) for pool in pools))
    for pool in pools:
        await pool.aclose()
    return got


def events_of(raw: bytes) -> list[bytes]:
    """A stream's events with the per-answer ids and times blanked."""
    return [_IDS.sub(b"", e) for e in raw.split(b"\n\n") if e]
