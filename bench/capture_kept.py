"""The capture benchmark's ``--compare-kept`` mode (``python -m bench.bench_capture --compare-kept``):
a streamed chat recorded keeping the SDK's objects against keeping the events' data text, call by call."""

from __future__ import annotations

import statistics
import time
from typing import Any


def compare_kept(mock_url: str, calls: int, messages: Any) -> None:
    """Streamed chat, three clients call by call: bare, instrumented keeping the SDK's chunk objects
    until the sink's thread reads them (as before), and instrumented keeping the events' data text.

    Prints each one's wall p50 and the garbage collections run on the calling thread (count per
    1,000 calls and time per call): kept objects survive the young generations' collections.
    """
    import gc
    import threading

    from openai import OpenAI

    from tokenomy import capture
    from tokenomy.capture import streams

    me, spent, started = threading.get_ident(), [0, 0, 0, 0], [0]

    def collected(phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() == me:
            if phase == "start":
                started[0] = time.thread_time_ns()
            else:
                spent[0] += time.thread_time_ns() - started[0]
                spent[1 + info["generation"]] += 1

    def chat_stream(client: Any) -> None:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        ):
            pass

    bare = OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)
    instrumented = capture.instrument(OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0))
    keep_text = streams.event_reader

    def keep_objects(stream: Any) -> None:
        return None

    ways = (
        ("bare", bare, keep_text),
        ("objects kept", instrumented, keep_objects),
        ("text kept", instrumented, keep_text),
    )
    for _ in range(100):
        for _, client, keep in ways:
            streams.event_reader = keep
            chat_stream(client)
    capture.flush(60)
    walls: dict[str, list[int]] = {name: [] for name, _, _ in ways}
    gcs = {name: [0, 0, 0, 0] for name, _, _ in ways}
    gc.callbacks.append(collected)
    try:
        for _ in range(calls):
            for name, client, keep in ways:
                streams.event_reader = keep
                before = list(spent)
                start = time.perf_counter_ns()
                chat_stream(client)
                walls[name].append(time.perf_counter_ns() - start)
                gcs[name] = [
                    total + now - then for total, now, then in zip(gcs[name], spent, before, strict=True)
                ]
    finally:
        gc.callbacks.remove(collected)
        streams.event_reader = keep_text
    print(f"openai chat stream, {calls} calls each, call by call: wall p50 added; GC on the calling thread")
    base = statistics.median(walls["bare"]) / 1000
    for name, _, _ in ways:
        p50 = statistics.median(walls[name]) / 1000
        per = [round(n * 1000 / calls) for n in gcs[name][1:]]
        print(
            f"  {name:<14}p50 {p50:9.1f} ({p50 - base:+7.1f})   collections per 1,000 calls (gen 0/1/2) "
            f"{per}, {gcs[name][0] / calls / 1000:.1f} us per call",
            flush=True,
        )
