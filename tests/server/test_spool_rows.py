"""The rows the writer spools: one compressed frame a group of acknowledged payloads, replayed whole
and in order, and a frame that no longer reads kept in ``bad/``, never dropped."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tests.server.support import SpanSpec, genai_attributes, hex_id, request_bytes
from tests.server.test_writer import FakeStore, payload, writer
from tokenomy.errors import PayloadError, StoreError
from tokenomy.server import payloads
from tokenomy.server.spool import Frame, Spool, read_segment
from tokenomy.store.events import EventBatch


def _trace_payload(rng: random.Random, spans: int) -> tuple[bytes, payloads.Payload]:
    specs = [
        SpanSpec(hex_id(rng, 16), hex_id(rng, 8), None, "chat", 3, attributes=genai_attributes(rng, i))
        for i in range(spans)
    ]
    body = request_bytes(specs)
    return body, payloads.traces(body, "protobuf")[0]


def test_a_small_request_is_a_small_frame() -> None:
    """Four Arrow schemas made a 629-byte one-span request a 10,696-byte frame; compressed, 2.6 KB."""
    rng = random.Random(1)
    body, one = _trace_payload(rng, 1)
    assert len(body) == 629
    [frame] = payloads.spool_frames([one])
    assert frame.kind == payloads.GROUP
    assert len(frame.body) < 3_000
    _body, thousand = _trace_payload(rng, 1000)
    assert len(thousand.frame().body) < 100_000  # a 620 KB body, 651 KB of rows uncompressed


def test_a_group_shares_one_frame() -> None:
    rng = random.Random(2)
    group = [_trace_payload(rng, 1)[1] for _ in range(10)]
    [frame] = payloads.spool_frames(group)
    assert payloads.payload_count(frame) == 10
    assert len(frame.body) < 3 * len(group[0].frame().body)  # not ten times one
    batch = payloads.batch_of(frame)
    expected = EventBatch.concat([p.batch for p in group])
    assert batch.calls.equals(expected.calls)


def test_a_group_is_spooled_as_one_frame_and_replays_whole_in_order(tmp_path: Path) -> None:
    ids = [f"g{i:02d}" for i in range(30)]

    async def spool_them() -> list[str]:
        w = writer(tmp_path, None, linger_ms=5)  # the store cannot be opened
        await w.start()
        try:
            return list(await asyncio.gather(*(w.submit(payload(i)) for i in ids)))
        finally:
            await w.stop()

    assert asyncio.run(spool_them()) == ["spool"] * 30
    segments = Spool(tmp_path / "spool").segments()
    frames = [f for p in segments for f in read_segment(p)[0]]
    assert len(frames) < 10  # grouped: one frame a group, not one a payload
    assert sum(payloads.payload_count(f) for f in frames) == 30
    assert [i for f in frames for i in payloads.batch_of(f).calls.column("id").to_pylist()] == ids

    store = FakeStore()
    assert _replayed(tmp_path, store) == 30  # payloads, not frames
    assert store.ids == ids
    assert not Spool(tmp_path / "spool").pending()


def _replayed(tmp_path: Path, store: FakeStore) -> int:
    """Start and stop a writer over the spool in ``tmp_path``: the payloads it replayed into ``store``."""

    async def replay() -> int:
        w = writer(tmp_path, store)
        await w.start()
        await w.stop()
        return w.stats.replayed_payloads

    return asyncio.run(replay())


def _uncastable_frame(call_id: str) -> Frame:
    """Rows as a future version might write them: ``step`` a list, which no cast makes an integer."""
    calls = payload(call_id).batch.calls
    index = calls.schema.get_field_index("step")
    future = calls.set_column(index, pa.field("step", pa.list_(pa.int64())), pa.array([[1, 2]]))
    return Frame(payloads.GROUP_PLAIN, b"\x01\x00\x00\x00" + payloads.encode_batch(EventBatch(calls=future)))


def test_a_frame_that_no_longer_reads_is_kept_in_bad_never_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    unreadable = _uncastable_frame("future")
    spool.append([payload("a0").frame(), unreadable, payload("a2").frame()])
    [segment] = spool.segments()
    kept = segment.read_bytes()
    store = FakeStore()
    assert _replayed(tmp_path, store) == 2
    assert store.ids == ["a0", "a2"]  # what reads is stored
    assert not spool.pending()
    bad = tmp_path / "spool" / "bad"
    assert (bad / segment.name).read_bytes() == kept  # the acknowledged rows are all still there
    note = (bad / (segment.name + ".txt")).read_text()
    assert "1 of 3 frames" in note
    assert "step" in note
    frames, problem = read_segment(bad / segment.name)
    assert problem is None
    assert frames[1] == unreadable


def test_columns_are_cast_when_nothing_is_lost() -> None:
    calls = payload("c1").batch.calls
    step = calls.schema.get_field_index("step")
    narrower = calls.set_column(step, pa.field("step", pa.int32()), pa.array([7], pa.int32()))
    started = narrower.schema.get_field_index("started_at")
    as_text = narrower.set_column(started, "started_at", pa.array(["2026-03-01 10:00:00"]))
    batch = payloads.decode_batch(payloads.encode_batch(EventBatch(calls=as_text)))
    assert batch.calls.schema.equals(calls.schema)
    assert batch.calls.column("step").to_pylist() == [7]
    assert str(batch.calls.column("started_at")[0]) == "2026-03-01 10:00:00"


@pytest.mark.parametrize(
    ("column", "values"),
    [("step", pa.array([1.5])), ("step", pa.array([[1, 2]])), ("input_uncached", pa.array(["many"]))],
)
def test_a_cast_that_would_change_values_is_refused(column: str, values: Any) -> None:
    calls = payload("c1").batch.calls
    index = calls.schema.get_field_index(column)
    changed = calls.set_column(index, pa.field(column, values.type), values)
    with pytest.raises(PayloadError, match=f"{column} column is"):
        payloads.decode_batch(payloads.encode_batch(EventBatch(calls=changed)))


def test_without_zstd_a_group_frame_still_counts_its_payloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without zstd the writer spooled a group as an ``R`` frame, counted as one payload: the
    ``replayed`` counter fell short of what was stored."""
    monkeypatch.setattr(payloads, "codec_available", lambda: False)
    group = [payload(f"u{i}") for i in range(3)]
    [frame] = payloads.spool_frames(group)
    assert frame.kind == payloads.GROUP_PLAIN
    assert payloads.payload_count(frame) == 3
    assert payloads.batch_of(frame).calls.column("id").to_pylist() == ["u0", "u1", "u2"]

    Spool(tmp_path / "spool").append([frame, payload("u3").frame()])
    store = FakeStore()
    assert _replayed(tmp_path, store) == 4
    assert store.ids == ["u0", "u1", "u2", "u3"]
    assert not Spool(tmp_path / "spool").pending()


def test_a_compressed_group_waits_where_zstd_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pyarrow without zstd moved compressed frames to ``bad/`` for good: a lack of the
    environment, taken for bad data. The segment now stays, and a pyarrow with zstd replays it."""
    spool = Spool(tmp_path / "spool")
    spool.append(payloads.spool_frames([payload("z0"), payload("z1")]))
    [segment] = spool.segments()
    kept = segment.read_bytes()
    assert read_segment(segment)[0][0].kind == payloads.GROUP
    with monkeypatch.context() as patch:
        patch.setattr(payloads, "codec_available", lambda: False)
        with pytest.raises(StoreError, match="lacks zstd"):
            payloads.batch_of(read_segment(segment)[0][0])
        store = FakeStore()
        assert _replayed(tmp_path, store) == 0
        assert store.ids == []
    assert spool.segments() == [segment]
    assert segment.read_bytes() == kept
    assert not (tmp_path / "spool" / "bad").exists()
    assert _replayed(tmp_path, store) == 2
    assert store.ids == ["z0", "z1"]
    assert not spool.pending()
