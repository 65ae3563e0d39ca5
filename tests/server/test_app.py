"""The collector's routes, in process: ingest, errors that name the problem, reads, and the token rule."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.server.support import (
    Answer,
    SpanSpec,
    call,
    genai_attributes,
    hex_id,
    request_bytes,
    request_json,
)
from tests.server.test_span_rows import CONTENT_ATTRIBUTES
from tokenomy.capture.records import Record
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.pricing import Pricer
from tokenomy.schema import Charge, OutcomeEvent
from tokenomy.server import api
from tokenomy.server.app import Collector, open_collector_store, rpc_status
from tokenomy.server.settings import ServerSettings
from tokenomy.store import open_store

T = TypeVar("T")
TOKEN = "s3cret-token-of-32-characters-xx"
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def run(app: Collector, scenario: Callable[[Collector], Awaitable[T]]) -> T:
    async def main() -> T:
        await app.startup()
        try:
            return await scenario(app)
        finally:
            await app.shutdown()

    return asyncio.run(main())


def collector(tmp_path: Path, pricer: Pricer, **changes: Any) -> Collector:
    return Collector(ServerSettings(db=tmp_path / "t.duckdb", **changes), pricer=pricer)


def _trace(n: int = 5, seed: int = 1) -> tuple[bytes, list[SpanSpec]]:
    rng = random.Random(seed)
    trace = hex_id(rng, 16)
    root = SpanSpec(trace, hex_id(rng, 8), name="agent", attributes={"session.id": f"S{seed}"})
    spans = [root] + [
        SpanSpec(trace, hex_id(rng, 8), root.span_id, name="chat", attributes=genai_attributes(rng, i))
        for i in range(n)
    ]
    return request_bytes(spans), spans


def test_otlp_protobuf_gzip_and_json_are_stored_and_readable(tmp_path: Path, pricer: Pricer) -> None:
    data, _spans = _trace()

    async def scenario(app: Collector) -> dict[str, Answer]:
        answers = {"protobuf": await call(app, "POST", "/v1/traces", data, PROTOBUF)}
        gz = gzip.compress(_trace(3, seed=2)[0])
        answers["gzip"] = await call(app, "POST", "/v1/traces", gz, {**PROTOBUF, "content-encoding": "gzip"})
        answers["again"] = await call(app, "POST", "/v1/traces", data, PROTOBUF)
        answers["session"] = await call(app, "GET", "/api/v1/sessions/S1")
        answers["calls"] = await call(app, "GET", "/api/v1/calls?limit=3")
        answers["report"] = await call(app, "GET", "/api/v1/report")
        answers["period"] = await call(
            app, "GET", "/api/v1/report?since=2026-03-01&until=2026-03-02T06:00:00Z"
        )
        return answers

    answers = run(collector(tmp_path, pricer), scenario)
    ok = answers["protobuf"]
    assert (ok.status, ok.headers["content-type"]) == (200, "application/x-protobuf")
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(ok.body)
    assert not response.HasField("partial_success")
    assert answers["gzip"].status == answers["again"].status == 200
    session = answers["session"].json()
    assert session["totals"]["calls"] == 5  # sent twice, stored once
    assert [s["name"] for s in session["spans"]] == ["agent"]
    assert all(c["cost"]["total"] is not None for c in session["calls"])
    assert all(c["source"] == "otlp" for c in session["calls"])
    page = answers["calls"].json()
    assert len(page["calls"]) == 3
    assert page["next_offset"] == 3
    assert answers["report"].json()["total"]["calls"] == 8
    period = answers["period"].json()  # UTC with a Z, as every other time the API writes (was +00:00)
    assert (period["since"], period["until"]) == ("2026-03-01", "2026-03-02T06:00:00Z")


def test_otlp_json_with_a_bad_span_is_a_partial_success(tmp_path: Path, pricer: Pricer) -> None:
    good = {"traceId": "01" * 16, "spanId": "02" * 8, "name": "chat",
            "startTimeUnixNano": "1780000000000000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                           {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}}]}  # fmt: skip
    bad = {"traceId": "zz", "spanId": "03" * 8, "name": "broken"}
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]}).encode()

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "POST", "/v1/traces", body, JSON), await call(app, "GET", "/api/v1/calls")

    answer, calls = run(collector(tmp_path, pricer), scenario)
    assert answer.status == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "span 2 (resourceSpans[0].scopeSpans[0].spans[1].traceId)" in partial["errorMessage"]
    assert [c["id"] for c in calls.json()["calls"]] == [f"{'01' * 16}:{'02' * 8}"]


def test_otlp_json_whose_spans_are_no_list_is_a_partial_success(tmp_path: Path, pricer: Pricer) -> None:
    bad = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]}).encode()

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "POST", "/v1/traces", bad, JSON), await call(
            app, "POST", "/v1/traces", _trace(1)[0], PROTOBUF
        )

    answer, still = run(collector(tmp_path, pricer), scenario)
    assert answer.status == 200
    assert answer.json()["partialSuccess"] == {  # no span can be counted: 0 rejected, the problem named
        "rejectedSpans": "0",
        "errorMessage": "0 of 0 spans rejected: resourceSpans[0].scopeSpans[0].spans: "
        "expected a list of Spans (its spans, if any, are not counted)",
    }
    assert still.status == 200


def test_broken_resource_and_scope_entries_are_not_counted_as_spans(tmp_path: Path, pricer: Pricer) -> None:
    unreadable = {"traceId": "zz", "spanId": "03" * 8, "name": "broken"}
    no_span_id = {"traceId": "01" * 16, "name": "agent"}
    scopes: list[Any] = ["x", {"spans": {"a": 1}}, {"spans": [unreadable, no_span_id]}]
    body = json.dumps({"resourceSpans": [5, {"scopeSpans": 7}, {"scopeSpans": scopes}]}).encode()

    async def scenario(app: Collector) -> Answer:
        return await call(app, "POST", "/v1/traces", body, JSON)

    answer = run(collector(tmp_path, pricer), scenario)
    assert answer.status == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"  # the request's 2 spans; the 4 entries hold none that counts
    uncounted = " (its spans, if any, are not counted)"
    assert partial["errorMessage"] == (
        "2 of 2 spans rejected: "
        f"resourceSpans[0]: expected a ResourceSpans object{uncounted}; "
        f"resourceSpans[1].scopeSpans: expected a list of ScopeSpans{uncounted}; "
        f"resourceSpans[2].scopeSpans[0]: expected a ScopeSpans object{uncounted}; "
        f"resourceSpans[2].scopeSpans[1].spans: expected a list of Spans{uncounted}; "
        "span 1 (resourceSpans[2].scopeSpans[2].spans[0].traceId): not a 16-byte id in hex: 'zz'; "
        "and 1 more"  # the span without a spanId: six problems, five described
    )


@pytest.mark.parametrize("body", [b"{}", b'{"resourceSpans": null}', b'{"resourceSpans": []}'])
def test_an_empty_otlp_json_request_is_accepted(tmp_path: Path, pricer: Pricer, body: bytes) -> None:
    async def scenario(app: Collector) -> Answer:
        return await call(app, "POST", "/v1/traces", body, JSON)

    answer = run(collector(tmp_path, pricer), scenario)
    assert (answer.status, answer.json()) == (200, {})  # proto3's JSON of an empty request, as protobuf's b""


@pytest.mark.parametrize("headers", [PROTOBUF, JSON])
def test_content_on_a_span_that_is_no_call_is_not_stored(
    tmp_path: Path, pricer: Pricer, headers: dict[str, str]
) -> None:
    content = {key: f"SECRET {key}" for key in CONTENT_ATTRIBUTES}
    attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "H7", **content}
    spec = SpanSpec("0a" * 16, "0b" * 8, name="retrieval docs", attributes=attributes)
    body = request_bytes([spec]) if headers is PROTOBUF else request_json([spec])

    async def scenario(app: Collector) -> Answer:
        return await call(app, "POST", "/v1/traces", body, headers)

    assert run(collector(tmp_path, pricer), scenario).status == 200
    with open_store(tmp_path / "t.duckdb", read_only=True) as store:
        rows = store.query("SELECT name, attributes FROM spans").to_pylist()
    assert [row["name"] for row in rows] == ["retrieval docs"]
    assert json.loads(rows[0]["attributes"]) == {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "H7",
    }


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\x0a\xff\xff", PROTOBUF, 400, "not a valid OTLP protobuf"),
        (
            _trace(1)[0],
            JSON,
            400,
            "is a binary OTLP protobuf ExportTraceServiceRequest; send it with "
            "Content-Type: application/x-protobuf",
        ),
        (
            b' {"resourceSpans": []}',
            PROTOBUF,
            400,
            "looks like JSON (it starts with '{'); send OTLP/JSON with Content-Type: application/json",
        ),
        (b"\xff", JSON, 400, "the body is not UTF-8 text (so not JSON)"),
        (b"{", JSON, 400, "not JSON"),
        (b"[]", JSON, 400, "expected an object with a 'resourceSpans' list"),
        (b"x", {"content-type": "text/plain"}, 415, "send application/x-protobuf or application/json"),
        (b"x", {}, 415, "'(none)'"),
        (b"x" * 5000, PROTOBUF, 413, "over the server's limit of 4096 bytes"),
        (b"x", {**PROTOBUF, "content-encoding": "zstd"}, 415, "'zstd' is not supported"),
    ],
)
def test_bad_trace_requests_are_answered_with_an_rpc_status(
    tmp_path: Path, pricer: Pricer, *, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        bad = await call(app, "POST", "/v1/traces", body, headers)
        still = await call(app, "POST", "/v1/traces", _trace(1)[0], PROTOBUF)
        return bad, still

    bad, still = run(collector(tmp_path, pricer, max_body=4096), scenario)
    assert bad.status == status
    if headers.get("content-type") == PROTOBUF["content-type"]:
        assert bad.body.startswith(b"\x08\x03\x12")
        assert message.encode() in bad.body
    else:
        assert message in bad.json()["message"]
    assert still.status == 200  # and the server keeps serving


def test_events_are_stored_with_outcomes_and_charges(tmp_path: Path, pricer: Pricer) -> None:
    records = [
        {"id": "c1", "session_id": "S", "provider": "openai", "request_model": "gpt-4o-mini",
         "started_at": "2026-03-01T10:00:00Z", "usage": {"input_uncached": 1000, "cache_read": 0,
         "cache_write_5m": 0, "cache_write_1h": 0, "output_visible": 10, "reasoning": 0}},
        {"type": "charge", "id": "g1", "amount": "0.25", "kind": "search", "at": "2026-03-01T10:00:01Z",
         "session_id": "S"},
        {"type": "outcome", "target": "call", "id": "c1", "success": False, "at": "2026-03-01T10:01:00Z"},
        {"type": "outcome", "target": "session", "id": "S", "success": True, "score": 0.9,
         "at": "2026-03-01T10:02:00Z"},
    ]  # fmt: skip
    ndjson = "\n".join(json.dumps(r) for r in records).encode()

    async def scenario(app: Collector) -> dict[str, Answer]:
        return {
            "post": await call(app, "POST", "/v1/events", ndjson, {"content-type": "application/x-ndjson"}),
            "again": await call(app, "POST", "/v1/events", json.dumps(records).encode(), JSON),
            "call": await call(app, "GET", "/api/v1/calls/c1"),
            "sessions": await call(app, "GET", "/api/v1/sessions"),
            "session": await call(app, "GET", "/api/v1/sessions/S"),
            "missing": await call(app, "GET", "/api/v1/calls/nope"),
        }

    answers = run(collector(tmp_path, pricer), scenario)
    assert answers["post"].json() == {
        "accepted": {"calls": 1, "charges": 1, "outcomes": 2},
        "durable": "store",
    }
    one = answers["call"].json()
    assert one["cost"]["total"] == "0.000156000000"  # 1000 x $0.15/M + 10 x $0.60/M
    assert [o["success"] for o in one["outcomes"]] == [False]
    listed = answers["sessions"].json()["sessions"]
    assert listed == [
        {"session_id": "S", "calls": 1, "first_at": "2026-03-01T10:00:00.000Z",
         "last_at": "2026-03-01T10:00:00.000Z",
         "input_tokens": 1000, "output_tokens": 10, "cost": "0.000156000000", "unpriced": 0,
         "charges": "0.250000000000", "success": True, "score": 0.9, "action": None}
    ]  # fmt: skip
    session = answers["session"].json()
    assert session["totals"] == {
        "calls": 1,
        "unpriced": 0,
        "cost": "0.000156000000",
        "charges": "0.250000000000",
        "spend": "0.250156000000",  # the calls and the charges: what `tokenomy session S` shows
    }
    assert len(session["outcomes"]) == 2  # sent twice, each stored once
    assert answers["missing"].status == 404


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e999"])
def test_a_number_json_cannot_write_back_is_a_400(tmp_path: Path, pricer: Pricer, token: str) -> None:
    body = f'{{"id": "inf1", "provider": "openai", "request_model": "gpt-4o", "ttft_ms": {token}}}'.encode()

    async def scenario(app: Collector) -> Answer:
        return await call(app, "POST", "/v1/events", body, JSON)

    bad = run(collector(tmp_path, pricer), scenario)
    assert bad.status == 400
    assert "field 'ttft_ms': expected a finite number" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": "\\ud800", "provider": "openai", "request_model": "gpt-4o"}', "UnicodeEncodeError"),
        (b"[" * 100_000, "nested too deep"),
    ],
)
def test_a_value_the_collector_cannot_keep_is_a_400_not_a_500(
    tmp_path: Path, pricer: Pricer, body: bytes, reason: str
) -> None:
    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "POST", "/v1/events", body, JSON), await call(app, "GET", "/api/v1/health")

    bad, health = run(collector(tmp_path, pricer), scenario)
    assert bad.status == 400
    message = bad.json()["error"]["message"]
    assert message.startswith("the body holds a value the collector cannot keep (")
    assert reason in message
    assert health.status == 200  # and it keeps serving


@pytest.mark.parametrize(
    "path", ["/api/v1/calls?since=&limit=1", "/api/v1/report?by=", "/api/v1/sessions?model=&top=1"]
)
def test_an_empty_query_parameter_is_a_400_not_no_filter(tmp_path: Path, pricer: Pricer, path: str) -> None:
    async def scenario(app: Collector) -> Answer:
        return await call(app, "GET", path)

    answer = run(collector(tmp_path, pricer), scenario)
    assert answer.status == 400
    assert "is empty: give it a value, or leave it out" in answer.json()["error"]["message"]


def test_a_bad_event_names_record_and_field(tmp_path: Path, pricer: Pricer) -> None:
    body = json.dumps([{"id": "ok"}, {"id": "bad", "latency_ms": "slow"}]).encode()

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "POST", "/v1/events", body, JSON), await call(app, "GET", "/api/v1/calls")

    bad, listed = run(collector(tmp_path, pricer), scenario)
    assert bad.status == 400
    assert bad.json()["error"]["message"] == (
        "1 bad record(s), nothing stored: record 2, field 'latency_ms': expected a finite number, got 'slow'"
    )
    assert listed.json()["calls"] == []


def test_an_outcome_event_with_nothing_in_it_is_refused_not_stored_over_the_last(
    tmp_path: Path, pricer: Pricer
) -> None:
    """An outcome replaces the one before it whole: one without success, score or action would erase
    it, so it is refused as ``record_outcome()`` refuses it, and the outcome before it stays."""
    first = {"type": "outcome", "target": "session", "id": "S", "success": True, "at": "2026-03-01T10:00:00Z"}
    empty = {"type": "outcome", "target": "session", "id": "S", "action": None, "at": "2026-03-01T10:01:00Z"}

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        await call(app, "POST", "/v1/events", json.dumps([first]).encode(), JSON)
        return await call(app, "POST", "/v1/events", json.dumps([empty]).encode(), JSON), await call(
            app, "GET", "/api/v1/sessions/S"
        )

    bad, session = run(collector(tmp_path, pricer), scenario)
    assert bad.status == 400
    assert bad.json()["error"]["message"] == (
        "1 bad record(s), nothing stored: record 1, field '(record)': an outcome needs success, score"
        " or action (it replaces the last)"
    )
    assert [o["success"] for o in session.json()["outcomes"]] == [True]


def test_sdk_record_spans_that_cannot_be_kept_are_rejected_by_name(tmp_path: Path, pricer: Pricer) -> None:
    """A charge span in another currency and an outcome span with nothing in it: counted as rejected,
    each named, neither stored (nor kept as a span of the trace tree)."""
    at = datetime(2026, 3, 1, 10, 0, 0)
    records: list[Record] = [
        Charge(id="chg-eur", amount=Decimal("5"), kind="search_api", at=at, currency="EUR"),
        OutcomeEvent("session", "S", at),
        OutcomeEvent("session", "S", at, success=True),
    ]
    body = export_request(records, service_name="svc", version="1").SerializeToString()

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "POST", "/v1/traces", body, PROTOBUF), await call(
            app, "GET", "/api/v1/sessions/S"
        )

    answer, session = run(collector(tmp_path, pricer), scenario)
    assert answer.status == 200
    partial = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.body).partial_success
    assert (partial.rejected_spans, partial.error_message) == (
        2,
        "2 of 3 spans rejected: charge 'chg-eur': 'EUR': every cost is kept in USD (prices, budgets,"
        " reports); convert the amount first (tokenomy.charge.currency); outcome for session 'S': no"
        " success, score or action (tokenomy.outcome.target)",
    )
    found = session.json()
    assert ([o["success"] for o in found["outcomes"]], found["charges"], found["spans"]) == ([True], [], [])


def test_the_token_guards_every_route_but_health(tmp_path: Path, pricer: Pricer) -> None:
    async def scenario(app: Collector) -> dict[str, int]:
        auth = {"authorization": f"Bearer {TOKEN}"}
        return {
            "health": (await call(app, "GET", "/api/v1/health")).status,
            "no token": (await call(app, "GET", "/api/v1/calls")).status,
            "wrong": (
                await call(app, "GET", "/api/v1/calls", headers={"authorization": "Bearer nope"})
            ).status,
            "basic": (
                await call(app, "GET", "/openapi.json", headers={"authorization": f"Basic {TOKEN}"})
            ).status,
            "post": (await call(app, "POST", "/v1/traces", _trace(1)[0], PROTOBUF)).status,
            "right": (await call(app, "GET", "/api/v1/calls", headers=auth)).status,
            "ingest": (await call(app, "POST", "/v1/traces", _trace(1)[0], {**PROTOBUF, **auth})).status,
        }

    codes = run(collector(tmp_path, pricer, token=TOKEN), scenario)
    assert codes == {"health": 200, "no token": 401, "wrong": 401, "basic": 401, "post": 401, "right": 200,
                     "ingest": 200}  # fmt: skip


def test_a_trace_request_without_the_token_is_answered_with_an_unauthenticated_rpc_status(
    tmp_path: Path, pricer: Pricer
) -> None:
    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        binary = await call(app, "POST", "/v1/traces", _trace(1)[0], PROTOBUF)
        text = await call(app, "POST", "/v1/traces", b"{}", {"content-type": "application/json"})
        return binary, text

    binary, text = run(collector(tmp_path, pricer, token=TOKEN), scenario)
    message = "missing or wrong token: send 'Authorization: Bearer <token>'"
    assert (binary.status, binary.body) == (401, rpc_status(16, message))  # google.rpc.Code UNAUTHENTICATED
    assert (text.status, text.json()) == (401, {"code": 16, "message": message})
    assert binary.headers["www-authenticate"] == text.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/traces", 405), ("POST", "/api/v1/calls", 405), ("GET", "/nowhere", 404),
     ("GET", "/api/v1/calls?bogus=1", 400), ("GET", "/api/v1/calls?since=yesterday", 400),
     ("GET", "/api/v1/sessions?offset=-1", 400), ("GET", "/api/v1/calls/x?limit=2", 400)],
)  # fmt: skip
def test_wrong_method_path_or_parameter(
    tmp_path: Path, pricer: Pricer, method: str, path: str, status: int
) -> None:
    async def scenario(app: Collector) -> Answer:
        return await call(app, method, path)

    answer = run(collector(tmp_path, pricer), scenario)
    assert answer.status == status
    body = answer.json()
    if path == "/v1/traces":  # OTLP routes answer a google.rpc.Status
        assert body["message"] == "/v1/traces takes POST"
    else:
        assert body["error"]["status"] == status


def test_health_reports_the_writer(tmp_path: Path, pricer: Pricer) -> None:
    async def scenario(app: Collector) -> dict[str, Any]:
        await call(app, "POST", "/v1/traces", _trace(2)[0], PROTOBUF)
        return (await call(app, "GET", "/api/v1/health")).json()  # type: ignore[no-any-return]

    health = run(collector(tmp_path, pricer), scenario)
    assert health["status"] == "ok"
    assert health["store"] == "open"
    assert health["written"]["stored"] == 1
    assert health["written"]["transactions"] == 1
    assert health["spool"] == {"segments": 0, "bytes": 0}


@pytest.mark.parametrize(("threads", "checkpoint_mb", "shown"), [(1, 128, "128.0 MiB"), (3, 1, "1.0 MiB")])
def test_the_collector_opens_its_store_with_its_threads_and_checkpoint_size(
    tmp_path: Path, threads: int, checkpoint_mb: int, shown: str
) -> None:
    settings = ServerSettings(db=tmp_path / "t.duckdb", store_threads=threads, checkpoint_mb=checkpoint_mb)
    store = open_collector_store(settings)
    try:
        got = store.connection.execute(
            "SELECT current_setting('threads'), current_setting('checkpoint_threshold')"
        ).fetchall()
        assert got == [(threads, shown)]
    finally:
        store.close()


def test_rpc_status_encoding() -> None:
    assert rpc_status(3, "bad") == b"\x08\x03\x12\x03bad"
    assert rpc_status(3, "x" * 200)[:4] == b"\x08\x03\x12\xc8"


def test_a_defect_in_a_read_is_a_json_500_and_the_server_keeps_serving(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not uvicorn's plain-text 500: a client (the CLI) reads the error body as every other error's."""

    def broken(store: object, query: object) -> api.Answer:
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(api, "calls", broken)

    async def scenario(app: Collector) -> tuple[Answer, Answer]:
        return await call(app, "GET", "/api/v1/calls"), await call(app, "GET", "/api/v1/health")

    failed, health = run(collector(tmp_path, pricer), scenario)
    assert failed.status == 500
    assert failed.json() == {
        "error": {
            "status": 500,
            "message": "internal error (ZeroDivisionError); the collector's log has the details",
        }
    }
    assert health.status == 200


