"""How much reading usage costs next to decoding the JSON it comes in.

The gateway feeds every streamed event to a usage accumulator, so the accumulator must cost
little next to what the gateway pays anyway: decoding the event's JSON. For each stream kind
this measures, side by side in one run, ``json.loads`` of every event's data (the baseline)
against ``json.loads`` plus ``feed`` (and one ``result`` at the end), and reports the ratio.
It also compares the incremental SSE parser with a naive ``split`` of the same bytes, and
``extract`` of a whole body with ``json.loads`` of it. Best of several interleaved rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tokenomy.usage import SSEDecoder, extract, stream_accumulator

EVENTS = 2000
ROUNDS = 7


def _chat_events() -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    events = [
        {**head, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]}
        for i in range(EVENTS)
    ]
    usage = {"prompt_tokens": 900, "completion_tokens": EVENTS, "total_tokens": 900 + EVENTS}
    return [*events, {**head, "choices": [], "usage": usage}]


def _anthropic_events() -> list[dict[str, Any]]:
    usage = {
        "input_tokens": 900,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens": 1,
    }
    start = {
        "type": "message_start",
        "message": {"id": "m", "model": "claude", "content": [], "usage": usage},
    }
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}}
        for i in range(EVENTS)
    ]
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": EVENTS}}
    return [start, block, *deltas, end, {"type": "message_stop"}]


def _gemini_events() -> list[dict[str, Any]]:
    def chunk(i: int) -> dict[str, Any]:
        meta = {"promptTokenCount": 900, "candidatesTokenCount": i + 1, "totalTokenCount": 901 + i}
        parts = [{"text": f"tok{i} "}]
        return {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
            "usageMetadata": meta,
        }

    return [chunk(i) for i in range(EVENTS)]


def _responses_events() -> list[dict[str, Any]]:
    deltas = [{"type": "response.output_text.delta", "delta": f"tok{i} "} for i in range(EVENTS)]
    usage = {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": EVENTS}
    final = {
        "object": "response",
        "id": "r",
        "model": "gpt-5",
        "status": "completed",
        "output": [],
        "usage": usage,
    }
    return [*deltas, {"type": "response.completed", "response": final}]


KINDS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "openai.chat": _chat_events,
    "anthropic.messages": _anthropic_events,
    "gemini.generate_content": _gemini_events,
    "openai.responses": _responses_events,
}


def _best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _pair(baseline: Callable[[], object], measured: Callable[[], object]) -> tuple[float, float]:
    """Best times of two functions measured in alternation (the machine is noisy)."""
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(ROUNDS):
        times_a.append(_best(baseline))
        times_b.append(_best(measured))
    return min(times_a), min(times_b)


def _stream_rows() -> list[tuple[str, float, float]]:
    rows = []
    for kind, make in KINDS.items():
        datas = [json.dumps(e) for e in make()]

        def decode(datas: list[str] = datas) -> None:
            for data in datas:
                json.loads(data)

        def decode_and_feed(datas: list[str] = datas, kind: str = kind) -> None:
            accumulator = stream_accumulator(kind)
            for data in datas:
                accumulator.feed(json.loads(data))
            accumulator.result()

        base, fed = _pair(decode, decode_and_feed)
        rows.append((kind, base / len(datas), fed / len(datas)))
    return rows


def _sse_row() -> tuple[float, float, int]:
    raw = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in _chat_events())
    chunks = [raw[i : i + 4096] for i in range(0, len(raw), 4096)]

    def naive() -> None:
        for block in raw.split(b"\n\n"):
            if block.startswith(b"data: "):
                block[6:].decode()

    def decoder() -> None:
        parser = SSEDecoder()
        for piece in chunks:
            parser.feed(piece)
        parser.close()

    base, ours = _pair(naive, decoder)
    return base, ours, len(raw)


def _extract_row() -> tuple[float, float]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x" * 2000}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 500, "total_tokens": 1400},
    }
    text = json.dumps(body)
    batch = 200
    base, ours = _pair(
        lambda: [json.loads(text) for _ in range(batch)],
        lambda: [extract(json.loads(text)) for _ in range(batch)],
    )
    return base / batch, ours / batch


def main(argv: list[str]) -> int:
    """Print the ratios; returns 0."""
    print(f"stream accumulators, {EVENTS} events per stream, best of {ROUNDS}x{ROUNDS} rounds")
    print(f"{'kind':26} {'json.loads/event':>17} {'+ feed/event':>13} {'ratio':>6} {'feed alone':>11}")
    for kind, base, fed in _stream_rows():
        cells = f"{base * 1e6:14.2f} us {fed * 1e6:10.2f} us {fed / base:6.2f} {(fed - base) * 1e6:8.2f} us"
        print(f"{kind:26} {cells}")
    base, ours, size = _sse_row()
    naive, parsed = size / base / 1e6, size / ours / 1e6
    print(f"\nSSE parsing of {size / 1e6:.2f} MB in 4 KiB chunks: naive split {naive:.0f} MB/s, ", end="")
    print(f"SSEDecoder {parsed:.0f} MB/s, ratio {ours / base:.2f}")
    base, ours = _extract_row()
    print(f"\nextract() of a 2 KB chat body: json.loads {base * 1e6:.1f} us, ", end="")
    print(f"json.loads + extract {ours * 1e6:.1f} us, ratio {ours / base:.2f}")
    return 0
