from __future__ import annotations

from tokenomy.schema import Kind, Quality, Usage


def test_usage_of_derives_totals_from_buckets() -> None:
    u = Usage.of(
        input_uncached=10, cache_read=5, cache_write_5m=2, cache_write_1h=1, output_visible=7, reasoning=3
    )
    assert (u.input_total, u.output_total, u.total) == (18, 10, 28)
    assert u.ok


def test_unknown_bucket_keeps_reported_total_and_stays_none() -> None:
    u = Usage.of(output_total=40, input_uncached=12, cache_read=0, cache_write_5m=0, cache_write_1h=0)
    assert u.output_visible is None
    assert u.reasoning is None
    assert u.output_total == 40
    assert u.input_total == 12


def test_total_that_disagrees_is_flagged_not_overwritten() -> None:
    u = Usage.of(input_uncached=10, cache_read=0, cache_write_5m=0, cache_write_1h=0, input_total=11)
    assert u.input_total == 11
    assert u.quality == (Quality.TOTAL_MISMATCH,)


def test_negative_is_flagged_never_clamped() -> None:
    u = Usage.of(input_uncached=-3, cache_read=5)
    assert u.input_uncached == -3
    assert Quality.NEGATIVE in u.quality


def test_sum_keeps_unknown_unknown_and_worst_kind() -> None:
    a = Usage.of(input_uncached=1, output_visible=2, kind=Kind.COUNTED)
    b = Usage.of(input_uncached=3, output_visible=None, output_total=4, kind=Kind.ESTIMATED)
    s = a + b
    assert s.input_uncached == 4
    assert s.output_visible is None
    assert s.kind is Kind.ESTIMATED
