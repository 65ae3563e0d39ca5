"""Gateway: added latency, throughput, streaming fidelity and metering cost, side by side in one run.

Run: ``python -m bench gateway`` (``python -m bench.bench_gateway --quick`` for a shorter run). It
starts, each in its own process: the mock upstream (CPU 1), a bare ASGI app on uvicorn answering
the mock's own bytes (CPU 0), the gateway with metering on (``--sink none``: every call is built,
priced and counted, then dropped) and off (``--sink off``) (CPU 0). The load generator runs here,
on CPU 1. It prints:

1. latency at concurrency 1 (targets alternating request by request): direct to the mock, the bare
   app, the gateway; the gateway's added latency (gateway - direct) next to the bare app's latency
   (what one uvicorn hop costs in front of nothing);
2. requests/s at concurrency 16: the bare app and the gateway (ratio), the gateway's p99 added;
3. streams: added time to first token at concurrency 1; 500 concurrent streams compared event by
   event with the same request sent directly (no chunk merged, split, reordered or lost);
4. CPU seconds of the gateway process per request, metering on vs off (ratio), the targets taking
   turns over several rounds, with a third gateway beside them whose build is cut to its floor
   (every call still made, queued, counted and freed; nothing read, counted or priced:
   ``bench/gateway/floor.py``), which shows how much of metering's cost its work can account for;
5. the upstream client: CPU per request of tokenomy's pool, aiohttp and httpx (run with the
   Python of LiteLLM's environment, which has both);
6. LiteLLM's proxy (installed once into ``bench/out/litellm-venv``), started last because its idle
   background work loads CPU 0: latency and throughput next to the gateway, CPU per request.

It ends with a table of the issue's bars and exits 1 when any is missed (``--no-litellm`` leaves
sections 5 and 6 out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.gateway import load
from tokenomy.gateway.processes import ServerProcess, mock_process
from tokenomy.gateway.upstream import PoolTransport, UpstreamError, UpstreamRequest

GATEWAY_CPU, CLIENT_CPU = 0, 1
BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one line."}]}
)
STREAM = json.dumps({**json.loads(BODY), "stream": True}).encode()
LITELLM_VENV = Path(__file__).parent / "out" / "litellm-venv"
LITELLM_KEY = "sk-tokenomy-bench-only"
"""LiteLLM's proxy refuses to start without a master key; the benchmark's requests to it carry this one."""
INSTALL_SECONDS = 1800.0
"""LiteLLM's proxy and its dependencies took about 20 minutes to install on a loaded 2-core machine."""


@dataclass
class Bar:
    """One target of the issue, with what this run measured."""

    name: str
    measured: float
    limit: float
    unit: str
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        """True when the measurement is within the bar."""
        return self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit


def _table(bars: list[Bar]) -> None:
    print("\nbars (each measured side by side in this run)")
    print(f"  {'target':<52} {'measured':>12} {'bar':>12}  result")
    for bar in bars:
        sign = ">=" if bar.higher_is_better else "<="
        print(
            f"  {bar.name:<52} {bar.measured:>9.3f} {bar.unit:<2} {sign} {bar.limit:>6.2f} {bar.unit:<2}  "
            f"{'met' if bar.met else 'MISSED'}"
        )


_KEYED: dict[str, bytes] = {}
"""Base URLs whose requests carry a key (LiteLLM's master key)."""


def _chat(base_url: str) -> UpstreamRequest:
    """A plain chat completion request to ``base_url`` (with its key, when it needs one)."""
    key = _KEYED.get(base_url)
    headers = [(b"authorization", b"Bearer " + key)] if key else []
    return load.request(f"{base_url}/v1/chat/completions", BODY.encode(), headers)


