"""Ollama's and Cohere's streams and answers as they reach the importers: in recordings (HAR and
cassettes), as JSON lines, ended, cut or failed, written in the shapes their API references give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.importers.support import calls, run, write_lines
from tokenomy.pricing import Pricer
from tokenomy.schema import Status
from tokenomy.store import DuckDBStore

HEAD = {"model": "llama3.2", "created_at": "2024-10-27T03:33:20.000000000Z"}


def _cassette(path: Path, exchanges: list[tuple[str, Any]]) -> Path:
    interactions = [
        {
            "request": {"method": "POST", "uri": url, "body": json.dumps({"model": "m", "messages": []})},
            "response": {"status": {"code": 200}, "body": {"string": body}},
        }
        for url, body in exchanges
    ]
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}), encoding="utf-8")
    return path


def _lines(*objects: dict[str, Any]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def test_ollama_streams_end_with_their_done_line_whatever_else_it_carries(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    """The API reference's last lines: /api/generate's names no done_reason (older servers), and
    /api/chat's carries no message; both end their streams, with their counts."""
    generate = _lines(
        {**HEAD, "response": "The", "done": False},
        {**HEAD, "response": " sky", "done": False},
        {
            **HEAD,
            "response": "",
            "done": True,
            "context": [1, 2, 3],
            "prompt_eval_count": 26,
            "eval_count": 259,
        },
    )
    chat = _lines(
        {**HEAD, "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {**HEAD, "done": True, "done_reason": "stop", "prompt_eval_count": 31, "eval_count": 282},
    )
    path = _cassette(
        tmp_path / "ollama.yaml",
        [("http://localhost:11434/api/generate", generate), ("http://localhost:11434/api/chat", chat)],
    )
    assert (run(store, pricer, path).calls, len(calls(store))) == (2, 2)
    by_api = {call.api: call for call in calls(store).values()}
    for api, counts in (("completions", (26, 259)), ("chat", (31, 282))):
        call = by_api[api]
        assert (call.usage.input_total, call.usage.output_total) == counts
        assert (call.status, call.error_type, call.streamed) == (Status.OK, None, True)


def test_an_ollama_stream_that_ends_in_an_error_line_is_a_failed_call(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    """Ollama's server writes ``{"error": "<message>"}`` when a stream fails (HTTP status already
    200): the call is failed, not cut, its output read so far counted locally; the message (free
    text) is not stored."""
    failed = _lines(
        {**HEAD, "message": {"role": "assistant", "content": "Hello there"}, "done": False},
        {"error": "an error was encountered while running the model: unexpected EOF"},
    )
    path = _cassette(tmp_path / "failed.yaml", [("http://localhost:11434/api/chat", failed)])
    assert (run(store, pricer, path).calls, len(calls(store))) == (1, 1)
    [call] = calls(store).values()
    assert (call.status, call.error_type, call.streamed) == (Status.ERROR, "stream_error", True)
    assert (call.provider, call.response_model, call.usage.output_total) == ("ollama", "llama3.2", 2)
    assert call.usage.estimated


def test_a_model_load_is_no_call_in_a_recording_nor_in_json_lines(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    load = {**HEAD, "response": "", "done": True, "done_reason": "load"}
    answer = {**HEAD, "response": "Hi", "done": True, "done_reason": "stop", "prompt_eval_count": 10,
              "eval_count": 5}  # fmt: skip
    recorded = run(
        store,
        pricer,
        _cassette(
            tmp_path / "load.yaml",
            [
                ("http://localhost:11434/api/generate", json.dumps(load)),
                ("http://localhost:11434/api/generate", json.dumps(answer)),
            ],
        ),
    )
    assert (recorded.calls, recorded.rejected) == (1, 0)
    assert recorded.files[0].notes == [
        "1 recorded exchange(s) skipped, not LLM calls with usage: POST /api/generate (a model load)"
    ]
    # JSON lines of answers after a load reply (read as provider bodies, as the format names them):
    # each answer its own call, never one stream, and the load rejected as no answer
    first = {**answer, "created_at": "2024-10-27T03:33:40Z"}
    second = {**answer, "prompt_eval_count": 20, "eval_count": 7, "created_at": "2024-10-27T03:34:00Z"}
    path = write_lines(tmp_path / "answers.jsonl", [load, first, second])
    lines = run(store, pricer, path, fmt="provider")
    assert (lines.calls, lines.rejected) == (2, 1)
    counts = sorted((c.usage.input_total, c.usage.output_total) for c in calls(store).values())
    assert counts == [(10, 5), (10, 5), (20, 7)]  # the recorded answer, then the two lines'


def test_cohere_endpoints_are_calls_on_cohere_hosts_only(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    rerank = json.dumps({"id": "rr-1", "results": [], "meta": {"billed_units": {"search_units": 1}}})
    other = json.dumps({"results": [], "usage": {"total_tokens": 12}})
    summary = run(
        store,
        pricer,
        _cassette(
            tmp_path / "rerank.yaml",
            [("https://api.cohere.com/v2/rerank", rerank), ("https://api.jina.ai/v1/rerank", other)],
        ),
    )
    assert (summary.calls, summary.rejected) == (1, 0)
    assert summary.files[0].notes == [  # another service's rerank: skipped, listed
        "1 recorded exchange(s) skipped, not LLM calls with usage: POST /v1/rerank"
    ]
    assert calls(store)["rr-1"].api == "rerank"


def _cohere_stream(end: dict[str, Any]) -> str:
    events: list[dict[str, Any]] = [
        {"id": "co-9", "type": "message-start", "delta": {"message": {"role": "assistant"}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi there"}}}},
        {"type": "message-end", "delta": end},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def test_a_cohere_stream_ending_in_error_is_an_error_and_one_without_usage_is_counted_locally(
    tmp_path: Path, store: DuckDBStore, pricer: Pricer
) -> None:
    failed = _cohere_stream({"finish_reason": "ERROR", "error": "internal",
                             "usage": {"billed_units": {"input_tokens": 8, "output_tokens": 2}}})  # fmt: skip
    unreported = _cohere_stream({"finish_reason": "COMPLETE"}).replace("co-9", "co-10")
    summary = run(
        store,
        pricer,
        _cassette(
            tmp_path / "cohere.yaml",
            [("https://api.cohere.com/v2/chat", failed), ("https://api.cohere.com/v2/chat", unreported)],
        ),
    )
    assert summary.calls == 2
    stored = calls(store)
    assert (stored["co-9"].status, stored["co-9"].error_type) == (Status.ERROR, "internal")
    assert (stored["co-9"].usage.input_total, stored["co-9"].usage.output_total) == (8, 2)  # billed still
    plain = stored["co-10"]
    assert (plain.status, plain.error_type) == (Status.OK, None)  # it ended: no cut
    assert plain.usage.kind.value == "estimated"  # no usage came: counted locally, not left unknown
    assert plain.usage.output_total is not None
    assert plain.usage.output_total > 0
