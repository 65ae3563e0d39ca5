"""Raw ``AnyValue`` bytes decode to what the importer's decoder reads, for every kind of value."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import DecodeError

from tests.server.support import any_value
from tokenomy.server.otlp_wire import any_value as decode_value

VALUES: list[Any] = [
    "",
    "chat",
    "é" * 200,
    0,
    1,
    127,
    128,
    2**40,
    -1,
    -(2**63),
    2**63 - 1,
    True,
    False,
    0.0,
    -2.5,
    1e300,
    [],
    ["stop", "length"],
    [1, "two", [3.0]],
    {"a": 1, "b": ["x"]},
    b"\x00\x01\xff",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_decode_like_protobuf(value: Any) -> None:
    raw = any_value(value).SerializeToString()
    expected = bytes(value).hex() if isinstance(value, bytes) else value
    assert decode_value(raw) == expected


def test_an_empty_value_is_none() -> None:
    assert decode_value(b"") is None


def test_a_string_that_is_not_utf8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        decode_value(b"\x0a\x02\xff\xfe")
