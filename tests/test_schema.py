from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.schema import (
    Attribution,
    Call,
    Content,
    Cost,
    Kind,
    Outcome,
    Quality,
    Status,
    ToolUse,
    Usage,
    new_call,
    new_cost,
    new_usage,
    positional_maker,
)


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


def test_the_positional_makers_make_what_the_classes_make() -> None:
    usage = Usage.of(input_uncached=5, cache_read=1, output_visible=2, server_tools={"web_searches": 1})
    cost = Cost(Decimal("0.000001000000"), {"input_uncached": Decimal("1E-12")}, "USD", "s", None, True, "r")
    now = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    given: list[Any] = [
        *("c1", "openai", "gpt-4o", "gpt-4o-2024", "chat", "chat", now, now, 1.5, 0.5, "t", "s", "p"),
        *("se", 3, True, True, "flex", usage, 128_000, 64, 4, 5, 6, 7, 8, ("h1", "h2"), Status.ERROR),
        *("boom", 500, "stop", (ToolUse("run"),), 9, Attribution(team="x"), Outcome(success=True), cost),
        *(Decimal("0.5"), Content("p", "c"), "gateway"),
    ]
    values = {f.name: value for f, value in zip(dataclasses.fields(Call), given, strict=True)}
    made = new_call(*given)
    assert made == Call(**values)
    assert type(made) is Call  # made as its slots' twin, then given its class
    assert [getattr(made, name) for name in values] == given
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.id = "other"  # type: ignore[misc]
    assert new_usage(*[getattr(usage, f.name) for f in dataclasses.fields(Usage)]) == usage
    assert new_cost(*[getattr(cost, f.name) for f in dataclasses.fields(Cost)]) == cost
    with pytest.raises(TypeError):
        positional_maker(Plain)  # not slotted


@dataclasses.dataclass(frozen=True)
class Plain:
    """A dataclass without slots, which :func:`positional_maker` refuses."""

    a: int
