"""End to end: the real SDK clients, through the http and OTLP targets, into a real ``tokenomy serve``.

What the collector stores must be what the mock upstream served, bucket by bucket, whichever way
the calls travelled (native NDJSON to ``/v1/events`` or GenAI spans to ``/v1/traces``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME
from tokenomy.mockllm import MockThread
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

STARTUP_S = 60.0
SYSTEM = "You answer in one short line. " + " ".join(["the"] * 1300)  # long enough to be cached
BUCKETS = ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h", "output_visible", "reasoning")


@contextmanager
def collector_process(db: Path, listen: int = 0) -> Iterator[int]:
    """A ``tokenomy serve`` on 127.0.0.1:``listen`` (0: a free port), yielding its port; SIGTERM ends it."""
    command = [sys.executable, "-m", "tokenomy.cli.main", "serve", "--db", str(db), "--port", str(listen)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENOMY_")}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    port = 0
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and not port:
        line = process.stderr.readline()
        if "listening on http://127.0.0.1:" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
        elif not line and process.poll() is not None:
            break
    if not port:
        process.kill()
        raise AssertionError(f"tokenomy serve did not start: {process.stderr.read()}")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its pipe drained
    try:
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _messages(question: str) -> Any:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def _anthropic_kwargs(question: str) -> dict[str, Any]:
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    messages = [{"role": "user", "content": question}]
    return {"model": "claude-sonnet-4-6", "max_tokens": 64, "system": system, "messages": messages}


def _sync_traffic(mock: MockThread) -> list[str]:
    """Every synchronous surface, plain and streamed; returns the response ids."""
    openai = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    anthropic = capture.instrument(Anthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    ids = [openai.chat.completions.create(model="gpt-4o-mini", messages=_messages("one")).id]
    chunks = list(
        openai.chat.completions.create(
            model="o3", messages=_messages("two"), stream=True, stream_options={"include_usage": True}
        )
    )
    ids.append(chunks[0].id)
    ids.append(openai.responses.create(model="o4-mini", instructions=SYSTEM, input="three").id)
    with openai.responses.stream(model="gpt-4.1", instructions=SYSTEM, input="four") as stream:
        ids.append(stream.get_final_response().id)
    openai.embeddings.create(model="text-embedding-3-small", input=["some words to embed"])
    ids.append(anthropic.messages.create(**_anthropic_kwargs("five")).id)
    with anthropic.messages.stream(**_anthropic_kwargs("six")) as helper:
        ids.append(helper.get_final_message().id)
    return ids


async def _async_traffic(mock: MockThread) -> list[str]:
    """Every asynchronous surface, plain and streamed; returns the response ids."""
    openai = capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    anthropic = capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    ids = [(await openai.responses.create(model="gpt-4.1", instructions=SYSTEM, input="seven")).id]
    stream = await anthropic.messages.create(**_anthropic_kwargs("eight"), stream=True)
    async for event in stream:
        if event.type == "message_start":
            ids.append(event.message.id)
    await openai.embeddings.create(model="text-embedding-3-large", input="more words")
    return ids


def _stored_calls(db: Path) -> list[dict[str, Any]]:
    with open_store(db, read_only=True) as store:
        rows: list[dict[str, Any]] = store.query("SELECT * FROM calls ORDER BY started_at").to_pylist()
    return rows


def _count(db: Path, table: str, where: str = "true") -> int:
    with open_store(db, read_only=True) as store:
        count: int = store.query(f"SELECT count(*) AS n FROM {table} WHERE {where}").column("n")[0].as_py()
    return count


def _run_traffic(mock: MockThread, sink_url: str, spool: Path) -> list[str]:
    """Configure the sink, make the calls inside an agent's scope, add a charge and two outcomes."""
    capture.configure(sink_url, spool_dir=spool, flush_interval=0.05)
    try:
        with capture.context(session="e2e-session", user="ana", team="support", agent="triage"):
            ids = _sync_traffic(mock)
            ids += asyncio.run(_async_traffic(mock))
            capture.charge("0.004", "search_api", quantity=1, unit="searches")
        capture.record_outcome(ids[0], success=True, target="call")
        capture.record_outcome("e2e-session", success=True, score=0.9, action="ticket_resolved")
        assert capture.flush(60) is True
        stats = capture.sink_stats()
        assert (stats.dropped, stats.rejected, stats.errors, stats.spooled) == (0, 0, 0, 0)
        assert stats.sent == stats.enqueued
    finally:
        RUNTIME.shutdown(10)
    return ids


