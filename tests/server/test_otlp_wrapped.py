"""The collector's memory of spans with a model call below them, across requests."""

from __future__ import annotations

import random

from tests.server.support import SpanSpec, genai_attributes, hex_id, request_bytes
from tokenomy.server.otlp_ingest import read_traces
from tokenomy.server.otlp_wrapped import WrappedSpans


def test_the_memory_is_bounded_and_forgets_the_least_recently_marked_first() -> None:
    rng = random.Random(1)
    memory = WrappedSpans(limit=2)
    traces = [hex_id(rng, 16) for _ in range(3)]
    parents = [hex_id(rng, 8) for _ in range(3)]
    for trace, parent in zip(traces, parents, strict=True):
        read = read_traces(
            request_bytes([SpanSpec(trace, hex_id(rng, 8), parent, attributes=genai_attributes(rng, 0))]),
            "protobuf",
        )
        assert memory.apply(read).calls.num_rows == 1
    assert len(memory) == 2
    # the first trace's parent was forgotten: sent now, it is a call again; the last one's is a span
    for trace, parent, calls in ((traces[0], parents[0], 1), (traces[2], parents[2], 0)):
        read = read_traces(
            request_bytes([SpanSpec(trace, parent, None, attributes=genai_attributes(rng, 1))]), "protobuf"
        )
        kept = memory.apply(read)
        assert (kept.calls.num_rows, kept.spans.num_rows) == (calls, 1 - calls)


def test_a_request_with_nothing_of_an_earlier_ones_is_unchanged() -> None:
    rng = random.Random(2)
    memory = WrappedSpans()
    read = read_traces(
        request_bytes([SpanSpec(hex_id(rng, 16), hex_id(rng, 8), attributes=genai_attributes(rng, 0))]),
        "protobuf",
    )
    assert memory.apply(read) is read


def test_a_wrapper_sent_with_the_plain_span_between_it_and_an_earlier_call_is_a_span() -> None:
    """A model span P over a plain span X over a call C: C sent first, X and P together later. P was
    a call: the memory knew X, but P was judged before this request's own marks."""
    rng = random.Random(3)
    trace, p, x, c = hex_id(rng, 16), hex_id(rng, 8), hex_id(rng, 8), hex_id(rng, 8)
    memory = WrappedSpans()
    first = read_traces(
        request_bytes([SpanSpec(trace, c, x, attributes=genai_attributes(rng, 0))]), "protobuf"
    )
    assert memory.apply(first).calls.num_rows == 1
    later = read_traces(
        request_bytes(
            [
                SpanSpec(trace, x, p, name="retry step"),
                SpanSpec(trace, p, None, attributes=genai_attributes(rng, 1)),
            ]
        ),
        "protobuf",
    )
    kept = memory.apply(later)
    assert kept.calls.num_rows == 0
    assert sorted(kept.spans.column("span_id").to_pylist()) == sorted([x, p])
