"""A span that counts audio, image or video tokens reaches the importer's mapping, which keeps them.

The collector's columnar quick path knows only the plain usage keys: a span with a modality key is
not plain, so the importer's path maps it and its ``Usage.modalities`` survive into the calls table.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.support import SpanSpec, request_bytes, request_json
from tokenomy.importers import ImportOptions, calls_from_spans, decode_protobuf
from tokenomy.server.otlp_ingest import read_traces

PLAIN: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-realtime",
    "gen_ai.response.model": "gpt-realtime",
    "gen_ai.response.id": "resp-audio-1",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 400,
    "gen_ai.usage.cache_read.input_tokens": 900,
    "gen_ai.usage.cache_creation.input_tokens": 0,
    "gen_ai.usage.reasoning.output_tokens": 0,
}
MODAL: dict[str, Any] = {
    "gen_ai.usage.audio.input_tokens": 300,
    "gen_ai.usage.image.input_tokens": 50,
    "gen_ai.usage.audio.output_tokens": 380,
}
EXPECTED = {
    "input_uncached.audio": 100,
    "cache_read.audio": 200,
    "cache_read.image": 50,
    "output_visible.audio": 380,
}


def test_the_same_span_without_modality_keys_is_quick() -> None:
    read = read_traces(
        request_bytes([SpanSpec("01" * 16, "02" * 8, name="chat", attributes=PLAIN)]), "protobuf"
    )
    assert read.quick
    assert read.calls.num_rows == 1


@pytest.mark.parametrize("key", sorted(MODAL))
def test_a_modality_key_sends_the_span_to_the_importers_path(key: str) -> None:
    attrs = {**PLAIN, key: MODAL[key]}
    read = read_traces(
        request_bytes([SpanSpec("01" * 16, "02" * 8, name="chat", attributes=attrs)]), "protobuf"
    )
    assert not read.quick
    assert read.calls.num_rows == 1


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_the_importers_path_keeps_the_modalities(encoding: str) -> None:
    spans = [SpanSpec("01" * 16, "02" * 8, name="chat", attributes={**PLAIN, **MODAL})]
    data = request_bytes(spans) if encoding == "protobuf" else request_json(spans)
    read = read_traces(data, encoding)
    assert not read.quick
    (row,) = read.calls.to_pylist()
    assert dict(row["modalities"]) == EXPECTED
    assert (row["input_uncached"], row["cache_read"], row["output_visible"]) == (100, 900, 400)
    (call,) = calls_from_spans(decode_protobuf(request_bytes(spans), "test"), ImportOptions())
    assert call.usage.modalities == EXPECTED
    assert call.usage.ok
