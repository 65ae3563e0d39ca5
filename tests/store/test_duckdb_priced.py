"""Calls carrying their cost are stored as they are: one transaction, idempotent, the first of an id wins."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tokenomy.errors import StoreError
from tokenomy.schema import Call, Charge, Cost, OutcomeEvent, Usage
from tokenomy.store import open_store
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.events import EventBatch, outcomes_to_arrow, spans_to_arrow

T0 = datetime(2026, 3, 2, 9, 0, 0)


def _call(call_id: str, amount: str, **changes: object) -> Call:
    cost = Cost(total=Decimal(amount), parts={"input_uncached": Decimal(amount)}, source="test@1")
    call = Call(
        id=call_id,
        provider="openai",
        request_model="gpt-4o-mini",
        started_at=T0,
        usage=Usage.of(input_uncached=10),
        cost=cost,
    )
    return call.replace(**changes)


def _span(span: str) -> dict[str, object]:
    return {"trace_id": "t" * 32, "span_id": span, "name": "agent", "started_at": T0, "source": "otlp"}


def test_calls_are_stored_with_their_cost_and_the_rest_of_the_batch(tmp_path: Path) -> None:
    batch = EventBatch(
        calls=calls_to_arrow([_call("a", "0.25"), _call("b", "1.5")]),
        charges=charges_to_arrow([Charge(id="g", amount=Decimal("0.5"), kind="search", at=T0)]),
        outcomes=outcomes_to_arrow([OutcomeEvent("call", "a", T0, success=True)]),
        spans=spans_to_arrow([_span("s1"), _span("s2")]),
    )
    with open_store(tmp_path / "s.duckdb") as store:
        counts = store.write_priced_events(batch)
        assert (counts.calls, counts.charges, counts.outcomes, counts.spans) == (2, 1, 1, 2)
        stored = {c.id: c for c in store.iter_calls()}
        assert stored["a"].cost is not None
        assert stored["a"].cost.total == Decimal("0.25")
        assert stored["b"].cost is not None
        assert stored["b"].cost.source == "test@1"
        assert store.events_count("spans") == 2
        again = store.write_priced_events(batch)
        assert (again.calls, again.charges, again.outcomes, again.spans) == (0, 0, 0, 0)


def test_the_first_of_repeated_ids_wins(tmp_path: Path) -> None:
    batch = EventBatch(calls=calls_to_arrow([_call("a", "1"), _call("b", "2"), _call("a", "3")]))
    with open_store(tmp_path / "s.duckdb") as store:
        assert store.write_priced_events(batch).calls == 2
        amounts = {c.id: c.cost.total for c in store.iter_calls() if c.cost is not None}
    assert amounts == {"a": Decimal("1"), "b": Decimal("2")}


def test_a_call_without_a_cost_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    batch = EventBatch(
        calls=calls_to_arrow([_call("a", "1"), _call("b", "1", cost=None)]),
        spans=spans_to_arrow([_span("s1")]),
    )
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(StoreError, match="1 calls carry no cost; store them with write_events"):
            store.write_priced_events(batch)
        assert list(store.iter_calls()) == []
        assert store.events_count("spans") == 0


def test_a_failing_write_rolls_everything_back(tmp_path: Path) -> None:
    calls = calls_to_arrow([_call("a", "1")])
    broken = spans_to_arrow([_span("s1")]).drop_columns(["name"]).append_column("bogus", calls.column("id"))
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(StoreError, match="rolled back"):
            store.write_priced_events(EventBatch(calls=calls, spans=broken))
        assert list(store.iter_calls()) == []
