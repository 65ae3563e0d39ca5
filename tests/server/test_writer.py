"""The writer groups requests, acknowledges only what is durable, spools on failure, replays in order."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tokenomy.errors import StoreError, StoreLockedError
from tokenomy.pricing import Pricer
from tokenomy.server import payloads
from tokenomy.server.call_costs import ColumnPricer
from tokenomy.server.spool import Spool
from tokenomy.server.writer import BusyError, Durable, NotDurableError, Writer
from tokenomy.store.events import EventBatch, EventCounts


class FakeStore:
    """Records every batch written (``written``) and its call ids; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.written: list[EventBatch] = []
        self.priced: list[EventBatch] = []
        self.failing = False
        self.closed = False

    def write_events(self, batch: EventBatch, *, pricer: object) -> EventCounts:
        if self.failing:
            raise StoreError("disk unhappy")
        self.batches.append(batch.calls.column("id").to_pylist())
        self.written.append(batch)
        return EventCounts(calls=batch.calls.num_rows)

    def write_priced_events(self, batch: EventBatch) -> EventCounts:
        counts = self.write_events(batch, pricer=None)
        self.priced.append(batch)
        return counts

    def close(self) -> None:
        self.closed = True

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


def payload(call_id: str) -> payloads.Payload:
    record: dict[str, Any] = {"id": call_id, "provider": "openai", "request_model": "gpt-4o-mini"}
    return payloads.events(json.dumps(record).encode(), ndjson=False)[0]


def writer(tmp_path: Path, store: FakeStore | None, **options: Any) -> Writer:
    def opener() -> Any:
        if store is None:
            raise StoreError("locked by another process")
        return store

    options.setdefault("first_retry_s", 0.01)
    return Writer(opener, Spool(tmp_path / "spool"), pricer=object(), **options)  # type: ignore[arg-type]


async def _submit_all(w: Writer, ids: list[str]) -> list[str]:
    return list(await asyncio.gather(*(w.submit(payload(i)) for i in ids)))


def test_concurrent_requests_share_transactions(tmp_path: Path) -> None:
    store = FakeStore()
    ids = [f"c{i}" for i in range(60)]

    async def scenario() -> list[str]:
        w = writer(tmp_path, store, linger_ms=5)
        await w.start()
        try:
            return await _submit_all(w, ids)
        finally:
            await w.stop()

    assert asyncio.run(scenario()) == ["store"] * 60
    assert sorted(store.ids) == sorted(ids)
    assert len(store.batches) < 20  # grouped, not one transaction per request
    assert store.closed


def test_a_failing_store_spools_and_then_replays_in_order(tmp_path: Path) -> None:
    store = FakeStore()
    store.failing = True

    async def scenario() -> tuple[list[Durable], list[Durable]]:
        w = writer(tmp_path, store, linger_ms=0)
        await w.start()
        first = [await w.submit(payload(f"a{i}")) for i in range(3)]
        assert w.spool.pending()
        assert store.ids == []
        store.failing = False
        second = [await w.submit(payload(f"b{i}")) for i in range(2)]
        for _ in range(200):  # the spool drains in the background
            if not w.spool.pending():
                break
            await asyncio.sleep(0.01)
        await w.stop()
        return first, second

    first, second = asyncio.run(scenario())
    assert first == ["spool"] * 3
    assert "spool" in second or store.ids[:3] == ["a0", "a1", "a2"]
    assert store.ids == ["a0", "a1", "a2", "b0", "b1"]  # arrival order kept across the spool


def test_a_store_that_cannot_open_yet_gets_the_spool_at_start(tmp_path: Path) -> None:
    async def first_run() -> list[str]:
        w = writer(tmp_path, None, linger_ms=0)
        await w.start()
        assert w.store is None
        result = await _submit_all(w, ["x1", "x2"])
        await w.stop()
        return result

    assert asyncio.run(first_run()) == ["spool", "spool"]
    store = FakeStore()

    async def second_run() -> None:
        w = writer(tmp_path, store)
        await w.start()
        for _ in range(200):
            if not w.spool.pending():
                break
            await asyncio.sleep(0.01)
        await w.stop()

    asyncio.run(second_run())
    assert sorted(store.ids) == ["x1", "x2"]
    assert not Spool(tmp_path / "spool").pending()


