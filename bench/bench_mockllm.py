"""How fast the mock upstream answers, next to a bare asyncio server sending the same bytes.

Three processes: the server under test pinned to one core, a load generator pinned to the
other, and this coordinator. Each case (a chat completion, plain and streamed, at concurrency
1 and 16 over keep-alive connections, and an Anthropic message at concurrency 16; 16 output
tokens each) runs against the mock and then against a bare asyncio protocol that answers
every request with the mock's own response bytes, captured beforehand. The ratio mock / bare
is the price of the mock's logic (parsing, counting, planning, rendering, accounting); the
absolute figures say whether it can stand behind a gateway benchmark.

Run: ``python -m bench mockllm`` (``--seconds N`` for longer runs when called directly).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Final, cast

ROOT: Final = Path(__file__).resolve().parents[1]
MESSAGES: Final = [{"role": "user", "content": "Say something short about tokens."}]
API: Final[dict[str, tuple[str, dict[str, object]]]] = {
    "chat": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}),
    "messages": ("/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 256, "messages": MESSAGES}),
}
CASES: Final = (
    ("chat", False, 1),
    ("chat", False, 16),
    ("chat", True, 1),
    ("chat", True, 16),
    ("messages", False, 16),
    ("messages", True, 16),
)
"""(API, streamed, concurrency) measured, in order."""


def request_bytes(port: int, api: str, stream: bool) -> bytes:
    """The HTTP request the load generator sends, over and over."""
    path, base = API[api]
    body: dict[str, object] = dict(base)
    if stream:
        body["stream"] = True
        if api == "chat":
            body["stream_options"] = {"include_usage": True}
    raw = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer bench\r\ncontent-length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


class _Client(asyncio.Protocol):
    """One keep-alive connection sending the same request as soon as each answer is complete."""

    def __init__(
        self, request: bytes, counter: list[int], stop: asyncio.Event, done: asyncio.Future[None]
    ) -> None:
        self.request, self.counter, self.stop, self.done = request, counter, stop, done
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = _complete(self.buf)
        while end:
            self.counter[0] += 1
            self.buf = self.buf[end:]
            if self.stop.is_set():
                if not self.done.done():
                    self.done.set_result(None)
                return
            assert self.transport is not None
            self.transport.write(self.request)
            end = _complete(self.buf)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _complete(buf: bytes) -> int:
    """Length of the first complete response in ``buf``, or 0."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    match = re.search(rb"content-length: (\d+)", buf[:head_end], re.IGNORECASE)
    if match:
        total = head_end + 4 + int(match.group(1))
        return total if len(buf) >= total else 0
    end = buf.find(b"\r\n0\r\n\r\n", head_end)
    return end + 7 if end >= 0 else 0


async def _load(port: int, api: str, stream: bool, concurrency: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    request = request_bytes(port, api, stream)
    counter, stop = [0], asyncio.Event()
    done: list[asyncio.Future[None]] = [loop.create_future() for _ in range(concurrency)]
    transports = []
    for fut in done:
        transport, _ = await loop.create_connection(
            partial(_Client, request, counter, stop, fut), "127.0.0.1", port
        )
        transports.append(transport)
    await asyncio.sleep(seconds * 0.2)  # warm-up
    start, begin = counter[0], time.perf_counter()
    await asyncio.sleep(seconds)
    measured, elapsed = counter[0] - start, time.perf_counter() - begin
    stop.set()
    await asyncio.wait_for(asyncio.gather(*done), 10)
    for transport in transports:
        transport.close()
    return measured / elapsed


def load_main(argv: list[str]) -> int:
    """Load-generator process: print requests per second as JSON."""
    port, api, stream, concurrency, seconds = (
        int(argv[0]),
        argv[1],
        argv[2] == "1",
        int(argv[3]),
        float(argv[4]),
    )
    _pin(1)
    loop = _loop()
    try:
        rate = loop.run_until_complete(_load(port, api, stream, concurrency, seconds))
    finally:
        loop.close()
    print(json.dumps({"rps": rate}))
    return 0


class _Bare(asyncio.Protocol):
    """Answers every complete request with canned bytes: the floor any asyncio server pays."""

    def __init__(self, answers: dict[tuple[str, bool], bytes]) -> None:
        self.answers, self.buf = answers, b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (head_end := self.buf.find(b"\r\n\r\n")) >= 0:
            match = re.search(rb"content-length: (\d+)", self.buf[:head_end], re.IGNORECASE)
            total = head_end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buf) < total:
                return
            api = "messages" if self.buf.startswith(b"POST /v1/messages") else "chat"
            stream = b'"stream": true' in self.buf[head_end:total]
            self.buf = self.buf[total:]
            assert self.transport is not None
            self.transport.write(self.answers[api, stream])


def bare_main(argv: list[str]) -> int:
    """Bare-server process: answers with the captured responses in the folder given; prints its port."""
    folder = Path(argv[0])
    answers = {
        (api, stream): (folder / f"{api}-{int(stream)}.http").read_bytes()
        for api in API
        for stream in (False, True)
    }
    _pin(0)
    loop = _loop()
    server = loop.run_until_complete(loop.create_server(lambda: _Bare(answers), "127.0.0.1", 0))
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_forever()
    return 0


def _loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {core})


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(match.group(1))


def _capture(port: int, api: str, stream: bool) -> bytes:
    """One raw response of the mock, to be replayed by the bare server."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_bytes(port, api, stream))
        buf = b""
        while not (end := _complete(buf)):
            buf += sock.recv(65536)
    return buf[:end]


def _rate(port: int, api: str, stream: bool, concurrency: int, seconds: float) -> float:
    code = "import sys; from bench.bench_mockllm import load_main; sys.exit(load_main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, str(port), api, str(int(stream)), str(concurrency), str(seconds)]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=True, timeout=seconds * 3 + 60)
    return float(json.loads(out.stdout)["rps"])


def main(argv: list[str]) -> int:
    """Measure and print requests/s of the mock and of the bare server, and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench mockllm")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per case and server")
    args = parser.parse_args(argv)
    mock_cmd = [sys.executable, "-m", "tokenomy.cli.main", "mock-llm", "--port", "0", "--output-tokens", "16"]
    mock, mock_port = _spawn(mock_cmd)
    bare: subprocess.Popen[str] | None = None
    try:
        _pin_process(mock.pid, 0)
        with tempfile.TemporaryDirectory(prefix="tokenomy-bench-mock-") as folder:
            for api in API:
                for stream in (False, True):
                    (Path(folder) / f"{api}-{int(stream)}.http").write_bytes(_capture(mock_port, api, stream))
            code = "import sys; from bench.bench_mockllm import bare_main; sys.exit(bare_main(sys.argv[1:]))"
            bare, bare_port = _spawn([sys.executable, "-c", code, folder])
        print("server and load generator each pinned to its own core; 16 output tokens per answer")
        print(f"{'case':<18}{'conc':>5}{'mock req/s':>12}{'bare req/s':>12}{'mock/bare':>11}")
        for api, stream, conc in CASES:
            mine = _rate(mock_port, api, stream, conc, args.seconds)
            floor = _rate(bare_port, api, stream, conc, args.seconds)
            name = f"{api}{' stream' if stream else ''}"
            print(f"{name:<18}{conc:>5}{mine:>12,.0f}{floor:>12,.0f}{mine / floor:>11.2f}", flush=True)
    finally:
        for proc in (mock, bare):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    return 0


def _pin_process(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {core})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
