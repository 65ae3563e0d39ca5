"""The three targets: a tokenomy server's events endpoint, an OTLP collector, the DuckDB store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.capture.support import Collector, call, sink_with
from tests.store.holder import held
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.spool import Spool
from tokenomy.capture.sink.targets import DuckDBTarget, EventsTarget, OtlpTarget, _event_batch, _not_written
from tokenomy.errors import SinkError, StoreLockedError
from tokenomy.native import call_from_native
from tokenomy.pricing import Pricer
from tokenomy.schema import Charge, Cost, OutcomeEvent, Quality, Usage
from tokenomy.store import open_store

pytestmark = pytest.mark.integration


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


def _charge(number: int) -> Charge:
    return Charge(id=f"chg{number}", amount=Decimal("0.25"), kind="search_api", at=datetime(2026, 3, 2, 10))


def test_events_target_posts_ndjson_of_native_records(collector: Collector) -> None:
    target = EventsTarget(collector.url, token="s3cret")
    span = AgentSpan("a" * 32, "b" * 16, "planner", datetime(2026, 3, 2), datetime(2026, 3, 2))
    outcome = OutcomeEvent("session", "s1", datetime(2026, 3, 2, 11), success=True)
    target.send([call(1), _charge(1), outcome, span])
    ((path, headers, body),) = collector.received
    assert path == "/v1/events"
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Authorization"] == "Bearer s3cret"
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line.get("type") for line in lines] == [None, "charge", "outcome"]  # the agent span is OTLP-only
    assert call_from_native(lines[0]) == call(1)
    assert lines[2] == {
        "type": "outcome",
        "target": "session",
        "id": "s1",
        "success": True,
        "score": None,
        "action": None,
        "at": "2026-03-02T11:00:00.000000Z",
    }


def test_events_target_failures_say_whether_to_retry(collector: Collector) -> None:
    target = EventsTarget(collector.url)
    collector.status = 503
    with pytest.raises(SinkError, match="answered 503") as busy:
        target.send([call(1)])
    assert busy.value.retryable is True
    collector.status = 400
    with pytest.raises(SinkError, match="answered 400") as bad:
        target.send([call(1)])
    assert bad.value.retryable is False
    collector.stop()
    with pytest.raises(SinkError, match="cannot deliver") as down:
        target.send([call(1)])
    assert down.value.retryable is True


def test_a_kept_alive_connection_closed_by_the_server_is_replaced_once(collector: Collector) -> None:
    target = EventsTarget(collector.url)
    target.send([call(1)])
    collector.drop_connections()
    target.send([call(2)])  # the stale connection fails; a fresh one carries the batch
    ids = [json.loads(body)["id"] for body in collector.bodies("/v1/events")]
    assert ids == ["c00001", "c00002"]


def test_a_collector_that_goes_down_gets_every_event_once_in_order_when_back(
    collector: Collector, tmp_path: Path
) -> None:
    target = EventsTarget(collector.url)
    sink = Sink(
        target,
        SinkSettings(flush_interval=0.05, retry_initial=0.01, retry_max=0.05, batch_size=20),
        spool=Spool(tmp_path / "spool", 1 << 20),
    )
    for i in range(30):
        sink.submit(call(i))
    assert sink.flush() is True
    collector.stop()
    for i in range(30, 100):
        sink.submit(call(i))
    assert sink.flush() is False
    assert sink.stats().spooled == 70
    collector.start()  # same port
    for i in range(100, 110):
        sink.submit(call(i))
    assert sink.flush() is True
    ids = [json.loads(line)["id"] for body in collector.bodies("/v1/events") for line in body.splitlines()]
    assert ids == [f"c{i:05d}" for i in range(110)]
    stats = sink.stats()
    assert (stats.sent, stats.spooled, stats.replayed, stats.dropped) == (40, 70, 70, 0)


def test_otlp_target_posts_protobuf_spans_with_the_call_ids(collector: Collector) -> None:
    target = OtlpTarget(collector.url, service_name="billing-bot")
    records = target.prepare([call(1, trace_id="ab" * 16, span_id="cd" * 8, session_id="s1")])
    target.send(records)
    ((path, headers, body),) = collector.received
    assert (path, headers["Content-Type"]) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    resource = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "billing-bot"
    (span,) = request.resource_spans[0].scope_spans[0].spans
    assert (span.trace_id.hex(), span.span_id.hex()) == ("ab" * 16, "cd" * 8)
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["gen_ai.usage.input_tokens"].int_value == 10
    assert attrs["gen_ai.conversation.id"].string_value == "s1"
    assert Decimal(attrs["tokenomy.cost.total"].string_value) > 0  # priced before sending


def test_duckdb_target_prices_and_stores_and_a_replay_stores_nothing_twice(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    target = DuckDBTarget(db)
    batch = target.prepare([call(1), call(2), _charge(1)])
    target.send(batch)
    target.send(batch)
    target.close()
    with open_store(db, read_only=True) as store:
        assert store.count("calls") == 2
        assert store.count("charges") == 1
        stored = {c.id: c for c in store.iter_calls()}
    assert stored["c00001"].cost is not None
    assert stored["c00001"].cost.total is not None
    assert stored["c00001"].cost.total > 0
    assert stored["c00001"].usage == call(1).usage


def test_duckdb_target_stores_the_costs_the_stores_own_pricing_gives(tmp_path: Path) -> None:
    calls = [
        call(1),
        call(2, request_model="claude-sonnet-4-5", provider="anthropic", latency_ms=812.5),
        call(3, request_model="no-such-model-anywhere"),
        call(4, usage=Usage(input_total=100, output_total=20)),  # the general bucket rules
        call(5, usage=Usage.of(input_uncached=3, output_visible=1, quality=(Quality.TOTAL_MISMATCH,))),
        call(6, cost=Cost(total=Decimal("1.5"), source="kept")),  # a call with a cost keeps it
    ]
    target = DuckDBTarget(tmp_path / "target.duckdb")
    target.send(target.prepare(list(calls)))
    target.close()
    with open_store(tmp_path / "sql.duckdb") as store:
        store.write_events(_event_batch(calls), pricer=Pricer())
    rows = {}
    for name in ("target", "sql"):
        with open_store(tmp_path / f"{name}.duckdb", read_only=True) as store:
            costs = [c for c in store.table_columns("calls") if c.startswith("cost_")]
            assert len(costs) >= 12  # total, currency, provenance and every part
            columns = ", ".join(["id", "cost_total", *costs])
            rows[name] = store.connection.execute(f"SELECT {columns} FROM calls ORDER BY id").fetchall()
    assert rows["target"] == rows["sql"]
    assert [r[1] is not None for r in rows["target"]] == [True, True, False, True, False, True]


def test_duckdb_target_stores_outcomes_and_agent_spans_once(tmp_path: Path) -> None:
    db = tmp_path / "o.duckdb"
    target = DuckDBTarget(db)
    at = datetime(2026, 3, 2, 11, 0, 0, 250)
    outcome = OutcomeEvent("session", "s1", at, success=True, score=0.5, action="resolved")
    span = AgentSpan(
        "ab" * 16, "cd" * 8, "planner", datetime(2026, 3, 2), at, parent_span_id="ef" * 8, session_id="s1"
    )
    target.send([outcome, span])
    target.send([outcome, span])
    target.close()
    with open_store(db, read_only=True) as store:
        outcomes = store.query(
            'SELECT target, id, success, score, action, "at", source FROM outcomes'
        ).to_pylist()
        spans = store.query(
            "SELECT trace_id, span_id, parent_span_id, name, kind, session_id, agent_name, "
            "attributes FROM spans"
        ).to_pylist()
    assert outcomes == [
        {
            "target": "session",
            "id": "s1",
            "success": True,
            "score": 0.5,
            "action": "resolved",
            "at": at,
            "source": "sdk",
        }
    ]
    (row,) = spans
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == ("ab" * 16, "cd" * 8, "ef" * 8)
    assert (row["name"], row["kind"], row["session_id"], row["agent_name"]) == (
        "invoke_agent planner",
        "internal",
        "s1",
        "planner",
    )
    assert json.loads(row["attributes"])["gen_ai.operation.name"] == "invoke_agent"


def test_duckdb_target_waits_while_another_process_writes_the_file(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    open_store(db).close()
    target = DuckDBTarget(db)
    with held(db) as holder, pytest.raises(SinkError) as busy:
        target.send([call(1)])
    assert busy.value.retryable is True
    cause = busy.value.__cause__
    assert isinstance(cause, StoreLockedError)
    assert cause.pid == holder.pid
    assert str(busy.value) == (
        f"duckdb:{db}: another process (pid {holder.pid}: {cause.process}) is writing this file "
        "(DuckDB allows one writing process)"
    )
    target.send([call(1)])
    target.close()
    with open_store(db, read_only=True) as store:
        assert store.count("calls") == 1


def test_a_file_a_reader_holds_is_a_wait_too(tmp_path: Path) -> None:
    db = tmp_path / "read.duckdb"
    open_store(db).close()
    with held(db, read_only=True) as holder, pytest.raises(SinkError) as busy:
        DuckDBTarget(db).send([call(1)])
    cause = busy.value.__cause__
    assert isinstance(cause, StoreLockedError)
    assert (cause.pid, cause.reading) == (holder.pid, True)
    assert str(busy.value) == (
        f"duckdb:{db}: another process (pid {holder.pid}: {cause.process}) is reading this file, and "
        "DuckDB lets no process write it meanwhile"
    )


def test_a_lock_without_a_holder_reads_as_a_wait_and_other_failures_as_their_own_words() -> None:
    error = StoreLockedError(Path("t.duckdb"), advice="unused here")
    assert _not_written("duckdb:t.duckdb", error).startswith("duckdb:t.duckdb: another process is writing")
    assert _not_written("duckdb:/x", OSError("disk full")) == "duckdb:/x: disk full"


def _other_process_can_write(db: Path) -> bool:
    code = f"import duckdb; duckdb.connect({str(db)!r}).close()"
    return (
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=60).returncode
        == 0
    )


def test_duckdb_target_holds_the_file_while_busy_and_releases_it_when_idle(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    target = DuckDBTarget(db, keep_open=3600)
    target.send([call(1)])
    assert _other_process_can_write(db) is False  # held between batches: no reopening cost
    target.idle()
    assert _other_process_can_write(db) is False  # not idle for long enough yet
    target.idle(now=True)  # as after tokenomy.flush()
    assert _other_process_can_write(db) is True
    target.send([call(2)])  # reopened on demand
    target.close()
    with open_store(db, read_only=True) as store:
        assert store.count("calls") == 2


def test_a_sink_over_the_duckdb_target_survives_a_busy_file(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    sink = sink_with(DuckDBTarget(db), tmp_path / "spool")
    for i in range(3):
        sink.submit(call(i))
    assert sink.flush() is True
    with open_store(db, read_only=True) as store:
        assert sorted(c.id for c in store.iter_calls()) == ["c00000", "c00001", "c00002"]


def test_a_priced_call_is_the_call_with_its_cost_and_nothing_else_changed() -> None:
    from tokenomy.capture.sink.targets import with_cost

    cost = Pricer().price(call(1))
    assert cost is not None
    for record in (call(1), call(2)):
        priced = with_cost(record, cost)
        assert priced == record.replace(cost=cost)
        assert priced.cost == cost
        assert with_cost(priced, None) == record