def test_nothing_is_acknowledged_when_the_spool_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore()
    store.failing = True

    def full(self: Spool, frames: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "append", full)

    async def scenario() -> None:
        w = writer(tmp_path, store, linger_ms=0)
        await w.start()
        try:
            with pytest.raises(NotDurableError, match="No space left on device"):
                await w.submit(payload("lost"))
            assert w.stats.failed_payloads == 1
        finally:
            await w.stop()

    asyncio.run(scenario())


def test_a_full_queue_is_busy(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = writer(tmp_path, FakeStore(), queue=2)
        # not started: nothing drains the queue
        tasks = [asyncio.create_task(w.submit(payload(f"q{i}"))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(BusyError, match="2 requests waiting"):
            await w.submit(payload("q3"))
        for task in tasks:
            task.cancel()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    """The catalog alone."""
    return Pricer()


def _complete(call_id: str, **usage: int) -> payloads.Payload:
    record: dict[str, Any] = {
        "id": call_id,
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "started_at": "2026-03-01T10:00:00Z",
        "usage": {"input_uncached": 1000, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0,
                  "output_visible": 10, "reasoning": 0, **usage},
    }  # fmt: skip
    return payloads.events(json.dumps(record).encode(), ndjson=False)[0]


def test_calls_it_can_price_reach_the_store_priced(tmp_path: Path, pricer: Pricer) -> None:
    store = FakeStore()

    def opener() -> Any:
        return store

    async def scenario() -> None:
        w = Writer(opener, Spool(tmp_path / "spool"), pricer, linger_ms=0, first_retry_s=0.01)
        await w.start()
        assert await w.submit(_complete("p1")) == "store"
        assert (
            await w.submit(_complete("p2", cache_write_1h=5)) == "store"
        )  # an assumed rate: the store prices
        await w.stop()

    asyncio.run(scenario())
    assert store.ids == ["p1", "p2"]
    assert [b.calls.column("id").to_pylist() for b in store.priced] == [["p1"]]
    priced = store.priced[0].calls.to_pylist()[0]
    assert priced["cost_currency"] == "USD"
    assert priced["cost_total"] == Decimal("0.000156000000")  # 1000 x $0.15/MTok + 10 x $0.60/MTok


def test_a_pricer_that_fails_leaves_the_calls_to_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore()

    def broken(self: ColumnPricer, calls: object) -> None:
        raise ValueError("unexpected")

    monkeypatch.setattr(ColumnPricer, "price", broken)

    async def scenario() -> None:
        w = writer(tmp_path, store, linger_ms=0)
        await w.start()
        assert await w.submit(payload("x")) == "store"
        await w.stop()

    asyncio.run(scenario())
    assert store.ids == ["x"]
    assert store.priced == []


def test_a_store_held_by_another_process_is_logged_by_its_holder(tmp_path: Path) -> None:
    held = StoreLockedError(tmp_path / "t.duckdb", pid=4242, process="/usr/bin/python3", advice="wait")
    reader = StoreLockedError(tmp_path / "t.duckdb", pid=7, process=None, reading=True, advice="wait")

    def opener() -> Any:
        raise errors.pop(0)

    errors = [held, reader]
    w = Writer(opener, Spool(tmp_path / "spool"), pricer=object(), first_retry_s=0.0)  # type: ignore[arg-type]
    assert not w._ensure_store()
    # the collector's own log names the holder, not the advice meant for readers of a collector's file
    assert w.stats.last_error == (
        f"StoreLockedError: {tmp_path / 't.duckdb'} is held by another process (pid 4242: /usr/bin/python3), "
        "which writes it"
    )
    w._retry.at = 0.0
    assert not w._ensure_store()
    assert w.stats.last_error == (
        f"StoreLockedError: {tmp_path / 't.duckdb'} is held by another process (pid 7), which reads it"
    )