def test_a_small_post_is_answered_while_a_large_body_is_being_read(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 15 MB batch was read on the event loop: every small post waited behind it (2.8 s)."""
    import threading

    from tokenomy.server import app as app_module
    from tokenomy.server import payloads

    real, release, reading = payloads.events, threading.Event(), threading.Event()

    def held(body: bytes, *args: Any, **kwargs: Any) -> Any:
        if len(body) >= app_module.PARSED_ASIDE:
            reading.set()
            assert release.wait(10), "the large body held the event loop: nothing else was answered"
        return real(body, *args, **kwargs)

    monkeypatch.setattr(payloads, "events", held)

    def event(call_id: str, pad: int = 0) -> dict[str, Any]:
        return {"id": call_id, "provider": "openai", "request_model": "gpt-4o-mini",
                "started_at": "2026-03-01T10:00:00Z", "tags": {"pad": "x" * pad},
                "usage": {"input_uncached": 10, "output_visible": 1}}  # fmt: skip

    large = json.dumps([event(f"big-{i}", 4096) for i in range(260)]).encode()
    assert len(large) >= app_module.PARSED_ASIDE
    order: list[str] = []

    async def scenario(app: Collector) -> dict[str, Answer]:
        async def post(name: str, body: bytes) -> Answer:
            answer = await call(app, "POST", "/v1/events", body, JSON, chunk=len(body))
            order.append(name)
            return answer

        big = asyncio.create_task(post("large", large))
        while not reading.is_set():
            await asyncio.sleep(0.001)
        small = await post("small", json.dumps([event("small-1")]).encode())
        release.set()
        return {"small": small, "large": await big}

    answers = run(collector(tmp_path, pricer), scenario)
    assert order == ["small", "large"]
    assert answers["small"].json()["accepted"]["calls"] == 1
    assert answers["large"].json()["accepted"]["calls"] == 260


def test_the_provider_filter_reads_a_name_as_every_command_stores_it(tmp_path: Path, pricer: Pricer) -> None:
    """Providers are stored by their canonical id: ``provider=OpenAI`` listed nothing."""
    usage = {"input_uncached": 10, "output_visible": 1}
    record = {"id": "p1", "provider": "openai", "request_model": "gpt-4o-mini",
              "started_at": "2026-03-01T10:00:00Z", "usage": usage}  # fmt: skip

    async def scenario(app: Collector) -> list[Answer]:
        await call(app, "POST", "/v1/events", json.dumps([record]).encode(), JSON)
        return [await call(app, "GET", f"/api/v1/calls?provider={name}") for name in ("OpenAI", "openai")]

    named, canonical = run(collector(tmp_path, pricer), scenario)
    assert [c["id"] for c in named.json()["calls"]] == [c["id"] for c in canonical.json()["calls"]] == ["p1"]


def test_a_model_span_sent_after_the_call_it_wraps_is_a_span_not_a_second_call(
    tmp_path: Path, pricer: Pricer
) -> None:
    """An exporter sends a span when it ends: the client's chat span first, the framework's llm span
    around it (the same usage) in a later request. Both were stored as calls: its tokens twice."""
    rng = random.Random(3)
    trace = hex_id(rng, 16)
    root, wrapper, step, chat = (hex_id(rng, 8) for _ in range(4))
    usage = {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
    sent = [
        [SpanSpec(trace, chat, step, name="chat", attributes=genai_attributes(rng, 0, **usage))],
        [SpanSpec(trace, step, wrapper, name="retry step")],  # a plain span between the two
        [
            SpanSpec(trace, wrapper, root, name="llm", attributes=genai_attributes(rng, 1, **usage)),
            SpanSpec(trace, root, None, name="agent run", attributes={"session.id": "S"}),
        ],
        [SpanSpec(hex_id(rng, 16), hex_id(rng, 8), attributes=genai_attributes(rng, 2))],  # unrelated
    ]

    async def scenario(app: Collector) -> list[Answer]:
        return [await call(app, "POST", "/v1/traces", request_bytes(spans), PROTOBUF) for spans in sent]

    answers = run(collector(tmp_path, pricer), scenario)
    assert [a.status for a in answers] == [200] * 4
    with open_store(tmp_path / "t.duckdb", read_only=True) as store:
        calls = store.query("SELECT span_id, input_total FROM calls ORDER BY span_id").to_pylist()
        spans = {r["span_id"]: r["name"] for r in store.query("SELECT span_id, name FROM spans").to_pylist()}
    assert len(calls) == 2  # the chat call and the unrelated one
    assert chat in {c["span_id"] for c in calls}
    assert wrapper not in {c["span_id"] for c in calls}
    assert wrapper in spans  # kept in the tree (its name, which its call row does not keep, null)
    assert {root, step} <= spans.keys()
