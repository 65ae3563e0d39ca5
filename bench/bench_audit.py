"""Scores the waste detectors: precision and recall on the simulator, every finding on real traces.

Three parts, each printed as it runs:

1. **Simulator scoring.** For each seed, simulate a workload with injected waste and its ground truth
   (docs/simulate.md), import it into a fresh store, run the audit, and compare per category. An
   instance is a (category, session): a detected session is a true positive when the truth lists an
   instance of that category in that session. Recall is given over all truth instances and over the
   instances that wasted tokens (``wasted_tokens > 0``): retries after provider errors bill nothing
   and are, by design, not reported. Call level: the calls a finding names (any role) against the
   calls the truth lists. The simulator injects every category the audit has (``SCORED``); a
   detector category it did not inject would have no truth, and its findings would be listed for a
   person to judge. Target: precision >= 0.95 and recall >= 0.8 per injected category.
2. **Real traces.** The real agent trajectories (SWE-agent, OpenHands), recorded provider traffic
   (VCR cassettes, one session each), LiteLLM logs and the Langfuse OTLP cases are imported into a
   fresh store and audited; every finding is printed with its calls and reasons.
3. **Speed.** The audit over N calls (``--scale``), timed next to a full scan of the same calls
   table (one aggregate over every column the audit reads), measured in the same run, with the
   CPU time the audit used (on a shared machine, wall time also counts waiting for a core).

Usage: ``python -m bench audit`` (seeds 1, 2, 3 at 50,000 calls; real data; 1,000,000 calls), or
``python -m bench.bench_audit --calls N --seeds 4,5 --scale 0 --real PATH``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenomy.analysis.audit import AuditResult, run_audit
from tokenomy.analysis.cache_advisor import advise, route_name
from tokenomy.analysis.savings import build_plan, call_costs
from tokenomy.analysis.waste.registry import CATEGORIES
from tokenomy.importers import import_paths
from tokenomy.pricing import Pricer
from tokenomy.simulate import SimulationConfig, run
from tokenomy.simulate.options import CATEGORIES as SIMULATED
from tokenomy.store import DuckDBStore, open_store

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
PRECISION, RECALL = 0.95, 0.8
SCORED = frozenset(SIMULATED) & frozenset(CATEGORIES)
"""The detector categories the simulator injects, scored against its truth (all eleven)."""
HOSTS = {
    "api.anthropic.com": "anthropic",
    "api.openai.com": "openai",
    "generativelanguage.googleapis.com": "google",
    "api.groq.com": "groq",
}


@dataclass
class Score:
    """Counts for one category of one run."""

    truth: set[str] = field(default_factory=set)
    billed: set[str] = field(default_factory=set)
    found: set[str] = field(default_factory=set)
    truth_calls: set[str] = field(default_factory=set)
    found_calls: set[str] = field(default_factory=set)

    @staticmethod
    def ratio(a: int, b: int) -> float | None:
        return None if b == 0 else a / b

    def precision(self) -> float | None:
        return self.ratio(len(self.found & self.truth), len(self.found))

    def recall(self) -> float | None:
        return self.ratio(len(self.found & self.truth), len(self.truth))

    def recall_billed(self) -> float | None:
        return self.ratio(len(self.found & self.billed), len(self.billed))

    def call_precision(self) -> float | None:
        return self.ratio(len(self.found_calls & self.truth_calls), len(self.found_calls))

    def call_recall(self) -> float | None:
        return self.ratio(len(self.found_calls & self.truth_calls), len(self.truth_calls))

    def add(self, other: Score) -> None:
        for name in ("truth", "billed", "found", "truth_calls", "found_calls"):
            getattr(self, name).update(getattr(other, name))


def score(result: AuditResult, truth_path: Path) -> dict[str, Score]:
    """Per category: the truth's instances and calls against the audit's hits."""
    scores: dict[str, Score] = defaultdict(Score)
    for line in truth_path.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") != "waste":
            continue
        s = scores[entry["category"]]
        s.truth.add(entry["session_id"])
        s.truth_calls.update(entry["call_ids"])
        if entry["wasted_tokens"] > 0:
            s.billed.add(entry["session_id"])
    for hit in result.hits:
        s = scores[hit.category]
        s.found.add(hit.session_id)
        s.found_calls.update(c.call_id for c in hit.calls)
    return scores


def _fmt(value: float | None) -> str:
    return "   —" if value is None else f"{value:.3f}"


def print_scores(title: str, scores: dict[str, Score], injected: set[str]) -> bool:
    """Print one table of scores; True when every injected category meets the targets."""
    print(f"\n{title}")
    head = "category                  truth  found  precision  recall  recall(billed)  calls P  calls R"
    print(head)
    ok = True
    for category in CATEGORIES:
        s = scores.get(category, Score())
        mark = ""
        if category in injected:
            p, r = s.precision(), s.recall_billed()
            good = (p is None or p >= PRECISION) and (r is None or r >= RECALL)
            ok = ok and good
            mark = "" if good else "  << below target"
        else:
            mark = "  (not injected: findings listed for review)" if s.found else "  (not injected)"
        values = (s.precision(), s.recall(), s.recall_billed(), s.call_precision(), s.call_recall())
        cells = [_fmt(v if category in injected else None) for v in values]
        print(
            f"{category:24s} {len(s.truth):6d} {len(s.found):6d}     {cells[0]}   {cells[1]}"
            f"           {cells[2]}    {cells[3]}    {cells[4]}{mark}"
        )
    return ok


def simulate_into(store_path: Path, out: Path, calls: int, days: int, seed: int) -> Path:
    """Simulate a workload, import it into a new store; returns the truth file."""
    config = SimulationConfig(calls=calls, days=days, seed=seed)
    data, truth = out / f"sim-{seed}.jsonl", out / f"sim-{seed}.truth.jsonl"
    with data.open("wb") as handle, truth.open("wb") as truth_handle:
        run(config, handle, truth_handle, workers=2 if calls >= 200_000 else 1)
    with open_store(store_path) as store:
        import_paths([data], store=store, pricer=Pricer())
    return truth


def part_simulator(calls: int, days: int, seeds: Iterable[int], tmp: Path) -> bool:
    """Score every seed, then all seeds together."""
    total: dict[str, Score] = defaultdict(Score)
    injected: set[str] = set(SCORED)
    ok = True
    for seed in seeds:
        db = tmp / f"sim-{seed}.duckdb"
        truth = simulate_into(db, tmp, calls, days, seed)
        with open_store(db, read_only=True) as store:
            started = time.perf_counter()
            result = run_audit(store)
            seconds = time.perf_counter() - started
        scores = score(result, truth)
        title = f"seed {seed}: {calls:,} calls, {result.period.sessions:,} sessions, audit {seconds:.1f} s"
        ok = print_scores(title, scores, injected) and ok
        for category, s in scores.items():
            total[category].add(s)
        _print_unscored(result, injected)
    ok = print_scores(f"all seeds ({', '.join(map(str, seeds))})", total, injected) and ok
    verdict = "met" if ok else "NOT met"
    print(f"\ntargets (precision >= {PRECISION}, recall over billed instances >= {RECALL}): {verdict}")
    return ok


def _print_unscored(result: AuditResult, injected: set[str]) -> None:
    for finding in result.findings:
        if finding.category in injected:
            continue
        example = finding.evidence["examples"][:1]
        print(f"  unscored {finding.category}: {finding.title} (${finding.wasted_cost}); e.g. {example}")


def _cassette_pairs(path: Path) -> Iterator[dict[str, Any]]:
    """A VCR cassette's exchanges as request/response pairs of one session (its file name)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in data.get("interactions") or []:
        request, response = item.get("request") or {}, item.get("response") or {}
        body, answer = request.get("parsed_body"), response.get("parsed_body")
        if not isinstance(body, dict) or not isinstance(answer, dict):
            continue
        host = str(request.get("uri", "")).split("/")[2] if "://" in str(request.get("uri", "")) else ""
        date = (response.get("headers") or {}).get("date") or [None]
        pair: dict[str, Any] = {"request": body, "response": answer, "session_id": f"cassette:{path.stem}"}
        if HOSTS.get(host):
            pair["provider"] = HOSTS[host]
        if date[0]:
            pair["timestamp"] = date[0]
        yield pair


