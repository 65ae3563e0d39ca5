"""``tokenomy report --by team,model`` over many stored calls, against the same work written by hand.

The store (default 10,000,000 simulated calls, seed 5, 30 days) is built once with the simulator
and the native import and cached under ``bench/out/`` (git-ignored); later runs reuse it. Then,
side by side in one run, interleaved, each measured ``--repeat`` times (best and median kept):

* ``hand table`` and ``table``: the spend table alone, by hand (calls per (team, model) and
  charges per team) and with :func:`tokenomy.analysis.attribution.attribute`;
* ``hand``: what the report computes, written by hand in DuckDB SQL: calls per (team, model)
  with tokens per bucket, cost, unpriced calls, calls without token totals and calls with
  estimated figures; charges per team; the sessions with no priced call or charge, which the cost
  per session leaves out;
  over the calls, the sums behind the cache-hit ratio and token efficiency and the session calls'
  cost; over the charges, the session charges' cost; and the distinct sessions (the KPI tiles),
  counted from the store's ``session_days`` rollup as the report counts them (the rows of one-day
  sessions, plus the distinct ids of the few sessions seen on several days);
* ``hand calls``: the same with the distinct sessions counted over the calls and charges
  themselves (what the report did before the rollup, and what a query that does not know the
  rollup costs);
* ``library``: :func:`tokenomy.analysis.attribution.attribute` for ``by=("team", "model")``,
  split by the KPIs' facets as the report does, then :func:`tokenomy.analysis.kpis.figures` and
  :func:`~tokenomy.analysis.kpis.kpis`;
* ``cli``: ``tokenomy report --by team,model --format json`` run in-process (opening the store,
  the analyses above and the JSON rendering).

Usage: ``python -m bench report`` (10M), or ``python -m bench.bench_report --calls 1000000``.
Targets: the CLI within 1 s and within 1.2x of the hand-written SQL.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"
TARGET_SECONDS = 1.0
TARGET_RATIO = 1.2
SIMULATE = """
import sys
from pathlib import Path
from tokenomy.simulate import SimulationConfig, run
path = Path(sys.argv[1])
with path.open("wb") as out, path.with_suffix(".truth.jsonl").open("wb") as truth:
    run(SimulationConfig(calls=int(sys.argv[2]), days=30, seed=int(sys.argv[3])), out, truth, workers=2)
"""
_MODEL = "coalesce(nullif(response_model, ''), request_model)"
_KNOWN_CACHE = "cache_read IS NOT NULL AND input_total IS NOT NULL"
_KNOWN_EFF = "input_total IS NOT NULL AND output_total IS NOT NULL AND output_visible IS NOT NULL"
HAND_CALLS = f"""
SELECT team, {_MODEL} AS model, count(*) AS calls,
       sum(input_uncached)::BIGINT, sum(cache_read)::BIGINT, sum(cache_write_5m)::BIGINT,
       sum(cache_write_1h)::BIGINT, sum(output_visible)::BIGINT, sum(reasoning)::BIGINT,
       sum(input_total)::BIGINT, sum(output_total)::BIGINT, sum(cost_total) AS cost,
       count(*) FILTER (WHERE cost_total IS NULL) AS unpriced,
       count(*) FILTER (WHERE input_total IS NULL OR output_total IS NULL) AS untotalled,
       count(*) FILTER (WHERE cost_estimated OR usage_kind <> 'reported') AS estimated
