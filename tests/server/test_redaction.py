"""The collector's redaction hook: the text it keeps goes through the hook on the writer's thread, before
the store or the spool sees it; a hook that fails keeps the call without its text."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import SpanSpec, request_bytes
from tests.server.test_writer import FakeStore
from tokenomy.capture.redaction import CheckedRedact
from tokenomy.errors import ConfigError, StoreError
from tokenomy.server import payloads
from tokenomy.server.settings import ServerSettings, check
from tokenomy.server.spool import Frame, Spool, read_segment
from tokenomy.server.writer import Writer
from tokenomy.store.events import EventBatch

SECRET = "SECRET-4f1c"
TRACE = "0af7651916cd43dd8448eb211c80319c"


def scrub(text: str) -> str:
    """A hook that keeps nothing of the text but its length; it refuses text that says RAISE."""
    if "RAISE" in text:
        raise ValueError("this hook refuses the text")
    return f"<{len(text)} chars>"


def _call(call_id: str, prompt: str | None, completion: str | None) -> dict[str, Any]:
    return {
        "id": call_id,
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "usage": {"input_uncached": 10, "output_visible": 2},
        "content": {"prompt": prompt, "completion": completion},
    }


def _events_body() -> bytes:
    records = [
        _call("c-1", f"hello {SECRET} prompt", f"{SECRET} answer"),
        _call("c-2", f"RAISE {SECRET}", f"fine {SECRET}"),  # the hook fails on the prompt: no text at all
        _call("c-3", None, f"only a completion {SECRET}"),
        {"id": "c-4", "provider": "openai", "request_model": "gpt-4o-mini"},  # no content
    ]
    return "\n".join(json.dumps(r) for r in records).encode()


def _texts(batch: EventBatch) -> dict[str, tuple[str | None, str | None]]:
    rows = batch.calls.select(["id", "prompt_text", "completion_text"]).to_pylist()
    return {r["id"]: (r["prompt_text"], r["completion_text"]) for r in rows}


EXPECTED = {
    "c-1": ("<24 chars>", "<18 chars>"),
    "c-2": (None, None),
    "c-3": (None, "<29 chars>"),
    "c-4": (None, None),
}


def test_redacted_puts_each_calls_text_through_the_hook_and_drops_it_when_the_hook_fails() -> None:
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)
    assert _texts(payload.batch)["c-1"] == (f"hello {SECRET} prompt", f"{SECRET} answer")
    batch = payloads.redacted(payload.batch, CheckedRedact(scrub))
    assert _texts(batch) == EXPECTED
    assert batch.calls.num_rows == 4
    assert batch.calls.schema.equals(payload.batch.calls.schema)
    others = [n for n in batch.calls.column_names if n not in ("prompt_text", "completion_text")]
    assert batch.calls.select(others).equals(payload.batch.calls.select(others))


def test_redacted_rewrites_span_status_messages_kept_under_content_capture() -> None:
    spans = [
        SpanSpec(TRACE, "b7ad6b7169203331", None, "invoke_agent a", status_code=2, status_message=SECRET),
        SpanSpec(TRACE, "c7ad6b7169203332", "b7ad6b7169203331", "execute_tool t", status_code=2,
                 status_message=f"RAISE {SECRET}"),
        SpanSpec(TRACE, "d7ad6b7169203333", "b7ad6b7169203331", "execute_tool u"),
    ]  # fmt: skip
    payload, _read = payloads.traces(request_bytes(spans), "protobuf", capture_content=True)
    batch = payloads.redacted(payload.batch, CheckedRedact(scrub))
    assert batch.spans.column("status_message").to_pylist() == ["<11 chars>", None, None]


def test_no_hook_or_no_text_leaves_the_batch_as_it_is() -> None:
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=False)
    assert payloads.redacted(payload.batch, CheckedRedact(scrub)) is payload.batch
    kept, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)
    assert payloads.redacted(kept.batch, None) is kept.batch


def _writer(tmp_path: Path, store: FakeStore, **options: Any) -> Writer:
    def opener() -> Any:
        if store.failing:
            raise StoreError("locked by another process")
        return store

    return Writer(opener, Spool(tmp_path / "spool"), pricer=object(), first_retry_s=0.01, **options)  # type: ignore[arg-type]


def _submitted(tmp_path: Path, store: FakeStore, payload: payloads.Payload, **options: Any) -> str:
    """Where a writer with ``options`` put ``payload``: "store" or "spool"."""

    async def scenario() -> str:
        w = _writer(tmp_path, store, **options)
        await w.start()
        try:
            return await w.submit(payload)
        finally:
            await w.stop()

    return asyncio.run(scenario())


def test_the_writer_redacts_on_its_own_thread_before_the_store(tmp_path: Path) -> None:
    threads: list[str] = []

    def hook(text: str) -> str:
        threads.append(threading.current_thread().name)
        return scrub(text)

    store = FakeStore()
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)

    assert _submitted(tmp_path, store, payload, capture_content=True, redact=CheckedRedact(hook)) == "store"
    [written] = store.written
    assert _texts(written) == EXPECTED
    assert threads
    assert {name.split("_")[0] for name in threads} == {"tokenomy-writer"}


def test_the_spool_holds_only_the_hooks_text_and_replays_it_as_it_is(tmp_path: Path) -> None:
    calls: list[str] = []

    def hook(text: str) -> str:
        calls.append(text)
        return scrub(text)

    store = FakeStore()
    store.failing = True
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)

    async def scenario() -> None:
        w = _writer(tmp_path, store, capture_content=True, redact=CheckedRedact(hook))
        await w.start()
        try:
            assert await w.submit(payload) == "spool"
            segments = w.spool.segments()
            raw = b"".join(p.read_bytes() for p in segments)
            frames = [f for p in segments for f in read_segment(p)[0]]
            rows = b"".join(payloads.unpack_group(f.body) for f in frames)
            assert SECRET.encode() not in raw
            assert SECRET.encode() not in rows
            assert b"<24 chars>" in rows
            store.failing = False
            for _ in range(5000):  # the replay starts once the store opens (first retry: 10 ms)
                if not w.spool.pending():
                    break
                await asyncio.sleep(0.01)
        finally:
            await w.stop()

    asyncio.run(scenario())
    [replayed] = store.written
    assert _texts(replayed) == EXPECTED
    assert len(calls) == 4  # once each on the way in (c-2's completion never reached), never on replay


def test_a_body_spooled_by_an_earlier_version_goes_through_the_hook_on_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([Frame(payloads.EVENTS_NDJSON, _events_body())])
    frames: list[Frame] = []
    spool.replay(frames.extend)
    batch = payloads.batch_of(frames[0], capture_content=True, redact=CheckedRedact(scrub))
    assert _texts(batch) == EXPECTED


def test_a_writer_without_content_capture_never_calls_the_hook(tmp_path: Path) -> None:
    def hook(text: str) -> str:
        raise AssertionError("the hook ran with content capture off")

    store = FakeStore()
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=False)

    assert _submitted(tmp_path, store, payload, capture_content=False, redact=CheckedRedact(hook)) == "store"
    assert _texts(store.written[0]) == dict.fromkeys(EXPECTED, (None, None))


def test_a_hook_that_fails_is_logged_naming_it_never_the_text(caplog: pytest.LogCaptureFixture) -> None:
    def refuses(text: str) -> str:
        raise RuntimeError(text)  # an exception that quotes the text: the log must not

    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        batch = payloads.redacted(payload.batch, CheckedRedact(refuses))
    assert _texts(batch) == dict.fromkeys(EXPECTED, (None, None))
    messages = [r.getMessage() for r in caplog.records if r.name == "tokenomy.capture"]
    assert len(messages) == 1  # once a minute, not once per call
    assert "refuses raised RuntimeError" in messages[0]
    assert SECRET not in caplog.text


def test_settings_refuse_a_hook_without_content_capture(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="add --capture-content"):
        check(ServerSettings(db=tmp_path / "t.duckdb", redact=CheckedRedact(scrub)))
    check(ServerSettings(db=tmp_path / "t.duckdb", redact=CheckedRedact(scrub), capture_content=True))


def _spooled(tmp_path: Path, kind: bytes) -> Frame:
    """One group frame of the events body as a run without a hook spooled it (text as sent)."""
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)
    [frame] = payloads.spool_frames([payload], redacted=kind == b"H")
    return frame


def test_rows_spooled_without_a_hook_go_through_the_hook_of_the_run_that_replays_them(tmp_path: Path) -> None:
    frame = _spooled(tmp_path, b"G")
    assert frame.kind == payloads.GROUP
    batch = payloads.batch_of(frame, capture_content=True, redact=CheckedRedact(scrub))
    assert _texts(batch) == EXPECTED
    # and a run that keeps no text stores none of it
    assert set(_texts(payloads.batch_of(frame, capture_content=False)).values()) == {(None, None)}


def test_rows_spooled_through_a_hook_are_replayed_as_they_are(tmp_path: Path) -> None:
    frame = _spooled(tmp_path, b"H")
    assert frame.kind == payloads.GROUP_REDACTED
    assert payloads.payload_count(frame) == 1
    seen: list[str] = []

    def hook(text: str) -> str:
        seen.append(text)
        return text

    batch = payloads.batch_of(frame, capture_content=True, redact=CheckedRedact(hook))
    assert seen == []
    assert _texts(batch)["c-1"] == (f"hello {SECRET} prompt", f"{SECRET} answer")


@pytest.mark.parametrize(
    "answer",
    [lambda text: "bad \ud800 surrogate", lambda text: (_ for _ in ()).throw(SystemExit(3))],
    ids=["lone surrogate", "SystemExit"],
)
def test_a_hook_that_answers_unwritable_text_or_exits_keeps_the_call_without_text(answer: Any) -> None:
    payload, _counts = payloads.events(_events_body(), ndjson=True, capture_content=True)
    batch = payloads.redacted(payload.batch, CheckedRedact(answer))
    assert set(_texts(batch).values()) == {(None, None)}
    assert batch.calls.num_rows == 4


def test_settings_refuse_a_bare_function(tmp_path: Path) -> None:
    settings = ServerSettings(db=tmp_path / "t.duckdb", capture_content=True, redact=scrub)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a loaded hook"):
        check(settings)
