"""JSONL exports carry the charges as native charge lines; CSV and Parquet hold the calls only."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

from tests.store.factories import T0, charge, fresh, full_call, minimal_call, rows
from tokenomy.native import charge_to_native
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.store import CallFilter
from tokenomy.store.arrow import charges_from_arrow


def _charges() -> list:  # type: ignore[type-arg]
    return [
        charge("g-full"),  # every optional field, attribution with tags
        charge(
            "g-bare",
            amount=Decimal("0.00000002"),  # printed plain: 0.000000020000, never 2.0000E-8
            at=T0 - timedelta(days=1),
            session_id=None,
            quantity=None,
            unit=None,
            description=None,
            source=None,
            attribution=Attribution(),
        ),
        charge(
            "g-late", amount=Decimal("1.5"), at=T0 + timedelta(days=1), session_id="sess-2", kind='quo"te'
        ),
    ]


def _fill(tmp_path: Path, name: str = "store.duckdb"):  # type: ignore[no-untyped-def]
    store = fresh(tmp_path, name)
    store.insert_calls([full_call("a-call"), minimal_call("b-no-time")])
    store.insert_charges(_charges())
    return store


def _lines(buffer: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().decode().splitlines()]


def test_charge_lines_are_exactly_charge_to_native(tmp_path: Path) -> None:
    with _fill(tmp_path) as store:
        stored = {c.id: c for c in charges_from_arrow(store.charges_table())}
        assert store.export(tmp_path / "out.jsonl") == 2 + 3  # calls and charges
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    charges = [json.loads(line) for line in lines if json.loads(line).get("type") == "charge"]
    assert len(charges) == 3
    for got in charges:
        want = json.loads(json.dumps(charge_to_native(stored[str(got["id"])])))
        assert got == want
        assert list(got) == list(want)  # same keys in the same order
    bare = next(c for c in charges if c["id"] == "g-bare")
    assert bare == {
        "type": "charge",
        "id": "g-bare",
        "amount": "0.000000020000",
        "currency": "USD",
        "kind": "search_api",
        "at": "2026-03-01T09:30:15.250Z",
    }


def test_records_come_in_time_order_calls_first(tmp_path: Path) -> None:
    with _fill(tmp_path) as store:
        store.insert_charges([charge("g-same", at=T0)])  # the same instant as a-call
        buffer = io.BytesIO()
        assert store.export(buffer) == 2 + 4
    order = [(r.get("type", "call"), r["id"]) for r in _lines(buffer)]
    assert order == [
        ("call", "b-no-time"),
        ("charge", "g-bare"),
        ("call", "a-call"),
        ("charge", "g-same"),
        ("charge", "g-full"),
        ("charge", "g-late"),
    ]


def test_filters_select_charges_by_time_and_session_none_by_provider(tmp_path: Path) -> None:
    with _fill(tmp_path) as store:
        day = io.BytesIO()
        assert store.export(day, "jsonl", CallFilter(since=date(2026, 3, 2), until=date(2026, 3, 3))) == 2
        session = io.BytesIO()
        store.export(session, "jsonl", CallFilter(session_id="sess-2"))
        provider = io.BytesIO()
        store.export(provider, "jsonl", CallFilter(provider="openai"))
    assert [r["id"] for r in _lines(day)] == ["a-call", "g-full"]
    assert [r["id"] for r in _lines(session)] == ["g-late"]
    assert all("type" not in r for r in _lines(provider))


def test_export_import_keeps_every_charge(tmp_path: Path, pricer: Pricer) -> None:
    with _fill(tmp_path, "one.duckdb") as one:
        one.export(tmp_path / "first.jsonl")
        before = rows(one, "charges")
    with fresh(tmp_path, "two.duckdb") as two:
        result = two.import_native_jsonl(tmp_path / "first.jsonl", pricer=pricer)
        assert (result.rejected, result.calls, result.charges) == (0, 2, 3)
        assert rows(two, "charges") == before
        two.export(tmp_path / "second.jsonl")

    def charge_lines(name: str) -> list[str]:  # the calls may gain a price on import; charges do not
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        return [line for line in lines if line.startswith('{"type":"charge"')]

    assert len(charge_lines("first.jsonl")) == 3
    assert charge_lines("second.jsonl") == charge_lines("first.jsonl")


def test_csv_and_parquet_hold_the_calls_only(tmp_path: Path) -> None:
    with _fill(tmp_path) as store:
        assert store.export(tmp_path / "out.csv", "csv") == 2
        assert store.export(tmp_path / "out.parquet", "parquet") == 2
    assert sorted(pq.read_table(tmp_path / "out.parquet").column("id").to_pylist()) == ["a-call", "b-no-time"]
    assert "g-full" not in (tmp_path / "out.csv").read_text(encoding="utf-8")
