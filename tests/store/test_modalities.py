"""``Usage.modalities`` (audio, image and video tokens inside their buckets) survives every way a call
is written and read back: the store and its Arrow layout, native JSONL in and out (the SQL fast
path and the per-line path), the SDK's native events, the exports, and a store made before the
column existed.

A call with modality tokens is never priced by the SQL import: its text rates would be wrong for
them, so the Python Pricer prices it (and will charge the catalog's modality rates).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tests.conftest import real_data_path
from tests.store.factories import fresh, full_call, native_line, priced_call, rows, write_jsonl
from tokenomy.capture.records import encode
from tokenomy.native import FieldError, call_to_native, usage_from_native
from tokenomy.pricing import PriceKey, Pricer
from tokenomy.schema import BUCKETS, Call, Cost, Quality, Usage
from tokenomy.server.call_costs import ColumnPricer
from tokenomy.server.events_ingest import read_events
from tokenomy.server.payloads import decode_batch, encode_batch
from tokenomy.store import open_store
from tokenomy.store.arrow import calls_from_arrow, calls_to_arrow
from tokenomy.store.duckdb_import import import_line_by_line
from tokenomy.store.duckdb_sql import calls_select
from tokenomy.store.events import EventBatch

MODAL = {"input_uncached.audio": 120, "output_visible.image": 1290}


def _usage(**modalities: int) -> Usage:
    return Usage.of(
        input_uncached=1000,
        cache_read=200,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1300,
        reasoning=0,
        modalities=modalities or MODAL,
    )


def _modal(call_id: str = "modal", **changes: Any) -> Call:
    """A gpt-4o call without a cost whose input holds 120 audio tokens and output 1290 image tokens."""
    return priced_call(call_id, usage=_usage(), **changes)


class _Recording(Pricer):
    """The catalog Pricer, noting which calls it prices one by one (the rest SQL prices)."""

    def __init__(self) -> None:
        super().__init__()
        self.priced: list[str] = []

    def price(self, call: Call, *, at: date | None = None) -> Cost:
        self.priced.append(call.id)
        return super().price(call, at=at)

    def price_table(self, keys: Iterable[PriceKey]) -> Any:
        return super().price_table(keys)


def test_the_usage_and_the_arrow_layout_keep_them() -> None:
    call = full_call("a", usage=_usage())
    assert call.usage.modalities == MODAL
    (back,) = calls_from_arrow(calls_to_arrow([call]))
    assert back == call
    assert back.usage.modal_tokens("output_visible") == {"image": 1290}


def test_a_stored_call_reads_back_with_them(tmp_path: Path) -> None:
    calls = [full_call("a", usage=_usage()), full_call("b")]
    with fresh(tmp_path) as store:
        store.insert_calls(calls)
        stored = {c.id: c for c in store.iter_calls()}
        raw = dict(store.connection.execute("SELECT id, modalities FROM calls").fetchall())
    assert stored == {"a": calls[0], "b": calls[1]}
    assert raw == {"a": MODAL, "b": {}}  # a map, never null: a text-only call holds it empty


def test_native_usage_carries_them_after_the_server_tools() -> None:
    usage = Usage.of(
        input_uncached=1000, output_visible=1300, server_tools={"web_searches": 1}, modalities=MODAL
    )
    native = call_to_native(full_call("a", usage=usage))["usage"]
    assert native["modalities"] == MODAL
    assert list(native) == [*BUCKETS, "input_total", "output_total", "server_tools", "modalities", "kind"]
    assert usage_from_native(native) == usage
    assert "modalities" not in call_to_native(full_call("b"))["usage"]  # left out when all is text


def test_export_then_import_keeps_them_on_both_paths(tmp_path: Path, pricer: Pricer) -> None:
    calls = [full_call("a-full", usage=_usage()), _modal("b-priced"), priced_call("c-text")]
    with fresh(tmp_path, "one.duckdb") as one:
        one.import_native_jsonl(write_jsonl(tmp_path / "source.jsonl", calls), pricer=pricer)
        one.export(tmp_path / "first.jsonl")
        first = {c.id: c for c in one.iter_calls()}
    lines = [json.loads(line) for line in (tmp_path / "first.jsonl").read_text().splitlines()]
    assert [line["usage"].get("modalities") for line in lines] == [MODAL, MODAL, None]
    assert lines == [json.loads(json.dumps(call_to_native(first[line["id"]]))) for line in lines]
    with fresh(tmp_path, "fast.duckdb") as fast, fresh(tmp_path, "slow.duckdb") as slow:
        a = fast.import_native_jsonl(tmp_path / "first.jsonl", pricer=pricer)
        b = import_line_by_line(slow, tmp_path / "first.jsonl", pricer=pricer)
        assert (a.fast_path, b.fast_path, a.calls, b.calls, a.rejected, b.rejected) == (
            True,
            False,
            3,
            3,
            0,
            0,
        )
        assert {c.id: c for c in fast.iter_calls()} == first
        assert rows(fast) == rows(slow)
        fast.export(tmp_path / "second.jsonl")
    assert (tmp_path / "second.jsonl").read_bytes() == (tmp_path / "first.jsonl").read_bytes()


def test_the_fast_path_leaves_a_call_with_them_to_the_python_pricer(tmp_path: Path) -> None:
    calls = [_modal("modal"), priced_call("text")]
    path = write_jsonl(tmp_path / "calls.jsonl", calls)
    recording = _Recording()
    with fresh(tmp_path) as store:
        flags = dict(
            store.connection.execute(f"SELECT id, _pricing FROM ({calls_select(str(path))})").fetchall()
        )
        result = store.import_native_jsonl(path, pricer=recording)
        stored = {c.id: c for c in store.iter_calls()}
    assert flags == {"modal": None, "text": "full"}
    assert result.fast_path
    assert recording.priced == ["modal"]  # the text-only call was priced in SQL
    cost = stored["modal"].cost
    assert cost is not None
    assert cost.total is not None
    assert cost == Pricer().price(calls[0])
    assert stored["modal"].usage.modalities == MODAL


def test_a_records_insert_leaves_them_to_the_python_pricer(tmp_path: Path) -> None:
    recording = _Recording()
    with fresh(tmp_path) as store:
        path = write_jsonl(tmp_path / "calls.jsonl", [_modal("modal"), priced_call("text"), '{"id": 5}'])
        result = store.import_native_jsonl(path, pricer=recording)  # a bad line: the per-line path
        stored = {c.id: c for c in store.iter_calls()}
    assert (result.fast_path, result.calls, result.rejected) == (False, 2, 1)
    assert recording.priced == ["modal"]
    assert stored["modal"].cost == Pricer().price(_modal("modal"))


def test_zero_counts_are_dropped_and_a_count_above_its_bucket_is_flagged_on_both_paths(
    tmp_path: Path, pricer: Pricer
) -> None:
    over = {"input_uncached.audio": 150, "output_visible.image": 0}
    base = call_to_native(priced_call("over"))
    lines = [
        native_line({**base, "usage": {"input_uncached": 100, "output_visible": 5, "modalities": over}}),
        native_line({**call_to_native(priced_call("zero")),
                     "usage": {**base["usage"], "modalities": {"cache_read.video": 0}}}),
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "odd.jsonl", lines)
    with fresh(tmp_path, "fast.duckdb") as fast, fresh(tmp_path, "slow.duckdb") as slow:
        assert fast.import_native_jsonl(path, pricer=pricer).fast_path
        import_line_by_line(slow, path, pricer=pricer)
        stored = {c.id: c.usage for c in fast.iter_calls()}
        assert rows(fast) == rows(slow)
    assert stored["over"].modalities == {"input_uncached.audio": 150}
    assert stored["over"].quality == (Quality.MODALITY_EXCEEDS_BUCKET,)
    assert stored["zero"].modalities == {}
    assert stored["zero"].quality == ()


@pytest.mark.parametrize(
    ("modalities", "field", "message"),
    [
        ({"input_uncached.smell": 3}, "usage.modalities.input_uncached.smell", "unknown modality key"),
        ({"reasoning.audio": 3}, "usage.modalities.reasoning.audio", "unknown modality key"),
        ({"output_visible.image": -1}, "usage.modalities.output_visible.image", "must be >= 0"),
        ({"output_visible.image": "12"}, "usage.modalities.output_visible.image", "expected a whole number"),
        ({"output_visible.image": 1.5}, "usage.modalities.output_visible.image", "expected a whole number"),
        ([120], "usage.modalities", "expected an object of counts"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(
    tmp_path: Path, pricer: Pricer, modalities: object, field: str, message: str
) -> None:
    with pytest.raises(FieldError, match=message) as raised:
        usage_from_native({"input_uncached": 200, "modalities": modalities})
    assert raised.value.field == field
    bad = {**call_to_native(priced_call("bad")), "usage": {"input_uncached": 200, "modalities": modalities}}
    path = write_jsonl(tmp_path / "bad.jsonl", [priced_call("good"), bad])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert [c.id for c in store.iter_calls()] == ["good"]
    assert not result.fast_path
    assert [(e.record, e.field) for e in result.errors] == [(2, field)]


def test_a_key_given_twice_is_read_as_json_reads_it(tmp_path: Path, pricer: Pricer) -> None:
    line = native_line(priced_call("twice")).replace(
        '"input_total"', '"modalities":{"input_uncached.audio":1,"input_uncached.audio":120},"input_total"'
    )
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(write_jsonl(tmp_path / "twice.jsonl", [line]), pricer=pricer)
        (call,) = store.iter_calls()
    assert not result.fast_path  # DuckDB reads no map from it: the per-line path keeps the last, as JSON does
    assert call.usage.modalities == {"input_uncached.audio": 120}


def test_the_sdks_events_carry_them_to_the_store(tmp_path: Path, pricer: Pricer) -> None:
    call = _modal("evt", source="sdk")
    batch, counts = read_events(encode([call]), ndjson=True)
    assert counts.calls == 1
    assert ColumnPricer(pricer).price(batch.calls) is None  # the collector leaves it to the store's Pricer
    with fresh(tmp_path) as store:
        store.write_events(batch, pricer=pricer)
        (stored,) = store.iter_calls()
    assert stored.replace(cost=None) == call
    assert stored.cost == Pricer().price(call)


def test_csv_and_parquet_exports_carry_them(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls([full_call("a", usage=_usage()), full_call("b")])
        store.export(tmp_path / "out.csv", "csv")
        store.export(tmp_path / "out.parquet", "parquet")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [json.loads(row["usage_modalities"]) for row in table] == [MODAL, {}]
    header = list(table[0])
    assert header[header.index("usage_server_tools") + 1] == "usage_modalities"
    parquet = pq.read_table(tmp_path / "out.parquet").column("usage_modalities").to_pylist()
    assert [dict(m) for m in parquet] == [MODAL, {}]


def test_a_store_made_before_the_column_gains_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = full_call("old")
    with open_store(path) as store:
        store.insert_calls([old])
        con = store.connection
        con.execute("ALTER TABLE calls DROP COLUMN modalities")  # as a store made before 0008 was
        con.execute("DELETE FROM _migrations WHERE name = '0008_modalities'")
    with open_store(path) as store:
        assert "0008_modalities" in [name for name, _ in store.applied_migrations()]
        assert store.connection.execute("SELECT modalities FROM calls").fetchall() == [({},)]
        store.insert_calls([full_call("new", usage=_usage())])
        stored = {c.id: c for c in store.iter_calls()}
    assert stored["old"] == old
    assert stored["new"].usage.modalities == MODAL
    with open_store(path, read_only=True) as store:  # migrated: it opens read-only now
        assert store.count() == 2


def test_a_real_video_and_audio_call_keeps_them(tmp_path: Path, pricer: Pricer) -> None:
    """gemini-2.0-flash reading a YouTube video: 3096 video and 1500 audio tokens in a 4610-token prompt
    (a recorded response of genai-prices' usage dataset)."""
    dataset = json.loads(real_data_path("genai-prices-usages", "usages_dataset.json").read_text())
    (entry,) = [
        e
        for e in dataset
        if e["body"].get("file", "").endswith("youtube_video_url_input_with_vendor_metadata.yaml")
    ]
    meta = entry["body"]["usageMetadata"]
    details = {d["modality"].lower(): d["tokenCount"] for d in meta["promptTokensDetails"]}
    usage = Usage.of(
        input_uncached=meta["promptTokenCount"],
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=meta["candidatesTokenCount"],
        reasoning=0,
        modalities={f"input_uncached.{m}": n for m, n in details.items() if m != "text"},
    )
    call = priced_call("yt", "gemini-2.0-flash", provider="google", usage=usage)
    assert usage.modalities == {"input_uncached.video": 3096, "input_uncached.audio": 1500}
    assert usage.quality == ()
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(write_jsonl(tmp_path / "yt.jsonl", [call]), pricer=pricer)
        (stored,) = store.iter_calls()
    assert result.fast_path
    assert stored.replace(cost=None) == call
    assert stored.cost == Pricer().price(call)
    assert stored.cost is not None
    assert stored.cost.total is not None


def test_a_spool_frame_from_before_the_column_reads_with_it_empty(tmp_path: Path, pricer: Pricer) -> None:
    call = priced_call("spooled", source="events")
    old = EventBatch(
        calls=calls_to_arrow([call]).drop_columns(["modalities"])
    )  # as an older collector spooled
    batch = decode_batch(encode_batch(old))
    assert batch.calls.column("modalities").to_pylist() == [[]]
    with fresh(tmp_path) as store:
        store.write_events(batch, pricer=pricer)
        assert store.connection.execute("SELECT modalities FROM calls").fetchall() == [({},)]
        (stored,) = store.iter_calls()
    assert stored.replace(cost=None) == call
