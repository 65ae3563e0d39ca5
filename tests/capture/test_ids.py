"""W3C trace and span ids."""

from __future__ import annotations

from tokenomy.capture.ids import is_span_id, is_trace_id, new_span_id, new_trace_id


def test_ids_are_w3c_hex_of_the_right_length_and_do_not_repeat() -> None:
    traces = {new_trace_id() for _ in range(1000)}
    spans = {new_span_id() for _ in range(1000)}
    assert len(traces) == len(spans) == 1000
    assert all(is_trace_id(t) for t in traces)
    assert all(is_span_id(s) for s in spans)


def test_invalid_ids_are_recognised() -> None:
    assert not is_trace_id("0" * 32)
    assert not is_trace_id("AB" * 16)
    assert not is_span_id("abc")
    assert is_span_id("00f067aa0ba902b7")
