"""Cohere's and Ollama's answers and streams, written by hand in the shapes their APIs document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tokenomy.pricing import Pricer
from tokenomy.usage import accumulate, detect, extract, iter_json_events, ollama
from tokenomy.usage.base import Extracted
from tokenomy.usage.sse import json_body

COHERE_V2 = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}],
    },
    "usage": {
        "billed_units": {"input_tokens": 17, "output_tokens": 12},
        "tokens": {"input_tokens": 215, "output_tokens": 12},  # with Cohere's template: not billed
    },
}


def test_a_cohere_answer_is_read_from_what_cohere_bills() -> None:
    assert detect(COHERE_V2) == "cohere.chat"
    found = extract(COHERE_V2)
    assert (found.provider, found.api, found.finish_reason) == ("cohere", "chat", "COMPLETE")
    assert (found.usage.input_total, found.usage.output_total) == (17, 12)
    assert (found.usage.input_uncached, found.usage.reasoning) == (None, None)  # no split reported
    assert found.completion_text == "Hello!"
    cost = Pricer().price_usage(
        found.usage, model="command-r-plus-08-2024", provider="cohere", at=datetime(2026, 1, 1)
    )
    # $2.50/M input, $10/M output
    assert cost.total == Decimal("0.0000425") + Decimal("0.00012")


def test_cohere_v1_and_embed_bodies_keep_their_billed_units_under_meta() -> None:
    v1 = {
        "text": "Hi",
        "generation_id": "g-1",
        "meta": {"billed_units": {"input_tokens": 5, "output_tokens": 3}},
    }
    embed = {"id": "e-1", "embeddings": {"float": [[0.1]]}, "meta": {"billed_units": {"input_tokens": 9}}}
    assert (extract(v1).usage.input_total, extract(v1).usage.output_total, extract(v1).response_id) == (
        5,
        3,
        "g-1",
    )
    embedded = extract(embed)
    assert embedded.api == "embeddings"
    assert embedded.usage.buckets() == {
        "input_uncached": 9,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 0,
        "reasoning": 0,
    }


def test_a_cohere_rerank_is_billed_per_search_not_as_embeddings() -> None:
    rerank = {
        "id": "r-1",
        "results": [{"index": 0, "relevance_score": 0.9}],
        "meta": {"billed_units": {"search_units": 1}},
    }
    found = extract(rerank)
    assert (found.api, found.extra, found.usage.input_total) == ("rerank", {"search_units": 1}, None)


def test_an_ollama_answer_has_its_totals_and_nothing_it_did_not_say() -> None:
    answer = {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": "Hi there"},
        "done_reason": "stop",
        "done": True,
        "total_duration": 4883583458,
        "prompt_eval_count": 26,
        "eval_count": 298,
    }
    assert detect(answer) == "ollama.chat"
    found = extract(answer)
    assert (found.provider, found.response_model, found.finish_reason) == ("ollama", "llama3.2", "stop")
    assert (found.usage.input_total, found.usage.output_total) == (26, 298)
    assert found.usage.buckets() == dict.fromkeys(found.usage.buckets())  # no split: all unknown
    assert found.created_at == datetime(2023, 8, 4, 15, 52, 19, 385406, tzinfo=UTC)
    assert found.extra == {"total_duration_ms": 4883.583458}
    assert found.completion_text == "Hi there"
    # a stream's intermediate line carries no counts and is no answer
    assert (
        detect({"model": "llama3.2", "message": {"role": "assistant", "content": "H"}, "done": False}) is None
    )


def _ollama_lines(*, generate: bool = False, cut: bool = False) -> list[dict[str, object]]:
    def piece(text: str) -> dict[str, object]:
        return {"response": text} if generate else {"message": {"role": "assistant", "content": text}}

    head = {"model": "llama3.2", "created_at": "2023-08-04T08:52:19.385406455-07:00"}
    lines: list[dict[str, object]] = [
        {**head, **piece("The"), "done": False},
        {**head, **piece(" sky"), "done": False},
        {**head, **piece(" is blue."), "done": False},
    ]
    last = {
        **head,
        **piece(""),
        "done": True,
        "done_reason": "stop",
        "total_duration": 4883583458,
        "prompt_eval_count": 26,
        "eval_count": 282,
    }
    return lines if cut else [*lines, last]


def test_an_ollama_stream_is_its_lines_text_joined_and_its_last_lines_counts() -> None:
    for generate in (False, True):
        found = accumulate(_ollama_lines(generate=generate))
        assert (found.adapter, found.provider, found.finish_reason) == ("ollama.chat", "ollama", "stop")
        assert found.api == ("completions" if generate else "chat")
        assert (found.usage.input_total, found.usage.output_total) == (26, 282)
        assert found.completion_text == "The sky is blue."
        assert found.extra == {
            "total_duration_ms": 4883.583458,
            "streamed": True,
            "complete": True,
            "events": 4,
            "odd_events": 0,
        }


def test_an_ollama_generate_stream_keeps_its_thinking_beside_its_response() -> None:
    lines = [
        {**line, "thinking": "Hmm. "} if not line["done"] else line for line in _ollama_lines(generate=True)
    ]
    rebuilt: list[dict[str, object]] = []

    def read(body: Mapping[str, Any]) -> Extracted:
        rebuilt.append(dict(body))
        return ollama.extract(body)

    stream = ollama.AnswerStream(read)
    for line in lines:
        stream.feed(line)
    found = stream.result()
    assert found is not None
    assert (rebuilt[0]["response"], rebuilt[0]["thinking"]) == ("The sky is blue.", "Hmm. Hmm. Hmm. ")
    assert found.completion_text == "The sky is blue."


def test_an_ollama_stream_cut_before_its_last_line_has_its_counts_unknown() -> None:
    found = accumulate(_ollama_lines(cut=True))
    assert (found.usage.input_total, found.usage.output_total) == (None, None)
    assert found.completion_text == "The sky is blue."
    assert (found.extra["complete"], found.finish_reason) == (False, None)


def test_an_ollama_error_line_is_not_a_piece_of_its_stream() -> None:
    """A server failing mid-stream writes ``{"error": ...}`` and stops: the pieces before it are the
    answer read so far (the line would otherwise be taken for the stream's last, its model lost)."""
    found = accumulate([*_ollama_lines(cut=True)[:2], {"error": "model runner has unexpectedly stopped"}])
    assert (found.response_model, found.completion_text) == ("llama3.2", "The sky")
    assert (found.usage.output_total, found.extra["complete"], found.extra["events"]) == (None, False, 3)
    assert found.extra["odd_events"] == 0


def test_ollama_json_lines_text_reads_as_its_events_even_cut_inside_its_last_line() -> None:
    lines = [json.dumps(line) for line in _ollama_lines()]
    assert json_body("\n".join(lines) + "\n") == _ollama_lines()
    cut = "\n".join(lines)[:-20]
    assert json_body(cut) == _ollama_lines()[:3]
    assert json_body('{"a": 1}\nnot json\n{"b": 2}') is None  # only the last line may be cut
    assert json_body('{"a": 1}\n[1, 2]') is None  # lines of objects only
    assert json_body('{"a": 1}') == {"a": 1}  # one JSON document is that document
    assert json_body('{"a": 1}\n--boundary--') is None  # one object and a line of junk is no stream


def test_an_ollama_embed_answer_is_its_prompt_count_all_uncached() -> None:
    answer = {"model": "all-minilm", "embeddings": [[0.01, -0.02]], "total_duration": 14143917,
              "load_duration": 1019500, "prompt_eval_count": 8}  # fmt: skip
    assert detect(answer) == "ollama.chat"
    found = extract(answer)
    assert (found.api, found.response_model, found.extra) == (
        "embeddings",
        "all-minilm",
        {"total_duration_ms": 14.143917},
    )
    assert found.usage.buckets() == {
        "input_uncached": 8, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0,
        "output_visible": 0, "reasoning": 0,
    }  # fmt: skip


COHERE_V2_EVENTS: list[dict[str, Any]] = [
        {"id": "29f14a5a-11e0", "type": "message-start",
         "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}}},
        {"type": "content-start", "index": 0,
         "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello"}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " there"}}}},
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {
            "billed_units": {"input_tokens": 21, "output_tokens": 124},
            "tokens": {"input_tokens": 186, "output_tokens": 124}}}},
]  # fmt: skip
COHERE_V2_STREAM = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in COHERE_V2_EVENTS)


