"""What instrumenting an SDK client adds to each call, next to the same client bare, in the same run.

Two processes: the mock upstream (``tokenomy mock-llm``) pinned to one core, and this process
pinned to the other, holding two clients of the same SDK against the mock: one bare, one
instrumented with ``tokenomy.instrument`` and a real sink (by default the local DuckDB target:
every call is read, priced and stored on the sink's thread, in this same process, competing for
the same core and the GIL). Calls alternate between the two clients in small blocks, so drift
on the shared machine hits both alike. Each call's wall time is measured; the figure is the
difference of the medians (the brief: <= 50 us), with the 90th percentile and the mean beside it,
and a 90% bootstrap interval of that difference (how much one run's figure can move).
The async clients (``AsyncOpenAI``, ``AsyncAnthropic``) are measured the same way, each call run
to completion on one event loop kept for the run. A second table counts CPU time instead of wall
time, which other processes on a shared machine do not inflate: the whole process's (the sink's
work included) and the caller's thread's alone.

Under each streamed case and the canned stream, a second line splits the calls: the share of bare
and of instrumented calls during which the sink's thread ran (its own CPU clock, read around each
call), the added p50 over the calls it did not run during, and the calling thread's CPU added (p50).
The sink's work overlaps bare and instrumented calls alike, so it moves both medians; what the
instrumented client adds is its calling thread's own work.

The caller's path is also timed with the calling thread's CPU clock, call by call: on a loaded
machine, preemption moves wall-time medians by more than the few microseconds being measured.

The caller's side of a stream is timed the same way on a canned event stream, which the SDK
decodes into its chunk objects as it would a socket's ("caller's path, stream"), and the garbage
collections run while each client alone makes as many such calls (the sink's work on them included)
are counted per 1,000 calls.

Run: ``python -m bench capture`` (``python -m bench.bench_capture --calls N --target null|duckdb
--caller-only`` for a shorter run, ``--case stream`` for the HTTP cases whose name holds a word,
``--compare-kept`` for a streamed chat recorded keeping the SDK's objects against keeping the
events' data text, call by call: ``bench/capture_kept.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
MESSAGES: Final[Any] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say something short about tokens."},
]
BLOCK: Final = 1
"""Calls in a row on one client before switching to the other (1: strictly alternating)."""
CPU_ROUNDS: Final = 4
"""Alternating rounds of the CPU-time table (the best round of each side is kept)."""
SINK_QUIET: Final = 5_000
"""Nanoseconds of the sink thread's CPU during a call below which the sink counts as not having run."""


class NullTarget:
    """Takes every batch and keeps nothing: the sink's own work (building Calls) still runs."""

    description = "null"

    def prepare(self, records: list[Any]) -> list[Any]:
        """Nothing to prepare."""
        return records

    def send(self, records: Sequence[Any]) -> None:
        """Drop the batch."""

    def close(self) -> None:
        """Nothing to close."""

    def after_fork(self) -> None:
        """Nothing to forget."""


def _cases(mock_url: str) -> list[tuple[str, Callable[[Any], None], Any, Any]]:
    from anthropic import Anthropic
    from openai import OpenAI

    from tokenomy import capture

    def openai_client() -> Any:
        return OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)

    def anthropic_client() -> Any:
        return Anthropic(base_url=mock_url, api_key="bench", max_retries=0)

    def chat(client: Any) -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def chat_stream(client: Any) -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        for _ in stream:
            pass

    def messages(client: Any) -> None:
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES[1:], system=MESSAGES[0]["content"]
        )

    def messages_stream(client: Any) -> None:
        stream = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=MESSAGES[1:],
            system=MESSAGES[0]["content"],
            stream=True,
        )
        for _ in stream:
            pass

    def responses_stream(client: Any) -> None:
        stream = client.responses.create(
            model="gpt-4o-mini", instructions=MESSAGES[0]["content"], input=MESSAGES[1:], stream=True
        )
        for _ in stream:
            pass

    def chat_stream_relayed(client: Any) -> None:  # read as lines, as a backend relaying it to a browser
        create = client.chat.completions.with_streaming_response.create
        with create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ) as response:
            for _ in response.iter_lines():
                pass

    return [
        ("openai chat", chat, openai_client(), capture.instrument(openai_client())),
        ("openai chat stream", chat_stream, openai_client(), capture.instrument(openai_client())),
        ("anthropic messages", messages, anthropic_client(), capture.instrument(anthropic_client())),
        (
            "anthropic messages stream",
            messages_stream,
            anthropic_client(),
            capture.instrument(anthropic_client()),
        ),
        ("responses stream", responses_stream, openai_client(), capture.instrument(openai_client())),
        (
            "openai chat stream relayed as lines",
            chat_stream_relayed,
            openai_client(),
            capture.instrument(openai_client()),
        ),
        *_async_cases(mock_url),
    ]


