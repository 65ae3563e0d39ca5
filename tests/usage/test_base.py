from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tokenomy.schema import Quality, ToolUse, Usage
from tokenomy.usage.base import (
    args_hash,
    check_total,
    count_tools,
    first_int,
    flagged,
    from_iso,
    from_unix,
    inclusive,
    items,
    join_text,
    mapping,
    to_decimal,
    tool_use,
)


def _inclusive(
    *,
    input_total: int | None = 100,
    cache_read: int | None = 30,
    cache_write_5m: int | None = 10,
    reasoning: int | None = 20,
) -> Usage:
    return inclusive(
        input_total=input_total,
        cache_read=cache_read,
        cache_write_5m=cache_write_5m,
        cache_write_1h=0,
        output_total=50,
        reasoning=reasoning,
    )


def test_inclusive_derives_uncached_and_visible() -> None:
    u = _inclusive()
    assert u.buckets() == {
        "input_uncached": 60,
        "cache_read": 30,
        "cache_write_5m": 10,
        "cache_write_1h": 0,
        "output_visible": 30,
        "reasoning": 20,
    }
    assert (u.input_total, u.output_total, u.quality) == (100, 50, ())


def test_inclusive_unknown_part_keeps_total_and_leaves_split_unknown() -> None:
    u = _inclusive(cache_read=None, reasoning=None)
    assert (u.input_uncached, u.cache_read, u.input_total) == (None, None, 100)
    assert (u.output_visible, u.reasoning, u.output_total) == (None, None, 50)
    assert u.ok


def test_inclusive_records_impossible_parts_and_flags_them() -> None:
    u = _inclusive(cache_read=95, reasoning=60)
    assert u.input_uncached == -5
    assert u.output_visible == -10
    assert set(u.quality) == {Quality.CACHE_EXCEEDS_INPUT, Quality.REASONING_EXCEEDS_OUTPUT, Quality.NEGATIVE}


def test_inclusive_flags_known_cache_above_total_even_with_an_unknown_part() -> None:
    u = _inclusive(cache_read=120, cache_write_5m=None)
    assert u.input_uncached is None
    assert Quality.CACHE_EXCEEDS_INPUT in u.quality


def test_a_negative_input_with_no_cache_reported_is_a_negative_bucket_only() -> None:
    for cache in (None, 0):  # none reported, or reported as 0: nothing can exceed the input
        u = _inclusive(input_total=-5, cache_read=cache, cache_write_5m=cache)
        assert u.quality == (Quality.NEGATIVE,)
        assert u.input_total == -5


def test_check_total_flags_only_a_real_disagreement() -> None:
    u = Usage.of(
        input_uncached=3, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=2, reasoning=0
    )
    assert check_total(u, 5) is u
    assert check_total(u, None) is u
    assert check_total(u, 6).quality == (Quality.TOTAL_MISMATCH,)
    assert check_total(Usage(), 6) == Usage()


def test_flagged_adds_each_flag_once() -> None:
    u = flagged(Usage(quality=(Quality.NEGATIVE,)), Quality.NEGATIVE, Quality.TOTAL_MISMATCH)
    assert u.quality == (Quality.NEGATIVE, Quality.TOTAL_MISMATCH)


def test_count_tools_renames_known_units_and_drops_zeros() -> None:
    counts = {"web_search_requests": 2, "web_fetch_requests": 0, "other_requests": 1, "bad": "x"}
    assert count_tools(counts, {"web_search_requests": "web_searches"}) == {
        "web_searches": 2,
        "other_requests": 1,
    }
    assert count_tools(None, {}) == {}


def test_small_readers() -> None:
    assert first_int({"a": None, "b": "7", "c": 3}, "a", "b", "c") == 7  # digits written as a string count
    assert first_int({"a": None, "b": "-7", "c": 3}, "a", "b", "c") == 3  # anything else does not
    assert first_int({"b": "7.0", "c": " 7"}, "b", "c") is None
    assert mapping([1]) is None
    assert mapping({"a": 1}) == {"a": 1}
    assert items([{"a": 1}, 2, None]) == [{"a": 1}]
    assert items("nope") == []
    assert join_text([]) is None
    assert join_text(["a", "b"]) == "ab"


def test_times_are_utc() -> None:
    assert from_unix(1727346142) == datetime(2024, 9, 26, 10, 22, 22, tzinfo=UTC)
    assert from_unix(True) is None
    assert from_unix("1") is None
    assert from_unix(1e20) is None
    assert from_iso("2025-11-14T23:34:21Z") == datetime(2025, 11, 14, 23, 34, 21, tzinfo=UTC)
    assert from_iso("2025-11-14T23:34:21") == datetime(2025, 11, 14, 23, 34, 21, tzinfo=UTC)
    assert from_iso("not a date") is None
    assert from_iso(None) is None


def test_tool_use_hashes_arguments_never_keeps_them() -> None:
    call = tool_use("get_weather", '{"units": "f", "location": "SF"}')
    assert call == ToolUse("get_weather", args_hash({"location": "SF", "units": "f"}))
    assert tool_use("search", None, server=True) == ToolUse("search", None, server=True)
    assert tool_use(None, {}) is None
    assert tool_use("", {}) is None


def test_args_hash_is_canonical() -> None:
    assert args_hash('{"b":1, "a":2}') == args_hash({"a": 2, "b": 1})
    assert args_hash("") == args_hash({})
    assert len(args_hash("not json")) == 16


def test_to_decimal_keeps_the_printed_value() -> None:
    assert to_decimal(0.000102) == Decimal("0.000102")
    assert to_decimal("1.5") == Decimal("1.5")
    assert to_decimal(True) is None
    assert to_decimal(float("nan")) is None
    assert to_decimal([]) is None