def _langfuse_cases(path: Path, out: Path) -> list[Path]:
    """Each case of the Langfuse mapping file as one OTLP JSON export."""
    files = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        case = json.loads(line)
        spans: list[Any] = []
        for obj in case.get("objects") or []:
            value = obj.get("resourceSpan")
            spans += value if isinstance(value, list) else [value]
        target = out / f"langfuse-case-{number}.json"
        target.write_text(json.dumps({"resourceSpans": spans}), encoding="utf-8")
        files.append(target)
    return files


def import_real(store: DuckDBStore, real: Path, tmp: Path) -> None:
    """Import every real trace the audit can read (see the module docstring)."""
    pricer = Pricer()
    plain = [real / "trajectories", real / "litellm-logging", real / "provider-responses" / "openai-python"]
    plain += [
        p for p in (real / "provider-responses").iterdir() if p.is_dir() and p.name != "pydantic-ai-cassettes"
    ]
    import_paths([p for p in dict.fromkeys(plain) if p.exists()], store=store, pricer=pricer)
    pairs = tmp / "cassettes.jsonl"
    with pairs.open("w", encoding="utf-8") as handle:
        for cassette in sorted((real / "provider-responses" / "pydantic-ai-cassettes").glob("*.yaml")):
            for pair in _cassette_pairs(cassette):
                handle.write(json.dumps(pair) + "\n")
    import_paths([pairs], store=store, pricer=pricer, fmt="provider")
    cases = _langfuse_cases(real / "langfuse" / "otel-mapping-test-spans.jsonl", tmp)
    import_paths(cases, store=store, pricer=pricer, fmt="otlp")


