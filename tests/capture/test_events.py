"""record_outcome and charge: what they name, what they carry, and what they refuse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest

from tests.capture.support import MemoryTarget, call, sink_with
from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME
from tokenomy.config import Config
from tokenomy.schema import Charge, OutcomeEvent


@pytest.fixture
def target() -> Iterator[MemoryTarget]:
    memory = MemoryTarget()
    RUNTIME.configure(sink_with(memory), config=Config())
    yield memory
    RUNTIME.shutdown(10)


def test_outcomes_name_calls_or_sessions(target: MemoryTarget) -> None:
    with capture.context(session="sess-77") as scope:
        pass
    response = SimpleNamespace(id="chatcmpl-AbC123dEf456gHi789")
    events = [
        capture.record_outcome(response, success=True),
        capture.record_outcome(call(4), score=0.5),
        capture.record_outcome(scope, action="ticket_resolved"),
        capture.record_outcome("sess-77", success=False),
        capture.record_outcome("msg_9", score=1),
        capture.record_outcome("sess-77", action="escalated", target="call"),
    ]
    assert [(e.target, e.id) for e in events] == [
        ("call", "chatcmpl-AbC123dEf456gHi789"),
        ("call", "c00004"),
        ("session", "sess-77"),
        ("session", "sess-77"),  # a session this process opened
        ("call", "msg_9"),  # anything else is a call id
        ("call", "sess-77"),  # unless told
    ]
    assert events[1].score == 0.5
    assert isinstance(events[4].score, float)
    assert capture.flush(10) is True
    assert [r for r in target.records if isinstance(r, OutcomeEvent)] == events


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("", {}, "empty"),
        (object(), {"success": True}, "carries no call id.*pass the session"),
        ("x", {}, "nothing to record"),  # an empty outcome would erase the one before it
        ("x", {"target": "team"}, "'call' or 'session'"),
        ("x", {"success": "yes"}, "success"),
        ("x", {"score": True}, "score"),
    ],
)
def test_bad_outcomes_are_refused_with_what_to_pass(
    value: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        capture.record_outcome(value, **kwargs)  # type: ignore[arg-type]


def test_a_scope_without_session_cannot_take_an_outcome() -> None:
    with capture.context(user="ana") as scope, pytest.raises(ValueError, match="no session"):
        capture.record_outcome(scope, success=True)


def test_charges_take_the_scope_session_and_attribution(target: MemoryTarget) -> None:
    with capture.context(session="s-5", user="ana", team="core", tags={"a": 1}):
        first = capture.charge(0.1, "search_api", quantity=2, unit="searches", team="search", tags={"b": 2})
    second = capture.charge("12.50", "gpu_seconds", session="other", currency="usd")
    assert first.amount == Decimal("0.1")  # through the float's decimal string, exactly
    assert (first.session_id, first.quantity, first.unit, first.source) == ("s-5", 2, "searches", "sdk")
    assert (first.attribution.user, first.attribution.team) == ("ana", "search")
    assert dict(first.attribution.tags) == {"a": "1", "b": "2"}
    assert (second.amount, second.session_id, second.currency) == (Decimal("12.50"), "other", "USD")
    assert first.id != second.id
    assert first.id.startswith("chg_")
    assert capture.flush(10) is True
    assert [r for r in target.records if isinstance(r, Charge)] == [first, second]


@pytest.mark.parametrize(
    ("amount", "message"), [("abc", "not a number"), (float("inf"), "finite"), (True, "not a number")]
)
def test_bad_charges_are_refused(amount: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        capture.charge(amount, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown attribution"):
        capture.charge(1, "x", department="ops")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("1", 5), {}, "kind must be a non-empty string"),
        (("1", None), {}, "kind must be a non-empty string"),
        (("1", "k"), {"quantity": "x"}, "quantity must be a finite number"),
        (("1", "k"), {"quantity": float("nan")}, "quantity must be a finite number"),
        (("1", "k"), {"currency": 5}, "currency must be a currency code"),
        (("1", "k"), {"currency": "EUR"}, "'EUR': every cost is kept in USD"),
        (("-0.5", "k"), {}, "is negative; a charge is a cost of 0 or more"),
        (("1", "k"), {"session": 5}, "session must be a string"),
        (("1", "k"), {"unit": 3}, "unit must be a string"),
        (("1", "k"), {"team": 7}, "team must be a string"),
        (("1", "k"), {"tags": "x"}, "tags must be a mapping"),
        (("1e400", "k"), {}, "too large to store"),
    ],
)
def test_a_charge_the_store_would_refuse_is_refused_at_the_call_and_sends_nothing(
    target: MemoryTarget, args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    """Sent on, such a charge made the DuckDB target refuse its whole batch, calls and all."""
    with pytest.raises(ValueError, match=message):
        capture.charge(*args, **kwargs)  # type: ignore[arg-type]
    assert capture.flush(10) is True
    assert target.records == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": 5}, "action must be a string"),
        ({"score": float("nan")}, "finite"),
        ({"score": 1e999}, "finite"),
        ({"score": Decimal("NaN")}, "finite"),
        ({"score": Decimal("sNaN")}, "finite"),
        ({"score": Decimal("1e999")}, "finite"),
    ],
)
def test_an_outcome_the_store_would_refuse_is_refused_at_the_call(
    target: MemoryTarget, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        capture.record_outcome("chatcmpl-1", **kwargs)  # type: ignore[arg-type]
    assert capture.flush(10) is True
    assert target.records == []


def test_a_response_whose_id_is_not_its_calls_is_refused(target: MemoryTarget) -> None:
    """Ollama's ``chatcmpl-123`` is not a call's id (tokenomy.usage.ids): an outcome under it would
    name no stored call, so the response is refused and the session is the way to go."""
    with pytest.raises(ValueError, match=r"too short to tell calls apart.*on the session instead"):
        capture.record_outcome(SimpleNamespace(id="chatcmpl-123"), success=True)
    assert capture.flush(10) is True
    assert target.records == []


def test_a_charge_is_kept_to_the_stores_twelve_places_in_usd_and_returned_as_kept() -> None:
    assert capture.charge(Decimal("0.1234567890125"), "k").amount == Decimal("0.123456789013")  # half up
    assert capture.charge("1e-13", "k").amount == Decimal("0E-12")
    assert capture.charge("3", "k", currency="usd").currency == "USD"
    big = capture.charge(Decimal(10) ** 25 + Decimal("0.5"), "k")  # beyond the default 28 digits
    assert big.amount == Decimal("10000000000000000000000000.500000000000")


def test_decimal_and_fraction_quantities_and_scores_are_taken_as_numbers() -> None:
    assert capture.charge("0.004", "search_api", quantity=Decimal(3)).quantity == 3.0
    assert capture.charge("0.004", "sandbox", quantity=Fraction(5, 2)).quantity == 2.5
    assert capture.record_outcome("c1", score=Decimal("0.9"), target="call").score == 0.9


def test_without_a_sink_outcomes_and_charges_are_returned_but_not_sent() -> None:
    assert RUNTIME.sink is None
    before = capture.sink_stats()  # zeros, or those of a sink an earlier shutdown stopped
    event = capture.record_outcome("c1", success=True, target="call")
    assert event.success is True
    assert capture.charge(1, "x").amount == 1
    assert capture.sink_stats() == before


def test_a_charges_time_is_rounded_up_to_the_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut down to the millisecond, a charge made right after a call (whose end keeps microseconds)
    was placed before that call's end: `tokenomy session` hung it under the call before."""
    from tokenomy.capture import events

    for now, expected in (
        (datetime(2026, 3, 2, 9, 0, 0, 123_800), datetime(2026, 3, 2, 9, 0, 0, 124_000)),
        (datetime(2026, 3, 2, 9, 0, 0, 124_000), datetime(2026, 3, 2, 9, 0, 0, 124_000)),
        (datetime(2026, 3, 2, 9, 0, 59, 999_001), datetime(2026, 3, 2, 9, 1, 0)),
    ):
        monkeypatch.setattr(events, "utc_now", lambda now=now: now)
        assert capture.charge("0.01", "search").at == expected


def test_a_negative_quantity_is_refused_and_minus_zero_is_zero() -> None:
    """A quantity of -5 searches was kept; an amount of -0 was returned as -0E-12 and stored as 0."""
    with pytest.raises(ValueError, match=r"quantity -5\.0 is negative"):
        capture.charge("0.01", "search", quantity=-5)
    kept = capture.charge(Decimal("-0"), "search", quantity=0)
    assert (str(kept.amount), kept.quantity) == ("0E-12", 0)
