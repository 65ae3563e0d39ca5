"""The capture SDK's traffic over OTLP is stored exactly as the same traffic sent as native events.

Real OpenAI and Anthropic SDK calls to the mock upstream are recorded once, in memory; the very
records then travel both ways a capture target sends them (NDJSON to ``/v1/events``, GenAI spans
to ``/v1/traces``) into two collectors, and through ``tokenomy import`` of the OTLP request as a
file into a third store. The stored rows must agree column by column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic, BadRequestError
from openai import OpenAI

from tests.capture.support import MemoryTarget, sink_with
from tests.server.support import call
from tokenomy import capture
from tokenomy.capture.records import Record, encode, is_native
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.capture.sink.targets import CallPricer
from tokenomy.config import Config
from tokenomy.importers import import_paths
from tokenomy.mockllm import MockLLMConfig, MockThread, run_in_thread
from tokenomy.pricing import Pricer
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.store import open_store

SYSTEM = "You answer in one short line. " + " ".join(["the"] * 1300)  # long enough to be cached
ROUTE_COLUMNS = {"imported_at"}
"""When a row was stored: differs between any two stores."""
TAGS = {"tier": "gold", "region": "eu"}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockThread]:
    with run_in_thread(MockLLMConfig(seed=5)) as handle:
        yield handle


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def _anthropic(question: str, ttl: str | None = None) -> dict[str, Any]:
    """A messages request whose system prompt is cached (each TTL its own prompt, so each is written)."""
    cache: dict[str, str] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    system = [{"type": "text", "text": f"{ttl or ''}{SYSTEM}", "cache_control": cache}]
    return {"model": "claude-sonnet-4-6", "max_tokens": 64, "system": system, "messages": _user(question)}


def _user(question: str) -> Any:
    return [{"role": "user", "content": question}]


def _openai_traffic(mock: MockThread) -> Any:
    """Chat (plain and streamed), responses and embeddings; returns the first chat completion."""
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    messages = [{"role": "system", "content": SYSTEM}, *_user("one")]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    for _ in client.chat.completions.create(
        model="o3", messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        pass
    client.responses.create(model="o4-mini", instructions=SYSTEM, input="three")
    client.embeddings.create(model="text-embedding-3-small", input=["words to embed"])
    return reply


def _anthropic_traffic(mock: MockThread) -> None:
    client = capture.instrument(Anthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    client.messages.create(**_anthropic("five"))
    client.messages.create(**_anthropic("six", ttl="1h"))  # one-hour cache writes
    client.messages.create(**_anthropic("seven", ttl="1h"))  # ...then read
    with client.messages.stream(**_anthropic("eight")) as stream:
        stream.get_final_message()
    with pytest.raises(BadRequestError):
        client.messages.create(**_anthropic("nine", ttl="2h"))  # refused: an error call, zero usage


async def _async_traffic(mock: MockThread) -> None:
    client = capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    stream = await client.messages.create(**_anthropic("ten"), stream=True)
    async for _ in stream:
        pass


def _recorded(mock: MockThread) -> list[Record]:
    """The SDK's records for one run: calls in two sessions and none, agent spans, a charge, outcomes."""
    mock.reset()
    target = MemoryTarget()
    RUNTIME.configure(sink_with(target), config=Config())
    try:
        scope = {"user": "ana", "team": "support", "project": "desk", "feature": "triage", "intent": "answer"}
        with capture.context(session="s-otlp", environment="prod", agent="router", tags=TAGS, **scope):
            reply = _openai_traffic(mock)
            with capture.context(agent="coder", tags={"tier": "platinum"}):
                _anthropic_traffic(mock)
            asyncio.run(_async_traffic(mock))
            capture.charge("0.0042", "search_api", quantity=3, unit="searches", description="web")
        with capture.context(session="s-other", team="ops"):
            _openai_traffic(mock)
        _openai_traffic(mock)  # no scope: no session, no step
        capture.record_outcome("s-otlp", success=True, score=0.75, action="ticket_resolved")
        capture.record_outcome(reply, success=False)
        assert capture.flush(60) is True
    finally:
        RUNTIME.shutdown(10)
    return target.records


def _store(db: Path, path: str, body: bytes, kind: str, pricer: Pricer) -> Path:
    """POST ``body`` to a fresh in-process collector storing into ``db``; returns ``db``."""
    app = Collector(ServerSettings(db=db), pricer=pricer)

    async def scenario() -> None:
        await app.startup()
        try:
            answer = await call(app, "POST", path, body, {"content-type": kind})
            assert answer.status == 200, answer.body
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    return db


