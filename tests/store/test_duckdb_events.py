"""The collector's tables: one-transaction writes, idempotent outcomes and spans, and the API's reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tokenomy.analysis.sessions import top_sessions
from tokenomy.errors import StoreError
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Charge, OutcomeEvent, Usage
from tokenomy.store import CallFilter, open_store
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.events import SPANS_SCHEMA, EventBatch, outcomes_to_arrow, spans_to_arrow

T0 = datetime(2026, 3, 2, 9, 0, 0)


def _call(call_id: str, session: str | None, trace: str, minutes: int = 0) -> Call:
    usage = Usage.of(input_uncached=1000, cache_read=0, cache_write_5m=0, cache_write_1h=0,
                     output_visible=100, reasoning=0)  # fmt: skip
    return Call(
        id=call_id,
        provider="openai",
        request_model="gpt-4o-mini",
        started_at=T0 + timedelta(minutes=minutes),
        session_id=session,
        trace_id=trace,
        span_id=call_id[-4:].rjust(16, "0"),
        usage=usage,
    )


def _span(trace: str, span: str, session: str | None, name: str = "agent") -> dict[str, object]:
    return {"trace_id": trace, "span_id": span, "name": name, "kind": "internal", "session_id": session,
            "started_at": T0, "status": "unset", "source": "otlp"}  # fmt: skip


def _batch() -> EventBatch:
    calls = [_call("a1", "S", "t1", 0), _call("a2", "S", "t1", 1), _call("late", None, "t2", 2)]
    outcomes = [
        OutcomeEvent("session", "S", T0 + timedelta(hours=1), success=False),
        OutcomeEvent("session", "S", T0 + timedelta(hours=2), success=True, score=0.5),
        OutcomeEvent("call", "a1", T0, action="ticket"),
    ]
    charge = Charge(id="g1", amount=Decimal("0.5"), kind="search", at=T0, session_id="S")
    return EventBatch(
        calls=calls_to_arrow(calls),
        charges=charges_to_arrow([charge]),
        outcomes=outcomes_to_arrow(outcomes, source="test"),
        spans=spans_to_arrow([_span("t1", "r1", "S"), _span("t2", "r2", "S", "late root")]),
    )


@pytest.fixture
def pricer() -> Pricer:
    return Pricer()


def test_a_batch_is_stored_once_priced_and_with_everything(tmp_path: Path, pricer: Pricer) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        first = store.write_events(_batch(), pricer=pricer)
        again = store.write_events(_batch(), pricer=pricer)
        assert (first.calls, first.charges, first.outcomes, first.spans) == (3, 1, 3, 2)
        assert (again.calls, again.charges, again.outcomes, again.spans) == (0, 0, 0, 0)
        assert store.events_count("outcomes") == 3
        assert store.events_count("spans") == 2
        costs = store.calls_page().column("cost_total").to_pylist()
        assert costs == [Decimal("0.000210000000")] * 3  # 1000 x $0.15/M + 100 x $0.60/M


def test_repeated_keys_in_one_batch_keep_the_first(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        rows = [_span("t", "s1", "A"), _span("t", "s1", "B"), _span("t", "s2", None)]
        result = store.insert_spans(spans_to_arrow(rows))
        assert (result.inserted, result.duplicates) == (2, 1)
        sessions = (
            store.query("SELECT session_id FROM spans ORDER BY span_id").column("session_id").to_pylist()
        )
        assert sessions == ["A", None]
        outcome = OutcomeEvent("call", "c", T0, success=True)
        assert store.insert_outcomes([outcome, outcome]).inserted == 1
        assert store.insert_outcomes([outcome]).duplicates == 1


def test_a_failed_write_stores_nothing(tmp_path: Path, pricer: Pricer) -> None:
    bad_spans = pa.table({name: pa.nulls(1, SPANS_SCHEMA.field(name).type) for name in SPANS_SCHEMA.names})
    batch = _batch()
    batch.spans = bad_spans  # trace_id and span_id may not be null
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(StoreError, match="rolled back"):
            store.write_events(batch, pricer=pricer)
        assert store.count("calls") == 0
        assert store.events_count("outcomes") == 0
        assert store.write_events(_batch(), pricer=pricer).calls == 3  # the connection still works


def test_sessions_include_calls_whose_trace_names_the_session(tmp_path: Path, pricer: Pricer) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(_batch(), pricer=pricer)
        page = store.sessions_page().to_pylist()
        assert len(page) == 1
        row = page[0]
        assert (row["session_id"], row["calls"], row["charges"]) == ("S", 3, Decimal("0.5"))
        assert (row["success"], row["score"]) == (True, 0.5)  # the latest session outcome
        records = store.session_records("S")
        assert records.calls.column("id").to_pylist() == ["a1", "a2", "late"]
        assert sorted(records.spans.column("span_id").to_pylist()) == ["r1", "r2"]
        assert records.outcomes.num_rows == 3
        assert records.charges.column("id").to_pylist() == ["g1"]
        assert store.session_records("nobody").calls.num_rows == 0


def test_calls_page_and_lookup(tmp_path: Path, pricer: Pricer) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(_batch(), pricer=pricer)
        assert store.calls_page(limit=2).column("id").to_pylist() == ["late", "a2"]
        assert store.calls_page(limit=2, offset=2).column("id").to_pylist() == ["a1"]
        # a session's calls as its records hold them: "late" takes S from its trace's root span
        in_s = store.calls_page(CallFilter(session_id="S")).column("id").to_pylist()
        assert (
            in_s
            == ["late", "a2", "a1"]
            == list(reversed(store.session_records("S").calls.column("id").to_pylist()))
        )
        assert store.calls_page(CallFilter(session_id="S", provider="nobody")).num_rows == 0
        assert store.call_by_id("a2").column("id").to_pylist() == ["a2"]
        assert store.call_by_id("zzz").num_rows == 0
        actions = store.outcomes_table("call", ["a1", "zzz"]).column("action").to_pylist()
        assert actions == ["ticket"]


def test_the_latest_outcome_wins_whole_not_field_by_field(tmp_path: Path, pricer: Pricer) -> None:
    """A later outcome without an action says the session has none: the earlier one's action does not
    show through it (DuckDB's arg_max would skip the null and give it)."""
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(_batch(), pricer=pricer)
        later = T0 + timedelta(hours=3)  # after the batch's own two
        store.insert_outcomes(
            [
                OutcomeEvent("session", "S", later, success=True, action="ticket_resolved"),
                OutcomeEvent("session", "S", later + timedelta(minutes=5), success=False),
            ]
        )
        [row] = store.sessions_page().to_pylist()
        # the session's latest outcome names no action: a call's action shows, as `tokenomy sessions`
        assert (row["success"], row["score"], row["action"]) == (False, None, "ticket")
        [ranked] = top_sessions(store).rows
        assert (ranked.outcome, ranked.action) == ("failure", "ticket")


def test_a_session_without_an_outcome_reads_its_calls_outcomes(tmp_path: Path, pricer: Pricer) -> None:
    """No outcome for the session: its calls' say, a failure winning, as `tokenomy sessions` reads it."""
    with open_store(tmp_path / "s.duckdb") as store:
        batch = _batch()
        batch.outcomes = outcomes_to_arrow(
            [
                OutcomeEvent("call", "a1", T0, success=True, action="ticket"),
                OutcomeEvent("call", "a2", T0, success=True),
            ],
            source="test",
        )
        store.write_events(batch, pricer=pricer)
        [row] = store.sessions_page().to_pylist()
        assert (row["session_id"], row["success"], row["score"], row["action"]) == ("S", True, None, "ticket")
        store.insert_outcomes([OutcomeEvent("call", "late", T0 + timedelta(minutes=9), success=False)])
        [row] = store.sessions_page().to_pylist()  # "late" belongs to S through its trace's root span
        assert row["success"] is False
        assert [(r.session_id, r.outcome) for r in top_sessions(store).rows] == [("S", "failure")]


def test_a_session_of_charges_alone_is_listed(tmp_path: Path, pricer: Pricer) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(_batch(), pricer=pricer)
        alone = [
            Charge(id="g2", amount=Decimal("0.25"), kind="search", at=T0 + timedelta(days=1), session_id="C"),
            Charge(id="g3", amount=Decimal("0.75"), kind="search", at=T0 + timedelta(days=2), session_id="C"),
        ]
        store.write_events(
            EventBatch(calls=calls_to_arrow([]), charges=charges_to_arrow(alone)), pricer=pricer
        )
        first, second = store.sessions_page().to_pylist()
        assert (first["session_id"], first["calls"], first["charges"], first["cost"]) == (
            "C",
            0,
            Decimal("1.000000000000"),
            None,
        )
        assert (first["first_at"], first["last_at"]) == (T0 + timedelta(days=1), T0 + timedelta(days=2))
        assert (first["input_tokens"], first["output_tokens"], first["unpriced"]) == (0, 0, 0)
        assert second["session_id"] == "S"
        # a period selects charges by their time; a provider or a model selects no charge
        in_period = store.sessions_page(CallFilter(since=T0 + timedelta(days=2)))
        assert in_period.column("session_id").to_pylist() == ["C"]
        assert store.sessions_page(CallFilter(until=T0 + timedelta(hours=1))).column(
            "session_id"
        ).to_pylist() == ["S"]
        assert store.sessions_page(CallFilter(provider="openai")).column("session_id").to_pylist() == ["S"]
        assert "C" in {r.session_id for r in top_sessions(store).rows}


def test_an_outcome_named_to_a_call_that_is_a_session_is_the_sessions(tmp_path: Path, pricer: Pricer) -> None:
    """``record_outcome("chat-42")`` in a feedback worker that never opened the session names a call:
    it matched nothing, and the session's success was never counted."""
    with open_store(tmp_path / "s.duckdb") as store:
        store.write_events(_batch(), pricer=pricer)
        store.insert_charges([Charge(id="g2", amount=Decimal("1"), kind="search", at=T0, session_id="C")])
        later = T0 + timedelta(hours=5)
        named = [
            OutcomeEvent("call", "S", later, success=True, action="ticket_resolved"),  # a session of calls
            OutcomeEvent("call", "C", later, success=True),  # a session of charges alone
            OutcomeEvent("call", "a2", later, success=False),  # a call
            OutcomeEvent("call", "nothing-yet", later, success=True),  # neither (yet): kept as named
        ]
        assert store.insert_outcomes(named).inserted == 4
        assert store.insert_outcomes(named).duplicates == 4  # a replay is stored once
        rows = store.query('SELECT target, id FROM outcomes WHERE "at" = ? ORDER BY id', [later]).to_pylist()
        assert [(r["target"], r["id"]) for r in rows] == [
            ("session", "C"),
            ("session", "S"),
            ("call", "a2"),
            ("call", "nothing-yet"),
        ]
        [ranked] = [r for r in top_sessions(store).rows if r.session_id == "S"]
        assert (ranked.outcome, ranked.action) == ("success", "ticket_resolved")
        # stored as a call's before its session was known: a replay stays that one row, even sent
        # as a table with aware times (a hand-built batch)
        early = OutcomeEvent("call", "late-session", T0, success=True)
        assert store.insert_outcomes([early]).inserted == 1
        store.insert_charges(
            [Charge(id="g3", amount=Decimal("1"), kind="x", at=T0, session_id="late-session")]
        )
        aware = outcomes_to_arrow([early], source="test")
        index = aware.schema.get_field_index("at")
        aware = aware.set_column(index, "at", aware.column("at").cast(pa.timestamp("us", tz="UTC")))
        assert store.insert_outcomes(aware).duplicates == 1


def _worker_trace(store: Any, pricer: Pricer, spans: list[dict[str, object]]) -> None:
    """One trace "w" of a worker: calls of sessions zeta and alpha and a session-less job, with ``spans``."""
    calls = [_call("z1", "zeta", "w", 0), _call("a1", "alpha", "w", 1), _call("job", None, "w", 2)]
    batch = EventBatch(
        calls=calls_to_arrow(calls),
        charges=charges_to_arrow([]),
        outcomes=outcomes_to_arrow([], source="test"),
        spans=spans_to_arrow(spans),
    )
    store.write_events(batch, pricer=pricer)


def test_the_collectors_session_views_give_a_trace_of_several_sessions_to_none(
    tmp_path: Path, pricer: Pricer
) -> None:
    """A worker's trace whose spans name two sessions: its session-less call (a $5 job) went to one
    of them in the collector's views, while reports gave it to none."""
    with open_store(tmp_path / "s.duckdb") as store:
        _worker_trace(store, pricer, [_span("w", "r1", "zeta"), _span("w", "r2", "alpha")])
        listed = {row["session_id"]: row["calls"] for row in store.sessions_page().to_pylist()}
        assert listed == {"zeta": 1, "alpha": 1}
        assert store.session_records("zeta").calls.column("id").to_pylist() == ["z1"]
        assert store.calls_page(CallFilter(session_id="alpha")).column("id").to_pylist() == ["a1"]


def test_the_collectors_session_views_read_a_traces_sessions_from_its_calls_too(
    tmp_path: Path, pricer: Pricer
) -> None:
    """Reports read a trace's sessions from its calls and spans; the collector's views read spans
    alone, so a trace whose calls named two sessions (one span naming one) gave its $5 job to that one."""
    with open_store(tmp_path / "s.duckdb") as store:
        _worker_trace(store, pricer, [_span("w", "r1", "zeta")])
        listed = {row["session_id"]: row["calls"] for row in store.sessions_page().to_pylist()}
        assert listed == {"zeta": 1, "alpha": 1}
        records = store.session_records("alpha")
        assert records.calls.column("id").to_pylist() == ["a1"]
        assert records.spans.num_rows == 0  # zeta's span is not alpha's
