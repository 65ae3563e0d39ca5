"""How fast the collector ingests GenAI spans over OTLP/HTTP, beside its transport and its stages alone.

All on the same pre-built requests (protobuf ``ExportTraceServiceRequest`` of ``--spans`` GenAI
spans each, every span a model call with the current semantic conventions' attributes, unique
response ids so nothing is a duplicate), measured side by side in one run:

1. **collector**: ``tokenomy serve`` in its own process, fresh store; ``--senders`` keep-alive
   connections in this process post the requests; the clock stops when the last one is
   acknowledged (an acknowledgement means stored, or spooled: the run then checks that the
   spool is empty and the store holds every call, so the figure is spans acknowledged *and stored*).
   The server's CPU time (Linux ``/proc``) is reported per span, split by thread: the event loop
   (HTTP, decoding, mapping), the writer (pricing, the store's statements) and the store's own
   worker threads; then the CPU the server takes to stop (its store's final checkpoint of what
   the run wrote; the whole process's CPU is read when it exits), and how many requests each
   store transaction held;
2. **transport**: the same HTTP server stack (uvicorn, httptools, uvloop) with an ASGI app that
   reads each body and answers 200: the ceiling the HTTP layer alone allows here;
3. **stages**, in this process, CPU time per span (the best of ``--rounds``): the quick path
   (read as columns and mapped), the importer's decoder and mapping it replaces, pricing as
   columns, and the store's insert of the same calls priced (``write_priced_events``) and
   unpriced (``write_events``, which prices them in SQL), in transactions of ``--senders``
   requests, as the writer groups them; the priced insert with DuckDB limited to one thread (as
   the collector opens its store) and with DuckDB's default threads (one per core); and every
   request's calls into one store with DuckDB checkpointing past 16 MiB of write-ahead log (its
   default) and past 128 MiB (the collector's), the final checkpoint counted;
4. **known ids**, in this process, CPU ms per transaction: finding which of a transaction's
   call ids are already stored, in a store holding ``--stored`` calls, as the collector does it
   (probing the stored ids with the transaction's) beside hashing every stored id (the anti
   join it replaced, whose cost grows with the store).

Run: ``python -m bench ingest`` (``--requests N --spans N --senders N --rounds N --stored N``
when called directly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.events import EventBatch

ROOT: Final = Path(__file__).resolve().parents[1]
BARE_APP: Final = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            access_log=False, log_level="warning", lifespan="off")
"""


def build_requests(count: int, spans: int, seed: int = 1) -> list[bytes]:
    """``count`` serialized requests of ``spans`` GenAI spans each, with realistic attributes."""
    rng = random.Random(seed)
    models = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5")]
    out = []
    base_ns = 1_780_000_000_000_000_000
    for r in range(count):
        request = trace_service_pb2.ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        attr = resource_spans.resource.attributes.add(key="service.name")
        attr.value.string_value = "agent-service"
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "opentelemetry.instrumentation.openai"
        for i in range(spans):
            provider, model = models[rng.randrange(len(models))]
            span = scope.spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.parent_span_id = rng.randbytes(8)
            span.name = f"chat {model}"
            span.kind = 3  # type: ignore[assignment]
            span.start_time_unix_nano = base_ns + (r * spans + i) * 1_000_000
            span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(200, 9000) * 1_000_000
            input_tokens = rng.randint(200, 30_000)
            output_tokens = rng.randint(10, 1500)
            values: dict[str, str | int | float] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.response.id": f"resp-{seed}-{r}-{i}",
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.usage.cache_read.input_tokens": rng.randint(0, input_tokens // 2),
                "gen_ai.usage.cache_creation.input_tokens": 0,
                "gen_ai.usage.reasoning.output_tokens": 0,
                "gen_ai.request.max_tokens": 4096,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.conversation.id": f"conv-{r}-{i // 16}",
                "server.address": "api.example.test",
            }
            for key, value in values.items():
                kv = span.attributes.add(key=key)
                if isinstance(value, str):
                    kv.value.string_value = value
                elif isinstance(value, int):
                    kv.value.int_value = value
                else:
                    kv.value.double_value = value
            reasons = span.attributes.add(key="gen_ai.response.finish_reasons")
            reasons.value.array_value.values.add().string_value = "stop"
        out.append(request.SerializeToString())
    return out


