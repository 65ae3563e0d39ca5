"""Call columns: times rounded as the importer rounds them, columns a call does not set at defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tokenomy.schema import Call
from tokenomy.server.otlp_calls import calls_table, micros
from tokenomy.store.arrow import CALLS_SCHEMA, calls_to_arrow


@pytest.mark.parametrize(
    "nanos",
    [
        [1_780_000_000_123_456_789, None, 1, 1_780_000_000_999_999_500, 1_700_000_000_000_000_499],
        [1_780_000_000_000_000_500 + k * 1_000 for k in range(50)],
    ],
)
def test_micros_round_as_datetime_fromtimestamp(nanos: list[int | None]) -> None:
    expected: list[int | None] = []
    for n in nanos:
        if not n:
            expected.append(None)
            continue
        moment = datetime.fromtimestamp(n / 1e9, tz=UTC)
        expected.append(int(moment.timestamp()) * 1_000_000 + moment.microsecond)

    got = micros(np.array([n or 0 for n in nanos], dtype=np.int64)).tolist()
    assert [g if n else None for g, n in zip(got, nanos, strict=True)] == expected


def test_columns_not_set_take_a_calls_defaults() -> None:
    rows = 5000  # more than the blocks of empty lists kept ready
    table = calls_table({"id": pa.array([f"c{i}" for i in range(rows)])}, rows, "otlp")
    assert table.schema == CALLS_SCHEMA
    expected = calls_to_arrow([Call(id="c0", source="otlp")]).to_pylist()[0]
    assert table.slice(0, 1).to_pylist()[0] == {**expected, "operation": None, "status": None}
    assert table.slice(rows - 1, 1).to_pylist()[0]["tags"] == []
