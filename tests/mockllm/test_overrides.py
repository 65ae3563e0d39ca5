"""X-Mock-* request headers."""

from __future__ import annotations

import pytest

from tokenomy.mockllm import overrides
from tokenomy.mockllm.overrides import HeaderError, Overrides


def test_no_mock_headers_means_no_overrides() -> None:
    assert overrides.read({"content-type": "application/json"}) is overrides.NONE


def test_every_header_is_read() -> None:
    got = overrides.read(
        {
            "x-mock-output-tokens": "123",
            "x-mock-reasoning-tokens": "7",
            "x-mock-latency-ms": "250",
            "x-mock-ttft-ms": "10.5",
            "x-mock-chunk-delay-ms": "2",
            "x-mock-error": "stream-error",
            "x-mock-cut-after": "4",
            "x-mock-stall-ms": "900",
            "x-mock-tool-call": "get_weather",
            "x-mock-cache": "off",
        }
    )
    assert got == Overrides(
        output_tokens=123,
        reasoning_tokens=7,
        latency_ms=250.0,
        ttft_ms=10.5,
        chunk_delay_ms=2.0,
        error="stream_error",
        cut_after=4,
        stall_ms=900.0,
        tool_call="get_weather",
        cache=False,
    )


@pytest.mark.parametrize(
    ("value", "expected"), [("500", 500), ("429", 429), ("529", 529), ("HANGUP", "hangup")]
)
def test_error_header_takes_a_status_or_a_fault(value: str, expected: int | str) -> None:
    assert overrides.read({"x-mock-error": value}).error == expected


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("x-mock-output-tokens", "lots", "whole number"),
        ("x-mock-output-tokens", "-3", ">= 0"),
        ("x-mock-latency-ms", "soon", "milliseconds"),
        ("x-mock-ttft-ms", "-1", ">= 0 ms"),
        ("x-mock-error", "200", "400-599"),
        ("x-mock-error", "explode", "hangup"),
    ],
)
def test_bad_header_values_are_rejected_naming_the_header(header: str, value: str, message: str) -> None:
    with pytest.raises(HeaderError, match=message) as info:
        overrides.read({header: value})
    assert header in str(info.value)
