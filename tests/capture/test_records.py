"""The sink's records as NDJSON (the spool and the events endpoint) and back."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest

from tests.store.factories import full_call
from tokenomy.capture.records import AgentSpan, Record, clean_text, decode, encode, is_native
from tokenomy.native import FieldError
from tokenomy.schema import Attribution, Charge, OutcomeEvent

T0 = datetime(2026, 3, 2, 9, 30, 0, 123000)  # native times keep milliseconds (outcomes keep microseconds)


def test_every_kind_of_record_survives_the_round_trip() -> None:
    records: list[Record] = [
        full_call(),
        Charge(id="chg1", amount=Decimal("0.004"), kind="search_api", at=T0, session_id="s1"),
        OutcomeEvent("session", "s1", T0, success=True, score=0.75, action="resolved"),
        AgentSpan(
            "ab" * 16,
            "cd" * 8,
            "planner",
            T0,
            T0,
            parent_span_id="ef" * 8,
            session_id="s1",
            attribution=Attribution(user="ana", tags={"k": "v"}),
        ),
    ]
    data = encode(records)
    assert data.count(b"\n") == 4
    assert data.endswith(b"\n")
    assert decode(data) == records
    assert [is_native(r) for r in records] == [True, True, True, False]


def test_encoding_nothing_gives_no_bytes() -> None:
    assert encode([]) == b""
    assert decode(b"\n\n") == []


def test_a_bad_line_is_named() -> None:
    with pytest.raises(FieldError, match="line 2"):
        decode(b'{"id": "a"}\n{not json\n')
    with pytest.raises(FieldError, match="target"):
        decode(b'{"type": "outcome", "target": "team", "id": "x", "at": "2026-01-01T00:00:00Z"}\n')


def test_a_lone_surrogate_is_written_as_the_replacement_character() -> None:
    """Text cut in the middle of an emoji holds a lone UTF-16 surrogate, which UTF-8 cannot hold:
    encoding the batch raised, and every record of it was lost."""
    cut = "x\ud800y"
    charge = Charge(id="c\udfff", amount=Decimal("0.01"), kind="tool", at=T0, description=cut)
    data = encode([charge])
    assert '"description":"x\ufffdy"' in data.decode("utf-8")
    (clean,) = clean_text([charge])
    assert isinstance(clean, Charge)
    assert (clean.id, clean.description, clean.amount) == ("c\ufffd", "x\ufffdy", Decimal("0.01"))
    assert clean_text([full_call()]) == [full_call()]  # text UTF-8 holds is left as it is
    split = dataclasses.replace(charge, description="a\ud83d\ude00b\udc00\ud83d")  # a pair, then two lone
    (joined,) = clean_text([split])
    assert isinstance(joined, Charge)
    assert joined.description == "a\U0001f600b\ufffd\ufffd"