def test_a_cohere_v2_stream_is_billed_from_its_message_end() -> None:
    found = accumulate(iter_json_events(COHERE_V2_STREAM))
    assert (found.adapter, found.api, found.response_id, found.finish_reason) == (
        "cohere.chat",
        "chat",
        "29f14a5a-11e0",
        "COMPLETE",
    )
    assert (found.usage.input_total, found.usage.output_total) == (21, 124)  # billed, not the template's 186
    assert (found.completion_text, found.extra["complete"]) == ("Hello there", True)
    cost = Pricer().price_usage(
        found.usage, model="command-r-plus-08-2024", provider="cohere", at=datetime(2026, 1, 1)
    )
    # $2.50/M input, $10/M output: 21 * 2.5e-6 + 124 * 1e-5
    assert cost.total == Decimal("0.0000525") + Decimal("0.00124")
    cut = accumulate(list(iter_json_events(COHERE_V2_STREAM))[:4])
    assert (cut.usage.input_total, cut.completion_text, cut.extra["complete"]) == (None, "Hello there", False)
    # an end event without usage ends the stream but leaves it incomplete: its usage never came
    events = list(iter_json_events(COHERE_V2_STREAM))
    unreported = accumulate([*events[:-1], {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}])
    assert (unreported.finish_reason, unreported.extra["complete"]) == ("COMPLETE", False)


def test_a_cohere_generation_that_failed_or_timed_out_is_a_failure() -> None:
    for finish, error, failure in (("ERROR", "internal", "internal"), ("ERROR", None, "error"),
                                   ("TIMEOUT", None, "timeout"), ("ERROR_TOXIC", None, "error_toxic"),
                                   ("ERROR_LIMIT", None, "error_limit")):  # fmt: skip
        body = {**COHERE_V2, "finish_reason": finish, **({"error": error} if error else {})}
        assert extract(body).extra == {"failure": failure}
    assert extract(COHERE_V2).extra == {}


def test_a_cohere_v1_stream_is_read_from_its_stream_end_answer() -> None:
    events = [
        {"is_finished": False, "event_type": "stream-start", "generation_id": "g-9"},
        {"is_finished": False, "event_type": "text-generation", "text": "Hi"},
        {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE",
         "response": {"response_id": "r-9", "text": "Hi", "generation_id": "g-9",
                      "meta": {"billed_units": {"input_tokens": 5, "output_tokens": 1}}}},
    ]  # fmt: skip
    found = accumulate(events)
    assert (found.usage.input_total, found.usage.output_total, found.completion_text) == (5, 1, "Hi")
    assert (found.response_id, found.finish_reason, found.extra["complete"]) == ("r-9", "COMPLETE", True)
