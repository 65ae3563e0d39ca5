"""What a trace request leaves behind holds no content unless capture is on: the spans table, the
span status messages, and the spool (which keeps rows, not bodies, in owner-only files)."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tests.server.support import SpanSpec, call, request_bytes, request_json
from tests.server.test_span_rows import ALLOWED, REVIEW_LEAKS
from tests.server.test_writer import FakeStore
from tokenomy.errors import PayloadError, StoreError
from tokenomy.pricing import Pricer
from tokenomy.server import payloads
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.server.spool import Frame, Spool, read_segment
from tokenomy.server.writer import Writer
from tokenomy.store import open_store
from tokenomy.store.events import EventBatch

TRACE = "0af7651916cd43dd8448eb211c80319c"
STATUS = "PROMPT status message sk-test-KEY123"
CONTENT = {
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "PROMPT in"}]}]',
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "PROMPT out"}]}]',
    "gen_ai.system_instructions": "PROMPT instructions",
    "gen_ai.prompt": "PROMPT deprecated",
    "gen_ai.tool.call.arguments": '{"q": "PROMPT args"}',
    "gen_ai.tool.call.result": "PROMPT result",
}


def _spans() -> list[SpanSpec]:
    """The review's request: an agent, a tool and a model call, all failed, carrying content and keys."""
    leaks = {**CONTENT, **REVIEW_LEAKS}
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "myagent"}
    tool = {**ALLOWED, "gen_ai.conversation.id": "sess-otlp"}
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-private-1",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }
    return [
        SpanSpec(TRACE, "b7ad6b7169203331", None, "invoke_agent myagent", 1, attributes={
            **agent, "gen_ai.conversation.id": "sess-otlp", **leaks}, status_code=2, status_message=STATUS),
        SpanSpec(TRACE, "c7ad6b7169203332", "b7ad6b7169203331", "execute_tool lookup", 1,
                 attributes={**tool, **leaks}, status_code=2, status_message=STATUS),
        SpanSpec(TRACE, "d7ad6b7169203333", "b7ad6b7169203331", "chat gpt-4o-mini", 3,
                 attributes={**chat, **leaks}, status_code=2, status_message=STATUS),
    ]  # fmt: skip


def _leaked(text: str) -> list[str]:
    return [marker for marker in ("PROMPT", "KEY123", "KEY456") if marker in text]


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def _post(tmp_path: Path, pricer: Pricer, body: bytes, headers: dict[str, str], **settings: Any) -> Any:
    app = Collector(ServerSettings(db=tmp_path / "t.duckdb", **settings), pricer=pricer)

    async def main() -> Any:
        await app.startup()
        try:
            posted = await call(app, "POST", "/v1/traces", body, headers)
            assert posted.status == 200
            return (await call(app, "GET", "/api/v1/sessions/sess-otlp")).json()
        finally:
            await app.shutdown()

    return asyncio.run(main())


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_the_reviews_spans_keep_no_content_or_key(tmp_path: Path, pricer: Pricer, encoding: str) -> None:
    body = request_bytes(_spans()) if encoding == "protobuf" else request_json(_spans())
    kind = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    session = _post(tmp_path, pricer, body, {"content-type": kind})
    spans = {s["name"]: s for s in session["spans"]}
    assert sorted(spans) == ["execute_tool lookup", "invoke_agent myagent"]
    assert [s["status"] for s in spans.values()] == ["error", "error"]
    assert [s["status_message"] for s in spans.values()] == [None, None]
    assert spans["execute_tool lookup"]["tool_name"] == "lookup"
    assert json.loads(spans["execute_tool lookup"]["attributes"]) == ALLOWED | {
        "gen_ai.conversation.id": "sess-otlp"
    }
    assert _leaked(json.dumps(session["spans"])) == []
    with open_store(tmp_path / "t.duckdb", read_only=True) as store:
        stored = store.query("SELECT * FROM spans").to_pylist()
    assert len(stored) == 2
    assert _leaked(json.dumps(stored, default=str)) == []


def test_status_messages_are_stored_when_content_capture_is_on(tmp_path: Path, pricer: Pricer) -> None:
    session = _post(
        tmp_path,
        pricer,
        request_bytes(_spans()),
        {"content-type": "application/x-protobuf"},
        capture_content=True,
    )
    assert [s["status_message"] for s in session["spans"]] == [STATUS, STATUS]
    # capture on keeps the status, never the attributes outside the allow-list
    assert not _leaked(json.dumps([s["attributes"] for s in session["spans"]]))