def _async_cases(mock_url: str) -> list[tuple[str, Callable[[Any], None], Any, Any]]:
    """The async clients' cases: each call runs to completion on one event loop kept for the run
    (the same loop for both clients, so its own cost is in the bare figure too)."""
    import asyncio
    import atexit

    from anthropic import AsyncAnthropic
    from openai import AsyncOpenAI

    from tokenomy import capture

    loop = asyncio.new_event_loop()
    # at exit, the readers the SDKs leave suspended (closed by tasks of the loop) finish before it closes
    atexit.register(lambda: (loop.run_until_complete(loop.shutdown_asyncgens()), loop.close()))

    def openai_client() -> Any:
        return AsyncOpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)

    def anthropic_client() -> Any:
        return AsyncAnthropic(base_url=mock_url, api_key="bench", max_retries=0)

    async def chat(client: Any) -> None:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    async def chat_stream(client: Any) -> None:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for _ in stream:
            pass

    async def messages_stream(client: Any) -> None:
        stream = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=MESSAGES[1:],
            system=MESSAGES[0]["content"],
            stream=True,
        )
        async for _ in stream:
            pass

    def run(step: Callable[[Any], Any]) -> Callable[[Any], None]:
        return lambda client: loop.run_until_complete(step(client))

    return [
        ("async openai chat", run(chat), openai_client(), capture.instrument(openai_client())),
        ("async openai chat stream", run(chat_stream), openai_client(), capture.instrument(openai_client())),
        (
            "async anthropic messages stream",
            run(messages_stream),
            anthropic_client(),
            capture.instrument(anthropic_client()),
        ),
    ]


def _stubbed(mock_url: str) -> tuple[Callable[[Any], None], Any, Any]:
    """Two OpenAI clients whose HTTP round trip is replaced by a canned answer (one instrumented).

    The SDK still does all its own work (building the request options, parsing nothing), so the
    difference between the two is tokenomy's work on the caller's path and nothing else.
    """
    from openai import OpenAI

    from tokenomy import capture

    real = OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)
    answer = real.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def canned(cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        return answer

    clients = []
    for _ in range(2):
        client = OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)
        client.request = canned  # type: ignore[method-assign]
        clients.append(client)

    def chat(client: Any) -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    return chat, clients[0], capture.instrument(clients[1])


