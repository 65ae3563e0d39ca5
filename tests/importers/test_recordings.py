"""HTTP recordings (VCR cassettes and HAR files): one call per recorded LLM exchange."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import real_data_path
from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json
from tokenomy.importers import detect, recordings
from tokenomy.importers.reading import Source
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore

CHAT_BODY = {
    "id": "chatcmpl-rec-1",
    "object": "chat.completion",
    "created": 1760000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 30,
        "total_tokens": 1230,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
ANTHROPIC_SSE = "".join(
    f"event: {name}\ndata: {json.dumps(data)}\n\n"
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_rec_2",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "usage": {"input_tokens": 50, "cache_read_input_tokens": 2000, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def _cassette(path: Path) -> Path:
    interactions = [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.openai.com/v1/chat/completions",
                "body": json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
                "headers": {"authorization": ["Bearer sk-secret-never-read"]},
            },
            "response": {"status": {"code": 200}, "body": {"string": json.dumps(CHAT_BODY)}},
        },
        {
            "request": {
                "method": "POST",
                "uri": "https://api.anthropic.com/v1/messages/count_tokens",
                "body": "{}",
            },
            "response": {"status": {"code": 200}, "body": {"string": '{"input_tokens": 12}'}},
        },
        {
            "request": {
                "method": "POST",
                "uri": "https://api.anthropic.com/v1/messages",
                "body": json.dumps({"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 256}),
            },
            "response": {"status": {"code": 200}, "body": {"string": ANTHROPIC_SSE}},
        },
    ]
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}), encoding="utf-8")
    return path


def test_cassette_exchanges_become_calls_and_other_endpoints_are_skipped(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    summary = run(store, pricer, _cassette(tmp_path / "traffic.yaml"))
    assert summary.calls == 2
    stored = calls(store)
    chat = stored["chatcmpl-rec-1"]
    assert (chat.provider, chat.request_model, chat.response_model) == (
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert (chat.usage.input_uncached, chat.usage.cache_read, chat.usage.output_visible) == (176, 1024, 30)
    streamed = stored["msg_rec_2"]
    assert streamed.streamed is True
    assert streamed.max_output_tokens == 256
    assert (streamed.usage.input_uncached, streamed.usage.cache_read, streamed.usage.output_total) == (
        50,
        2000,
        12,
    )
    # claude-sonnet-4-5: $3/MTok input, $0.30/MTok cache read, $15/MTok output
    expected = Decimal(50 * 3 + 2000 * 0.3 + 12 * 15) / Decimal(1_000_000)
    assert streamed.cost is not None
    assert streamed.cost.total == expected.quantize(Decimal("1e-12"))


def test_har_entries_with_base64_bodies_and_the_model_in_the_url(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    gemini = {
        "candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 3, "totalTokenCount": 12},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "gem-rec-3",
    }
    har = {
        "log": {
            "version": "1.2",
            "entries": [
                {
                    "startedDateTime": "2026-10-07T09:30:00.000Z",
                    "time": 412.5,
                    "request": {
                        "method": "POST",
                        "url": "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
                        "postData": {"text": json.dumps({"contents": [{"parts": [{"text": "Hi"}]}]})},
                    },
                    "response": {
                        "status": 200,
                        "content": {
                            "encoding": "base64",
                            "text": base64.b64encode(json.dumps(gemini).encode()).decode(),
                        },
                    },
                }
            ],
        }
    }
    path = write_json(tmp_path / "session.har", har)
    assert detect(Source(path)).name == "recording"
    assert run(store, pricer, path).calls == 1
    call = calls(store)["gem-rec-3"]
    assert call.request_model == "gemini-2.5-flash"
    assert call.latency_ms == 412.5
    assert call.started_at is not None
    assert call.started_at.isoformat() == "2026-10-07T09:30:00"
    assert (call.usage.input_total, call.usage.output_visible, call.usage.reasoning) == (9, 3, 0)


def test_every_real_cassette_imports_with_buckets_that_add_up(store: DuckDBStore, pricer: Pricer) -> None:
    folder = real_data_path("provider-responses", "pydantic-ai-cassettes")
    summary = run(store, pricer, folder)
    files = sorted(folder.glob("*.yaml"))
    assert summary.failed == []
    assert summary.rejected == 0
    llm = 0
    for file in files:
        for item in yaml.safe_load(file.read_text(encoding="utf-8"))["interactions"]:
            path = item["request"]["uri"].split("?")[0].lower()
            llm += path.endswith(
                ("/chat/completions", "/responses", "/messages", ":generatecontent", ":streamgeneratecontent")
            )
    assert summary.calls == llm
    for call in calls(store).values():
        assert_adds_up(call)
        assert call.cost is not None
        if call.status == "ok":
            assert call.cost.priced, f"{call.id} ({call.model}) is unpriced: {call.cost.reason}"


def _compressed_cassette(path: Path, body: bytes, encoding: str) -> Path:
    """A cassette as vcrpy writes it without ``decode_compressed_response``: the body as it came."""
    interaction = {
        "request": {
            "method": "POST",
            "uri": "https://api.openai.com/v1/chat/completions",
            "body": json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        },
        "response": {
            "status": {"code": 200},
            "headers": {"Content-Encoding": [encoding], "Content-Type": ["application/json"]},
            "body": {"string": body},
        },
    }
    path.write_text(yaml.safe_dump({"interactions": [interaction], "version": 1}), encoding="utf-8")
    return path


# gpt-4o-2024-08-06: 176 uncached x $2.50/M + 1024 cached x $1.25/M + 30 output x $10/M = $0.00202
CHAT_COST = Decimal("0.00202")


def test_a_gzip_cassette_body_is_decoded(tmp_path: Path, store: DuckDBStore, pricer: Pricer) -> None:
    path = _compressed_cassette(tmp_path / "gz.yaml", gzip.compress(json.dumps(CHAT_BODY).encode()), "gzip")
    assert "!!binary" in path.read_text(encoding="utf-8")
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    chat = calls(store)["chatcmpl-rec-1"]
    assert (chat.usage.input_uncached, chat.usage.cache_read, chat.usage.output_visible) == (176, 1024, 30)
    assert cost_total(chat) == CHAT_COST


@pytest.mark.parametrize("raw", [False, True])
def test_a_deflate_har_body_in_base64_is_decoded(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer, raw: bool
) -> None:
    """deflate is zlib-wrapped by the standard, raw from some servers: both are read."""
    data = json.dumps(CHAT_BODY).encode()
    if raw:
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = packer.compress(data) + packer.flush()
    else:
        packed = zlib.compress(data)
    path = write_json(
        tmp_path / "deflate.har", _har(base64.b64encode(packed).decode(), "deflate", base64=True)
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    assert cost_total(calls(store)["chatcmpl-rec-1"]) == CHAT_COST


def test_a_har_body_stored_decoded_beside_its_gzip_header_is_read_as_it_is(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    """HAR tools keep the decoded text and the original Content-Encoding header, as text or base64."""
    text = json.dumps(CHAT_BODY)
    plain = _har(text, "gzip")
    encoded = _har(base64.b64encode(text.encode()).decode(), "gzip", base64=True)
    assert run(store, pricer, write_json(tmp_path / "plain.har", plain)).calls == 1
    assert run(store, pricer, write_json(tmp_path / "b64.har", encoded)).duplicates == 1


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("gzip", b"\x1f\x8b\x08\x00 cut short", "the bytes are not gzip"),
        ("br", b"\x8b\x02\x80 compressed", "br needs the brotli (or brotlicffi) module"),
        ("zstd", b"\x28\xb5\x2f\xfd compressed", "'zstd' is not decoded here"),
    ],
)
def test_a_body_that_cannot_be_decoded_is_rejected_saying_why(
    tmp_path: Path,
    store: DuckDBStore,
    pricer: Pricer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    encoding: str,
    body: bytes,
    reason: str,
) -> None:
    monkeypatch.setattr(recordings, "brotli_module", lambda: None)  # whether or not one is installed here
    summary = run(store, pricer, _compressed_cassette(tmp_path / "bad.yaml", body, encoding))
    assert (summary.calls, summary.rejected) == (0, 1)
    error = summary.files[0].errors[0]
    assert error.field == "response.body"
    assert f"Content-Encoding is {encoding} and it cannot be decoded: {reason}" in str(error)


def test_a_br_body_is_decoded_with_the_installed_brotli_module(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The br path hands the bytes to the Brotli module (a stand-in here: none need be installed)."""
    packed = b"BR:" + json.dumps(CHAT_BODY).encode()
    stand_in = SimpleNamespace(decompress=lambda data: data.removeprefix(b"BR:"))
    monkeypatch.setattr(recordings, "brotli_module", lambda: stand_in)
    summary = run(store, pricer, _compressed_cassette(tmp_path / "br.yaml", packed, "br"))
    assert (summary.calls, summary.rejected) == (1, 0)
    assert cost_total(calls(store)["chatcmpl-rec-1"]) == CHAT_COST


