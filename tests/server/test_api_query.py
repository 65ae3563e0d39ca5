"""The read API's query parameters on every route that reads them (health and /openapi.json ignore
theirs, test_openapi.py): a parameter given twice (only the report's ``where`` repeats) and a period
whose ``until`` is not after its ``since`` are a 400 naming them, while the same routes with each
parameter once answer the stored values."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.server.support import Answer, call
from tokenomy.pricing import Pricer
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings

TOKEN = "query-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
USAGE = {"input_uncached": 10, "output_visible": 5, "input_total": 10, "output_total": 5}
RECORDS = [
    {
        "type": "call",
        "id": f"q{n}",
        "provider": "openai",
        "request_model": "gpt-4o",
        "started_at": at,
        "usage": USAGE,
        "cost": {"total": "0.001", "currency": "USD", "source": "test"},
        "attribution": {"team": "search"},
        "session_id": f"s{n}",
    }
    for n, at in enumerate(("2026-03-01T10:00:00Z", "2026-03-01T23:30:00Z", "2026-03-02T08:00:00Z"))
]
"""Three calls of team search, two on 2026-03-01 (UTC) and one on 2026-03-02, $0.001 each."""

REPEATED = {
    "calls limit": ("/api/v1/calls?limit=1&limit=3", "limit"),
    "calls since": ("/api/v1/calls?since=2026-03-01&since=2026-03-02", "since"),
    "sessions model": ("/api/v1/sessions?model=gpt-4o&model=gpt-4o", "model"),
    "spend scope": ("/api/v1/spend?scope=team&value=search&scope=user", "scope"),
    "virtual_keys": ("/api/v1/virtual_keys?x=1&x=2", "x"),
    "call item": ("/api/v1/calls/q0?a=1&a=2", "a"),
    "session item": ("/api/v1/sessions/s0?a=1&a=2", "a"),
    "report": ("/api/v1/report?until=2026-03-03&until=2026-03-04", "until"),
}
"""Route, query with one parameter twice, and that parameter (the routes that read parameters)."""

BACKWARDS = {
    "calls": "/api/v1/calls?since=2026-03-02&until=2026-03-01",
    "calls equal": "/api/v1/calls?since=2026-03-01&until=2026-03-01",
    "sessions": "/api/v1/sessions?since=2026-03-01T12:00:00Z&until=2026-03-01",
    "sessions offset": "/api/v1/sessions?since=2026-03-01T23:00:00-02:00&until=2026-03-02T00:30:00Z",
    "report totals": "/api/v1/report?since=2026-03-02&until=2026-03-01",
    "report grouped": "/api/v1/report?by=team&since=2026-03-02&until=2026-03-02",
    "report summary": "/api/v1/report?view=summary&since=2026-03-03&until=2026-03-01",
    "spend": "/api/v1/spend?scope=team&value=search&since=2026-03-02&until=2026-03-01",
}
"""Periods whose until is not after their since (an offset counted: 23:00-02:00 is 01:00 UTC)."""

GOOD = {
    "calls": "/api/v1/calls?limit=1",
    "calls day": "/api/v1/calls?since=2026-03-01&until=2026-03-02",
    "sessions second": "/api/v1/sessions?since=2026-03-01&until=2026-03-01T10:00:01Z",
    "report": "/api/v1/report?since=2026-03-01&until=2026-03-02",
    "report where": "/api/v1/report?where=team=search&where=team=ads&by=team",
    "spend": "/api/v1/spend?scope=team&value=search&since=2026-03-01T10:00:00Z&until=2026-03-02",
}
"""The same routes with each parameter once and a period that runs forward."""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answer]:
    app = Collector(
        ServerSettings(db=tmp_path_factory.mktemp("query") / "q.duckdb", token=TOKEN), pricer=Pricer()
    )
    queries = {
        **{f"repeated {name}": path for name, (path, _) in REPEATED.items()},
        **{f"backwards {name}": path for name, path in BACKWARDS.items()},
        **{f"good {name}": path for name, path in GOOD.items()},
    }

    async def scenario() -> dict[str, Answer]:
        await app.startup()
        try:
            body = "\n".join(json.dumps(r) for r in RECORDS).encode()
            stored = await call(
                app, "POST", "/v1/events", body, {**AUTH, "content-type": "application/x-ndjson"}
            )
            assert stored.status == 200, stored.body
            return {name: await call(app, "GET", path, headers=AUTH) for name, path in queries.items()}
        finally:
            await app.shutdown()

    return asyncio.run(scenario())


def _error(answer: Answer) -> str:
    assert answer.status == 400, answer.body
    message: str = answer.json()["error"]["message"]
    return message


@pytest.mark.parametrize("name", list(REPEATED))
def test_a_parameter_given_twice_is_a_400_naming_it(answers: dict[str, Answer], name: str) -> None:
    parameter = REPEATED[name][1]
    message = _error(answers[f"repeated {name}"])
    assert message.startswith(f"query parameter {parameter} is given more than once")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("calls", "query parameter until='2026-03-01' is not after since='2026-03-02'"),
        ("calls equal", "query parameter until='2026-03-01' is not after since='2026-03-01'"),
        ("sessions", "query parameter until='2026-03-01' is not after since='2026-03-01T12:00:00Z'"),
        (
            "sessions offset",
            "query parameter until='2026-03-02T00:30:00Z' is not after since='2026-03-01T23:00:00-02:00'",
        ),
        ("report totals", "query parameter until='2026-03-01' is not after since='2026-03-02'"),
        ("report grouped", "query parameter until='2026-03-02' is not after since='2026-03-02'"),
        ("report summary", "query parameter until='2026-03-01' is not after since='2026-03-03'"),
        ("spend", "query parameter until='2026-03-01' is not after since='2026-03-02'"),
    ],
)
def test_a_period_that_does_not_run_forward_is_a_400_naming_both_ends(
    answers: dict[str, Answer], name: str, message: str
) -> None:
    assert _error(answers[f"backwards {name}"]) == f"{message}: the period would select nothing"


def test_each_parameter_once_and_a_forward_period_answer_the_stored_values(
    answers: dict[str, Answer],
) -> None:
    found: dict[str, Any] = {}
    for name in GOOD:
        answer = answers[f"good {name}"]
        assert answer.status == 200, (name, answer.body)
        found[name] = answer.json()
    assert [c["id"] for c in found["calls"]["calls"]] == ["q2"]  # newest first, one
    assert found["calls"]["next_offset"] == 1
    assert sorted(c["id"] for c in found["calls day"]["calls"]) == ["q0", "q1"]
    assert [s["session_id"] for s in found["sessions second"]["sessions"]] == ["s0"]
    assert (found["report"]["total"]["calls"], found["report"]["total"]["cost"]) == (2, "0.002000000000")
    assert [(r["team"], r["calls"]) for r in found["report where"]["rows"]] == [("search", 3)]
    assert (found["spend"]["usd"], found["spend"]["tokens"]) == ("0.002000000000", "30")
