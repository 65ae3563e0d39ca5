"""10M calls imported, reported and exported without exhausting memory; and the idempotency choice.

In one run:

* a child process simulates N calls (default 10,000,000) to a native JSONL file;
* this process imports it into a fresh store, runs the first report (totals by day, provider and
  model) twice and exports the calls as JSONL, printing each step's time and the process's peak
  resident memory (VmHWM) after each;
* the idempotency choice, measured side by side at ``--dedupe-rows`` rows: a table with a
  PRIMARY KEY (``INSERT ... ON CONFLICT DO NOTHING``) against a plain table with an anti-join
  on ``id``: the bulk load, then a batch of 1M rows of which half are already stored.

Usage: ``python -m bench scale`` (10M), or ``python -m bench.bench_scale --calls 1000000
--dedupe-rows 0`` for a quick run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from tokenomy.analysis import daily_totals
from tokenomy.pricing import Pricer
from tokenomy.store import open_store

REPORT_TARGET_SECONDS = 1.0
SIMULATE = """
import sys
from pathlib import Path
from tokenomy.simulate import SimulationConfig, run
path = Path(sys.argv[1])
with path.open("wb") as out, path.with_suffix(".truth.jsonl").open("wb") as truth:
    run(SimulationConfig(calls=int(sys.argv[2]), days=30, seed=5), out, truth, workers=2)
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def result_time(began: float) -> float:
    """Seconds since ``began``."""
    return time.perf_counter() - began


def _timed(label: str, func: object) -> object:
    began = time.perf_counter()
    value = func()  # type: ignore[operator]
    print(f"{label:<34} {time.perf_counter() - began:8.2f} s   peak RSS {peak_rss_mb():8,.0f} MB", flush=True)
    return value


def scale(calls: int, folder: Path, memory_limit: str) -> bool:
    """Simulate, import, report and export ``calls`` calls; True when the report met its target."""
    path = folder / "calls.jsonl"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", SIMULATE, str(path), str(calls)], check=True)
    seconds = time.perf_counter() - began
    print(f"simulated {calls:,} calls ({path.stat().st_size / 1e9:.1f} GB) in {seconds:.0f} s")
    pricer = Pricer()
    pricer.price_table([])  # load the catalog before timing
    began = time.perf_counter()
    with open_store(folder / "store.duckdb", memory_limit=memory_limit) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        print(f"{'import':<34} {result_time(began):8.2f} s   peak RSS {peak_rss_mb():8,.0f} MB")
        print(f"  stored {result.calls:,} calls, {result.charges:,} charges, fast path {result.fast_path}")
        path.unlink()
        _timed("report (first run)", lambda: daily_totals(store))
        began = time.perf_counter()
        report = daily_totals(store)
        seconds = time.perf_counter() - began
        label = f"report (second run, {len(report.rows)} rows)"
        print(f"{label:<34} {seconds:8.2f} s   peak RSS {peak_rss_mb():8,.0f} MB")
        _timed("export jsonl", lambda: store.export(folder / "export.jsonl"))
    print(f"report over {calls:,} calls: {seconds:.2f} s (target <= {REPORT_TARGET_SECONDS} s)")
    return seconds <= REPORT_TARGET_SECONDS


def dedupe(rows: int, folder: Path) -> None:
    """PRIMARY KEY against anti-join at ``rows`` rows, side by side."""
    ids = "'call-' || lpad(i::VARCHAR, 12, '0') || '-' || md5(i::VARCHAR)[:8]"
    load = f"SELECT {ids} AS id, i % 1000 AS a, i * 7 % 100000 AS b, 'openai' AS p FROM range({rows}) t(i)"
    batch = (
        f"SELECT {ids} AS id, i % 1000 AS a, i * 7 % 100000 AS b, 'openai' AS p "
        f"FROM range({rows - 500_000}, {rows + 500_000}) t(i)"
    )
    results = {}
    for mode, key, insert in (
        ("primary key", "PRIMARY KEY", f"INSERT INTO calls {batch} ON CONFLICT DO NOTHING"),
        ("anti-join", "", f"INSERT INTO calls SELECT s.* FROM ({batch}) s ANTI JOIN calls c ON s.id = c.id"),
    ):
        db = folder / f"dedupe-{mode.replace(' ', '-')}.duckdb"
        con = duckdb.connect(str(db))
        con.execute(f"CREATE TABLE calls (id VARCHAR {key}, a BIGINT, b BIGINT, p VARCHAR)")
        began = time.perf_counter()
        con.execute(f"INSERT INTO calls {load}")
        loaded = time.perf_counter() - began
        began = time.perf_counter()
        con.execute(insert)
        again = time.perf_counter() - began
        stored = con.execute("SELECT count(*) FROM calls").fetchone()
        con.close()
        results[mode] = (loaded, again, db.stat().st_size / 1e6, stored[0] if stored else 0)
        db.unlink()
    print(f"idempotency at {rows:,} rows (then 1M rows, half already stored):")
    for mode, (loaded, again, size, count) in results.items():
        print(f"  {mode:<12} bulk load {loaded:6.2f} s   1M batch {again:5.2f} s", end="")
        print(f"   file {size:6,.0f} MB   rows {count:,}")
    pk, anti = results["primary key"], results["anti-join"]
    print(f"  anti-join vs primary key: bulk load {pk[0] / anti[0]:.2f}x faster,", end="")
    print(f" batch {pk[1] / anti[1]:.2f}x faster,")
    print(f"  file {pk[2] / anti[2]:.1f}x smaller")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--dedupe-rows", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default="4GB", help="the store's DuckDB memory limit")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tokenomy-bench-scale-") as tmp:
        folder = Path(tmp)
        print(f"store memory limit: {args.memory_limit}")
        met = scale(args.calls, folder, args.memory_limit)
        if args.dedupe_rows:
            dedupe(args.dedupe_rows, folder)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
