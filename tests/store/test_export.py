from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest
from click.testing import CliRunner

from tests.store.factories import T0, charge, fresh, full_call, minimal_call, priced_call, write_jsonl
from tokenomy.cli.main import cli
from tokenomy.errors import StoreError
from tokenomy.native import call_to_native
from tokenomy.pricing import Pricer
from tokenomy.schema import Cost, Usage
from tokenomy.store import CallFilter, open_store
from tokenomy.store.duckdb_export import watched


def _calls() -> list:  # type: ignore[type-arg]
    return [
        full_call("a-full"),
        full_call(
            "b-tiny", cost=Cost(total=Decimal(0), parts={"cache_read": Decimal("0.00000075")}, source="x")
        ),
        minimal_call("c-bare"),
        priced_call("d-priced", latency_ms=1e-7, session_id='quote " and \\ backslash'),
        minimal_call("e-unpriced", cost=Cost.unpriced("no price", price_date=date(2026, 3, 2))),
        minimal_call("f-partial", usage=Usage(input_total=10, output_total=None)),
    ]


def test_jsonl_lines_are_exactly_call_to_native(tmp_path: Path) -> None:
    calls = _calls()
    with fresh(tmp_path) as store:
        store.insert_calls(calls)
        stored = list(store.iter_calls())
        assert store.export(tmp_path / "out.jsonl") == len(calls)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(stored)
    for line, call in zip(lines, stored, strict=True):
        got, want = json.loads(line), json.loads(json.dumps(call_to_native(call)))
        assert got == want
        assert list(got) == list(want)  # same keys in the same order
    (tiny,) = [json.loads(line)["cost"] for line in lines if json.loads(line)["id"] == "b-tiny"]
    assert tiny["total"] == "0.000000000000"  # plain, never 0E-12
    assert tiny["parts"] == {"cache_read": "0.000000750000"}


def test_export_import_export_is_identical(tmp_path: Path, pricer: Pricer) -> None:
    # the first store is filled by an import, so every call has its cost (recorded or priced)
    with fresh(tmp_path, "one.duckdb") as one:
        one.import_native_jsonl(write_jsonl(tmp_path / "source.jsonl", _calls()), pricer=pricer)
        one.export(tmp_path / "first.jsonl")
    with fresh(tmp_path, "two.duckdb") as two:
        result = two.import_native_jsonl(tmp_path / "first.jsonl", pricer=pricer)
        assert result.rejected == 0
        assert result.calls == len(_calls())
        two.export(tmp_path / "second.jsonl")
    assert (tmp_path / "second.jsonl").read_bytes() == (tmp_path / "first.jsonl").read_bytes()


