"""Metering's own reading: the stream split against the incremental decoder, pricing before the call."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call, stream_data
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.usage import SSEDecoder

CHAT = SURFACES["/v1/chat/completions"]
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one line."}]}
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    event = {
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "Hel\u00e9"})
    + _chunk({"content": "lo"}, "stop")
    + b'data: {"id":"c1","model":"gpt-4o-mini","choices":[],"usage":'
    + json.dumps(USAGE).encode()
    + b"}\n\ndata: [DONE]\n\n"
)


def _decoded(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return [event.data for event in [*events, *decoder.close()]]


@pytest.mark.parametrize(
    "chunks",
    [
        [STREAM],
        [STREAM[:7], STREAM[7:61], STREAM[61:62], STREAM[62:]],  # split inside a line and a character
        [STREAM[:-9]],  # cut: the last event never terminated
        [b'event: message_start\ndata: {"a":1}\n\n: ping\n\nid: 4\ndata: {"b":2}\n\n'],
        [b"data: {}\r\n\r\ndata: {}\r\n\r\n"],  # CR line ends: the decoder's path
        [b"data: {\ndata: }\n\n"],  # two data lines joined by a newline: the decoder's path
        [b"data:{}\n\ndata\n\nretry: 5\ndata: x\n\n"],
        [b'data: {"t":"\xc3"}\n\n'],  # bad UTF-8 replaced alike
    ],
)
def test_stream_data_is_what_the_decoder_reads(chunks: list[bytes]) -> None:
    assert stream_data(chunks) == _decoded(chunks)


STARTED = time.time_ns()


def _exchange(**fields: object) -> Exchange:
    exchange = Exchange(CHAT, "openai", REQUEST, Attribution(team="t"), None, STARTED, status=200)
    exchange.latency_ns = 2_500_000
    return dataclasses.replace(exchange, **fields)  # type: ignore[arg-type]  # fields of Exchange


def test_a_stream_is_read_from_its_events() -> None:
    call = build_call(_exchange(streamed=True, chunks=[STREAM[:40], STREAM[40:]]))
    assert (call.usage.input_total, call.usage.output_total) == (12, 3)
    assert (call.finish_reason, call.response_model, call.id) == ("stop", "gpt-4o-mini", "c1")


def test_priced_before_it_is_made_as_the_pricer_prices_the_call() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    raw = json.dumps(body).encode()
    pricer = Pricer()
    from_bytes = build_call(_exchange(body=raw), pricer)
    from_parsed = build_call(_exchange(body=raw, parsed=json.loads(raw)), pricer)
    assert from_bytes.cost is not None
    assert from_bytes.cost.total is not None
    assert from_bytes.cost.total > 0
    assert from_bytes.cost == pricer.price(build_call(_exchange(body=raw)))
    assert dataclasses.replace(from_parsed, trace_id="", span_id="") == dataclasses.replace(
        from_bytes, trace_id="", span_id=""
    )


def test_a_call_without_a_model_says_why_it_is_unpriced() -> None:
    exchange = _exchange(request={"messages": REQUEST["messages"]}, status=500)
    call = build_call(exchange, Pricer())
    assert call.cost is not None
    assert call.cost.total is None
    assert call.cost.reason is not None
    assert "names no model" in call.cost.reason


AGENT_REQUEST = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Fix the test."},
        {
            "role": "assistant",
            "content": "Running it.",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "run", "arguments": '{"cmd": "pytest"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "1 failed"},
        {"role": "user", "content": "Go on."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "run",
                "description": "Run a command.",
                "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
            },
        }
    ],
}
COMPACT_STREAM = (
    b"".join(
        b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        for event in [
            {
                "id": "c2",
                "object": "chat.completion.chunk",
                "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
            for text in ("One", " two", ' "three"', " four")
        ]
        + [
            {
                "id": "c2",
                "object": "chat.completion.chunk",
                "model": "gpt-4o",
                "choices": [],
                "usage": {
                    **USAGE,
                    "prompt_tokens_details": {"cached_tokens": 4},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }
        ]
    )
    + b"data: [DONE]\n\n"
)


def _same_ids(call: object, like: object) -> object:
    return dataclasses.replace(call, trace_id=like.trace_id, span_id=like.span_id)  # type: ignore[type-var, attr-defined]


@pytest.mark.parametrize("streamed", [False, True])
def test_the_memo_and_quick_readers_give_the_call_the_general_path_gives(streamed: bool) -> None:
    from tokenomy.capture.shapes import ShapeMemo
    from tokenomy.usage import accumulate, extract, iter_json_events

    pricer, memo = Pricer(), ShapeMemo()
    body = {
        "id": "r1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}
        ],
        "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 4}},
    }

    def exchange(shapes: ShapeMemo | None) -> Exchange:
        found = Exchange(
            CHAT,
            "openai",
            AGENT_REQUEST,
            Attribution(team="a"),
            "s1",
            1_763_800_000_000_000_000,
            streamed=streamed,
            status=200,
            latency_ns=2_500_000,
            ttft_ns=400_000,
        )
        found.shapes, found.pricer = shapes, pricer
        if streamed:
            found.chunks = [COMPACT_STREAM[:100], COMPACT_STREAM[100:]]
        else:
            found.body = json.dumps(body).encode()
        return found

    general = build_call(exchange(None), pricer)
    for _ in range(2):  # the memo's miss, then its hit
        quick = build_call(exchange(memo), pricer)
        assert _same_ids(quick, general) == general
    assert memo.prefixes.hits == 1
    if streamed:
        read = accumulate(list(iter_json_events(COMPACT_STREAM)), kind="openai.chat")
    else:
        read = extract(body, provider="openai", api="chat")
    assert general.usage == read.usage
    assert general.usage.cache_read == 4
    assert general.cost is not None
    assert general.cost == pricer.price(general)
