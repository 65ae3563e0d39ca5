"""The native form of outcomes (the other records are pinned by the store and importer tests)."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources

import pytest

from tokenomy.native import (
    FieldError,
    call_from_native,
    is_outcome,
    outcome_from_native,
    outcome_to_native,
    record_type,
)
from tokenomy.schema import OUTCOME_TARGETS, Outcome, OutcomeEvent

AT = datetime(2026, 3, 2, 9, 30, 1, 123456)


def test_an_outcome_round_trips_with_microseconds() -> None:
    event = OutcomeEvent("call", "chatcmpl-1", AT, success=True, score=0.8, action="ticket_resolved")
    native = outcome_to_native(event)
    assert native == {
        "type": "outcome",
        "target": "call",
        "id": "chatcmpl-1",
        "success": True,
        "score": 0.8,
        "action": "ticket_resolved",
        "at": "2026-03-02T09:30:01.123456Z",
    }
    assert outcome_from_native(native) == event
    assert event.outcome == Outcome(success=True, score=0.8, action="ticket_resolved")
    assert is_outcome(native) is True


def test_unknown_parts_stay_unknown_and_epoch_seconds_are_read() -> None:
    event = outcome_from_native(
        {"type": "outcome", "target": "session", "id": "s1", "at": 1_772_443_801, "score": 0.5}
    )
    assert (event.success, event.score, event.action) == (None, 0.5, None)
    assert event.at == datetime(2026, 3, 2, 9, 30, 1)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"target": "team", "id": "x", "at": "2026-01-01T00:00:00Z"}, "target"),
        ({"target": "call", "id": "", "at": "2026-01-01T00:00:00Z"}, "id"),
        ({"target": "call", "id": "x"}, "at"),
        ({"target": "call", "id": "x", "at": "2026-01-01T00:00:00Z", "score": "high"}, "score"),
        ({"target": "call", "id": "x", "at": "2026-01-01T00:00:00Z", "success": "yes"}, "success"),
        ({"target": "call", "id": "x", "at": "2026-01-01T00:00:00Z"}, "(record)"),  # nothing: would erase
        ({"target": "call", "id": "x", "at": "2026-01-01T00:00:00Z", "action": None}, "(record)"),
    ],
)
def test_bad_outcomes_name_the_field(record: dict[str, object], field: str) -> None:
    with pytest.raises(FieldError) as raised:
        outcome_from_native({"type": "outcome", **record})
    assert raised.value.field == field


def test_record_types() -> None:
    assert [record_type(r) for r in ({"id": "a"}, {"type": "charge"}, {"type": "outcome"})] == [
        "call",
        "charge",
        "outcome",
    ]
    with pytest.raises(FieldError, match="not a record type"):
        record_type({"type": "span"})


def test_the_json_schema_declares_the_outcome_record() -> None:
    schema = json.loads(
        resources.files("tokenomy").joinpath("schemas/call.schema.json").read_text(encoding="utf-8")
    )
    outcome = schema["$defs"]["outcome"]
    assert {"$ref": "#/$defs/outcome"} in schema["oneOf"]
    written = outcome_to_native(OutcomeEvent("call", "c1", AT, success=False, score=1.0, action="x"))
    assert sorted(written) == sorted(outcome["properties"])
    assert outcome["required"] == ["type", "target", "id", "at"]
    assert outcome["properties"]["target"]["enum"] == list(OUTCOME_TARGETS)


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        ({"input_uncached": 2**63}, "usage.input_uncached"),
        (
            {"input_uncached": 10, "modalities": {"input_uncached.audio": 2**63}},
            "usage.modalities.input_uncached.audio",
        ),
    ],
)
def test_a_count_beyond_64_bits_names_its_field(usage: dict[str, object], field: str) -> None:
    """The store keeps BIGINT counts: a larger one is refused by name, not by a failed batch later."""
    with pytest.raises(FieldError, match="must fit in 64 bits") as raised:
        call_from_native({"id": "c1", "provider": "openai", "request_model": "gpt-4o", "usage": usage})
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"usage": {"input_uncached": 10**10 + 1}}, "usage.input_uncached"),
        ({"usage": {"output_total": 10**10 + 1}}, "usage.output_total"),
        ({"usage": {"modalities": {"cache_read.image": 10**10 + 1}}}, "usage.modalities.cache_read.image"),
        ({"history_tokens": 10**10 + 1}, "history_tokens"),
    ],
)
def test_more_tokens_than_one_call_holds_are_refused_by_name(change: dict[str, object], field: str) -> None:
    """Sums over the store stay within BIGINT: two counts near 2**63 each overflowed every report."""
    base = {"id": "c1", "provider": "openai", "request_model": "gpt-4o"}
    with pytest.raises(FieldError) as raised:
        call_from_native({**base, **change})
    assert (raised.value.field, raised.value.message) == (
        field,
        "10,000,000,001 tokens: more than one call can hold (at most 10,000,000,000)",
    )
    fine = call_from_native({**base, "usage": {"input_uncached": 10**10}, "history_tokens": 10**10})
    assert (fine.usage.input_uncached, fine.history_tokens) == (10**10, 10**10)


@pytest.mark.parametrize(
    ("total", "why"),
    [
        ("1e30", "not a finite amount below 10\\*\\*26"),
        ("100000000000000000000000000", "not a finite amount below 10\\*\\*26"),
        ("-1", "not a finite amount below 10\\*\\*26"),
        ("-0.000001", "not a finite amount below 10\\*\\*26"),
        ("NaN", "not a decimal number: 'NaN'"),
        ("1_0", "not a decimal number: '1_0'"),
        (" 1", "not a decimal number: ' 1'"),
        ("\u0661\u0660", "not a decimal number: '\u0661\u0660'"),  # Arabic-Indic digits: 10 to Decimal()
    ],
)
def test_a_cost_the_store_cannot_hold_names_its_field(total: str, why: str) -> None:
    record = {"id": "c1", "provider": "openai", "request_model": "gpt-4o", "cost": {"total": total}}
    with pytest.raises(FieldError, match=why) as raised:
        call_from_native(record)
    assert raised.value.field == "cost.total"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_number_that_is_not_finite_is_refused_by_name(value: float) -> None:
    """JSON readers take the bare tokens NaN and Infinity; kept, they would make the read API write JSON
    that strict parsers refuse."""
    with pytest.raises(FieldError, match="expected a finite number") as raised:
        call_from_native({"id": "c1", "provider": "openai", "request_model": "gpt-4o", "latency_ms": value})
    assert raised.value.field == "latency_ms"
    outcome = {
        "type": "outcome",
        "target": "session",
        "id": "s",
        "at": "2026-01-01T00:00:00Z",
        "score": value,
    }
    with pytest.raises(FieldError, match="expected a finite number"):
        outcome_from_native(outcome)
