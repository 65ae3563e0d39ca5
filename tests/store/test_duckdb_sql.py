from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.store.factories import T0, charge, full_call, minimal_call, priced_call, write_jsonl
from tokenomy.native import call_to_native
from tokenomy.schema import Call, Charge, Quality, Usage
from tokenomy.store.duckdb_sql import (
    REJECTED,
    calls_select,
    charges_select,
    keys_survey_sql,
    lines_select,
    survey_sql,
)


def _survey(path: Path) -> dict[str, Any]:
    (row,) = _query(survey_sql(f"({lines_select(str(path))})"))
    return row


def _charges(path: Path) -> str:
    return charges_select(f"({lines_select(str(path))})")


def _query(sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_the_survey_counts_lines_and_finds_the_price_keys_of_calls_without_a_cost(tmp_path: Path) -> None:
    records: list[Call | Charge] = [
        priced_call("a"),
        priced_call("b"),  # same key as a
        priced_call("c", "gpt-4o-mini", started_at=T0 + timedelta(days=1), service_tier="flex", batch=True),
        priced_call("d", "claude-sonnet-4", provider="anthropic", response_model="claude-sonnet-4-20250514"),
        priced_call("e", request_model="", response_model="", provider=""),  # no model: no key
        minimal_call("f"),  # no model, no time: no key
        full_call("g"),  # carries its cost: no key
        charge("h"),
    ]
    path = write_jsonl(tmp_path / "f.jsonl", records)
    expected = {
        ("openai", "gpt-4o", date(2026, 3, 2), None, False),
        ("openai", "gpt-4o-mini", date(2026, 3, 3), "flex", True),
        ("anthropic", "claude-sonnet-4-20250514", date(2026, 3, 2), None, False),
    }
    row = _survey(path)
    assert (row["calls"], row["charges"], row["distinct_ids"]) == (7, 1, 8)
    keys = [(k["provider"], k["model"], k["day"], k["service_tier"], k["batch"]) for k in row["keys"]]
    assert set(keys) == expected
    # the narrow survey: the same counts and keys, each key once, and the ids not read
    (narrow,) = _query(keys_survey_sql(str(path)))
    assert (narrow["calls"], narrow["charges"], narrow["distinct_ids"]) == (7, 1, None)
    keys = [(k["provider"], k["model"], k["day"], k["service_tier"], k["batch"]) for k in narrow["keys"]]
    assert sorted(keys, key=str) == sorted(expected, key=str)


def test_the_survey_tells_a_repeated_id_from_a_call_and_a_charge_sharing_one(tmp_path: Path) -> None:
    shared = write_jsonl(tmp_path / "shared.jsonl", [priced_call("x"), charge("x")])
    repeated = write_jsonl(tmp_path / "repeated.jsonl", [priced_call("x"), priced_call("x"), charge("y")])
    a, b = _survey(shared), _survey(repeated)
    assert a["distinct_ids"] == a["calls"] + a["charges"] == 2
    assert b["distinct_ids"] == 2
    assert b["calls"] + b["charges"] == 3


def _pricing(tmp_path: Path, records: list[Any]) -> dict[str, str | None]:
    path = write_jsonl(tmp_path / "calls.jsonl", records)
    return {r["id"]: r["_pricing"] for r in _query(f"SELECT id, _pricing FROM ({calls_select(str(path))})")}


def test_each_call_is_classed_by_how_sql_can_price_it(tmp_path: Path) -> None:
    known: dict[str, Any] = {"input_uncached": 10, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0}
    records = [
        full_call("kept"),
        minimal_call("unnamed"),
        priced_call("flagged", usage=Usage.of(input_uncached=5, quality=(Quality.NOT_INTEGER,))),
        priced_call("empty", usage=Usage()),
        priced_call("full"),
        priced_call("split", usage=Usage(input_uncached=10, cache_read=0, input_total=50, output_total=7)),
        priced_call("tools", usage=Usage.of(**known, output_visible=1, reasoning=0, server_tools={"web": 1})),
        priced_call("no-time", started_at=None),
        priced_call("blank-model", request_model="", response_model=None),
        charge("a-charge"),
    ]
    assert _pricing(tmp_path, records) == {
        "kept": "kept",
        "unnamed": "unnamed",
        "flagged": "flagged",
        "empty": "empty",
        "full": "full",
        "split": None,
        "tools": None,
        "no-time": None,
        "blank-model": None,
    }


def test_a_total_that_disagrees_with_its_buckets_is_flagged_as_usage_of_does(tmp_path: Path) -> None:
    record = {**call_to_native(priced_call("m")), "usage": {**call_to_native(priced_call("m"))["usage"]}}
    record["usage"]["input_total"] = 99_999
    path = write_jsonl(tmp_path / "m.jsonl", [record])
    (row,) = _query(f"SELECT quality, input_total, _pricing FROM ({calls_select(str(path))})")
    assert row == {"quality": ["total_mismatch"], "input_total": 99_999, "_pricing": "flagged"}


@pytest.mark.parametrize(
    "change",
    [
        {"step": "3"},
        {"usage": {"input_uncached": 1.5}},
        {"usage": {"input_uncached": -1}},
        {"usage": {"quality": ["not_integer", "not_integer"]}},
        {"started_at": "2026-03-02 09:30:15"},
        {"provider": True},
        {"attribution": {"tags": {"n": None}}},
        {"id": 7},
        {"cost": {"total": "1", "price_date": "March"}},
    ],
    ids=json.dumps,
)
def test_the_checked_read_raises_at_a_line_it_cannot_vouch_for(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl", [priced_call("ok"), {**call_to_native(priced_call("bad")), **change}]
    )
    with pytest.raises(duckdb.Error) as info:
        _query(calls_select(str(path)))  # every column: a value that cannot be cast raises too
    assert REJECTED in str(info.value)


def test_call_checks_skip_charge_lines_and_charge_checks_skip_call_lines(tmp_path: Path) -> None:
    odd_charge = {**json.loads(json.dumps(call_to_native(priced_call("c")))), "type": "charge", "step": "x"}
    odd_charge.update(amount="0.5", at="2026-03-02T09:30:15.000Z")
    odd_call = {**call_to_native(priced_call("k")), "amount": True}
    path = write_jsonl(tmp_path / "mixed.jsonl", [odd_charge, odd_call])
    calls = _query(f"SELECT id FROM ({calls_select(str(path))})")
    charges = _query(f"SELECT id, amount, kind, currency FROM ({_charges(path)})")
    assert calls == [{"id": "k"}]
    assert charges == [{"id": "c", "amount": Decimal("0.5"), "kind": "other", "currency": "USD"}]


def test_a_charge_without_an_amount_raises(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl", [{"type": "charge", "id": "c", "at": "2026-03-02T09:30:15.000Z"}]
    )
    with pytest.raises(duckdb.Error, match=REJECTED):
        _query(_charges(path))
