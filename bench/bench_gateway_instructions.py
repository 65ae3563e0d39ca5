"""Gateway: machine instructions per request, metering on against off, counted by callgrind.

Run: ``python -m bench gateway_instructions`` (``python -m bench.bench_gateway_instructions
--requests N``). The CPU ratio of ``bench_gateway`` (section 4) moves with the state of a shared
machine: metering's code runs once a request between the proxy's, on caches the proxy's work has
just cooled, so a slow spell makes it dearer than the proxy's hot path, and two steady runs twenty
minutes apart have read 1.14x and 1.20x (docs/benchmarks.md, "Gateway"). Instructions executed do
not depend on that state: this counts them, for the same gateways and the same requests, to give
the ratio that the machine's state does not move.

Each gateway (``--sink none``: every call built, priced and counted, then dropped; and ``--sink
off``) runs under valgrind's callgrind with counting off. The client sends 300 requests of warm-up
at concurrency 8 (connections, imports, the tokenizer, the first batches); counting is switched on
(``callgrind_control -i on``), ``--requests`` requests are sent, and, once the gateway has had two
seconds to build and deliver what they left, counting is switched off. Every thread of the gateway
process is counted: the event loop's, the sink's. The hash seed is fixed (``PYTHONHASHSEED=0``).
Needs valgrind (``make bench`` installs it); about a minute for both gateways at 2,000 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_gateway import Bar, _chat, _config, _drive, _table
from tokenomy.gateway.processes import ServerProcess, mock_process

WARM_UP = 300
"""Requests sent before counting starts."""
SETTLE_SECONDS = 2.0
"""Time left to the gateway after the measured requests, and after switching counting on or off."""
BAR = 1.2
"""The issue's bar for metering on against off."""
TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def count(config: Path, sink: str, requests: int, folder: Path) -> int:
    """Instructions the gateway (``--sink sink``) executes for ``requests`` chat completions."""
    out = folder / f"callgrind.{sink}.out"
    gateway = ServerProcess(["gateway", "--config", str(config), "--sink", sink], env={"PYTHONHASHSEED": "0"})
    gateway.command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        *gateway.command,
    ]
    gateway.start(timeout=600)
    try:
        assert gateway.pid is not None
        asyncio.run(_drive(_chat(gateway.base_url), WARM_UP))
        time.sleep(SETTLE_SECONDS)
        _control("on", gateway.pid)
        asyncio.run(_drive(_chat(gateway.base_url), requests))
        time.sleep(SETTLE_SECONDS)
        _control("off", gateway.pid)
    finally:
        gateway.stop(timeout=120)
    found = TOTALS.search(out.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"callgrind wrote no totals to {out}")
    return int(found.group(1))


def _control(state: str, pid: int) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True, capture_output=True, timeout=60)


def main(argv: list[str]) -> int:
    """Count, print the ratio against the bar; 1 when it is missed, 2 when valgrind is missing."""
    parser = argparse.ArgumentParser(prog="python -m bench gateway_instructions")
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests counted per gateway (default 2000)"
    )
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"{' and '.join(missing)} not found: install valgrind (make bench does)", file=sys.stderr)
        return 2
    print(
        f"python {sys.version.split()[0]}; callgrind, {args.requests} chat completions at concurrency 8 "
        f"after {WARM_UP} of warm-up; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, mock_process() as mock:
        folder = Path(tmp)
        config = _config(folder, f"{mock.base_url}/v1")
        per_request = {}
        for label, sink in (("metering on", "none"), ("metering off", "off")):
            per_request[label] = count(config, sink, args.requests, folder) / args.requests
            print(f"  gateway, {label:<14} {per_request[label]:>10,.0f} instructions per request", flush=True)
    ratio = per_request["metering on"] / per_request["metering off"]
    added = per_request["metering on"] - per_request["metering off"]
    print(
        f"  metering on / off: {ratio:.3f}x instructions per request (bar {BAR}x); metering adds {added:,.0f}"
    )
    bar = Bar("instructions per request, metering on / off", ratio, BAR, "x", higher_is_better=False)
    _table([bar])
    return 0 if bar.met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
