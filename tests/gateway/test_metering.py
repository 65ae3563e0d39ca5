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