async def _post_all(port: int, bodies: list[bytes], senders: int, path: str = "/v1/traces") -> float:
    """Post every body over ``senders`` keep-alive connections; seconds until the last 200."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                head = (
                    f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-protobuf\r\n"
                    f"content-length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if b" 200 " not in status_line:
                    raise RuntimeError(f"the server answered {status_line!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - start


def _wait_for_line(process: subprocess.Popen[str], marker: str, timeout: float = 120.0) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if marker in line:
            return line
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"the server did not start: {process.stderr.read()}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> dict[str, object]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())  # type: ignore[no-any-return]
    finally:
        conn.close()


def _thread_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of a process, by thread id (Linux ``/proc``; else empty)."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for task in Path(f"/proc/{pid}/task").glob("*") if Path(f"/proc/{pid}/task").exists() else ():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


@dataclass(frozen=True, slots=True)
class CollectorRun:
    """What one run of the collector measured."""

    spans_per_second: float
    loop_us: float
    """Server CPU per span on the event loop's thread (HTTP, reading and mapping spans)."""
    other_us: float
    """Server CPU per span on every other thread (the writer: pricing, the store and its workers)."""
    per_transaction: float
    """Requests per store transaction, on average."""
    shutdown_us: float
    """Server CPU per span spent stopping (the store's final checkpoint of what the run wrote)."""


def _serve(tmp: str) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, "-m", "tokenomy.cli.main", "serve", "--db", f"{tmp}/b.duckdb", "--port", "0"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = _wait_for_line(server, "listening on http://127.0.0.1:")
    return server, int(line.split("127.0.0.1:")[1].split()[0])


def run_collector(bodies: list[bytes], senders: int, spans: int) -> CollectorRun:
    """Spans per second acknowledged by ``tokenomy serve`` (checked to be all in the store), and the
    server's CPU per span, on its event loop and on its other threads."""
    with tempfile.TemporaryDirectory(prefix="tokenomy-bench-ingest-") as tmp:
        server, port = _serve(tmp)
        try:
            asyncio.run(_post_all(port, bodies[:2], 1))  # warm up: pricing catalog, first transaction
            before = _thread_seconds(server.pid)
            seconds = asyncio.run(_post_all(port, bodies[2:], senders))
            after = _thread_seconds(server.pid)
            health = _get(port, "/api/v1/health")
            report = _get(port, "/api/v1/report")
            running = _process_seconds(server.pid)
        finally:
            server.terminate()
            total = _wait_seconds(server)
    stored = report["total"]["calls"]  # type: ignore[index]
    expected = len(bodies) * spans
    if stored != expected or health["spool"] != {"segments": 0, "bytes": 0}:
        raise RuntimeError(f"stored {stored} calls of {expected}; spool {health['spool']}")
    sent = (len(bodies) - 2) * spans
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop = used.pop(server.pid, 0.0)
    written = health["written"]
    per_transaction = written["stored"] / max(written["transactions"], 1)  # type: ignore[index]
    shutdown = (total - running) / sent * 1e6
    return CollectorRun(
        sent / seconds, loop / sent * 1e6, sum(used.values()) / sent * 1e6, per_transaction, shutdown
    )


