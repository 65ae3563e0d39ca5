"""The openai adapter's readers: hand-read stream events mean what model_dump means; no vectors copied."""

from __future__ import annotations

import json
from typing import Any

from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseTextDeltaEvent

from tests.conftest import real_data_path
from tokenomy.capture.sdk.base import dump
from tokenomy.capture.sdk.openai import (
    ADAPTER,
    chat_event,
    chat_events,
    chat_is_output,
    embeddings_body,
    responses_event,
    responses_is_output,
)
from tokenomy.usage import accumulate, extract, stream_accumulator


def _chunk(**fields: Any) -> ChatCompletionChunk:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": []}
    return ChatCompletionChunk.model_validate({**base, **fields})


CHUNKS = [
    _chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
    _chunk(choices=[{"index": 0, "delta": {"content": "Hello"}}]),
    _chunk(choices=[{"index": 0, "delta": {"content": " world"}}]),
    _chunk(
        choices=[
            {
                "index": 0,
                "delta": {
                    "tool_calls": [{"index": 0, "id": "t1", "function": {"name": "f", "arguments": '{"a":'}}]
                },
            }
        ]
    ),
    _chunk(choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]),
    _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    _chunk(
        usage={
            "prompt_tokens": 30,
            "completion_tokens": 9,
            "total_tokens": 39,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 4},
        }
    ),
]


def test_hand_read_chat_chunks_accumulate_to_the_same_result_as_dumped_ones() -> None:
    fast = accumulate([chat_event(c) for c in CHUNKS], kind="openai.chat")
    full = accumulate([dump(c) for c in CHUNKS], kind="openai.chat")
    assert fast.usage == full.usage
    assert fast.usage.buckets() == {
        "input_uncached": 20,
        "cache_read": 10,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 5,
        "reasoning": 4,
    }
    assert (fast.completion_text, fast.finish_reason, fast.tool_uses) == (
        full.completion_text,
        full.finish_reason,
        full.tool_uses,
    )
    assert fast.completion_text == "Hello world"
    assert [t.name for t in fast.tool_uses] == ["f"]
    assert chat_event(CHUNKS[1]) != dump(CHUNKS[1])  # the text chunk really took the hand-read path
    assert chat_event(CHUNKS[3]) == dump(CHUNKS[3])  # tool-call chunks are dumped


def test_feeding_a_whole_stream_at_once_equals_feeding_each_read_event() -> None:
    more = [
        _chunk(choices=[{"index": 0, "delta": {"content": "after"}}], service_tier="default"),
        _chunk(
            id="c2", choices=[{"index": 1, "delta": {"content": "second choice"}, "finish_reason": "stop"}]
        ),
        _chunk(
            model="gpt-4o-2024", service_tier="flex", choices=[{"index": 0, "delta": {"content": "again"}}]
        ),
        _chunk(choices=[{"index": 0, "delta": {"refusal": "no"}}]),
    ]
    for chunks in (CHUNKS, [*CHUNKS[:3], *more, CHUNKS[-1]], CHUNKS[1:], []):
        together, one_by_one = stream_accumulator(None), stream_accumulator(None)
        chat_events(chunks, together)
        for chunk in chunks:
            one_by_one.feed(chat_event(chunk))
        assert together.result() == one_by_one.result()
    assert ADAPTER.routes["/chat/completions"].events is chat_events


def test_groq_usage_in_x_groq_survives_the_hand_read_paths() -> None:
    groq = [
        _chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}], x_groq={"id": "req_1"}),
        _chunk(choices=[{"index": 0, "delta": {"content": "Hi"}}]),
        _chunk(
            choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
            x_groq={
                "id": "req_1",
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            },
        ),
    ]
    full = accumulate([dump(c) for c in groq], kind="openai.chat")
    read = accumulate([chat_event(c) for c in groq], kind="openai.chat")
    together = stream_accumulator(None)
    chat_events(groq, together)
    fed = together.result()
    assert fed is not None
    assert full.usage.input_total == 12
    assert read.usage == full.usage == fed.usage
    assert (read.completion_text, fed.completion_text) == ("Hi", "Hi")
    assert chat_event(groq[2]) == dump(groq[2])  # a chunk with x_groq is read whole


def test_output_events_are_recognised_for_the_time_to_first_token() -> None:
    assert [chat_is_output(c) for c in CHUNKS] == [False, True, True, True, True, False, False]
    delta = ResponseTextDeltaEvent.model_validate(
        {
            "type": "response.output_text.delta",
            "delta": "Hi",
            "item_id": "i",
            "output_index": 0,
            "content_index": 0,
            "sequence_number": 3,
            "logprobs": [],
        }
    )
    assert responses_is_output(delta) is True
    assert responses_event(delta) == {"type": "response.output_text.delta", "delta": "Hi"}


