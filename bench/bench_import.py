"""Native JSONL import next to DuckDB's own ``read_json`` of the same file, in one run.

Side by side, on one simulated file (``tokenomy.simulate``: calls and charges):

* the reference: DuckDB reads the file with ``read_json`` into a table of a fresh database file
  (the same kind of destination as the store), given the native schema's natural types
  (:data:`TYPED`: strings as VARCHAR, counts as BIGINT, times as TIMESTAMP, usage and
  attribution as structs...), with none of tokenomy's checks. Auto-detection cannot be the
  reference: its sample misses the keys of the charge lines, and a full-file sample reads the
  file twice;
* tokenomy: ``import_native_jsonl`` into a fresh store (typed staging with every value checked,
  pricing in SQL, idempotent insert);
* for scale, the Python path (one ``call_from_native`` per line) on a slice of the same file.

Each side runs ``--rounds`` times, alternating, and the fastest round of each counts (the machine
is shared). Targets (DESIGN section 11): at least 200k calls/s, and at least 0.5x the reference.

Usage: ``python -m bench import`` (1,000,000 calls), or
``python -m bench.bench_import --calls N --rounds R``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import duckdb

from tokenomy.pricing import Pricer
from tokenomy.simulate import SimulationConfig, run
from tokenomy.store import open_store
from tokenomy.store.duckdb_import import import_line_by_line

_S, _I, _F, _B = "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN"
TYPED = {
    "type": _S,
    "id": _S,
    "started_at": "TIMESTAMP",
    "ended_at": "TIMESTAMP",
    **dict.fromkeys(
        (
            "trace_id",
            "span_id",
            "parent_span_id",
            "session_id",
            "provider",
            "request_model",
            "response_model",
        ),
        _S,
    ),
    **dict.fromkeys(
        ("api", "service_tier", "error_type", "finish_reason", "source", "operation", "status"), _S
    ),
    **dict.fromkeys(("step", "context_window", "max_output_tokens", "n_messages", "system_tokens"), _I),
    **dict.fromkeys(("tool_def_tokens", "user_tokens", "history_tokens", "http_status", "filler_tokens"), _I),
    "latency_ms": _F,
    "ttft_ms": _F,
    "streamed": _B,
    "batch": _B,
    "usage": "STRUCT(input_uncached BIGINT, cache_read BIGINT, cache_write_5m BIGINT, cache_write_1h BIGINT, "
    "output_visible BIGINT, reasoning BIGINT, input_total BIGINT, output_total BIGINT, "
    "server_tools MAP(VARCHAR, BIGINT), kind VARCHAR, quality VARCHAR[])",
    "prefix_hashes": "VARCHAR[]",
    "tool_uses": "STRUCT(name VARCHAR, args_hash VARCHAR, server BOOLEAN)[]",
    "attribution": 'STRUCT("user" VARCHAR, team VARCHAR, project VARCHAR, feature VARCHAR, intent VARCHAR, '
    "environment VARCHAR, agent VARCHAR, api_key_id VARCHAR, tags MAP(VARCHAR, VARCHAR))",
    "outcome": "STRUCT(success BOOLEAN, score DOUBLE, action VARCHAR)",
    "cost": "STRUCT(total VARCHAR, currency VARCHAR, source VARCHAR, price_date VARCHAR, estimated BOOLEAN, "
    "reason VARCHAR, parts MAP(VARCHAR, VARCHAR))",
    "provider_reported_cost": _S,
    "content": "STRUCT(prompt VARCHAR, completion VARCHAR)",
    **dict.fromkeys(("amount", "kind", "at", "currency", "unit", "description"), _S),
    "quantity": _F,
}
"""The native schema's natural DuckDB types, for the reference read."""

TARGET_RATE = 200_000
TARGET_RATIO = 0.5
PYTHON_SLICE = 20_000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def simulate(path: Path, calls: int, days: int) -> None:
    """Write ``calls`` simulated calls (and their charges) to ``path``."""
    with path.open("wb") as out, path.with_suffix(".truth.jsonl").open("wb") as truth:
        run(SimulationConfig(calls=calls, days=days, seed=11), out, truth)