@pytest.mark.parametrize("scheme", ["http", "otlp+http"])
def test_captured_calls_reach_a_real_collector_in_the_buckets_the_upstream_served(
    mock: MockThread, tmp_path: Path, scheme: str
) -> None:
    mock.reset()
    db = tmp_path / "collector.duckdb"
    with collector_process(db) as port:
        ids = _run_traffic(mock, f"{scheme}://127.0.0.1:{port}", tmp_path / "spool")
    calls = _stored_calls(db)
    served = mock.stats(with_requests=False)["totals"]
    assert len(calls) == served["requests"] == 10
    sums = {b: sum(c[b] or 0 for c in calls) for b in BUCKETS}
    assert (
        sums["input_uncached"] + sums["cache_read"] + sums["cache_write_5m"] + sums["cache_write_1h"]
        == served["input_tokens"]
    )
    assert sums["cache_read"] == served["cached_tokens"] > 0
    assert sums["cache_write_5m"] == served["cache_write_5m"] > 0
    assert sums["cache_write_1h"] == served["cache_write_1h"]
    assert sums["output_visible"] + sums["reasoning"] == served["output_tokens"]
    assert sums["reasoning"] == served["reasoning_tokens"] > 0
    assert set(ids) <= {c["id"] for c in calls}  # the provider's response ids are the call ids
    assert {(c["session_id"], c["user"], c["agent"]) for c in calls} == {("e2e-session", "ana", "triage")}
    assert all(c["cost_total"] is not None and c["cost_total"] > 0 for c in calls)
    assert sorted(c["streamed"] for c in calls) == [False] * 6 + [True] * 4
    _assert_native_extras(db, calls, ids)
    if scheme != "http":
        _assert_agent_span_is_the_parent(db)


def _assert_native_extras(db: Path, calls: list[dict[str, Any]], ids: list[str]) -> None:
    """Either way every field arrives (over OTLP as ``tokenomy.*``), and charges and outcomes reach
    their tables."""
    steps = sorted(c["step"] for c in calls)  # the SDK's own steps (the session's count is per process)
    assert steps == list(range(steps[0], steps[0] + 10))
    assert {c["team"] for c in calls} == {"support"}
    assert _count(db, "charges", "kind = 'search_api' AND session_id = 'e2e-session'") == 1
    assert _count(db, "outcomes", f"target = 'call' AND id = '{ids[0]}' AND success") == 1
    assert _count(db, "outcomes", "target = 'session' AND id = 'e2e-session' AND score = 0.9") == 1
    assert _count(db, "spans", "name LIKE 'tokenomy.%'") == 0


def _assert_agent_span_is_the_parent(db: Path) -> None:
    """Over OTLP the agent scope is stored as a span, the parent of every call made in it."""
    with open_store(db, read_only=True) as store:
        agents = store.query("SELECT span_id, agent_name FROM spans WHERE name = 'invoke_agent triage'")
        parents = store.query("SELECT DISTINCT parent_span_id AS p FROM calls").column("p").to_pylist()
    assert agents.column("agent_name").to_pylist() == ["triage"]
    assert parents == agents.column("span_id").to_pylist()


def test_a_collector_restart_loses_nothing_and_stores_nothing_twice(mock: MockThread, tmp_path: Path) -> None:
    mock.reset()
    db = tmp_path / "collector.duckdb"
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))

    def chat(count: int) -> list[str]:
        return [
            client.chat.completions.create(model="gpt-4o-mini", messages=_messages("hi")).id
            for _ in range(count)
        ]

    try:
        with collector_process(db) as port:
            capture.configure(f"http://127.0.0.1:{port}", spool_dir=tmp_path / "spool", flush_interval=0.05)
            ids = chat(3)
            assert capture.flush(60) is True
        ids += chat(4)  # the collector is down: these wait in the spool
        assert capture.flush(60) is False
        assert capture.sink_stats().spooled == 4
        with collector_process(db, port):
            assert capture.flush(60) is True
            ids += chat(2)  # sent after the spool, in order
            assert capture.flush(60) is True
        stats = capture.sink_stats()
    finally:
        RUNTIME.shutdown(10)
    assert (stats.sent, stats.spooled, stats.replayed, stats.dropped) == (5, 4, 4, 0)
    stored = [c["id"] for c in _stored_calls(db)]
    assert sorted(stored) == sorted(ids)
    assert len(stored) == len(set(stored)) == mock.stats(with_requests=False)["totals"]["requests"] == 9