def part_real(real: Path, tmp: Path) -> None:
    """Audit the real traces and print every finding, every call of it, and the cache advice."""
    if not real.exists():
        print(f"\nreal data not found at {real}: skipped")
        return
    db = tmp / "real.duckdb"
    with open_store(db) as store:
        import_real(store, real, tmp)
        result = run_audit(store)
        advice = advise(store)
        plan = build_plan(
            result.findings, call_costs(store, [c.call_id for f in result.findings for c in f.calls])
        )
    period = result.period
    found = len(result.findings)
    print(f"\nreal traces: {period.calls:,} calls in {period.sessions:,} sessions; {found} finding(s)")
    for finding in result.findings:
        print(f"\n  [{finding.severity.value}] {finding.title}")
        print(f"    wasted {finding.wasted_tokens:,} tokens, ${finding.wasted_cost}; fix: {finding.fix}")
        for hit in (
            h for h in result.hits if h.category == finding.category and h.route.as_dict() == finding.scope
        ):
            print(f"    session {hit.session_id}: {hit.note}")
            for call in hit.calls:
                role, cost = call.role.value, "—" if call.cost is None else f"${call.cost}"
                print(f"      {role:8s} {call.call_id}: {call.tokens:,} tokens, {cost}; {call.note}")
    print(f"\n  savings plan total ${plan.total} (standalone ${plan.standalone})")
    for route in advice.routes:
        if route.misses or route.hit_ratio:
            misses = ", ".join(f"{m.reason} {m.calls}" for m in route.misses) or "none"
            print(
                f"  cache: {route_name(route.route)}: {route.calls} calls, prefix {route.prefix_tokens}, "
                f"hit ratio {route.hit_ratio}, misses {misses}; {route.advice}"
            )
    repeats = result.evidence.get("retry_loop", {}).get("independent_repeats", 0)
    print(f"  identical requests with no rejected answer (independent repeats, not loops): {repeats}")
    for note in result.notes:
        print(f"  note: {note}")


def part_speed(calls: int, tmp: Path) -> None:
    """The audit over ``calls`` calls, next to one scan of the columns it reads, in the same run."""
    db = tmp / "scale.duckdb"
    simulate_into(db, tmp, calls, 30, 11)
    with open_store(db, read_only=True) as store:
        started = time.perf_counter()
        store.query(
            "SELECT count(*), sum(input_total), sum(output_total), sum(cost_total), "
            "count(DISTINCT session_id), sum(len(prefix_hashes)), sum(len(tool_uses)), "
            "max(started_at) FROM calls"
        )
        scan = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        result = run_audit(store)
        audit, audit_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        advise(store)
        advisor = time.perf_counter() - started
        started = time.perf_counter()
        build_plan(result.findings, call_costs(store, [c.call_id for f in result.findings for c in f.calls]))
        planning = time.perf_counter() - started
    print(f"\nspeed over {calls:,} calls ({len(result.hits):,} hits, {len(result.findings)} findings):")
    print(f"  one scan of the calls table   {scan:7.2f} s")
    rate = f"{calls / audit:,.0f} calls/s"
    print(f"  audit (11 detectors)          {audit:7.2f} s  = {audit / scan:6.1f}x the scan, {rate}")
    print(
        f"  audit CPU time (all threads)  {audit_cpu:7.2f} s  (wall time above includes waiting for a core)"
    )
    print(f"  cache advisor                 {advisor:7.2f} s  = {advisor / scan:6.1f}x the scan")
    print(f"  savings plan                  {planning:7.2f} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000, help="calls per simulated seed")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--real", type=Path, default=REAL, help="the real-data folder")
    parser.add_argument("--scale", type=int, default=1_000_000, help="calls for the speed part (0: skip)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="tokenomy-bench-audit-") as folder:
        tmp = Path(folder)
        ok = part_simulator(args.calls, args.days, seeds, tmp) if seeds else True
        part_real(args.real, tmp)
        if args.scale:
            part_speed(args.scale, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
