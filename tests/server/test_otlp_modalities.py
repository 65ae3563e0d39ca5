"""Audio, image and video tokens through the collector: never on the quick path, which would drop them.

The quick path maps only the attributes it knows (:mod:`tokenomy.server.otlp_keys`); a span that
carries per-modality counts, the capture SDK's exact ones or the conventions' sums, goes the
importer's way. The SDK's exact counts must come out of the store as they went in.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.server.support import SpanSpec, call, genai_attributes, request_bytes
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.schema import Call, Usage
from tokenomy.server.app import Collector
from tokenomy.server.otlp_ingest import read_traces
from tokenomy.server.settings import ServerSettings
from tokenomy.store import open_store
from tokenomy.store.arrow import call_from_row

PROTOBUF = "protobuf"
AUDIO = Usage.of(
    input_uncached=1200,
    cache_read=4000,
    output_visible=300,
    modalities={"input_uncached.audio": 800, "cache_read.audio": 3000, "output_visible.audio": 250},
)


def _sdk_call() -> Call:
    return Call(
        id="chatcmpl-audio-1",
        provider="openai",
        request_model="gpt-4o-audio-preview",
        response_model="gpt-4o-audio-preview-2024-12-17",
        started_at=datetime(2026, 3, 2, 9, 30, 0, 125000),
        ended_at=datetime(2026, 3, 2, 9, 30, 1, 500000),
        latency_ms=1375.0,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="00f067aa0ba902b7",
        session_id="s-audio",
        step=1,
        usage=AUDIO,
        source="sdk",
    )


def _sdk_request() -> bytes:
    return export_request([_sdk_call()], service_name="svc", version="1").SerializeToString()


def test_sdk_spans_with_modalities_take_the_importers_path() -> None:
    batch = read_traces(_sdk_request(), PROTOBUF)
    assert batch.quick is False
    assert batch.calls.column("id").to_pylist() == ["chatcmpl-audio-1"]


def test_a_genai_span_with_modality_counts_is_not_plain() -> None:
    rng = random.Random(3)
    attrs = genai_attributes(rng, 0)
    plain = request_bytes([SpanSpec("ab" * 16, "cd" * 8, attributes=attrs)])
    assert read_traces(plain, PROTOBUF).quick is True  # the same span without them is plain
    audio = {**attrs, "gen_ai.usage.audio.input_tokens": 40}
    with_audio = request_bytes([SpanSpec("ab" * 16, "cd" * 8, attributes=audio)])
    assert read_traces(with_audio, PROTOBUF).quick is False


def test_an_sdk_call_stores_its_modalities_and_the_api_shows_them(tmp_path: Path) -> None:
    db = tmp_path / "collector.duckdb"
    app = Collector(ServerSettings(db=db))

    async def scenario() -> dict[str, Any]:
        await app.startup()
        try:
            headers = {"content-type": "application/x-protobuf"}
            answer = await call(app, "POST", "/v1/traces", _sdk_request(), headers)
            assert answer.status == 200, answer.body
            one = await call(app, "GET", "/api/v1/calls/chatcmpl-audio-1")
            session = await call(app, "GET", "/api/v1/sessions/s-audio")
        finally:
            await app.shutdown()
        assert (one.status, session.status) == (200, 200), (one.body, session.body)
        return {"call": one.json(), "session": session.json()}

    answers = asyncio.run(scenario())
    with open_store(db, read_only=True) as store:
        (row,) = store.query("SELECT * FROM calls").to_pylist()
    stored = call_from_row(row)
    assert stored.usage.input_uncached == 1200
    assert stored.usage.modalities == AUDIO.modalities
    assert answers["call"]["usage"]["modalities"] == AUDIO.modalities
    (listed,) = answers["session"]["calls"]
    assert listed["usage"]["modalities"] == AUDIO.modalities


def test_the_api_shows_no_modalities_for_a_text_only_call(tmp_path: Path) -> None:
    text = _sdk_call().replace(usage=Usage.of(input_uncached=1200, output_visible=300))
    body = export_request([text], service_name="svc", version="1").SerializeToString()
    app = Collector(ServerSettings(db=tmp_path / "text.duckdb"))

    async def scenario() -> dict[str, Any]:
        await app.startup()
        try:
            await call(app, "POST", "/v1/traces", body, {"content-type": "application/x-protobuf"})
            one = await call(app, "GET", "/api/v1/calls/chatcmpl-audio-1")
        finally:
            await app.shutdown()
        assert one.status == 200, one.body
        found: dict[str, Any] = one.json()
        return found

    detail = asyncio.run(scenario())
    assert (detail["usage"]["input_uncached"], detail["usage"]["output_visible"]) == (1200, 300)
    assert "modalities" not in detail["usage"]