def test_an_embeddings_body_keeps_the_usage_and_leaves_the_vectors() -> None:
    response = CreateEmbeddingResponse.model_validate(
        {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1] * 1536}],
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
    )
    body = embeddings_body(response, True)
    assert body["data"] == [{"object": "embedding"}]
    usage = extract(body, provider="openai", api="embeddings").usage
    assert (usage.input_uncached, usage.output_total) == (8, 0)


def test_the_routes_cover_the_llm_endpoints_only() -> None:
    assert sorted(ADAPTER.routes) == ["/chat/completions", "/completions", "/embeddings", "/responses"]
    assert [r.api for r in ADAPTER.routes.values()] == ["chat", "completions", "responses", "embeddings"]
    assert ADAPTER.routes["/embeddings"].prompt is False


def _as_text(chunks: list[ChatCompletionChunk]) -> list[str]:
    """The data text a server sent for these chunks (only the fields it set), then ``[DONE]``."""
    return [c.model_dump_json(exclude_unset=True) for c in chunks] + ["[DONE]"]


def _read_both_ways(chunks: list[ChatCompletionChunk]) -> tuple[Any, Any]:
    from_text, from_objects = stream_accumulator(None), stream_accumulator(None)
    chat_events(_as_text(chunks), from_text)
    for chunk in chunks:
        from_objects.feed(dump(chunk))
    return from_text.result(), from_objects.result()


