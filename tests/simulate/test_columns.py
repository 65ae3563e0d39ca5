"""Text columns render numbers, times, ids and optional fields as the native JSON form writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from tokenomy.native import format_time
from tokenomy.simulate import columns


def test_hex_ids_are_viewed_as_text() -> None:
    values = np.array([b"0123456789abcdef", b"fedcba9876543210"], dtype="S16")
    assert columns.hex_ids(values).to_pylist() == ["0123456789abcdef", "fedcba9876543210"]


def test_times_match_the_native_format() -> None:
    ms = np.array([0, 1_791_745_210_059, 1_791_791_999_999, 4_102_444_800_000], dtype=np.int64)
    parts = [p.to_pylist() for p in columns.times(ms)]
    rendered = ["".join(bits) + "Z" for bits in zip(*parts, strict=True)]
    expected = [
        format_time(datetime.fromtimestamp(int(m) // 1000, tz=UTC).replace(microsecond=int(m) % 1000 * 1000))
        for m in ms
    ]
    assert rendered == expected


def test_floats_read_back_exactly() -> None:
    values = np.array([0.1, 264.8, 60000.0, 1234.5678, 1e-3])
    assert [float(v) for v in columns.floats(values).to_pylist()] == values.tolist()


def test_optional_fields_are_empty_where_absent_for_rare_and_common_masks() -> None:
    numbers = columns.ints(np.arange(8))
    for mask in (np.array([1, 0, 0, 0, 0, 0, 0, 0], bool), np.array([1, 1, 0, 1, 1, 0, 1, 1], bool)):
        out = columns.optional(mask, ',"n":', numbers).to_pylist()
        assert out == [f',"n":{i}' if m else "" for i, m in enumerate(mask)]


def test_or_null_writes_the_json_literal() -> None:
    out = columns.or_null(columns.ints(np.array([1, 2, 3])), np.array([True, False, True]))
    assert out.to_pylist() == ["1", "null", "3"]


def test_lines_join_text_and_columns_and_expose_their_bytes() -> None:
    line = columns.Line()
    line.text('{"a":')
    line.column(columns.ints(np.array([1, 22])))
    line.text(',"b":')
    line.column(columns.bools(np.array([True, False])))
    line.text("}\n")
    joined = line.finish()
    assert joined.to_pylist() == ['{"a":1,"b":true}\n', '{"a":22,"b":false}\n']
    assert bytes(columns.buffer(joined)) == b'{"a":1,"b":true}\n{"a":22,"b":false}\n'
    assert bytes(columns.buffer(joined.slice(1))) == b'{"a":22,"b":false}\n'
