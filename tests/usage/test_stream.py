from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenomy.errors import UsageError
from tokenomy.usage import (
    ADAPTERS,
    AutoStream,
    accumulate,
    detect,
    extract,
    iter_json_events,
    stream_accumulator,
)
from tokenomy.usage.stream import MAX_PENDING

ANTHROPIC_SSE = (
    b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n'
    b'event: message_start\r\ndata: {"type":"message_start","message":{"id":"m","model":"claude",'
    b'"usage":{"input_tokens":11,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}}\r\n\r\n'
    b'event: content_block_start\r\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\r\n\r\n'
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hi"}}\r\n\r\n'
    b'event: message_delta\r\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":6}}\r\n\r\n'
    b'event: message_stop\r\ndata: {"type":"message_stop"}\r\n\r\n'
)


def test_raw_sse_bytes_to_extracted_with_the_kind_detected() -> None:
    e = accumulate(iter_json_events(ANTHROPIC_SSE))
    assert (e.adapter, e.usage.input_total, e.usage.output_total, e.completion_text) == (
        "anthropic.messages",
        11,
        6,
        "Hi",
    )


def test_events_before_the_kind_is_known_are_replayed() -> None:
    auto = AutoStream()
    auto.feed({"type": "ping"})
    auto.feed("not a mapping")
    assert auto.dropped == 1
    assert auto.result() is None
    for event in iter_json_events(ANTHROPIC_SSE):
        auto.feed(event)
    result = auto.result()
    assert result is not None
    assert (auto.kind, result.usage.output_total) == ("anthropic.messages", 6)
    assert result.extra["events"] == 7  # the held ping counted once, the non-mapping dropped


def test_unrecognised_events_beyond_the_limit_are_dropped() -> None:
    auto = AutoStream()
    for _ in range(MAX_PENDING + 5):
        auto.feed({"type": "ping"})
    assert (auto.kind, auto.dropped) == (None, 5)


def test_accumulate_without_anything_usable_raises() -> None:
    with pytest.raises(UsageError, match=r"stream of 2 event\(s\) carried no usage"):
        accumulate([{"type": "ping"}, {"hello": 1}])
    with pytest.raises(UsageError, match=r"as openai\.chat"):
        accumulate([], kind="openai.chat")


def test_unknown_kind_raises() -> None:
    with pytest.raises(UsageError, match="no usage adapter named 'mistral'"):
        stream_accumulator("mistral")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "type",
        "message",
        "usage",
        "delta",
        "index",
        "content_block",
        "choices",
        "object",
        "response",
        "item",
        "candidates",
        "usageMetadata",
        "metadata",
        "contentBlockDelta",
        "contentBlockStart",
        "x_groq",
        "output",
    ]
)
TYPES = st.sampled_from(
    [
        "message_start",
        "message_delta",
        "content_block_start",
        "content_block_delta",
        "message_stop",
        "response.completed",
        "response.output_item.done",
        "response.output_text.delta",
        "chat.completion.chunk",
    ]
)
EVENT = st.dictionaries(KEYS, JSON, max_size=6) | st.fixed_dictionaries(
    {"type": TYPES, "object": TYPES},
    optional={"usage": JSON, "delta": JSON, "message": JSON, "response": JSON},
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENT | JSON, max_size=12))
def test_no_event_sequence_makes_any_accumulator_raise(events: list[Any]) -> None:
    kinds: list[str | None] = [None, *(name for name, a in ADAPTERS.items() if a.stream is not None)]
    for kind in kinds:
        accumulator = stream_accumulator(kind)
        for event in events:
            accumulator.feed(event)
        result = accumulator.result()
        assert result is None or result.adapter in ADAPTERS


@settings(max_examples=200, deadline=None)
@given(EVENT)
def test_any_body_is_read_or_refused_with_a_usage_error(body: dict[str, Any]) -> None:
    name = detect(body)
    try:
        result = extract(body)
    except UsageError:
        assert name is None
    else:
        assert result.adapter == name