def _process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, ended threads included (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (int(fields[11]) + int(fields[12])) / tick


def _wait_seconds(process: subprocess.Popen[str]) -> float:
    """Wait for a process to end; the CPU seconds it used in all (nan where ``wait4`` is missing)."""
    if not hasattr(os, "wait4"):
        process.wait(timeout=60)
        return float("nan")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


def run_transport(bodies: list[bytes], senders: int, spans: int) -> float:
    """Spans per second through a bare ASGI app on the same HTTP stack (reads the body, answers 200)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                asyncio.run(_post_all(port, bodies[:2], 1, path="/"))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        seconds = asyncio.run(_post_all(port, bodies[2:], senders, path="/"))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return (len(bodies) - 2) * spans / seconds


def _best(rounds: int, work: Callable[[], int]) -> float:
    """The least CPU time per item of ``rounds`` runs of ``work`` (which returns how many items it did)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        items = work()
        best = min(best, (time.process_time() - start) / items)
    return best * 1e6


def run_stages(bodies: list[bytes], senders: int, rounds: int) -> tuple[dict[str, float], pa.Table]:
    """CPU µs per span of each stage of the collector, run alone in this process (best of ``rounds``),
    and the calls of one transaction, priced."""
    from tokenomy.importers import ImportOptions, calls_from_spans, decode_protobuf
    from tokenomy.pricing import Pricer
    from tokenomy.server.call_costs import ColumnPricer
    from tokenomy.server.otlp_ingest import read_traces

    sample = bodies[: max(2 * senders, 8)]
    spans = sum(read_traces(body, "protobuf").received for body in sample)
    out = {"quick": _best(rounds, lambda: sum(read_traces(b, "protobuf").received for b in sample))}
    few = sample[:2]
    out["importer"] = _best(
        rounds, lambda: sum(len(calls_from_spans(decode_protobuf(b, "bench"), ImportOptions())) for b in few)
    )
    tables = [read_traces(b, "protobuf").calls for b in sample]
    groups = [pa.concat_tables(tables[i : i + senders]) for i in range(0, len(tables), senders)]
    pricer = Pricer()
    columns = ColumnPricer(pricer)
    priced = [columns.price(g) for g in groups]  # the rates of every key, resolved once
    out["pricing"] = _best(rounds, lambda: sum(columns.price(g).num_rows for g in groups))  # type: ignore[union-attr]
    out["store_priced"] = min(
        _store(priced, lambda st, t: st.write_priced_events(EventBatch(t))) for _ in range(rounds)
    )
    out["store_priced_threads"] = min(
        _store(priced, lambda st, t: st.write_priced_events(EventBatch(t)), threads=None)
        for _ in range(rounds)
    )
    out["store_unpriced"] = min(
        _store(groups, lambda st, t: st.write_events(EventBatch(t), pricer=pricer)) for _ in range(rounds)
    )
    assert spans == sum(g.num_rows for g in groups)
    return out, priced[0]


def run_checkpoints(bodies: list[bytes], senders: int) -> dict[str, float]:
    """CPU µs per call to store every request's calls (priced, ``senders`` requests a transaction)
    in one store, checkpointing past 16 MiB of log (DuckDB's default) and past 128 MiB (the
    collector's), a final checkpoint included."""
    from tokenomy.pricing import Pricer
    from tokenomy.server.call_costs import ColumnPricer
    from tokenomy.server.otlp_ingest import read_traces

    columns = ColumnPricer(Pricer())
    tables = [read_traces(b, "protobuf").calls for b in bodies]
    groups = [
        columns.price(pa.concat_tables(tables[i : i + senders])) for i in range(0, len(tables), senders)
    ]
    return {
        f"checkpoint_{mb}": _store(
            groups, lambda st, t: st.write_priced_events(EventBatch(t)), checkpoint_mb=mb
        )
        for mb in (16, 128)
    }


KNOWN_NOW: Final = (
    "SELECT count(*) FROM _bench_calls s ANTI JOIN "
    "(SELECT c.id FROM calls c SEMI JOIN _bench_calls k ON c.id = k.id) known ON known.id = s.id"
)
KNOWN_BEFORE: Final = "SELECT count(*) FROM _bench_calls s ANTI JOIN calls c ON c.id = s.id"


def run_known_ids(group: pa.Table, stored: int, rounds: int) -> dict[str, float]:
    """CPU ms to find a transaction's new call ids, in a store of ``stored`` calls, both ways."""
    with (
        tempfile.TemporaryDirectory(prefix="tokenomy-bench-known-") as tmp,
        open_store(f"{tmp}/k.duckdb") as store,
    ):
        con = store.connection
        con.execute("SET threads = 1")
        con.execute("SET enable_progress_bar = false")
        con.execute("INSERT INTO calls (id) SELECT 'stored-' || i FROM range(?) t(i)", [stored])
        con.register("_bench_calls", group.select(["id"]))
        out = {}
        for name, sql in (("known_now", KNOWN_NOW), ("known_before", KNOWN_BEFORE)):
            best = float("inf")
            for _ in range(rounds):
                start = time.process_time()
                new = con.execute(sql).fetchall()[0][0]
                best = min(best, time.process_time() - start)
            assert new == group.num_rows  # none of the transaction's ids is stored
            out[name] = best * 1e3
        return out


def _store(
    tables: list[pa.Table],
    write: Callable[[DuckDBStore, pa.Table], object],
    threads: int | None = 1,
    checkpoint_mb: int | None = None,
) -> float:
    """CPU µs per call to write each table in one transaction into a fresh store (opened beforehand),
    with DuckDB limited to ``threads`` (None: DuckDB's default, one per core); with ``checkpoint_mb``,
    checkpointing past that much write-ahead log, and once more at the end (counted)."""
    with (
        tempfile.TemporaryDirectory(prefix="tokenomy-bench-store-") as tmp,
        open_store(f"{tmp}/s.duckdb") as store,
    ):
        if threads is not None:
            store.connection.execute(f"SET threads = {threads}")
        if checkpoint_mb is not None:
            store.connection.execute(f"SET checkpoint_threshold = '{checkpoint_mb}MiB'")
        write(store, tables[0].slice(0, 1).set_column(0, "id", pa.array(["warm-up"])))
        start = time.process_time()
        for table in tables:
            write(store, table)
        if checkpoint_mb is not None:
            store.connection.execute("CHECKPOINT")
        return float((time.process_time() - start) / sum(t.num_rows for t in tables) * 1e6)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--requests", type=int, default=202, help="requests per measurement (2 warm up)")
    parser.add_argument("--spans", type=int, default=512, help="GenAI spans per request")
    parser.add_argument("--senders", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each stage measured alone")
    parser.add_argument("--stored", type=int, default=250_000, help="calls in the store for known ids")
    args = parser.parse_args(argv)
    bodies = build_requests(args.requests, args.spans)
    size = sum(len(b) for b in bodies) / len(bodies)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.requests - 2} requests x {args.spans} GenAI spans ({size / 1024:.0f} KiB each, protobuf), "
        f"{args.senders} senders, {os.cpu_count()} cores, load average {load:.1f}",
        flush=True,
    )
    collector = run_collector(bodies, args.senders, args.spans)
    transport = run_transport(bodies, args.senders, args.spans)
    stages, group = run_stages(bodies, args.senders, args.rounds)
    stages.update(run_known_ids(group, args.stored, args.rounds), stored=args.stored, group=group.num_rows)
    stages.update(run_checkpoints(bodies, args.senders), calls=len(bodies) * args.spans)
    _print(collector, transport, stages, args.rounds)
    return 0


