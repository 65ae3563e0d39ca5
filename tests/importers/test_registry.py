"""Detection: each format is recognised from its content, real samples included; garbage is refused."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import otlp_of_case, write_json, write_lines
from tokenomy.errors import ImportFileError
from tokenomy.importers import FORMATS, detect, format_names
from tokenomy.importers.reading import Source


def _detected(path: Path) -> str:
    return detect(Source(path)).name


def test_every_format_is_registered_under_its_name() -> None:
    assert format_names() == (
        "native",
        "otlp",
        "litellm",
        "langfuse",
        "openhands",
        "swe-agent",
        "provider",
        "recording",
        "transcript",
    )
    assert all(FORMATS[name].name == name for name in format_names())


def test_small_fixtures_are_detected(tmp_path: Path) -> None:
    cases = {
        "native": write_lines(tmp_path / "n.jsonl", [samples.native_call("a"), samples.native_call("b")]),
        "otlp": write_json(tmp_path / "t.json", samples.agent_trace()),
        "litellm": write_json(tmp_path / "l.json", [samples.spend_log()]),
        "langfuse": write_json(tmp_path / "f.json", samples.langfuse_trace()),
        "swe-agent": write_json(tmp_path / "s.traj", samples.swe_trajectory()),
        "openhands": write_json(tmp_path / "o.json", samples.openhands_log("r1", [], "hi", at=1.0)),
        "transcript": write_json(tmp_path / "c.json", samples.transcript()),
        "recording": write_json(tmp_path / "r.har", {"log": {"version": "1.2", "entries": []}}),
    }
    for expected, path in cases.items():
        assert _detected(path) == expected, path.name


@pytest.mark.parametrize(
    "content",
    [
        [samples.openai_chat("a"), samples.openai_chat("b")],
        {"request": samples.chat_request(), "response": samples.openai_chat()},
        samples.anthropic_message(),
        samples.gemini_body(),
    ],
    ids=["list-of-bodies", "pair", "anthropic", "gemini"],
)
def test_provider_bodies_are_detected(tmp_path: Path, content: object) -> None:
    assert _detected(write_json(tmp_path / "p.json", content)) == "provider"


def test_streams_are_detected(tmp_path: Path) -> None:
    sse = tmp_path / "stream.txt"
    sse.write_text(samples.ANTHROPIC_SSE)
    chunks = write_lines(tmp_path / "chunks.jsonl", samples.openai_chunks())
    wrapped = write_lines(
        tmp_path / "wrapped.jsonl", [{"data": c} for c in samples.openai_chunks()] + [{"data": "[DONE]"}]
    )
    assert _detected(sse) == _detected(chunks) == _detected(wrapped) == "provider"


def test_otlp_protobuf_and_gzip_are_detected(tmp_path: Path) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    json_format.ParseDict(_with_base64_ids(samples.agent_trace()), request)
    path = tmp_path / "traces.pb"
    path.write_bytes(request.SerializeToString())
    packed = tmp_path / "traces.bin"
    packed.write_bytes(gzip.compress(request.SerializeToString()))
    assert _detected(path) == _detected(packed) == "otlp"


def _with_base64_ids(request: dict[str, object]) -> dict[str, object]:
    import base64

    data: dict[str, Any] = json.loads(json.dumps(request))
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for s in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    return data


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("random.bin", os.urandom(2048) + b"\x00"),
        ("object.json", json.dumps({"name": "not a log", "items": [1, 2, 3]})),
        ("notes.txt", "meeting notes\nnothing to import here\n"),
        ("numbers.json", "[1, 2, 3]"),
        ("csv.csv", "a,b,c\n1,2,3\n"),
    ],
)
def test_garbage_is_refused_with_one_line(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ImportFileError, match="unrecognised format") as info:
        detect(Source(path))
    message = str(info.value)
    assert "\n" not in message
    assert "--format" in message
    assert message.startswith(str(path))


# -- real samples ----------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("litellm-logging", "litellm"),
        ("trajectories/openhands-sdk-llm-logs", "openhands"),
        ("trajectories/swe-agent", "swe-agent"),
        ("provider-responses/openai-python", "provider"),
        ("provider-responses/anthropic-sdk-python", "provider"),
    ],
)
def test_real_samples_are_detected(folder: str, expected: str) -> None:
    root = real_data_path(*folder.split("/"))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert files
    assert {p.name: _detected(p) for p in files} == {p.name: expected for p in files}


@pytest.mark.realdata
def test_real_langfuse_otel_spans_are_detected_as_otlp(tmp_path: Path) -> None:
    lines = real_data_path("langfuse", "otel-mapping-test-spans.jsonl").read_text().splitlines()
    for number, line in enumerate(lines):
        path = write_json(tmp_path / f"{number}.json", otlp_of_case(json.loads(line)))
        assert _detected(path) == "otlp", number