def _stubbed_stream(mock_url: str) -> tuple[Callable[[Any], None], Any, Any]:
    """Two OpenAI clients whose streamed chat answers are a canned server-sent event body (one
    instrumented): the SDK still decodes and builds every chunk, but no socket is read, so the
    difference is tokenomy's work on the caller's path for a stream, event by event."""
    import httpx2
    from openai import OpenAI
    from openai.types.chat import ChatCompletionChunk

    from tokenomy import capture

    request = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = httpx2.post(
        f"{mock_url}/v1/chat/completions", json=request, headers={"Authorization": "Bearer bench"}
    )
    body = sent.content

    def canned_for(client: Any) -> Callable[..., Any]:
        def canned(cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
            response = httpx2.Response(200, content=body, request=sent.request)
            return stream_cls(cast_to=ChatCompletionChunk, response=response, client=client, options=options)

        return canned

    clients = []
    for _ in range(2):
        client = OpenAI(base_url=f"{mock_url}/v1", api_key="bench", max_retries=0)
        client.request = canned_for(client)  # type: ignore[method-assign]
        clients.append(client)

    def chat_stream(client: Any) -> None:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            pass

    return chat_stream, clients[0], capture.instrument(clients[1])


def _time(
    call: Callable[[Any], None], client: Any, n: int, into: list[int], split: Split | None = None
) -> None:
    clock = time.perf_counter_ns
    sink, thread = (split.sink_cpu, time.thread_time_ns) if split else (clock, clock)
    for _ in range(n):
        ran, own, start = sink(), thread(), clock()
        call(client)
        into.append(clock() - start)
        if split:
            split.calls[client].append((into[-1], sink() - ran, thread() - own))


class Split:
    """Per call: wall time, the sink thread's CPU meanwhile, the calling thread's CPU. On the one core
    the sink's work lands on whichever calls it overlaps, bare or instrumented; :meth:`line` gives
    their share on each side, the added p50 over the calls it did not overlap, and the calling
    thread's CPU added (p50 over all calls)."""

    def __init__(self, bare: Any, instrumented: Any) -> None:
        import threading

        sink = next(t for t in threading.enumerate() if t.name == "tokenomy-sink")
        self.sink_cpu = partial(time.clock_gettime_ns, time.pthread_getcpuclockid(sink.ident or 0))
        self.calls: dict[Any, list[tuple[int, int, int]]] = {bare: [], instrumented: []}

    def line(self) -> str:
        bare, inst = self.calls.values()
        quiet = [[w for w, s, _ in side if s < SINK_QUIET] or [0] for side in (bare, inst)]
        ran = [100 - 100 * len(q) / max(1, len(side)) for q, side in zip(quiet, (bare, inst), strict=True)]
        idle = statistics.median(quiet[1]) - statistics.median(quiet[0])
        cpu = statistics.median(c for _, _, c in inst) - statistics.median(c for _, _, c in bare)
        return (
            f"    the sink's thread ran during {ran[0]:.1f}% of bare and {ran[1]:.1f}% of instrumented"
            f" calls; added p50 over the others {idle / 1000:+.1f};"
            f" calling thread's CPU added p50 {cpu / 1000:+.1f}"
        )


def _measure(
    call: Callable[[Any], None], bare: Any, instrumented: Any, calls: int, split: bool = False
) -> tuple[list[int], list[int], Split | None]:
    from tokenomy import capture

    for client in (bare, instrumented):  # warm-up: connections, lazy imports, the sink's first batch
        _time(call, client, 100, [])
    capture.flush(60)  # the first batch loads the price catalog and the store: once per process
    plain: list[int] = []
    measured: list[int] = []
    parts = Split(bare, instrumented) if split else None
    for _ in range(max(1, calls // BLOCK)):
        _time(call, bare, BLOCK, plain, parts)
        _time(call, instrumented, BLOCK, measured, parts)
    return plain, measured, parts


def _caller_cpu(call: Callable[[Any], None], bare: Any, instrumented: Any, calls: int) -> tuple[float, float]:
    """Median CPU time of the calling thread per call, bare and instrumented, in microseconds.

    The two clients alternate call by call and each call is timed with the thread's own CPU
    clock, which does not advance while the thread is preempted or waits for the GIL: on a
    loaded machine this resolves the few microseconds tokenomy adds where wall time cannot.
    """
    bare_ns: list[int] = []
    inst_ns: list[int] = []
    for _ in range(calls):
        for client, into in ((bare, bare_ns), (instrumented, inst_ns)):
            start = time.thread_time_ns()
            call(client)
            into.append(time.thread_time_ns() - start)
    return statistics.median(bare_ns) / 1000, statistics.median(inst_ns) / 1000


def _collections(call: Callable[[Any], None], client: Any, calls: int) -> list[int]:
    """Garbage collections (generations 0/1/2, any thread) per 1,000 calls of one client alone."""
    import gc

    from tokenomy import capture

    capture.flush(60)
    before = [stats["collections"] for stats in gc.get_stats()]
    for _ in range(calls):
        call(client)
    capture.flush(60)  # the sink's thread builds and stores what was captured: its collections count
    after = [stats["collections"] for stats in gc.get_stats()]
    return [round((now - then) * 1000 / calls) for now, then in zip(after, before, strict=True)]


def _cpu(
    call: Callable[[Any], None], bare: Any, instrumented: Any, calls: int, rounds: int = CPU_ROUNDS
) -> tuple[float, float, float]:
    """CPU per call in microseconds: (bare, instrumented, on the caller's thread alone added).

    The whole process's CPU time (every thread, the sink's included) over a block of bare calls,
    then over as many instrumented calls plus the flush that builds, prices and stores them; the
    blocks alternate for ``rounds`` rounds (``calls`` in all per client) and the best round of
    each is kept, so that a burst of other work on the machine does not land on one side only.
    CPU time does not grow when other processes load the machine; wall time does.
    """
    from tokenomy import capture

    block = max(1, calls // rounds)
    bare_cpu, inst_cpu, caller_bare, caller_inst = [], [], [], []
    for _ in range(rounds):
        start, caller = time.process_time_ns(), time.thread_time_ns()
        _time(call, bare, block, [])
        bare_cpu.append((time.process_time_ns() - start) / block / 1000)
        caller_bare.append((time.thread_time_ns() - caller) / block / 1000)
        start, caller = time.process_time_ns(), time.thread_time_ns()
        _time(call, instrumented, block, [])
        caller_inst.append((time.thread_time_ns() - caller) / block / 1000)
        capture.flush(120)
        inst_cpu.append((time.process_time_ns() - start) / block / 1000)
    return min(bare_cpu), min(inst_cpu), min(caller_inst) - min(caller_bare)


def _row(name: str, plain: list[int], measured: list[int]) -> str:
    def us(values: list[int], q: float | None = None) -> float:
        if q is None:
            return statistics.median(values) / 1000
        return statistics.quantiles(values, n=100)[int(q) - 1] / 1000

    bare_med, inst_med = us(plain), us(measured)
    bare_p90, inst_p90 = us(plain, 90), us(measured, 90)
    bare_mean, inst_mean = statistics.fmean(plain) / 1000, statistics.fmean(measured) / 1000
    low, high = added_interval(plain, measured)
    return (
        f"{name:<32}{bare_med:>9.1f}{inst_med:>9.1f}{inst_med - bare_med:>+9.1f}"
        f"{bare_p90:>9.1f}{inst_p90:>9.1f}{inst_p90 - bare_p90:>+9.1f}{inst_mean - bare_mean:>+10.1f}"
        f"   [{low:+.0f}, {high:+.0f}]"
    )


def added_interval(plain: list[int], measured: list[int], draws: int = 1000) -> tuple[float, float]:
    """A 90% bootstrap interval of the added median, in microseconds: each side resampled with
    replacement ``draws`` times (fixed seed), the 5th and 95th percentiles of the differences. How
    far one run's added median can be trusted: call times spread by milliseconds, so with 1,000
    calls a side the added median of one run moves by about 100 us."""
    rng = random.Random(7)
    diffs = sorted(
        statistics.median(rng.choices(measured, k=len(measured)))
        - statistics.median(rng.choices(plain, k=len(plain)))
        for _ in range(draws)
    )
    return diffs[draws // 20] / 1000, diffs[draws - 1 - draws // 20] / 1000


def main(argv: list[str]) -> int:
    """Measure and print the per-call time of bare and instrumented clients, and the difference."""
    parser = argparse.ArgumentParser(prog="python -m bench capture")
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per client and case")
    parser.add_argument("--target", choices=("duckdb", "null"), default="duckdb", help="the sink's target")
    parser.add_argument(
        "--case", action="append", help="only the HTTP cases named so (repeatable), e.g. 'stream'"
    )
    parser.add_argument(
        "--compare-kept",
        action="store_true",
        help="only the streamed chat: bare, SDK objects kept, data text kept, call by call",
    )
    parser.add_argument(
        "--caller-only", action="store_true", help="only the caller's path (canned answers), no HTTP cases"
    )
    args = parser.parse_args(argv)
    mock_cmd = [sys.executable, "-m", "tokenomy.cli.main", "mock-llm", "--port", "0", "--output-tokens", "16"]
    mock = subprocess.Popen(mock_cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert mock.stdout is not None
        match = re.search(r"127\.0\.0\.1:(\d+)", mock.stdout.readline())
        if not match:
            raise RuntimeError("the mock upstream did not start")
        _pin(mock.pid, 0)
        _pin(0, 1)
        with tempfile.TemporaryDirectory(prefix="tokenomy-bench-capture-") as folder:
            url = f"http://127.0.0.1:{match.group(1)}"
            return _run(
                url,
                args.calls,
                args.target,
                Path(folder),
                caller_only=args.caller_only,
                only=args.case or [],
                compare_kept=args.compare_kept,
            )
    finally:
        mock.terminate()
        mock.wait(10)


def _run(
    mock_url: str,
    calls: int,
    target: str,
    folder: Path,
    *,
    caller_only: bool = False,
    only: Sequence[str] = (),
    compare_kept: bool = False,
) -> int:
    from tokenomy import capture
    from tokenomy.capture.sink.core import Sink
    from tokenomy.capture.sink.settings import SinkSettings

    settings = SinkSettings(spool_dir=folder / "spool")
    if target == "null":
        capture.configure(Sink(NullTarget(), settings))
    else:
        capture.configure(f"duckdb:{folder / 'bench.duckdb'}", spool_dir=folder / "spool")
    print(f"mock upstream and this process each pinned to its own core; sink target: {target}")
    print(f"{calls} calls per client and case, alternating in blocks of {BLOCK}; times in microseconds")
    if compare_kept:
        from bench import capture_kept

        capture_kept.compare_kept(mock_url, calls, MESSAGES)
        return _finish()
    heads = ("bare p50", "inst p50", "added", "bare p90", "inst p90", "added")
    print(
        f"{'case':<32}" + "".join(f"{h:>9}" for h in heads) + f"{'mean +':>10}   [90% interval of added p50]"
    )
    cases = [] if caller_only else _cases(mock_url)
    cases = [c for c in cases if not only or any(word in c[0] for word in only)]
    for name, call, bare, instrumented in cases:
        plain, measured, parts = _measure(call, bare, instrumented, calls, split=True)
        print(_row(name, plain, measured), flush=True)
        print(parts.line() if parts else "", flush=True)
    chat, bare, instrumented = _stubbed(mock_url)
    plain, measured, _ = _measure(chat, bare, instrumented, calls * 5)
    print(_row("caller's path alone", plain, measured) + "   (canned answer instead of HTTP)", flush=True)
    bare_cpu, inst_cpu = _caller_cpu(chat, bare, instrumented, calls * 5)
    print(
        f"caller's path alone, calling thread's CPU p50: bare {bare_cpu:.1f}, instrumented {inst_cpu:.1f}, "
        f"added {inst_cpu - bare_cpu:+.1f}",
        flush=True,
    )
    stream, bare, instrumented = _stubbed_stream(mock_url)
    plain, measured, parts = _measure(stream, bare, instrumented, calls, split=True)
    print(
        _row("caller's path, stream", plain, measured) + "   (canned event stream instead of HTTP)",
        flush=True,
    )
    print(parts.line() if parts else "", flush=True)
    bare_cpu, inst_cpu = _caller_cpu(stream, bare, instrumented, calls)
    print(
        f"caller's path, stream, calling thread's CPU p50: bare {bare_cpu:.1f}, instrumented {inst_cpu:.1f}, "
        f"added {inst_cpu - bare_cpu:+.1f}",
        flush=True,
    )
    print(
        f"caller's path, stream, garbage collections per 1,000 calls (gen 0/1/2): "
        f"bare {_collections(stream, bare, calls)}, instrumented {_collections(stream, instrumented, calls)}",
        flush=True,
    )
    if caller_only:
        return _finish()
    print(
        f"CPU per call, this whole process (the sink's thread included), in microseconds "
        f"(best of {CPU_ROUNDS} alternating rounds)"
    )
    print(f"{'case':<32}{'bare':>9}{'inst':>9}{'added':>9}{'caller':>9}")
    for name, call, bare, instrumented in cases:
        bare_cpu, inst_cpu, caller = _cpu(call, bare, instrumented, calls)
        print(
            f"{name:<32}{bare_cpu:>9.1f}{inst_cpu:>9.1f}{inst_cpu - bare_cpu:>+9.1f}{caller:>+9.1f}",
            flush=True,
        )
    return _finish()


def _finish() -> int:
    """Deliver what is left, print the sink's counters; 0 when nothing was lost."""
    from tokenomy import capture

    delivered = capture.flush(60)
    stats = capture.sink_stats()
    counts = (
        f"enqueued {stats.enqueued}, sent {stats.sent}, spooled {stats.spooled} (replayed {stats.replayed}),"
        f" dropped {stats.dropped}, errors {stats.errors}"
    )
    print(f"sink: {counts}; flushed: {delivered}")
    capture.shutdown(30)
    return 0 if delivered and stats.dropped == 0 else 1


def _pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {core})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
