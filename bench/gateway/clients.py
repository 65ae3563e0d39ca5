"""The upstream client choice, measured: CPU per request of tokenomy's pool, aiohttp and httpx.

``python bench/gateway/clients.py URL REQUESTS`` sends ``REQUESTS`` chat completions to ``URL``
(the mock upstream) at concurrency 8 with each client in turn, twice, and prints one JSON line
``{"client": microseconds of CPU per request, ...}`` (the best of the two rounds). It runs with
any Python that has the optional clients (the benchmark uses LiteLLM's virtual environment, which
has aiohttp and httpx): tokenomy's pool is loaded from its source file, which needs only the
standard library.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one line."}]}
).encode()
HEADERS = {"content-type": "application/json"}
Send = Callable[[], Awaitable[bytes]]


def _upstream_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "src" / "tokenomy" / "gateway" / "upstream.py"
    spec = importlib.util.spec_from_file_location("tokenomy_upstream_only", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


async def _pool(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    upstream = _upstream_module()
    pool = upstream.PoolTransport()
    request = upstream.UpstreamRequest("POST", url, [(b"content-type", b"application/json")], BODY)

    async def send() -> bytes:
        response = await pool.send(request)
        body: bytes = await response.read()
        return body

    return send, pool.aclose


async def _aiohttp(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import aiohttp  # type: ignore[import-not-found]  # in the benchmark's LiteLLM environment only

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def send() -> bytes:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            body: bytes = await response.read()
            return body

    return send, session.close


async def _httpx(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import httpx  # in the dev extra (older SDK releases' HTTP client) and the LiteLLM environment

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))

    async def send() -> bytes:
        response = await client.post(url, content=BODY, headers=HEADERS)
        body: bytes = response.content
        return body

    return send, client.aclose


CLIENTS: dict[str, Callable[[str], Awaitable[tuple[Send, Callable[[], Awaitable[None]]]]]] = {
    "tokenomy pool": _pool,
    "aiohttp": _aiohttp,
    "httpx": _httpx,
}


async def _cpu_per_request(make: Any, url: str, requests: int) -> float:
    send, close = await make(url)
    for _ in range(50):
        await send()
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await send()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(8)))
    spent = time.process_time() - started
    await close()
    return spent / requests * 1e6


def main(argv: list[str]) -> int:
    """Measure each client that imports; print the JSON line."""
    url, requests = argv[0], int(argv[1])
    best: dict[str, float] = {}
    for _ in range(2):
        for name, make in CLIENTS.items():
            try:
                value = asyncio.run(_cpu_per_request(make, url, requests))
            except ImportError:
                continue
            best[name] = min(value, best.get(name, value))
    print(json.dumps({name: round(value, 1) for name, value in best.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