def _print(collector: CollectorRun, transport: float, stages: dict[str, float], rounds: int) -> None:
    cpu = collector.loop_us + collector.other_us
    print(f"  collector (acknowledged and stored):  {collector.spans_per_second:>9,.0f} spans/s", end="")
    print(f"   {1e6 / cpu:,.0f} per server CPU-second: {cpu:.0f} µs a span", end="")
    print(f" = event loop {collector.loop_us:.1f} + writer and store threads {collector.other_us:.1f}")
    whole = cpu + collector.shutdown_us
    print(f"  with the server's stop (its final checkpoint, {collector.shutdown_us:.1f} µs a span):", end="")
    print(f" {1e6 / whole:,.0f} per server CPU-second: {whole:.0f} µs a span")
    print(f"  requests per store transaction:       {collector.per_transaction:>9.1f}")
    print(f"  transport only (bare ASGI app):       {transport:>9,.0f} spans/s", end="")
    print(f"   collector/transport {collector.spans_per_second / transport:.3f}")
    print(f"  stages alone, CPU µs a span (this process, best of {rounds}):")
    quick, importer = stages["quick"], stages["importer"]
    print(
        f"    read and map: quick path {quick:7.1f}   importer's decoder and mapping {importer:7.1f}", end=""
    )
    print(f"   ({importer / quick:.1f}x less)")
    print(f"    pricing as columns       {stages['pricing']:7.1f}")
    priced, unpriced = stages["store_priced"], stages["store_unpriced"]
    print(
        f"    store: priced insert     {priced:7.1f}   insert priced in SQL (write_events) {unpriced:7.1f}",
        end="",
    )
    print(f"   ({unpriced / priced:.1f}x less)")
    threads = stages["store_priced_threads"]
    print(
        f"    store: priced insert, DuckDB with 1 thread {priced:7.1f}   with one per core {threads:7.1f}",
        end="",
    )
    print(f"   ({threads / priced:.2f}x)")
    small, large = stages["checkpoint_16"], stages["checkpoint_128"]
    print(
        f"    store: all {stages['calls']:,.0f} calls, checkpoints included: past 16 MiB of log {small:7.1f}",
        end="",
    )
    print(f"   past 128 MiB {large:7.1f}   ({small / large:.2f}x)")
    now, before = stages["known_now"], stages["known_before"]
    print(f"  known ids of one {stages['group']:.0f}-call transaction, CPU ms, store of", end="")
    print(f" {stages['stored']:,.0f} calls: probe {now:.1f}   hash of every stored id {before:.1f}", end="")
    print(f"   (hashing / probe {before / now:.1f}x)")
    target = 20_000
    met = collector.spans_per_second >= target
    print(f"  target >= {target:,} spans/s: {'met' if met else 'NOT met'} (wall);", end="")
    print(f" {'met' if 1e6 / whole >= target else 'NOT met'} per server CPU-second (stop included)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
