"""Streams saved as files of records: a JSON list (Gemini's ``streamGenerateContent`` without
``alt=sse``), JSON lines of Gemini chunks with or without a response id, and OpenAI or Azure chat
chunks. One stream is one call with the stream's final usage; separate answers stay separate calls.

Prices (catalog, 2025-08-01): gemini-2.5-pro $1.25/M input, $0.125/M cached, $10/M output (visible
and thinking); gpt-4.1-mini $0.40/M input, $0.10/M cached, $1.60/M output.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json, write_lines
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Status
from tokenomy.store import DuckDBStore

GEMINI = "gemini-2.5-pro"
CREATED = "2025-08-01T10:00:00Z"
ID_A, ID_B = "kQ3jaNyFB9ab1dkPz0a1sAa", "kQ3jaNyFB9ab1dkPz0a1sBb"


def _chunk(text: str, counts: dict[str, int], *, finish: str | None = None, rid: str | None = None) -> Any:
    """One Gemini stream chunk: a piece of text and the usage counted so far."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "usageMetadata": counts,
        "modelVersion": GEMINI,
        "createTime": CREATED,
    }
    if rid is not None:
        chunk["responseId"] = rid
    return chunk


def stream_a(rid: str | None = None) -> list[Any]:
    """6,000 prompt tokens (2,000 cached), 500 thinking, then 90 visible: the counts grow."""
    prompt = {"promptTokenCount": 6000, "cachedContentTokenCount": 2000}
    return [
        _chunk("The", {**prompt, "totalTokenCount": 6000}, rid=rid),
        _chunk(
            " sky",
            {**prompt, "candidatesTokenCount": 40, "thoughtsTokenCount": 500, "totalTokenCount": 6540},
            rid=rid,
        ),
        _chunk(
            " is blue.",
            {**prompt, "candidatesTokenCount": 90, "thoughtsTokenCount": 500, "totalTokenCount": 6590},
            finish="STOP",
            rid=rid,
        ),
    ]


def stream_b(rid: str | None = None) -> list[Any]:
    """The next call of the same model: 1,000 prompt tokens, 30 visible."""
    return [
        _chunk(
            "Yes", {"promptTokenCount": 1000, "candidatesTokenCount": 10, "totalTokenCount": 1010}, rid=rid
        ),
        _chunk(
            ".",
            {"promptTokenCount": 1000, "candidatesTokenCount": 30, "totalTokenCount": 1030},
            finish="STOP",
            rid=rid,
        ),
    ]


A_BUCKETS = {
    "input_uncached": 4000,
    "cache_read": 2000,
    "cache_write_5m": 0,
    "cache_write_1h": 0,
    "output_visible": 90,
    "reasoning": 500,
}
A_COST = Decimal("0.005") + Decimal("0.00025") + Decimal("0.0059")  # 4,000 in, 2,000 cached, 590 out
B_BUCKETS = {**A_BUCKETS, "input_uncached": 1000, "cache_read": 0, "output_visible": 30, "reasoning": 0}
B_COST = Decimal("0.00125") + Decimal("0.0003")  # 1,000 in, 30 out


def _by_input(store: DuckDBStore) -> list[Call]:
    return sorted(calls(store).values(), key=lambda c: c.usage.input_total or 0, reverse=True)


def _assert_a_and_b(store: DuckDBStore) -> None:
    first, second = _by_input(store)
    assert first.usage.buckets() == A_BUCKETS
    assert second.usage.buckets() == B_BUCKETS
    for call in (first, second):
        assert (call.status, call.finish_reason, call.streamed, call.provider) == (
            Status.OK,
            "STOP",
            True,
            "google",
        )
        assert_adds_up(call)
    assert (cost_total(first), cost_total(second)) == (A_COST, B_COST)


def test_a_gemini_stream_saved_as_a_json_list_is_one_call_with_its_final_counts(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Each chunk of the list read as a body stored the first (output 0) and dropped the others, which
    carry the final counts, as duplicates of its id. Two streams in one list are two calls."""
    path = write_json(tmp_path / "stream.json", [*stream_a(ID_A), *stream_b(ID_B)])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.duplicates, summary.rejected) == (2, 0, 0)
    assert set(calls(store)) == {ID_A, ID_B}
    _assert_a_and_b(store)
    assert summary.cost == A_COST + B_COST


@pytest.mark.parametrize("saved", ["jsonl", "json"])
def test_gemini_chunks_without_an_id_count_their_prompt_once(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, saved: str
) -> None:
    """Without ids, each chunk was a call that counted the 6,000-token prompt again (18,000 + 2,000).
    The chunks of a stream grow, name one model and none finishes before the last; the next stream's
    first chunk follows a finished one, so it starts a call of its own."""
    records = [*stream_a(), *stream_b()]
    path = tmp_path / f"chunks.{saved}"
    write_lines(path, records) if saved == "jsonl" else write_json(path, records)
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 0)
    assert summary.input_total == 7000
    _assert_a_and_b(store)
    again = run(store, pricer, path)  # the ids (hashes of the streams) are stable
    assert (again.calls, again.duplicates) == (0, 2)


def test_a_cut_gemini_stream_without_an_id_does_not_take_the_next_call(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A stream cut after its second chunk, then the next call: that call's first chunk counts another
    prompt (1,000, not 6,000), so it is no chunk of the cut stream, which is stored as cut."""
    path = write_lines(tmp_path / "cut.jsonl", [*stream_a()[:2], *stream_b()])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 0)
    cut, whole = _by_input(store)
    assert (cut.status, cut.error_type, cut.streamed) == (Status.ERROR, "stream_cut", True)
    assert cut.usage.buckets() == {**A_BUCKETS, "output_visible": 40}  # what the last chunk counted
    assert cost_total(cut) == Decimal("0.005") + Decimal("0.00025") + Decimal("0.0054")  # 540 out
    assert whole.usage.buckets() == B_BUCKETS
    assert cost_total(whole) == B_COST