def _rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    with open_store(db, read_only=True) as store:
        return {
            "calls": store.query("SELECT * FROM calls ORDER BY id").to_pylist(),
            "charges": store.query("SELECT * FROM charges ORDER BY id").to_pylist(),
            "outcomes": store.query('SELECT * FROM outcomes ORDER BY target, id, "at"').to_pylist(),
            "spans": store.query("SELECT * FROM spans ORDER BY span_id").to_pylist(),
        }


def _assert_same(
    native: list[dict[str, Any]], other: list[dict[str, Any]], table: str, skip: set[str]
) -> None:
    assert len(native) == len(other), table
    for a, b in zip(native, other, strict=True):
        differ = {k: (a[k], b.get(k)) for k in a if k not in skip and a[k] != b.get(k)}
        assert not differ, f"{table} row {a.get('id')}: native vs otlp {differ}"


@pytest.fixture(scope="module")
def stored(mock: MockThread, pricer: Pricer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("otlp_sdk")
    records = _recorded(mock)
    native = encode(r for r in records if is_native(r))
    priced = CallPricer(None).price(list(records))  # what the OTLP target sends: calls priced
    otlp = export_request(priced, service_name="svc", version="1").SerializeToString()
    (tmp_path / "request.pb").write_bytes(otlp)
    imported = tmp_path / "imported.duckdb"
    with open_store(imported) as store:
        import_paths([tmp_path / "request.pb"], store=store, pricer=pricer)
    return {
        "records": records,
        "native": _rows(
            _store(tmp_path / "native.duckdb", "/v1/events", native, "application/x-ndjson", pricer)
        ),
        "otlp": _rows(_store(tmp_path / "otlp.duckdb", "/v1/traces", otlp, "application/x-protobuf", pricer)),
        "imported": _rows(imported),
    }


def test_the_traffic_exercises_what_the_conventions_cannot_carry(stored: dict[str, Any]) -> None:
    calls = stored["native"]["calls"]
    assert len(calls) == 18
    assert any(c["cache_write_1h"] for c in calls)
    assert any(c["cache_write_5m"] for c in calls)
    assert {c["team"] for c in calls} == {"support", "ops", None}
    assert {c["agent"] for c in calls} == {"router", "coder", None}
    assert {(c["session_id"], c["step"]) for c in calls if c["session_id"] == "s-other"} == {
        ("s-other", n) for n in range(1, 5)
    }
    assert {c["step"] for c in calls if c["session_id"] is None} == {None}
    assert any(c["prefix_hashes"] for c in calls)
    assert any(c["system_tokens"] for c in calls)
    assert {c["status"] for c in calls} == {"ok", "error"}
    assert any(dict(c["tags"]) == {"tier": "platinum", "region": "eu"} for c in calls)
    assert all(c["source"] == "sdk" for c in calls)
    assert [r["amount"] for r in stored["native"]["charges"]] == [Decimal("0.0042")]
    assert len(stored["native"]["outcomes"]) == 2


def test_otlp_stores_every_call_column_as_the_native_events_do(stored: dict[str, Any]) -> None:
    _assert_same(stored["native"]["calls"], stored["otlp"]["calls"], "calls", ROUTE_COLUMNS)


def test_charges_and_outcomes_reach_their_tables_not_the_spans_table(stored: dict[str, Any]) -> None:
    _assert_same(stored["native"]["charges"], stored["otlp"]["charges"], "charges", ROUTE_COLUMNS)
    # an outcome row's source names the route it arrived by ("events", "otlp")
    _assert_same(
        stored["native"]["outcomes"], stored["otlp"]["outcomes"], "outcomes", {"source", *ROUTE_COLUMNS}
    )
    assert {r["source"] for r in stored["otlp"]["outcomes"]} == {"otlp"}
    names = sorted(r["name"] for r in stored["otlp"]["spans"])
    assert names == ["invoke_agent coder", "invoke_agent router"]


def test_importing_the_otlp_request_as_a_file_stores_the_same_calls_and_charges(
    stored: dict[str, Any],
) -> None:
    _assert_same(stored["native"]["calls"], stored["imported"]["calls"], "calls", ROUTE_COLUMNS)
    _assert_same(stored["native"]["charges"], stored["imported"]["charges"], "charges", ROUTE_COLUMNS)
    # the import stores the outcomes too (docs/capture.md), its source naming the route
    _assert_same(
        stored["native"]["outcomes"], stored["imported"]["outcomes"], "outcomes", {"source", *ROUTE_COLUMNS}
    )
    assert {r["source"] for r in stored["imported"]["outcomes"]} == {"import:otlp"}