def test_chunks_kept_as_their_data_text_read_as_the_chunk_objects() -> None:
    text = [_chunk(choices=[{"index": 0, "delta": {"content": f"w{n} "}}]) for n in range(12)]
    groq = [
        _chunk(choices=[{"index": 0, "delta": {"content": "Hi"}}], x_groq={"id": "r"}),
        _chunk(
            choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
            x_groq={"id": "r", "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
        ),
    ]
    odd = [
        _chunk(choices=[{"index": 0, "delta": {"content": 'a "quoted" \\ \u00e9'}}], service_tier="flex"),
        _chunk(id="c2", choices=[{"index": 1, "delta": {"content": "second"}, "finish_reason": "length"}]),
        _chunk(choices=[{"index": 0, "delta": {"content": "x"}}], obfuscation="abc"),
        _chunk(choices=[{"index": 0, "delta": {"refusal": "no"}}]),
    ]
    for chunks in (CHUNKS, [*CHUNKS[:2], *text, CHUNKS[-1]], groq, [*odd, *text], text, CHUNKS[-1:]):
        from_text, from_objects = _read_both_ways(chunks)
        assert from_text is not None
        assert from_text == from_objects
    assert _read_both_ways(CHUNKS)[0].completion_text == "Hello world"


def test_data_text_the_sdk_would_not_yield_is_skipped() -> None:
    plain = _as_text(CHUNKS)
    noisy = [plain[0], "", "not json", '{"error": {"message": "overloaded"}}', *plain[1:]]
    quiet, loud = stream_accumulator(None), stream_accumulator(None)
    chat_events(plain, quiet)
    chat_events(noisy, loud)
    assert loud.result() == quiet.result()
    alone = stream_accumulator(None)
    chat_events(['{"error": {"message": "overloaded"}}', "[DONE]"], alone)
    assert alone.result() is None


def test_recorded_chat_streams_read_the_same_from_their_data_text() -> None:
    folder = real_data_path("provider-responses", "openai-python", "chat-streams-include-usage")
    read = 0
    for path in sorted(folder.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        datas = [row["data"] for row in rows if isinstance(row.get("data"), dict)]
        chunks = [ChatCompletionChunk.construct(**data) for data in datas]  # as the SDK builds them
        from_text, from_objects = stream_accumulator(None), stream_accumulator(None)
        chat_events([json.dumps(d) for d in datas] + ["[DONE]"], from_text)
        chat_events(chunks, from_objects)
        assert from_text.result() == from_objects.result(), path.name
        read += 1
    assert read >= 3


def _compact(chunk: ChatCompletionChunk) -> str:
    """A chunk's data text as the API writes it: compact JSON of the fields it set."""
    return json.dumps(chunk.model_dump(exclude_unset=True), separators=(",", ":"))


def test_output_is_recognised_the_same_from_the_data_text() -> None:
    odd = [
        _chunk(choices=[{"index": 0, "delta": {"refusal": "no"}}]),
        _chunk(choices=[{"index": 0, "delta": {"content": 'say "content":"x"'}}]),
        _chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": None}}]),
        _chunk(choices=[{"index": 0, "delta": {"content": "", "tool_calls": []}}]),
    ]
    for chunk in [*CHUNKS, *odd]:
        text = _compact(chunk)
        assert chat_is_output(text) is chat_is_output(chunk), text
        assert chat_is_output(json.dumps(chunk.model_dump(exclude_unset=True))) is chat_is_output(chunk)
    for never in ("[DONE]", "", "not json", '{"error":{"message":"overloaded","content":"x"}}'):
        assert chat_is_output(never) is False


def _sdk_yields(data: str) -> Any:
    """The chunk the SDK yields for a data text, decoded (None: it yields nothing for it)."""
    if not data or data.startswith("[DONE]"):
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    return None if isinstance(event, dict) and event.get("error") else event


def _wire_chunk(delta: dict[str, Any] | None, finish: str | None = None, index: int = 0, **top: Any) -> Any:
    head = {"id": "c9", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o-mini"}
    choices = (
        [] if delta is None else [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {**head, "service_tier": "default", "system_fingerprint": "fp", **top, "choices": choices}


_WIRE_USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}


def _varied_streams() -> dict[str, list[Any]]:
    """Chat streams as the API writes them (compact JSON), each with what the fast reading must not miss."""
    role = _wire_chunk({"role": "assistant", "content": "", "refusal": None})
    words = [_wire_chunk({"content": f"w{n} "}) for n in range(6)]
    tool = _wire_chunk(
        {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]}
    )
    stop, usage = _wire_chunk({}, "stop"), _wire_chunk(None, usage=_WIRE_USAGE)
    noise = [{**c, "usage": None, "obfuscation": "x" * (n + 1)} for n, c in enumerate(words)]
    return {
        "plain": [role, *words, stop, usage],
        "obfuscated": [
            {**role, "usage": None, "obfuscation": "r"},
            *noise,
            stop,
            {**usage, "obfuscation": "u"},
        ],
        "tool call between texts": [
            role,
            *words[:3],
            {**tool, "model": "gpt-4o-mini-2"},
            *words[3:],
            stop,
            usage,
        ],
        "tool call, then texts to the end": [
            role,
            *words[:3],
            {**tool, "model": "gpt-4o-mini-2"},
            *words[3:],
        ],
        "refusal": [role, *words[:2], _wire_chunk({"refusal": "no"}, "length"), *words[2:], usage],
        "two choices": [
            role,
            *words[:2],
            _wire_chunk({"content": "other"}, index=1),
            *words[2:],
            stop,
            usage,
        ],
        "no usage": [role, *words, stop],
        "error event": [role, *words[:3], {"error": {"message": "overloaded"}}, *words[3:], usage],
        "groq": [
            {**role, "x_groq": {"id": "r"}},
            *words,
            {**stop, "x_groq": {"id": "r", "usage": _WIRE_USAGE}},
        ],
        "openrouter": [
            {**role, "provider": "OpenAI"},
            *[{**w, "provider": "OpenAI"} for w in words],
            {**usage, "provider": "OpenAI", "usage": {**_WIRE_USAGE, "cost": 0.0002}},
        ],
        "finish with text": [role, *words[:3], _wire_chunk({"content": "end"}, "stop"), *words[3:], usage],
    }


def _fast_and_general(datas: list[Any]) -> tuple[Any, Any]:
    fast, general = stream_accumulator(None), stream_accumulator(None)
    chat_events(datas, fast)
    for data in datas:
        event = _sdk_yields(data) if type(data) is str else None
        if event is not None:
            general.feed(event)
    return fast.result(), general.result()


def test_a_stream_kept_as_text_reads_as_the_chunks_the_sdk_yields() -> None:
    for name, events in _varied_streams().items():
        datas: list[Any] = [json.dumps(e, separators=(",", ":")) for e in events] + ["[DONE]"]
        for kept in (datas, [None, *datas[:2], None, *datas[2:]], [*datas[:3], "", "not json", *datas[3:]]):
            fast, general = _fast_and_general(kept)
            assert fast is not None, name
            assert fast == general, name
    fast, _ = _fast_and_general(
        [json.dumps(e, separators=(",", ":")) for e in _varied_streams()["obfuscated"]]
    )
    assert fast.completion_text == "w0 w1 w2 w3 w4 w5 "
    assert fast.usage.input_total == 11


def test_recorded_streams_kept_as_compact_text_read_as_the_sdk_yields() -> None:
    from tests.usage.recordings import all_recordings

    real_data_path("provider-responses")
    streams = [r.events for r in all_recordings() if r.streamed and r.events and "choices" in r.events[0]]
    assert len(streams) >= 3
    for events in streams:
        fast, general = _fast_and_general([json.dumps(e, separators=(",", ":")) for e in events] + ["[DONE]"])
        assert fast == general
