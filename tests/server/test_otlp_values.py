"""Attribute columns read per key give each span's value, with its kind, as the decoded attributes hold it."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from tests.server.support import SpanSpec, request_bytes
from tests.server.test_otlp_wire import VALUES
from tokenomy.importers import decode_protobuf
from tokenomy.server.otlp_columns import read_columns
from tokenomy.server.otlp_fields import UnreadableError
from tokenomy.server.otlp_keys import CODES, VOCABULARY, VOCABULARY_ARRAY
from tokenomy.server.otlp_tree import clean
from tokenomy.server.otlp_values import ABSENT, AttributeIndex

KEY = "gen_ai.response.finish_reasons"
TEXTS = ["stop", " stop", "stop ", '"stop"', '"', "", "\u2003x", "x\u00a0", "é", "a b", "\x1fx", "x" * 300]


def _index(values: list[Any]) -> tuple[AttributeIndex, list[dict[str, Any]]]:
    specs = [
        SpanSpec("01" * 16, f"{i + 1:016x}", attributes={} if v is None else {KEY: v})
        for i, v in enumerate(values)
    ]
    data = request_bytes(specs)
    columns = read_columns(data, VOCABULARY_ARRAY)
    return AttributeIndex(columns, len(VOCABULARY)), [dict(s.attributes) for s in decode_protobuf(data, "t")]


def test_each_reader_gives_the_value_of_its_kind() -> None:
    values = [None, *VALUES]
    index, decoded = _index(values)
    code = CODES[KEY]
    kinds = index.kinds(code).tolist()
    assert [k == ABSENT for k in kinds] == [KEY not in d for d in decoded]
    strings = index.strings(code).to_pylist()
    ints = index.ints(code).tolist()
    bools = index.bools(code).tolist()
    numbers = index.numbers(code).tolist()
    for i, attrs in enumerate(decoded):
        value = attrs.get(KEY)
        assert strings[i] == (value if isinstance(value, str) and kinds[i] == 1 else None)
        assert ints[i] == (value if isinstance(value, int) and not isinstance(value, bool) else 0)
        assert bools[i] == (value is True)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert numbers[i] == float(value)
        else:
            assert math.isnan(numbers[i])
        assert index.decoded(i) == attrs


@pytest.mark.parametrize(
    "arrays",
    [
        [["stop"], ["length", "stop"], [], None, "stop"],
        [["stop"], [""], ["x", 1]],
        [["é" * 100], ["stop"]],
    ],
)
def test_first_strings_of_arrays(arrays: list[Any]) -> None:
    index, _ = _index(arrays)
    first, fine = index.first_strings(CODES[KEY])
    for i, value in enumerate(arrays):
        is_array = isinstance(value, list)
        assert first[i].as_py() == (value[0] if is_array and value and isinstance(value[0], str) else None)
        assert fine[i] == (is_array and all(isinstance(v, str) and v for v in value))


def test_strings_are_cleaned_as_the_importer_cleans_them() -> None:
    rng = random.Random(3)
    values = [rng.choice(TEXTS) for _ in range(200)]
    index, _ = _index(values)
    code = CODES[KEY]
    assert index.cleaned(code).to_pylist() == [clean(v) for v in values]
    doubtful = set(index.doubtful(code).tolist())
    assert all(i in doubtful for i, v in enumerate(values) if clean(v) != v)


def test_a_repeated_key_is_left_to_protobuf() -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = (
        request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    )
    for text in ("first", "last"):  # protobuf keeps both; the importer's dict keeps the last
        span.attributes.add(key=KEY, value=common_pb2.AnyValue(string_value=text))
    columns = read_columns(request.SerializeToString(), VOCABULARY_ARRAY)
    with pytest.raises(UnreadableError, match="repeats an attribute key"):
        AttributeIndex(columns, len(VOCABULARY))