FROM calls GROUP BY ALL
"""
HAND_CHARGES = "SELECT team, count(*) AS charges, sum(amount) AS cost FROM charges GROUP BY ALL"
HAND_KPIS = f"""
SELECT count(*) FILTER (WHERE {_KNOWN_CACHE}), sum(cache_read) FILTER (WHERE {_KNOWN_CACHE})::BIGINT,
       sum(input_total) FILTER (WHERE {_KNOWN_CACHE})::BIGINT, count(*) FILTER (WHERE {_KNOWN_EFF}),
       sum(output_visible - coalesce(filler_tokens, 0))
           FILTER (WHERE {_KNOWN_EFF} AND status = 'ok' AND coalesce(success, TRUE))::BIGINT,
       sum(input_total + output_total) FILTER (WHERE {_KNOWN_EFF})::BIGINT,
       count(*) FILTER (WHERE session_id IS NOT NULL),
       count(*) FILTER (WHERE session_id IS NOT NULL AND cost_total IS NOT NULL),
       sum(cost_total) FILTER (WHERE session_id IS NOT NULL)
FROM calls
"""
HAND_SESSION_CHARGES = (
    "SELECT count(*) FILTER (WHERE session_id IS NOT NULL), sum(amount) FILTER (WHERE session_id IS NOT NULL)"
    " FROM charges"
)
HAND_SESSIONS = (
    "SELECT count(DISTINCT session_id) FROM "
    "(SELECT session_id FROM calls UNION ALL SELECT session_id FROM charges)"
)
HAND_UNPRICED_SESSIONS = """
WITH u AS MATERIALIZED (
    SELECT DISTINCT session_id FROM calls WHERE cost_total IS NULL AND session_id IS NOT NULL)
SELECT (SELECT count(*) FROM u) - (SELECT count(DISTINCT session_id) FROM (
    SELECT c.session_id FROM calls c SEMI JOIN u USING (session_id) WHERE c.cost_total IS NOT NULL
    UNION ALL SELECT g.session_id FROM charges g SEMI JOIN u USING (session_id)))
