"""Metering's own reading: the stream split against the incremental decoder, pricing before the call."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import timedelta

import pytest

from tokenomy.capture.build import utc_milliseconds
from tokenomy.gateway import metering
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call, stream_data
from tokenomy.importers.messages import request_messages
from tokenomy.importers.shape import shape_of
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution, Call, Status, Usage
from tokenomy.usage import SSEDecoder

CHAT = SURFACES["/v1/chat/completions"]
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one line."}]}
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    event = {
        "id": "chatcmpl-0000000000c1",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "Hel\u00e9"})
    + _chunk({"content": "lo"}, "stop")
    + b'data: {"id":"chatcmpl-0000000000c1","model":"gpt-4o-mini","choices":[],"usage":'
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
    for name, value in fields.items():
        setattr(exchange, name, value)
    return exchange


def test_a_stream_is_read_from_its_events() -> None:
    call = build_call(_exchange(streamed=True, chunks=[STREAM[:40], STREAM[40:]]))
    assert (call.usage.input_total, call.usage.output_total) == (12, 3)
    assert (call.finish_reason, call.response_model, call.id) == (
        "stop",
        "gpt-4o-mini",
        "chatcmpl-0000000000c1",
    )


def test_priced_before_it_is_made_as_the_pricer_prices_the_call() -> None:
    body = {
        "id": "chatcmpl-000000000001",
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
                "id": "chatcmpl-0000000000c2",
                "object": "chat.completion.chunk",
                "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
            for text in ("One", " two", ' "three"', " four")
        ]
        + [
            {
                "id": "chatcmpl-0000000000c2",
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
        "id": "chatcmpl-0000000000r1",
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


def test_every_field_of_a_built_call_is_where_its_name_says() -> None:
    body = {
        "id": "chatcmpl-000000000007",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "flex",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}
        ],
        "usage": USAGE,
    }
    request = {**REQUEST, "max_tokens": 50}
    exchange = _exchange(request=request, parsed=body, ttft_ns=700_000, session_id="s9")
    call = build_call(exchange)
    shape = shape_of(request_messages(request), None, "gpt-4o-mini")
    started = utc_milliseconds(STARTED)
    expected = Call(
        id="chatcmpl-000000000007",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        operation="chat",
        api="chat",
        started_at=started,
        ended_at=started + timedelta(microseconds=2500),
        latency_ms=2.5,
        ttft_ms=0.7,
        trace_id=call.trace_id,
        span_id=call.span_id,
        session_id="s9",
        streamed=False,
        service_tier="flex",
        usage=Usage(cache_write_5m=0, cache_write_1h=0, input_total=12, output_total=3),
        max_output_tokens=50,
        **shape.fields(),
        status=Status.OK,
        http_status=200,
        finish_reason="length",
        attribution=Attribution(team="t"),
        source="gateway",
    )
    assert call == expected
    assert re.fullmatch("[0-9a-f]{32}", call.trace_id or "")
    assert re.fullmatch("[0-9a-f]{16}", call.span_id or "")
    assert call.trace_id != build_call(exchange).trace_id  # drawn afresh for every call


def test_an_upstream_whose_ids_repeat_gets_a_call_id_of_the_gateways() -> None:
    """Ollama's OpenAI layer answers ``chatcmpl-`` and a number below 1,000: two calls with the same
    id would be stored as one, so such a call's id is its trace and span, like a call without one."""
    body = {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "model": "llama3.2",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    first, second = (build_call(_exchange(parsed=body)) for _ in range(2))
    assert first.id == f"{first.trace_id}:{first.span_id}"
    assert first.id != second.id
    assert (first.usage.input_total, first.response_model) == (12, "llama3.2")


def test_a_call_without_an_answer_has_its_own_ids_and_no_usage() -> None:
    call = build_call(_exchange(status=None, end="error", error_type="upstream_protocol"))
    assert call.id == f"{call.trace_id}:{call.span_id}"
    assert (call.status, call.error_type, call.http_status) == (Status.ERROR, "upstream_protocol", None)
    assert call.usage == Usage()  # sent, and not answered: what was billed is not known
    assert call.n_messages == 1  # the prompt's shape is still counted


def test_a_request_that_never_left_used_no_tokens() -> None:
    """No connection to the upstream: nothing reached the provider, so nothing was billed ($0 when
    priced, rather than an unknown that reports count as unpriced)."""
    pricer = Pricer()
    exchange = _exchange(status=None, end="error", error_type="upstream_connect", unsent=True)
    call = build_call(exchange, pricer)
    assert call.usage.input_total == call.usage.output_total == 0
    assert call.cost is not None
    assert call.cost.total == 0


@pytest.mark.parametrize("bits", [0, 1, 1 << 64, (1 << 192) - 1])
def test_trace_and_span_ids_are_never_all_zero(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "getrandbits", lambda n: bits)
    call = build_call(_exchange(status=None))
    assert call.trace_id is not None
    assert call.span_id is not None
    assert re.fullmatch("[0-9a-f]{32}", call.trace_id)
    assert re.fullmatch("[0-9a-f]{16}", call.span_id)
    assert call.trace_id.strip("0")
    assert call.span_id.strip("0")
    if bits == (1 << 192) - 1:  # both halves non-zero: taken as drawn
        assert (call.trace_id, call.span_id) == ("f" * 32, "f" * 16)
