"""The session ranking through JSON and back (what ``GET /api/v1/sessions?view=top`` answers and
``tokenomy sessions --server`` reads): the same list, so the same table, JSON and CSV."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.analysis.conftest import SimStore
from tests.analysis.test_report_wire import tiny_store
from tokenomy.analysis import serialize, terminal
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.sessions import SessionList, top_sessions
from tokenomy.analysis.sessions_wire import sessions_from_json
from tokenomy.store import open_store


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(json.dumps(data))
    return found


def _drawn(sessions: SessionList) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(terminal.sessions_table(sessions))
    return out.getvalue()


@pytest.mark.parametrize(
    ("selection", "top"),
    [
        (Selection(), 20),
        (Selection(grouping=Grouping(("team",))), 3),
        (Selection(grouping=Grouping(("team", "feature"))), 1),
        (
            Selection(
                Scope(datetime(2026, 10, 12), datetime(2026, 10, 14), (("team", ("search", "support")),))
            ),
            10,
        ),
        (Selection(Scope(datetime(2027, 1, 1))), 5),  # nothing in it
    ],
)
def test_the_ranking_reads_back_whole_and_prints_the_same(
    sim: SimStore, selection: Selection, top: int
) -> None:
    with open_store(sim.db, read_only=True) as store:
        ranked = top_sessions(store, selection, top=top)
    assert ranked.rows or selection.scope.since == datetime(2027, 1, 1)
    sent = _wire(serialize.sessions_json(ranked))
    back = sessions_from_json(sent)
    assert back == ranked
    assert serialize.sessions_json(back) == sent
    rows = [serialize.session_row_json(r) for r in back.rows]
    assert serialize.to_csv(rows) == serialize.to_csv(serialize.session_row_json(r) for r in ranked.rows)
    assert _drawn(back) == _drawn(ranked)


def test_outcomes_times_and_groups_survive(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        ranked = top_sessions(store, Selection(grouping=Grouping(("team",))), top=50)
    back = sessions_from_json(_wire(serialize.sessions_json(ranked)))
    assert {r.outcome for r in back.rows} >= {"success"}
    assert all(r.started_at is not None and r.started_at.tzinfo is None for r in back.rows)
    assert any(r.started_at is not None and r.started_at.microsecond for r in back.rows)  # full precision
    assert {r.group["team"] for r in back.rows} == {r.group["team"] for r in ranked.rows}


def test_tiny_amounts_keep_their_digits(tmp_path: Path) -> None:
    with tiny_store(tmp_path / "t.duckdb") as store:
        ranked = top_sessions(store)
    sent = _wire(serialize.sessions_json(ranked))
    assert [r["cost"] for r in sent["rows"]] == ["0.000000095000", "0.000000040000"]
    assert sessions_from_json(sent) == ranked


def test_a_ranking_that_does_not_read_is_refused(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        sent = _wire(
            serialize.sessions_json(top_sessions(store, Selection(grouping=Grouping(("team",))), top=1))
        )
    row = sent["rows"][0]
    with pytest.raises(ValueError, match="a session's outcome should be one of success, failure, unknown"):
        sessions_from_json({**sent, "rows": [{**row, "outcome": "maybe"}]})
    with pytest.raises(TypeError, match="a session's 'team' should be text, got null"):
        sessions_from_json({**sent, "rows": [{**row, "team": None}]})
    with pytest.raises(TypeError, match="an amount should be a decimal string"):
        sessions_from_json({**sent, "rows": [{**row, "llm_cost": 0.5}]})
    with pytest.raises(TypeError, match="expected a whole number"):
        sessions_from_json({**sent, "sessions": "7"})
    with pytest.raises(KeyError):
        sessions_from_json({k: v for k, v in sent.items() if k != "no_session_calls"})


def test_a_collector_older_than_the_cost_per_part_reads_without_it(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        ranked = top_sessions(store, top=3)
    sent = _wire(serialize.sessions_json(ranked))
    assert all(row["main_part"] and row["part_input_uncached"] for row in sent["rows"])
    for row in sent["rows"]:  # an answer from before the columns
        for name in [n for n in row if n.startswith(("part_", "main_part"))]:
            del row[name]
    older = sessions_from_json(sent)
    assert [r.parts for r in older.rows] == [None, None, None]
    assert [r.main_part for r in older.rows] == [None, None, None]  # not known: never a guess
    assert [r.cost for r in older.rows] == [r.cost for r in ranked.rows]
    assert "uncached input" in _drawn(ranked)
    assert "uncached input" not in _drawn(older)
    assert "mostly" in _drawn(older)


def test_a_session_s_parts_half_given_are_refused(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        sent = _wire(serialize.sessions_json(top_sessions(store, top=1)))
    sent["rows"][0]["part_reasoning"] = None
    with pytest.raises(ValueError, match="all known or all null"):
        sessions_from_json(sent)