def reference(path: Path, folder: Path, round_: int) -> tuple[float, float, int]:
    """DuckDB's read_json of ``path`` into a table: (seconds, cpu seconds, rows)."""
    db = folder / f"reference-{round_}.duckdb"
    con = duckdb.connect(str(db))
    began, cpu = time.perf_counter(), _cpu()
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in TYPED.items()) + "}"
    con.execute(
        f"CREATE TABLE ref AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns})",
        [str(path)],
    )
    seconds, cpu_seconds = time.perf_counter() - began, _cpu() - cpu
    row = con.execute("SELECT count(*) FROM ref").fetchone()
    con.close()
    db.unlink()
    return seconds, cpu_seconds, int(row[0]) if row else 0


def tokenomy_import(
    path: Path, folder: Path, round_: int, pricer: Pricer
) -> tuple[float, float, int, int, bool]:
    """tokenomy's import into a fresh store: (seconds, cpu seconds, calls, charges, fast path)."""
    db = folder / f"store-{round_}.duckdb"
    with open_store(db) as store:
        began, cpu = time.perf_counter(), _cpu()
        result = store.import_native_jsonl(path, pricer=pricer)
        seconds, cpu_seconds = time.perf_counter() - began, _cpu() - cpu
    db.unlink()
    return seconds, cpu_seconds, result.calls, result.charges, result.fast_path


def python_path(path: Path, folder: Path, pricer: Pricer) -> float:
    """Lines per second of the Python path on the first lines of ``path``."""
    part = folder / "slice.jsonl"
    with path.open("rb") as source, part.open("wb") as out:
        out.writelines(islice(source, PYTHON_SLICE))
    with open_store(folder / "python.duckdb") as store:
        began = time.perf_counter()
        import_line_by_line(store, part, pricer=pricer)
        return PYTHON_SLICE / (time.perf_counter() - began)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_import", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    pricer = Pricer()
    pricer.price_table([])  # load the catalog before timing
    with tempfile.TemporaryDirectory(prefix="tokenomy-bench-import-") as tmp:
        folder = Path(tmp)
        path = folder / "calls.jsonl"
        simulate(path, args.calls, args.days)
        size = path.stat().st_size
        refs, ours = [], []
        for round_ in range(args.rounds):
            refs.append(reference(path, folder, round_))
            ours.append(tokenomy_import(path, folder, round_, pricer))
        py_rate = python_path(path, folder, pricer)
    ref_s, ref_cpu, lines = min(refs)
    our_s, our_cpu, calls, charges, fast = min(ours)
    rate, ratio = calls / our_s, ref_s / our_s
    print(
        f"file: {calls:,} calls + {charges:,} charges, {size / 1e6:,.0f} MB ({size / lines:,.0f} bytes/line)"
    )
    print(
        f"duckdb read_json -> table : {ref_s:7.2f} s  cpu {ref_cpu:7.2f} s  {lines / ref_s:>10,.0f} lines/s"
    )
    lines_rate = (calls + charges) / our_s
    print(
        f"tokenomy import            : {our_s:7.2f} s  cpu {our_cpu:7.2f} s  {lines_rate:>10,.0f} lines/s",
        end="",
    )
    print(f"  {rate:,.0f} calls/s  (fast path: {fast})")
    print(f"python path (first {PYTHON_SLICE:,} lines): {py_rate:,.0f} lines/s")
    print(f"ratio (reference time / tokenomy time): wall {ratio:.2f}x, cpu {ref_cpu / our_cpu:.2f}x")
    met = rate >= TARGET_RATE and ratio >= TARGET_RATIO
    print(
        f"targets: >= {TARGET_RATE:,} calls/s {'met' if rate >= TARGET_RATE else 'MISSED'}; "
        f">= {TARGET_RATIO}x read_json {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