def test_an_error_line_after_a_running_gemini_chunk_fails_that_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    error = {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}
    path = write_lines(tmp_path / "failed.jsonl", [*stream_a()[:2], error])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    (call,) = calls(store).values()
    assert (call.status, call.error_type, call.streamed) == (Status.ERROR, "RESOURCE_EXHAUSTED", True)
    assert call.usage.buckets() == {**A_BUCKETS, "output_visible": 40}  # what the last chunk counted
    assert cost_total(call) == Decimal("0.005") + Decimal("0.00025") + Decimal("0.0054")  # 540 out


def test_complete_gemini_answers_without_ids_stay_separate_calls(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A guard (true before the change too): answers of one model whose counts grow, each finished,
    are a conversation's calls, not one stream."""
    answers = [
        _chunk(
            "a",
            {"promptTokenCount": 100 * n, "candidatesTokenCount": 10, "totalTokenCount": 100 * n + 10},
            finish="STOP",
        )
        for n in (1, 2, 3)
    ]
    summary = run(store, pricer, write_json(tmp_path / "answers.json", answers))
    assert (summary.calls, summary.duplicates) == (3, 0)
    assert sorted(c.usage.input_uncached or 0 for c in calls(store).values()) == [100, 200, 300]
    # 600 in, 30 out
    assert summary.cost == Decimal("0.00075") + Decimal("0.0003")


def _openai_chunks(rid: str) -> list[dict[str, Any]]:
    """A gpt-4.1-mini chat stream with ``include_usage``: its usage comes in a last, choiceless chunk."""
    head = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": 1754042400,
        "model": "gpt-4.1-mini-2025-04-14",
    }
    usage = {
        "prompt_tokens": 3000,
        "completion_tokens": 250,
        "total_tokens": 3250,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    return [
        {
            **head,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            "usage": None,
        },
        {
            **head,
            "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
            "usage": None,
        },
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
        {**head, "choices": [], "usage": usage},
    ]


CHAT_BUCKETS = {
    "input_uncached": 1976,
    "cache_read": 1024,
    "cache_write_5m": 0,
    "cache_write_1h": 0,
    "output_visible": 250,
    "reasoning": 0,
}
CHAT_COST = Decimal("0.0007904") + Decimal("0.0001024") + Decimal("0.0004")  # 1,976 in, 1,024 cached, 250 out


def _assert_chat(store: DuckDBStore, rid: str) -> None:
    call = calls(store)[rid]
    assert call.usage.buckets() == CHAT_BUCKETS
    assert (call.status, call.finish_reason, call.streamed) == (Status.OK, "stop", True)
    assert cost_total(call) == CHAT_COST


def test_openai_chunks_saved_as_a_json_list_keep_their_final_usage(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Read as bodies, the first chunk was stored with no usage and the usage chunk dropped as a duplicate."""
    summary = run(
        store, pricer, write_json(tmp_path / "chunks.json", _openai_chunks("chatcmpl-ListOfChunks01"))
    )
    assert (summary.calls, summary.duplicates, summary.rejected) == (1, 0, 0)
    assert [f.format for f in summary.files] == ["provider"]
    _assert_chat(store, "chatcmpl-ListOfChunks01")


def test_azure_chunks_after_the_prompt_filter_chunk_are_one_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Azure's first chunk carries only the prompt's filter results (no choices, empty id and object):
    it made the file unrecognised, and with ``--format provider`` each chunk a body."""
    preamble = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [
            {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}
        ],
    }
    lines = [json.dumps(preamble), *(json.dumps(c) for c in _openai_chunks("chatcmpl-AzureChunks0001"))]
    path = write_lines(tmp_path / "azure.jsonl", lines)
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    assert [f.format for f in summary.files] == ["provider"]
    _assert_chat(store, "chatcmpl-AzureChunks0001")


def _snake(value: Any) -> Any:
    """``value`` as a Gemini Python SDK dumps it (``model_dump()``): every key in snake_case."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


@pytest.mark.parametrize("rid", [ID_A, None])
def test_a_python_sdks_dumped_stream_chunks_are_one_call(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, rid: str | None
) -> None:
    """The same streams with the SDK's names (``response_id``, ``usage_metadata``, ``finish_reason``)."""
    records = _snake([*stream_a(rid), *stream_b(None if rid is None else ID_B)])
    assert "response_id" in records[0] or rid is None
    summary = run(store, pricer, write_lines(tmp_path / "dumped.jsonl", records))
    assert (summary.calls, summary.duplicates, summary.rejected) == (2, 0, 0)
    _assert_a_and_b(store)


def test_records_without_candidates_are_no_stream_to_join(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Usage alone (no candidate, as a Live API message carries it) says nothing of a running stream:
    three such records of one prompt were read as one cut stream, failed, its output unknown."""
    usage = {"promptTokenCount": 100, "candidatesTokenCount": 0, "totalTokenCount": 100}
    records = [{"usageMetadata": usage, "modelVersion": GEMINI, "createTime": CREATED} for _ in range(3)]
    summary = run(store, pricer, write_lines(tmp_path / "usage.jsonl", records))
    assert (summary.calls, summary.duplicates, summary.rejected) == (1, 2, 0)  # the same content, the same id
    (call,) = calls(store).values()
    assert (call.status, call.error_type, call.usage.output_visible) == (Status.OK, None, 0)
    assert cost_total(call) == Decimal("0.000125")  # 100 prompt tokens at $1.25/M
