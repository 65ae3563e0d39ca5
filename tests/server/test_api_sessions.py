"""``GET /api/v1/sessions``, in process: the list as before, and the ranking (``view=top``, or ``top``,
``by``, ``where``), which is ``tokenomy sessions``' own over one snapshot; bad parameters named in a 400."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import Answer, call
from tests.server.test_api_report_snapshot import (
    BATCH,
    SPEND,
    read_while_written,
    write_after_the_first_query,
)
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.serialize import sessions_json
from tokenomy.analysis.sessions import top_sessions
from tokenomy.pricing import Pricer
from tokenomy.server import api
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.store import open_store


def _call(cid: str, session: str | None, at: str, cost: str, **attribution: str) -> dict[str, Any]:
    return {
        "id": cid,
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "started_at": at,
        "usage": {"input_uncached": 100, "output_visible": 10},
        "cost": {"total": cost, "currency": "USD", "source": "test"},
        "attribution": attribution,
        "session_id": session,
    }


RECORDS = [
    _call("a1", "sa", "2026-03-01T10:00:00Z", "0.01", team="a", feature="f1"),
    _call("a2", "sa", "2026-03-01T10:05:00Z", "0.02", team="a", feature="f2"),
    _call("b1", "sb", "2026-03-01T11:00:00Z", "0.05", team="b", feature="f1"),
    _call("c1", "sc", "2026-03-02T09:00:00Z", "0.002", team="a", feature="f1"),
    _call("loose", None, "2026-03-02T09:30:00Z", "0.001", team="b"),
    {"type": "charge", "id": "g1", "amount": "0.03", "kind": "gpu", "at": "2026-03-01T10:06:00Z",
     "session_id": "sc", "attribution": {"team": "a"}},
    {"type": "outcome", "target": "session", "id": "sa", "success": True, "action": "merged",
     "at": "2026-03-01T10:07:00Z"},
]  # fmt: skip
"""Sessions sa (team a, $0.03, merged), sb (team b, $0.05), sc (team a: $0.002 on 03-02 and a $0.03
charge on 03-01), and one call of no session."""

QUERIES: dict[str, tuple[str, Selection, int]] = {
    "view=top": ("view=top", Selection(), 20),
    "top=1": ("top=1", Selection(), 1),
    "by": ("by=team&top=1", Selection(grouping=Grouping(("team",))), 1),
    "by two": ("view=top&by=team,feature", Selection(grouping=Grouping(("team", "feature"))), 20),
    "where": ("where=team=a", Selection(Scope(where=(("team", ("a",)),))), 20),
    "where either": (
        "where=feature=f2&where=feature=f1&where=team=a",
        Selection(Scope(where=(("feature", ("f2", "f1")), ("team", ("a",))))),
        20,
    ),
    "period": (
        "view=top&since=2026-03-01T10:06:00Z&until=2026-03-02",
        Selection(Scope(datetime(2026, 3, 1, 10, 6), datetime(2026, 3, 2))),
        20,
    ),
    "nothing": ("where=team=z", Selection(Scope(where=(("team", ("z",)),))), 20),
}
"""A query of the ranking, the selection ``tokenomy sessions`` ranks for it, and its top."""

LISTS = {"default": "", "view=list": "view=list", "page": "limit=1&offset=1", "since": "since=2026-03-02"}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("sessions") / "s.duckdb"
    app = Collector(ServerSettings(db=db), pricer=Pricer())

    async def scenario() -> dict[str, Answer]:
        await app.startup()
        try:
            body = "\n".join(json.dumps(r) for r in RECORDS).encode()
            stored = await call(app, "POST", "/v1/events", body, {"content-type": "application/x-ndjson"})
            assert stored.status == 200, stored.body
            paths = {name: f"/api/v1/sessions?{query}" for name, (query, _, _) in QUERIES.items()}
            paths |= {f"list {name}": f"/api/v1/sessions?{query}" for name, query in LISTS.items()}
            return {name: await call(app, "GET", path) for name, path in paths.items()}
        finally:
            await app.shutdown()

    found = asyncio.run(scenario())
    out: dict[str, Any] = {}
    for name, answer in found.items():
        assert answer.status == 200, (name, answer.body)
        out[name] = answer.json()
    with open_store(db, read_only=True) as store:
        for name, (_, selection, top) in QUERIES.items():
            out[f"expected {name}"] = json.loads(
                json.dumps(sessions_json(top_sessions(store, selection, top=top)))
            )
    return out


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_ranking_is_what_tokenomy_sessions_prints(answers: dict[str, Any], name: str) -> None:
    assert answers[name] == answers[f"expected {name}"]


def test_the_ranking_compared_holds_the_records_figures(answers: dict[str, Any]) -> None:
    ranked = answers["view=top"]
    assert [(r["session_id"], r["cost"]) for r in ranked["rows"]] == [
        ("sb", "0.050000000000"),
        ("sc", "0.032000000000"),
        ("sa", "0.030000000000"),
    ]
    assert (ranked["sessions"], ranked["no_session_calls"], ranked["by"]) == (3, 1, [])
    assert (ranked["rows"][2]["outcome"], ranked["rows"][2]["action"]) == ("success", "merged")
    assert [(r["team"], r["session_id"]) for r in answers["by"]["rows"]] == [("a", "sc"), ("b", "sb")]
    assert [r["session_id"] for r in answers["where"]["rows"]] == ["sc", "sa"]
    assert [r["session_id"] for r in answers["period"]["rows"]] == ["sb", "sc"]  # sa's calls are before
    assert (answers["period"]["rows"][1]["cost"], answers["period"]["rows"][1]["calls"]) == (
        "0.030000000000",
        0,
    )
    assert answers["nothing"] == {"by": [], "sessions": 0, "no_session_calls": 0, "rows": []}


def test_the_list_is_as_before(answers: dict[str, Any]) -> None:
    listed = answers["list default"]
    assert set(listed) == {"sessions", "next_offset"}
    assert [s["session_id"] for s in listed["sessions"]] == ["sc", "sb", "sa"]  # most recently active first
    assert set(listed["sessions"][0]) == {
        "session_id", "calls", "first_at", "last_at", "input_tokens", "output_tokens", "cost", "unpriced",
        "charges", "success", "action", "score",
    }  # fmt: skip
    assert answers["list view=list"] == listed
    assert answers["list page"] == {"sessions": [listed["sessions"][1]], "next_offset": 2}
    assert [s["session_id"] for s in answers["list since"]["sessions"]] == ["sc"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("view=all", "query parameter view='all' is not one of list, top"),
        ("view=top&top=0", "query parameter top=0 must be 1 or more"),
        ("top=many", "query parameter top='many' is not a whole number"),
        ("limit=%201", "query parameter limit=' 1' is not a whole number"),  # int() took these
        ("offset=1_0", "query parameter offset='1_0' is not a whole number"),
        ("limit=--1", "query parameter limit='--1' is not a whole number"),  # a 500 before
        ("offset=%D9%A1", "query parameter offset='\u0661' is not a whole number"),  # an Arabic-Indic 1
        ("by=colour", "unknown dimension 'colour' in query parameter by"),
        ("where=team", "query parameter where 'team': expected dimension=value"),
        ("where=colour=red", "unknown dimension 'colour' in query parameter where"),
        ("view=top&since=yesterday", "query parameter since='yesterday' is not a date"),
        ("top=2&since=2026-03-02&until=2026-03-01", "query parameter until='2026-03-01' is not after since"),
        ("by=team&by=feature", "query parameter by is given more than once (only where repeats)"),
        ("top=1&top=2", "query parameter top is given more than once (only where repeats)"),
        ("view=top&view=top", "query parameter view is given more than once (only where repeats)"),
        ("limit=1&limit=2", "query parameter limit is given more than once (only where repeats)"),
        ("offset=-1", "query parameter offset=-1 must be between 0 and 9223372036854774806"),
        (  # past what the store's 64-bit integers hold: it was a 500
            "offset=99999999999999999999999",
            "query parameter offset=99999999999999999999999 must be between 0 and 9223372036854774806",
        ),
        (
            "view=top&limit=5",
            "query parameter limit cannot be combined with view=top: the ranking takes since, until, by, "
            "where and top",
        ),
        (
            "by=team&provider=openai&offset=1",
            "query parameter provider and offset cannot be combined with by: the ranking takes since, until, "
            "by, where and top; it filters with where (where=provider=openai)",
        ),
        (
            "view=list&where=team=a&top=3",
            "query parameter top and where cannot be combined with view=list: top, by and where rank the "
            "sessions (view=top)",
        ),
        (
            "group=team",
            "unknown query parameter(s) group; this route takes since, until, provider, model, limit, "
            "offset, view, top, by, where",
        ),
    ],
)
def test_bad_parameters_are_a_400_that_names_them(tmp_path: Path, query: str, message: str) -> None:
    app = Collector(ServerSettings(db=tmp_path / "bad.duckdb"), pricer=Pricer())

    async def scenario() -> Answer:
        await app.startup()
        try:
            return await call(app, "GET", f"/api/v1/sessions?{query}")
        finally:
            await app.shutdown()

    answer = asyncio.run(scenario())
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["message"].startswith(message)


def test_a_ranking_read_while_the_store_is_written_agrees_with_itself(tmp_path: Path) -> None:
    """Each session is one call and one charge committed together: every ranking sees whole
    transactions, so each session it lists has both, and it counts as many as it lists."""
    seen, _ = read_while_written(
        tmp_path, lambda store: api.sessions(store, [("view", "top"), ("top", "100000")])
    )
    counts = [body["sessions"] for body in seen]
    assert all(len(body["rows"]) == body["sessions"] for body in seen)
    assert all(
        Decimal(r["cost"]) == SPEND and (r["calls"], r["charges"]) == (1, 1) for b in seen for r in b["rows"]
    )
    assert counts == sorted(counts), "a later ranking saw fewer sessions than an earlier one"
    assert all(n % BATCH == 0 for n in counts)  # whole transactions only
    assert counts[-1] > counts[0], "the writer committed nothing while the rankings ran"


def test_a_write_between_the_rankings_queries_is_not_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranking reads what the store holds beyond calls (its first queries), then ranks: a write
    committed in between commits at once and is left out of both."""
    with open_store(tmp_path / "lock.duckdb") as store:
        writes = write_after_the_first_query(store, monkeypatch)
        status, body = api.sessions(store, [("top", "100000")])
        assert status == 200
        assert writes == [True], "the write waited for the ranking"
        assert store.count() == 2 * BATCH
        assert (body["sessions"], len(body["rows"])) == (BATCH, BATCH)
