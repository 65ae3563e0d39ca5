"""Simulator throughput, next to the stdlib serialising the same records, and its memory at two sizes.

Side by side in one run:

* the simulator writing native JSONL and its truth to a file, in one process, then with two
  worker processes;
* the reference path on a slice of the same workload: records built one by one, rendered with
  ``tokenomy.native.call_to_native`` and ``json.dumps`` (what a plain Python generator does);
* ``json.dumps`` alone over those already-built native objects: the least a Python writer that
  builds dicts must spend per record, before generating anything;
* peak memory of a child process simulating N and 4N calls (flat means the ratio stays near 1).

Usage: ``python -m bench simulate`` (1,000,000 calls over 30 days), or
``python -m bench.bench_simulate --calls N --days D`` for another size.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

from tokenomy import native
from tokenomy.schema import Call
from tokenomy.simulate import SimulationConfig, records, run

MEMORY_PROBE = """
import io, sys
from tokenomy.simulate import SimulationConfig, run

class Sink(io.RawIOBase):
    def writable(self): return True
    def write(self, b): return len(b)

run(SimulationConfig(calls=int(sys.argv[1]), days=30, seed=1), Sink(), Sink())
# VmHWM is this address space's peak (getrusage's maxrss would include the forking parent's).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmHWM"].split()[0]))
"""


def _timed_run(config: SimulationConfig, folder: Path, workers: int) -> tuple[float, int]:
    out, truth = folder / f"calls-{workers}.jsonl", folder / f"calls-{workers}.truth.jsonl"
    began = time.perf_counter()
    with out.open("wb") as sink, truth.open("wb") as truth_sink:
        run(config, sink, truth_sink, workers=workers)
    seconds = time.perf_counter() - began
    size = out.stat().st_size
    out.unlink()
    truth.unlink()
    return seconds, size


def _reference(config: SimulationConfig, limit: int) -> tuple[float, float, int]:
    """Seconds for the reference path and for json.dumps alone, over ``limit`` calls."""
    began = time.perf_counter()
    objects = []
    for record in islice((r for r in records(config) if isinstance(r, Call)), limit):
        objects.append(native.call_to_native(record))
    sink = io.StringIO()
    for obj in objects:
        sink.write(json.dumps(obj, separators=(",", ":")) + "\n")
    reference = time.perf_counter() - began
    began = time.perf_counter()
    sink = io.StringIO()
    for obj in objects:
        sink.write(json.dumps(obj, separators=(",", ":")) + "\n")
    return reference, time.perf_counter() - began, len(objects)


def _peak_kib(calls: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(calls)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    """Run the benchmark and print its figures and ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench simulate")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--slice", type=int, default=30_000, help="calls for the reference and json.dumps")
    args = parser.parse_args(argv)
    config = SimulationConfig(calls=args.calls, days=args.days, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        one, size = _timed_run(config, Path(folder), workers=1)
        two, _ = _timed_run(config, Path(folder), workers=2)
    reference, dumps_only, n = _reference(SimulationConfig(calls=args.slice, days=2, seed=1), args.slice)
    fast, fast2 = args.calls / one, args.calls / two
    print(f"simulate {args.calls:,} calls over {args.days} days ({size / args.calls:,.0f} bytes/call)")
    print(f"  fast writer, 1 process     {fast:12,.0f} calls/s  ({size / one / 1e6:,.0f} MB/s)")
    print(f"  fast writer, 2 workers     {fast2:12,.0f} calls/s  x{fast2 / fast:.2f} vs 1 process")
    print(f"  reference (records+native) {n / reference:12,.0f} calls/s  fast is x{fast * reference / n:.1f}")
    print(
        f"  json.dumps of built dicts  {n / dumps_only:12,.0f} calls/s  fast is x{fast * dumps_only / n:.1f}"
    )
    small, large = args.calls // 4, args.calls
    peak_small, peak_large = _peak_kib(small), _peak_kib(large)
    print(
        f"  peak memory {small:,} calls {peak_small / 1024:,.0f} MiB, "
        f"{large:,} calls {peak_large / 1024:,.0f} MiB  (x{peak_large / peak_small:.2f} for 4x the calls)"
    )
    target = "meets" if max(fast, fast2) >= 100_000 else "misses"
    print(f"  best rate {max(fast, fast2):,.0f} calls/s {target} the 100,000 calls/s aim")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