def _locked_writer(tmp_path: Path, store: FakeStore, capture_content: bool = False) -> Writer:
    """A writer whose store cannot be opened until ``store.failing`` is cleared."""

    def opener() -> Any:
        if store.failing:
            raise StoreError("locked by another process")
        return store

    spool = Spool(tmp_path / "spool")
    return Writer(opener, spool, pricer=object(), first_retry_s=0.01, capture_content=capture_content)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_the_spool_keeps_rows_without_content_in_owner_only_files(tmp_path: Path, encoding: str) -> None:
    body = request_bytes(_spans()) if encoding == "protobuf" else request_json(_spans())
    assert _leaked(body.decode("latin-1"))  # the body carries them all
    payload, _read = payloads.traces(body, encoding)
    store = FakeStore()
    store.failing = True

    async def scenario() -> list[str]:
        w = _locked_writer(tmp_path, store)
        await w.start()
        try:
            where = await w.submit(payload)
            segments = w.spool.segments()
            modes = [stat.S_IMODE(p.stat().st_mode) for p in [w.spool.folder, *segments]]
            assert (where, modes) == ("spool", [0o700] + [0o600] * len(segments))
            frames = [f for p in segments for f in read_segment(p)[0]]
            assert [f.kind for f in frames] == [payloads.GROUP]
            data = b"".join(payloads.unpack_group(f.body) for f in frames)  # the rows, uncompressed
            assert _leaked(data.decode("latin-1")) == []
            assert b"chatcmpl-private-1" in data
            assert b"lookup" in data
            store.failing = False
            for _ in range(5000):  # the writer replays once the store opens (its first retry: 10 ms)
                if not w.spool.pending():
                    break
                await asyncio.sleep(0.01)
            return store.ids
        finally:
            await w.stop()

    assert asyncio.run(scenario()) == ["chatcmpl-private-1"]
    [replayed] = store.written
    assert replayed.spans.column("status_message").to_pylist() == [None, None]
    assert replayed.spans.equals(payload.batch.spans)
    assert replayed.calls.column("id").to_pylist() == payload.batch.calls.column("id").to_pylist()


def test_rows_come_back_from_the_spool_as_they_went_in(tmp_path: Path) -> None:
    payload, _read = payloads.traces(request_bytes(_spans()), "protobuf", capture_content=True)
    spool = Spool(tmp_path / "spool")
    spool.append([payload.frame()])
    got: list[Frame] = []
    assert spool.replay(got.extend) == 1
    batch = payloads.batch_of(got[0], capture_content=True)
    for name in ("calls", "charges", "outcomes", "spans"):
        assert getattr(batch, name).equals(getattr(payload.batch, name)), name
    assert batch.spans.column("status_message").to_pylist() == [STATUS, STATUS]
    # a run that keeps no content replays them without it
    plain = payloads.batch_of(got[0])
    assert plain.spans.column("status_message").to_pylist() == [None, None]
    assert plain.calls.column("id").equals(payload.batch.calls.column("id"))


def test_a_frame_of_rows_from_another_version_is_given_this_versions_columns() -> None:
    payload, _read = payloads.traces(request_bytes(_spans()), "protobuf")
    older = payload.batch.spans.drop_columns(["service_name"]).append_column("gone", pa.array(["x", "y"]))
    frame = payloads.Payload(EventBatch(spans=older)).frame()
    batch = payloads.batch_of(frame)
    assert batch.spans.schema.equals(payload.batch.spans.schema)
    assert batch.spans.column("service_name").to_pylist() == [None, None]
    assert batch.spans.column("span_id").equals(payload.batch.spans.column("span_id"))


def test_bodies_spooled_by_an_earlier_version_still_replay_without_content() -> None:
    body = request_bytes(_spans())
    batch = payloads.batch_of(Frame(payloads.TRACES_PROTOBUF, body))
    assert batch.calls.column("id").to_pylist() == ["chatcmpl-private-1"]
    assert batch.spans.column("status_message").to_pylist() == [None, None]


def test_a_damaged_frame_of_rows_is_a_payload_error() -> None:
    payload, _read = payloads.traces(request_bytes(_spans()), "protobuf")
    data = payload.frame().body
    with pytest.raises(PayloadError, match="does not decompress"):
        payloads.batch_of(Frame(payloads.GROUP, data[: len(data) // 2]))
    rows = payloads.unpack_group(data)
    with pytest.raises(PayloadError, match="does not read"):
        payloads.batch_of(Frame(payloads.GROUP_PLAIN, b"\x01\x00\x00\x00" + rows[: len(rows) // 2]))