def test_stream_export_equals_file_export(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls(_calls())
        store.export(tmp_path / "file.jsonl")
        buffer = io.BytesIO()
        assert store.export(buffer) == len(_calls())
        csv_buffer = io.BytesIO()
        store.export(csv_buffer, "csv")
        store.export(tmp_path / "file.csv", "csv")
    assert buffer.getvalue() == (tmp_path / "file.jsonl").read_bytes()
    assert csv_buffer.getvalue() == (tmp_path / "file.csv").read_bytes()


def test_csv_is_flat_with_native_names(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls([full_call("a-full")])
        store.export(tmp_path / "out.csv", "csv")
    (row,) = csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8"))
    assert row["id"] == "a-full"
    assert row["started_at"] == "2026-03-02T09:30:15.250Z"
    assert row["usage_input_uncached"] == "1200"
    assert row["usage_input_total"] == "4700"
    assert row["usage_kind"] == "counted"
    assert json.loads(row["usage_server_tools"]) == {"web_searches": 2}
    assert row["attribution_team"] == "search"
    assert json.loads(row["attribution_tags"]) == {
        "region": "eu",
        "tier": "gold",
    }
    assert Decimal(row["cost_total"]) == Decimal("0.012345678901")
    assert Decimal(row["cost_parts_overhead"]) == Decimal("0.000000075")
    assert row["cost_parts_reasoning"] == ""
    assert row["outcome_success"] == "true"
    assert row["content_prompt"].startswith("What is")
    assert json.loads(row["prefix_hashes"]) == ["aa11", "bb22", "cc33"]


def test_parquet_keeps_types(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls([full_call("a-full"), minimal_call("c-bare")])
        store.export(tmp_path / "out.parquet", "parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("id").to_pylist() == ["c-bare", "a-full"]  # no start time sorts first
    first = table.to_pylist()[1]
    assert first["started_at"] == T0.replace(tzinfo=UTC)  # a UTC instant, not a naive local time
    assert table.schema.field("started_at").type.tz == "UTC"
    assert table.schema.field("ended_at").type.tz == "UTC"
    assert first["cost_total"] == Decimal("0.012345678901")
    assert first["usage_reasoning"] == 50
    assert first["tool_uses"][1] == {
        "name": "web_search",
        "args_hash": None,
        "server": True,
    }
    assert str(table.schema.field("cost_parts_overhead").type) == "decimal128(38, 12)"
    assert table.column_names[:3] == ["id", "started_at", "ended_at"]


def test_export_filters_by_time(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls([priced_call("old", started_at=T0.replace(month=1)), priced_call("new")])
        buffer = io.BytesIO()
        assert store.export(buffer, "jsonl", CallFilter(since=date(2026, 2, 1))) == 1
    assert json.loads(buffer.getvalue())["id"] == "new"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with fresh(tmp_path) as store, pytest.raises(StoreError, match="unknown export format"):
        store.export(tmp_path / "x", "xml")  # type: ignore[arg-type]


def test_charges_are_not_exported_as_calls(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_charges([charge()])
        buffer = io.BytesIO()
        assert store.export(buffer) == 1  # as its charge line (tests/store/test_export_charges.py)
        assert store.export(io.BytesIO(), "csv") == 0
    (line,) = buffer.getvalue().decode().splitlines()
    assert json.loads(line)["type"] == "charge"


def test_a_watched_query_reports_its_progress_and_leaves_the_settings_as_they_were() -> None:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = true")  # a user's own settings: restored, not reset
    con.execute("SET enable_progress_bar_print = false")
    seen: list[float] = []
    heavy = "SELECT sum(hash(i) % 7) FROM range(40000000) t(i)"  # DuckDB can estimate a range's progress
    with watched(con, seen.append):
        for _ in range(30):  # bounded: until the poller (every 0.25 s) has seen one run under way
            con.execute(heavy).fetchall()
            if seen:
                break
    assert seen, "no progress reported over 30 runs of a query of 40M rows"
    assert all(0 <= done <= 100 for done in seen)
    settings = con.execute(
        "SELECT current_setting('enable_progress_bar'), current_setting('enable_progress_bar_print')"
    ).fetchone()
    assert settings == (True, False)  # as they were before


def test_an_export_without_a_terminal_draws_no_bar_and_writes_the_same(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        store.insert_calls([minimal_call(f"c{i}") for i in range(3)])
    plain = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(tmp_path / "a.jsonl")])
    quiet = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(tmp_path / "b.jsonl"), "-q"])
    assert plain.exit_code == quiet.exit_code == 0
    assert plain.output == f"3 calls and 0 charges written to {tmp_path / 'a.jsonl'}\n"
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_a_jsonl_export_streamed_reports_the_share_of_its_lines_written(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.insert_calls([minimal_call(f"c{i}") for i in range(5)])
        store.insert_charges([charge("g1")])
        told: list[float] = []
        out = io.BytesIO()
        assert store.export(out, "jsonl", progress=told.append) == 6
    assert told == [100.0]  # one batch: the six lines of six written
    assert len(out.getvalue().splitlines()) == 6