def _config(folder: Path, upstream: str) -> Path:
    path = folder / "tokenomy.toml"
    path.write_text(f'[[gateway.route]]\nmodels = "*"\nkind = "openai"\nbase_url = "{upstream}"\n')
    return path


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far: nanoseconds from each thread's ``schedstat``
    (the scheduler's own count), or clock ticks from ``stat`` (10 ms each) where it is missing."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total / 1e9


def _row(name: str, sample: load.Sample, *, ttft: bool = False) -> None:
    print(
        f"  {name:<28} p50 {sample.pct(0.5, ttft=ttft):7.3f} ms   p99 {sample.pct(0.99, ttft=ttft):7.3f} ms"
    )


def latency(urls: dict[str, str], rounds: int, bars: list[Bar]) -> dict[str, load.Sample]:
    """Section 1."""
    requests = {name: _chat(url) for name, url in urls.items()}
    samples = asyncio.run(load.alternate(requests, rounds))
    print(f"\n1. latency, concurrency 1, {rounds} requests each (alternating)")
    for name, sample in samples.items():
        _row(name, sample)
    direct, bare = samples["direct (mock)"], samples["bare uvicorn app"]
    for name, sample in samples.items():
        if name in ("direct (mock)", "bare uvicorn app"):
            continue
        added50 = sample.pct(0.5) - direct.pct(0.5)
        added99 = sample.pct(0.99) - direct.pct(0.99)
        print(
            f"  {name} adds p50 {added50:.3f} ms, p99 {added99:.3f} ms; the bare app takes p50 "
            f"{bare.pct(0.5):.3f}, p99 {bare.pct(0.99):.3f} -> excess p50 {added50 - bare.pct(0.5):+.3f} ms "
            f"(bar +0.5), p99 {added99 - bare.pct(0.99):+.3f} ms (bar +2)"
        )
    gateway = samples["gateway"]
    added50 = gateway.pct(0.5) - direct.pct(0.5) - bare.pct(0.5)
    added99 = gateway.pct(0.99) - direct.pct(0.99) - bare.pct(0.99)
    bars.append(Bar("c1 added latency p50, beyond the bare app's", added50, 0.5, "ms"))
    bars.append(Bar("c1 added latency p99, beyond the bare app's", added99, 2.0, "ms"))
    return samples


def throughput(urls: dict[str, str], seconds: float, bars: list[Bar]) -> None:
    """Section 2."""
    print(f"\n2. throughput, concurrency 16, {seconds:g} s each")
    found: dict[str, tuple[float, load.Sample]] = {}
    for name, url in urls.items():
        found[name] = asyncio.run(load.throughput(_chat(url), 16, seconds))
        rate, sample = found[name]
        print(
            f"  {name:<28} {rate:8.0f} req/s   p50 {sample.pct(0.5):7.3f} ms   p99 {sample.pct(0.99):7.3f} ms"
        )
    bare = found["bare uvicorn app"][0]
    direct99 = found["direct (mock)"][1].pct(0.99)
    for name, (rate, sample) in found.items():
        if name not in ("direct (mock)", "bare uvicorn app"):
            print(
                f"  {name}: {rate / bare:.2f}x the bare app (bar 0.25x); p99 added "
                f"{sample.pct(0.99) - direct99:.3f} ms (bar 5)"
            )
    rate, sample = found["gateway"]
    bars.append(Bar("c16 throughput / the bare app's", rate / bare, 0.25, "x", higher_is_better=True))
    bars.append(Bar("c16 p99 added latency", sample.pct(0.99) - direct99, 5.0, "ms"))


def streaming(mock: str, gateway: str, rounds: int, count: int, bars: list[Bar]) -> None:
    """Section 3."""
    requests = {
        "direct (mock)": load.request(f"{mock}/v1/chat/completions", STREAM),
        "gateway": load.request(f"{gateway}/v1/chat/completions", STREAM),
    }
    samples = asyncio.run(load.alternate(requests, rounds))
    print(f"\n3. streams: time to first token, concurrency 1, {rounds} each")
    for name, sample in samples.items():
        _row(name, sample, ttft=True)
    added = samples["gateway"].pct(0.5, ttft=True) - samples["direct (mock)"].pct(0.5, ttft=True)
    print(f"  gateway adds p50 {added:.3f} ms to the first token (bar 1)")
    bars.append(Bar("added time to first token, p50", added, 1.0, "ms"))
    slow = [(b"x-mock-chunk-delay-ms", b"2")]
    reference = load.events_of(
        asyncio.run(load.streams(load.request(f"{mock}/v1/chat/completions", STREAM, slow), 1))[0]
    )
    got = asyncio.run(load.streams(load.request(f"{gateway}/v1/chat/completions", STREAM, slow), count))
    bad = sum(1 for raw in got if load.events_of(raw) != reference)
    print(
        f"  {count} concurrent streams: {count - bad} received exactly the mock's "
        f"{len(reference)} events, {bad} differ"
    )
    bars.append(Bar(f"streams of {count} whose events differ from the mock's", bad, 0, ""))


def metering(gateways: dict[str, ServerProcess], requests: int, bars: list[Bar], rounds: int = 5) -> None:
    """Section 4: the targets take turns, ``rounds`` times (order reversed every other round), so
    the machine's other work weighs on all alike; the medians of the rounds are compared."""
    print(
        f"\n4. gateway CPU per request, {requests} requests at concurrency 8 in {rounds} alternating rounds"
    )
    each = requests // rounds
    for proc in gateways.values():
        asyncio.run(_drive(_chat(proc.base_url), 200))  # warm: lazy imports, the tokenizer, the sink
    time.sleep(1.0)
    found: dict[str, list[float]] = {name: [] for name in gateways}
    for turn in range(rounds):
        order = list(gateways.items())
        for name, proc in order[::-1] if turn % 2 else order:
            assert proc.pid is not None
            before = _cpu_seconds(proc.pid)
            asyncio.run(_drive(_chat(proc.base_url), each))
            time.sleep(1.1)  # the sink's thread (it wakes every second) delivers what is left
            found[name].append((_cpu_seconds(proc.pid) - before) / each)
    per = {name: statistics.median(values) for name, values in found.items()}
    for name, value in per.items():
        spread = ", ".join(f"{v * 1e6:.0f}" for v in found[name])
        print(f"  {name:<28} {value * 1e6:8.1f} us CPU per request (median; rounds {spread})")
    on, off = found["gateway, metering on"], found["gateway, metering off"]
    ratio = per["gateway, metering on"] / per["gateway, metering off"]
    if "bare uvicorn app" in per:
        print(
            "  gateway (metering off) / bare app: "
            f"{per['gateway, metering off'] / per['bare uvicorn app']:.2f}x"
        )
    ratios = sorted(a / b for a, b in zip(on, off, strict=True))
    rounds_ratio = statistics.median(ratios)
    added = (statistics.median(on) - statistics.median(off)) * 1e6
    print(
        f"  metering on / off: {ratio:.3f}x CPU per request (bar 1.2x); median of the rounds' "
        f"ratios {rounds_ratio:.3f}x (quartiles {_quartiles(ratios)}); metering adds {added:.0f} us"
    )
    if "gateway, metering floor" in per:
        floor = per["gateway, metering floor"]
        print(
            f"  metering floor / off: {floor / per['gateway, metering off']:.2f}x (every call made, "
            f"queued, counted and freed, nothing read, counted or priced: bench/gateway/floor.py); "
            f"it adds {(floor - per['gateway, metering off']) * 1e6:.0f} us of metering's {added:.0f}"
        )
    bars.append(Bar("CPU per request, metering on / off", ratio, 1.2, "x"))


def clients(mock: str, requests: int) -> None:
    """Section 5: the upstream client's CPU per request (in LiteLLM's environment: it has aiohttp, httpx)."""
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        print("\n5. upstream clients: skipped (no LiteLLM environment with aiohttp and httpx)")
        return
    script = Path(__file__).parent / "gateway" / "clients.py"
    command = ["taskset", "-c", str(GATEWAY_CPU), str(python), str(script)]
    done = subprocess.run(
        [*command, f"{mock}/v1/chat/completions", str(requests)],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"\n5. upstream clients, CPU per request at concurrency 8, {requests} requests (best of 2)")
    if done.returncode != 0:
        print(f"  failed: {done.stderr.strip()[-400:]}")
        return
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for name, value in found.items():
        print(f"  {name:<28} {value:8.1f} us CPU per request")


def _install_litellm(seconds: float = INSTALL_SECONDS) -> bool:
    """Create bench/out/litellm-venv with LiteLLM's proxy (once; a failure is remembered)."""
    failed = LITELLM_VENV.parent / "litellm-install-failed.txt"
    if (LITELLM_VENV / "bin" / "litellm").exists():
        return True
    if failed.exists():
        return False
    LITELLM_VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"\ninstalling LiteLLM's proxy into {LITELLM_VENV} (at most {seconds:g} s)...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True, timeout=60)
        pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"]
        subprocess.run(pip, check=True, timeout=seconds, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        failed.write_text(f"{exc}\n")
        return False
    return (LITELLM_VENV / "bin" / "litellm").exists()


def _litellm(folder: Path, upstream: str) -> ServerProcess | None:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not _install_litellm():
        print(
            f"\nLiteLLM: skipped (it could not be installed into {LITELLM_VENV} in time; delete "
            f"{LITELLM_VENV.parent / 'litellm-install-failed.txt'} to try again)"
        )
        return None
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        f"      api_base: {upstream}\n      api_key: sk-mock\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
    )
    proc = ServerProcess([], cpu=GATEWAY_CPU)
    port = _free_port()
    proc.command = [
        "taskset",
        "-c",
        str(GATEWAY_CPU),
        str(binary),
        "--config",
        str(config),
        "--port",
        str(port),
    ]
    proc.base_url = f"http://127.0.0.1:{port}"
    _KEYED[proc.base_url] = LITELLM_KEY.encode()
    popen = subprocess.Popen(proc.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc._proc = popen  # type: ignore[assignment]  # started by hand: litellm prints no banner we can rely on
    for _ in range(480):
        if popen.poll() is not None:
            break
        if asyncio.run(_answers(proc.base_url)):
            return proc
        time.sleep(0.5)
    proc.stop()
    print("\nLiteLLM: skipped (its proxy exited, or did not answer 200 within 4 minutes)")
    return None


def _free_port() -> int:
    from tokenomy.budgets.redis_process import free_port

    return free_port()


def main(argv: list[str]) -> int:
    """Run the gateway benchmark; 1 when a bar is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench gateway")
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument(
        "--cpu-rounds",
        type=int,
        help="rounds of section 4, metering on / off (default 10, or 20 without --quick)",
    )
    parser.add_argument(
        "--cpu-requests",
        type=int,
        help="requests each target serves in section 4, all rounds together (default 6000, or 20000 without "
        "--quick); more rounds of more requests give a steadier ratio on a noisy machine",
    )
    args = parser.parse_args(argv)
    rounds, seconds, count, cpu_requests = (300, 2.0, 500, 6000) if args.quick else (2000, 5.0, 500, 20000)
    cpu_rounds = args.cpu_rounds or (10 if args.quick else 20)
    cpu_requests = args.cpu_requests or cpu_requests
    if cpu_rounds < 1 or cpu_requests < cpu_rounds:
        parser.error("--cpu-rounds must be at least 1 and --cpu-requests at least --cpu-rounds")
    os.sched_setaffinity(0, {CLIENT_CPU})
    bars: list[Bar] = []
    with tempfile.TemporaryDirectory() as tmp, mock_process(cpu=CLIENT_CPU) as mock:
        folder = Path(tmp)
        sample_body = folder / "answer.json"
        sample_body.write_bytes(asyncio.run(_fetch(f"{mock.base_url}/v1/chat/completions")))
        config = _config(folder, f"{mock.base_url}/v1")
        bare = ServerProcess(
            ["--body", str(sample_body)], cpu=GATEWAY_CPU, module="bench.gateway.bare"
        ).start()
        on = ServerProcess(["gateway", "--config", str(config), "--sink", "none"], cpu=GATEWAY_CPU).start()
        off = ServerProcess(["gateway", "--config", str(config), "--sink", "off"], cpu=GATEWAY_CPU).start()
        floor = ServerProcess(
            ["gateway", "--config", str(config), "--sink", "none"],
            cpu=GATEWAY_CPU,
            module="bench.gateway.floor",
        ).start()
        litellm = None
        try:
            print(
                f"python {sys.version.split()[0]}, gateway and bare app on CPU {GATEWAY_CPU}, "
                f"mock and client on CPU {CLIENT_CPU}; load average {os.getloadavg()[0]:.1f}"
            )
            urls = {"direct (mock)": mock.base_url, "bare uvicorn app": bare.base_url, "gateway": on.base_url}
            latency(urls, rounds, bars)
            throughput(urls, seconds, bars)
            streaming(mock.base_url, on.base_url, rounds, count, bars)
            measured = {
                "bare uvicorn app": bare,
                "gateway, metering on": on,
                "gateway, metering off": off,
                "gateway, metering floor": floor,
            }
            metering(measured, cpu_requests, bars, rounds=cpu_rounds)
            if not args.no_litellm:
                clients(mock.base_url, cpu_requests)
                off.stop()
                floor.stop()
                litellm = _litellm(folder, f"{mock.base_url}/v1")
            if litellm is not None:
                against_litellm({**urls, "litellm proxy": litellm.base_url}, litellm, rounds // 2, seconds)
        finally:
            for proc in (bare, on, off, floor, litellm):
                if proc is not None:
                    proc.stop()
    return _verdict(bars)


def against_litellm(urls: dict[str, str], litellm: ServerProcess, rounds: int, seconds: float) -> None:
    """Section 6: LiteLLM's proxy in the same harness, started last (its idle work loads CPU 0)."""
    print(
        "\n6. LiteLLM's proxy, same harness, measured last: while it runs, its background work slows "
        f"everything on CPU {GATEWAY_CPU}, so compare it with the gateway of this section only"
    )
    samples = asyncio.run(load.alternate({name: _chat(url) for name, url in urls.items()}, rounds))
    direct = samples["direct (mock)"]
    for name, sample in samples.items():
        _row(name, sample)
        if name != "direct (mock)":
            added50, added99 = sample.pct(0.5) - direct.pct(0.5), sample.pct(0.99) - direct.pct(0.99)
            print(f"    adds p50 {added50:.3f} ms, p99 {added99:.3f} ms")
    for name in ("gateway", "litellm proxy"):
        rate, sample = asyncio.run(load.throughput(_chat(urls[name]), 16, seconds))
        print(f"  {name:<28} concurrency 16: {rate:8.0f} req/s   p99 {sample.pct(0.99):7.3f} ms")
    assert litellm.pid is not None
    requests = 500
    before = _cpu_seconds(litellm.pid)
    asyncio.run(_drive(_chat(litellm.base_url), requests))
    time.sleep(1.5)
    print(f"  litellm proxy CPU per request: {(_cpu_seconds(litellm.pid) - before) / requests * 1e6:.0f} us")


def _quartiles(values: list[float]) -> str:
    """The first and third quartiles of ``values`` (the rounds' ratios), or "-" for fewer than 4."""
    if len(values) < 4:
        return "-"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.3f}-{high:.3f}"


def _verdict(bars: list[Bar]) -> int:
    _table(bars)
    missed = [bar.name for bar in bars if not bar.met]
    if missed:
        print(f"\n{len(missed)} bar(s) missed: {'; '.join(missed)}")
        return 1
    print("\nevery bar met")
    return 0


async def _drive(req: UpstreamRequest, requests: int) -> None:
    """``requests`` requests at concurrency 8."""
    pool = PoolTransport()
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await load.one(pool, req, None)

    await asyncio.gather(*(worker() for _ in range(8)))
    await pool.aclose()


async def _answers(base_url: str) -> bool:
    """True when ``base_url`` answers a chat completion with 200."""
    pool = PoolTransport()
    try:
        response = await pool.send(_chat(base_url))
        await response.read()
    except UpstreamError:
        return False
    finally:
        await pool.aclose()
    return response.status == 200


async def _fetch(url: str) -> bytes:
    got: list[bytes] = []
    pool = PoolTransport()
    await load.one(pool, load.request(url, BODY.encode()), None, got)
    await pool.aclose()
    return got[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
