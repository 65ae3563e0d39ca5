"""The budget proof through real gateways: the same streams, sent as HTTP requests to a list of base URLs.

Point :func:`run_against_gateways` at one or more tokenomy gateways (each configured with the
same hard dollar budget B, sharing one Redis ledger) in front of the mock upstream. Each stream
posts OpenAI chat completions (``stream: true``, ``include_usage``, max_tokens 1024) with an
``X-Mock-Output-Tokens`` header drawn log-normally, so the mock streams that many tokens unless
the gateway lowered max_tokens. An HTTP 429 is the gateway's refusal; a 503 (the ledger is
unreachable and the gateway fails closed) is counted and asked again after ``retry_after``. The
ground truth is the usage the streams report, priced at the uncached input and output rates (an
upper bound when the upstream served part of the prompt from its cache). Requests go round-robin
over the URLs.

The HTTP client is a minimal HTTP/1.1 one (a connection per request, chunked or plain bodies),
so the proof needs nothing beyond the standard library.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from tokenomy.budgets.prices import Card
from tokenomy.budgets.proof import ProofConfig, ProofResult, StreamLog, card_for, cost_of, result_of

_WORD: Final = "budget "
"""Repeated to make a prompt of about the configured input tokens (one token per word)."""


async def post_stream(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[int, dict[str, Any] | None]:
    """POST ``body`` to ``url`` and read its SSE stream; returns the status and the last usage seen."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        data = json.dumps(body).encode()
        head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            chunked |= name.strip().lower() == "transfer-encoding" and "chunked" in value.lower()
        payload = await (_read_chunked(reader) if chunked else reader.read())
    finally:
        writer.close()
    return status, _last_usage(payload) if status == 200 else None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readline()


def _last_usage(payload: bytes) -> dict[str, Any] | None:
    usage = None
    for line in payload.decode("utf-8", "replace").splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            event = json.loads(line[5:])
            if isinstance(event, dict) and isinstance(event.get("usage"), dict):
                usage = event["usage"]
    return usage


async def _gateway_stream(
    number: int,
    urls: Sequence[str],
    config: ProofConfig,
    *,
    card: Card,
    log: StreamLog,
    headers: Mapping[str, str],
) -> None:
    draws = random.Random(config.seed * 100_003 + number)
    mu, prompt = math.log(config.median_output), _WORD * config.input_tokens
    stop_at = time.monotonic() + config.deadline
    turn = number
    while time.monotonic() < stop_at:
        drawn = max(1, round(draws.lognormvariate(mu, config.sigma)))
        body = {
            "model": config.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": config.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        url = urls[turn % len(urls)].rstrip("/") + "/v1/chat/completions"
        turn += 1
        admitted_at, t0 = time.time(), time.perf_counter_ns()
        status, usage = await post_stream(url, body, {**headers, "X-Mock-Output-Tokens": str(drawn)})
        log.latencies_ns.append(time.perf_counter_ns() - t0)
        if status == 503:  # budget_unavailable: the ledger is unreachable and the gateway fails closed
            log.unavailable += 1
            await asyncio.sleep(config.retry_after)
            continue
        if status != 200 or usage is None:
            log.rejections += 1
            log.first_rejection = (
                admitted_at if log.first_rejection is None else min(log.first_rejection, admitted_at)
            )
            return
        cost = cost_of(card, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        log.admitted.append((admitted_at, cost))


def run_against_gateways(
    base_urls: Sequence[str], config: ProofConfig, *, headers: Mapping[str, str] | None = None
) -> ProofResult:
    """Run the proof's streams through gateways at ``base_urls`` (see the module docstring).

    Args:
        base_urls: Gateway base URLs (``http://127.0.0.1:8080``); requests go round-robin.
        config: The load; ``budget_usd`` must be the budget the gateways enforce.
        headers: Extra headers (attribution such as ``X-Tokenomy-Team``, or a virtual key).

    Returns:
        The figures; latencies here are whole requests (admission plus the streamed answer).
    """
    if not base_urls:
        raise ValueError("run_against_gateways needs at least one base URL")
    card, log = card_for(config), StreamLog()
    started = time.monotonic()

    async def main() -> None:
        await asyncio.gather(
            *(
                _gateway_stream(n, base_urls, config, card=card, log=log, headers=headers or {})
                for n in range(config.streams)
            )
        )

    asyncio.run(main())
    return result_of(f"gateways x{len(base_urls)}", config, log, time.monotonic() - started)
