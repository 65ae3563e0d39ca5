"""``GET /api/v1/report`` while the store is written: every form of the report (the comparison, the
metrics and the HTML report's data too) reads one snapshot, so its numbers agree with each other
whatever commits while its queries run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tokenomy.schema import Attribution, Call, Charge, Cost, Usage
from tokenomy.server import api
from tokenomy.server.api import Answer
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.events import EventBatch

T0 = datetime(2026, 10, 10, 12)
BATCH = 20
"""Calls per transaction, each in a session of its own with one charge committed with it."""
READS = 12
"""Reports read per form while the writer commits: the bounded loop (each read is several queries)."""
SPEND = Decimal("0.003")
"""A session's spend: its call's $0.001 and its charge's $0.002."""


def _batch(start: int) -> EventBatch:
    """``BATCH`` priced calls over two teams and two models, and one charge in each call's session."""
    ids = range(start, start + BATCH)
    calls = [
        Call(
            id=f"race{i}",
            provider="openai",
            request_model="gpt-4o" if i % 2 else "gpt-4o-mini",
            started_at=T0 + timedelta(minutes=i % 600),
            session_id=f"rs{i}",
            usage=Usage.of(input_uncached=10, output_visible=5),
            attribution=Attribution(team="a" if i % 3 else "b"),
            cost=Cost(total=Decimal("0.001"), currency="USD", source="test"),
        )
        for i in ids
    ]
    charges = [
        Charge(
            id=f"fee{i}",
            amount=Decimal("0.002"),
            kind="search_api",
            at=T0 + timedelta(minutes=i % 600),
            session_id=f"rs{i}",
            attribution=Attribution(team="a" if i % 3 else "b"),
        )
        for i in ids
    ]
    return EventBatch(calls=calls_to_arrow(calls), charges=charges_to_arrow(charges))


def _counts(form: str, body: dict[str, Any]) -> tuple[int, ...]:
    """The calls (and charges) each part of one answer counts: one number when the parts agree."""
    if form == "summary":
        return (
            body["kpis"]["calls"]["value"],
            body["over_time"]["total"]["calls"],
            body["over_time"]["total"]["charges"],
            sum(r["calls"] for r in body["over_time"]["rows"]),
            body["models"]["total"]["calls"],
            sum(r["calls"] for r in body["models"]["rows"]),
        )
    if form == "grouped":
        return (
            body["kpis"]["calls"]["value"],
            body["total"]["calls"],
            body["total"]["charges"],
            sum(r["calls"] for r in body["rows"]),
        )
    if form == "analyses":
        efficiency = next(m for m in body["metrics"] if m["metric"] == "token_efficiency")
        return (
            body["kpis"]["calls"]["value"],
            body["total"]["calls"],
            body["total"]["charges"],
            efficiency["total"]["calls"],
        )
    if form == "overview":
        return (
            body["kpis"]["calls"]["value"],
            body["table"]["total"]["calls"],
            body["table"]["total"]["charges"],
            body["sessions"]["sessions"],  # a session per call, each with one charge
        )
    return (body["total"]["calls"], body["total"]["charges"], sum(r["calls"] for r in body["rows"]))


QUERIES = {
    "summary": [("view", "summary")],
    "grouped": [("by", "team"), ("bucket", "day")],
    "totals": [("charges", "true")],
    "analyses": [("compare", "previous"), ("metrics", "true")],
    "overview": [("view", "overview"), ("top", "3")],
}


def read_while_written(tmp_path: Path, read: Callable[[DuckDBStore], Answer]) -> tuple[list[Any], int]:
    """``READS`` answers of ``read`` (each a 200) while a thread commits one batch after another to
    the store it reads (which holds one batch to begin with), and how many calls were written in all."""
    store = open_store(tmp_path / "race.duckdb")
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            store.write_priced_events(_batch(written[0]))
            written[0] += BATCH

    writer = threading.Thread(target=write)
    bodies: list[Any] = []
    try:
        store.write_priced_events(_batch(0))
        written[0] = BATCH
        writer.start()
        for _ in range(READS):
            status, body = read(store)
            assert status == 200
            bodies.append(body)
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        store.close()
    return bodies, written[0]


def write_after_the_first_query(store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Write one batch to ``store`` (which then holds two), and have another batch written by a
    thread right after the first query a reader makes: the list says, once that happened, whether
    the write committed within 10 s (True) or waited for the reader."""
    store.write_priced_events(_batch(0))
    original = DuckDBStore.query
    writes: list[bool] = []

    def query_then_write(view: DuckDBStore, sql: str, params: Any = None) -> Any:
        found = original(view, sql, params)
        if not writes:
            writer = threading.Thread(target=store.write_priced_events, args=(_batch(BATCH),))
            writer.start()
            writer.join(timeout=10)
            writes.append(not writer.is_alive())
        return found

    monkeypatch.setattr(DuckDBStore, "query", query_then_write)
    return writes


@pytest.mark.parametrize("form", list(QUERIES))
def test_a_report_read_while_the_store_is_written_agrees_with_itself(tmp_path: Path, form: str) -> None:
    bodies, final = read_while_written(tmp_path, lambda store: api.report(store, QUERIES[form]))
    seen = [_counts(form, body) for body in bodies]
    # spend from one query over sessions counted by another
    per_session = [Decimal(b["kpis"]["cost_per_session"]["value"]) for b in bodies if form != "totals"]
    torn = [counts for counts in seen if len(set(counts)) > 1]
    assert not torn, f"{len(torn)} of {READS} answers disagree with themselves: {torn[:3]}"
    assert all(value == SPEND for value in per_session), per_session
    totals = [counts[0] for counts in seen]
    assert totals == sorted(totals), "a later report saw fewer calls than an earlier one"
    assert all(t % BATCH == 0 and BATCH <= t <= final for t in totals)  # whole transactions only
    assert totals[-1] > totals[0], "the writer committed nothing while the reports ran"


def test_a_write_commits_while_a_report_runs_and_the_report_does_not_see_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest never waits for a report: a write made between two of its queries commits at once."""
    with open_store(tmp_path / "lock.duckdb") as store:
        writes = write_after_the_first_query(store, monkeypatch)
        status, body = api.report(store, [("view", "summary")])
        assert status == 200
        assert writes == [True], "the write waited for the report"
        assert store.count() == 2 * BATCH
        counts = _counts("summary", body)
        assert counts == (BATCH,) * len(counts)  # the snapshot, not the write committed meanwhile