"""
"""The sessions with no priced call and no charge (left out of the cost per session): those of the
unpriced calls that no priced call or charge shares, the fastest way found to write it by hand."""
HAND_ROLLUP_SESSIONS = (
    "SELECT (SELECT sum(weight) FROM session_days WHERE NOT multi)"
    " + (SELECT count(DISTINCT session_id) FROM session_days WHERE multi)"
)


HAND_REPORT = (HAND_CALLS, HAND_CHARGES, HAND_KPIS, HAND_SESSION_CHARGES, HAND_UNPRICED_SESSIONS)
"""What the report computes but its distinct sessions, by hand."""


def build_store(calls: int, seed: int, memory_limit: str) -> Path:
    """The cached store of ``calls`` simulated calls, built (simulate + import) when missing."""
    from tokenomy.pricing import Pricer
    from tokenomy.store import open_store

    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"report-{calls}-seed{seed}.duckdb"
    if not db.exists():
        jsonl = OUT / f"report-{calls}-seed{seed}.jsonl"
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", SIMULATE, str(jsonl), str(calls), str(seed)], check=True)
        print(f"simulated {calls:,} calls in {time.perf_counter() - began:.0f} s", flush=True)
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        began = time.perf_counter()
        with open_store(partial, memory_limit=memory_limit) as store:
            result = store.import_native_jsonl(jsonl, pricer=Pricer())
        print(f"imported {result.calls:,} calls in {time.perf_counter() - began:.0f} s", flush=True)
        jsonl.unlink()
        jsonl.with_suffix(".truth.jsonl").unlink(missing_ok=True)
        partial.rename(db)
    open_store(db).close()  # apply any newer migration once, outside the timings
    return db


def _hand(db: Path, *queries: str) -> Callable[[], Any]:
    from tokenomy.store import open_store

    def run() -> Any:
        with open_store(db, read_only=True) as store:
            con = store.connection
            return [con.execute(sql).fetchall() for sql in queries]

    return run


def _table(db: Path) -> Callable[[], Any]:
    from tokenomy.analysis.attribution import attribute
    from tokenomy.analysis.grouped import Selection
    from tokenomy.store import open_store

    def run() -> Any:
        with open_store(db, read_only=True) as store:
            return attribute(store, Selection.of(by=("team", "model")))

    return run


def _library(db: Path) -> Callable[[], Any]:
    from tokenomy.analysis.attribution import attribute
    from tokenomy.analysis.grouped import Selection
    from tokenomy.analysis.kpis import KPI_FACETS, figures, kpis
    from tokenomy.analysis.sources import detect
    from tokenomy.store import open_store

    def run() -> Any:
        with open_store(db, read_only=True) as store:
            sources = detect(store)
            selection = Selection.of(by=("team", "model"))
            table = attribute(store, selection, sources=sources, facets=KPI_FACETS)
            return table, kpis(figures(store, selection.scope, table=table, sources=sources))

    return run


def _cli(db: Path) -> Callable[[], Any]:
    from click.testing import CliRunner

    from tokenomy.cli.main import cli

    def run() -> Any:
        result = CliRunner().invoke(
            cli, ["report", "--db", str(db), "--by", "team,model", "--format", "json"]
        )
        if result.exit_code != 0:
            raise RuntimeError(result.output)
        return result.output

    return run


def measure(db: Path, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds per run of each variant, interleaved so that noise hits them alike.

    CPU time is the process's (every DuckDB thread included): on a machine shared with other
    work it moves much less than wall time, so the ratio is printed for both.
    """
    variants = {
        "hand table": _hand(db, HAND_CALLS, HAND_CHARGES),
        "table": _table(db),
        "hand": _hand(db, *HAND_REPORT, HAND_ROLLUP_SESSIONS),
        "hand calls": _hand(db, *HAND_REPORT, HAND_SESSIONS),
        "library": _library(db),
        "cli": _cli(db),
    }
    for run in variants.values():  # warm the file cache and the imports
        run()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def main(argv: list[str]) -> int:
    """Build (or reuse) the store, measure the three variants, print times and ratios.

    Returns:
        0 when the CLI met both targets, 1 otherwise.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.bench_report", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit while importing")
    args = parser.parse_args(argv)
    db = build_store(args.calls, args.seed, args.memory_limit)
    print(f"store: {db.name} ({db.stat().st_size / 1e6:,.0f} MB), {args.repeat} interleaved runs each")
    counts = [_hand(db, sql)()[0][0][0] for sql in (HAND_ROLLUP_SESSIONS, HAND_SESSIONS)]
    print(f"distinct sessions: {counts[0]:,} from the rollup, {counts[1]:,} over the calls and charges")
    if counts[0] != counts[1]:
        print("the rollup's count differs from the calls': the comparison below would be unfair")
        return 1
    times = measure(db, args.repeat)
    best = {name: {k: min(v) for k, v in t.items()} for name, t in times.items()}
    median = {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}
    for name in times:
        base = "hand table" if name in ("hand table", "table") else "hand"
        if name == "hand calls":
            base = "hand calls"
        b, m = best[name], median[name]
        print(
            f"{name:<10} wall best {b['wall']:6.3f} s  median {m['wall']:6.3f} s  "
            f"({b['wall'] / best[base]['wall']:4.2f}x / {m['wall'] / median[base]['wall']:4.2f}x {base})   "
            f"cpu best {b['cpu']:6.3f} s ({b['cpu'] / best[base]['cpu']:4.2f}x)"
        )
    checks = {
        "table (attribution alone)": (
            best["table"]["wall"],
            best["table"]["wall"] / best["hand table"]["wall"],
        ),
        "cli (table, KPI tiles, JSON)": (best["cli"]["wall"], best["cli"]["wall"] / best["hand"]["wall"]),
    }
    ok = True
    for label, (wall, ratio) in checks.items():
        met = wall <= TARGET_SECONDS and ratio <= TARGET_RATIO
        ok = ok and met
        print(
            f"{label}: {wall:.3f} s, {ratio:.2f}x hand: target <= {TARGET_SECONDS} s and <= {TARGET_RATIO}x "
            f"{'met' if met else 'NOT met'}"
        )
    print(
        f"for scale: cli / hand calls (sessions counted over the calls) "
        f"{best['cli']['wall'] / best['hand calls']['wall']:.2f}x wall best"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
