from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.store.factories import T0, aware, charge, fresh, full_call, minimal_call
from tokenomy.schema import Usage
from tokenomy.store import CallFilter
from tokenomy.store.arrow import calls_from_arrow, calls_to_arrow, money


def test_every_field_of_a_call_survives_the_store(tmp_path: Path) -> None:
    call = full_call()
    with fresh(tmp_path) as store:
        assert store.insert_calls([call]).inserted == 1
        (back,) = store.iter_calls()
    # money comes back with the store's 12 places: equal in value, not in exponent
    assert back.cost is not None
    assert call.cost is not None
    assert back.cost.total == Decimal("0.012345678901")
    assert back.cost.parts == {
        "input_uncached": Decimal("0.0036"),
        "cache_read": Decimal("0.0009"),
        "overhead": Decimal("0.000000075"),
    }
    assert back.provider_reported_cost == Decimal("0.0123")
    assert back == call


def test_unknown_stays_unknown(tmp_path: Path) -> None:
    call = minimal_call()
    with fresh(tmp_path) as store:
        store.insert_calls([call])
        (back,) = store.iter_calls()
    assert back == call
    assert back.usage.input_uncached is None
    assert back.usage.input_total is None
    assert back.cost is None
    assert back.outcome is None
    assert back.content is None
    assert back.attribution.tags == {}
    assert back.tool_uses == ()
    assert back.prefix_hashes == ()


def test_unpriced_cost_keeps_its_reason_and_no_total(tmp_path: Path) -> None:
    call = full_call(cost=full_call().cost.__class__.unpriced("model not in the catalog"))  # type: ignore[union-attr]
    with fresh(tmp_path) as store:
        store.insert_calls([call])
        (back,) = store.iter_calls()
    assert back.cost is not None
    assert back.cost.total is None
    assert back.cost.reason == "model not in the catalog"
    assert back.cost.parts == {}


def test_usage_with_a_reported_total_and_no_split_is_kept_as_reported(tmp_path: Path) -> None:
    usage = Usage(input_total=5000, output_total=700, output_visible=None, input_uncached=None)
    with fresh(tmp_path) as store:
        store.insert_calls([minimal_call(usage=usage)])
        (back,) = store.iter_calls()
    assert back.usage == usage


def test_aware_times_are_stored_in_utc(tmp_path: Path) -> None:
    call = minimal_call(started_at=aware(T0), ended_at=aware(T0 + timedelta(seconds=1)))
    with fresh(tmp_path) as store:
        store.insert_calls([call])
        (back,) = store.iter_calls()
    assert back.started_at == T0
    assert back.started_at.tzinfo is None
    assert back.ended_at == T0 + timedelta(seconds=1)


def test_money_rounds_half_away_from_zero_at_twelve_places() -> None:
    assert money(Decimal("0.0000000000005")) == Decimal("0.000000000001")
    assert money(Decimal("-0.0000000000005")) == Decimal("-0.000000000001")
    assert money(Decimal("0.00000000000049")) == Decimal(0)
    assert money(None) is None


def test_arrow_round_trip_without_a_store() -> None:
    calls = [full_call("a"), minimal_call("b")]
    table = calls_to_arrow(calls)
    assert table.num_rows == 2
    assert list(calls_from_arrow(table)) == calls


def test_charges_round_trip(tmp_path: Path) -> None:
    item = charge(at=aware(T0))
    with fresh(tmp_path) as store:
        assert store.insert_charges([item]).inserted == 1
        (row,) = store.charges_table().to_pylist()
    assert row["amount"] == Decimal("0.005")
    assert row["at"] == T0
    assert row["tags"] == [("vendor", "acme")]
    assert row["team"] == "search"


def test_filters_select_by_utc_start_time(tmp_path: Path) -> None:
    calls = [
        minimal_call(f"c{i}", started_at=T0 + timedelta(days=i), session_id=f"s{i % 2}") for i in range(4)
    ]
    with fresh(tmp_path) as store:
        store.insert_calls([*calls, minimal_call("no-time")])
        window = CallFilter(since=(T0 + timedelta(days=1)).date(), until=(T0 + timedelta(days=3)).date())
        assert [c.id for c in store.iter_calls(window)] == ["c1", "c2"]
        assert [c.id for c in store.iter_calls(CallFilter(session_id="s0"))] == ["c0", "c2"]
        assert store.calls_table().num_rows == 5
        assert store.count() == 5


def test_a_model_filter_matches_the_served_name_or_the_asked_one(tmp_path: Path) -> None:
    """As ``--where model=`` matches: a call asked for by its short name and served under a dated one
    is found by either (``GET /api/v1/calls?model=`` found it by the dated name alone)."""
    dated = minimal_call(
        "d1", started_at=T0, request_model="gpt-4.1-mini", response_model="gpt-4.1-mini-2025-04-14"
    )
    other = minimal_call("o1", started_at=T0, request_model="gpt-4o", response_model="gpt-4o-2024-08-06")
    with fresh(tmp_path) as store:
        store.insert_calls([dated, other])
        for name in ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"):
            assert [c.id for c in store.iter_calls(CallFilter(model=name))] == ["d1"], name