def _har(text: str, encoding: str, *, base64: bool = False) -> dict[str, object]:
    content = {"mimeType": "application/json", "text": text} | ({"encoding": "base64"} if base64 else {})
    request = {
        "method": "POST",
        "url": "https://api.openai.com/v1/chat/completions",
        "postData": {
            "text": json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        },
    }
    response = {
        "status": 200,
        "headers": [{"name": "content-encoding", "value": encoding}],
        "content": content,
    }
    entry = {
        "startedDateTime": "2024-10-27T03:33:20.000Z",
        "time": 900,
        "request": request,
        "response": response,
    }
    return {"log": {"version": "1.2", "entries": [entry]}}


def test_ollama_and_cohere_streams_in_a_cassette_become_calls(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    """Ollama streams JSON lines (application/x-ndjson), not SSE; Cohere v2 streams typed SSE events."""
    head = {"model": "llama3.2", "created_at": "2024-10-27T03:33:20.000000000Z"}
    ollama_lines = [
        {**head, "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {**head, "message": {"role": "assistant", "content": " there"}, "done": False},
        {**head, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
         "total_duration": 912000000, "prompt_eval_count": 31, "eval_count": 7},
    ]  # fmt: skip
    cohere_events = [
        {"id": "co-rec-1", "type": "message-start", "delta": {"message": {"role": "assistant"}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello"}}}},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {
            "billed_units": {"input_tokens": 40, "output_tokens": 10},
            "tokens": {"input_tokens": 240, "output_tokens": 10}}}},
    ]  # fmt: skip
    interactions = [
        {
            "request": {
                "method": "POST",
                "uri": "http://localhost:11434/api/chat",
                "body": json.dumps({"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}),
            },
            "response": {
                "status": {"code": 200},
                "body": {"string": "\n".join(json.dumps(line) for line in ollama_lines) + "\n"},
            },
        },
        {
            "request": {
                "method": "POST",
                "uri": "https://api.cohere.com/v2/chat",
                "body": json.dumps({"model": "command-r-plus-08-2024", "stream": True, "messages": []}),
            },
            "response": {
                "status": {"code": 200},
                "body": {"string": "".join(f"data: {json.dumps(e)}\n\n" for e in cohere_events)},
            },
        },
    ]
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}), encoding="utf-8")
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 0)
    cohere, local = sorted(calls(store).values(), key=lambda call: call.provider or "")
    assert (local.provider, local.request_model, local.streamed) == ("ollama", "llama3.2", True)
    assert (local.usage.input_total, local.usage.output_total, local.error_type) == (31, 7, None)
    assert cost_total(local) is None  # a local model has no list price: unpriced, not $0
    assert (cohere.id, cohere.provider, cohere.streamed, cohere.error_type) == (
        "co-rec-1",
        "cohere",
        True,
        None,
    )
    assert (cohere.usage.input_total, cohere.usage.output_total) == (40, 10)
    # command-r-plus-08-2024: $2.50/M input, $10/M output: 40 * 2.5e-6 + 10 * 1e-5
    assert cost_total(cohere) == Decimal("0.0002")
