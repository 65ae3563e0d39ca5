"""Amounts under a millionth through the read API: plain decimal strings everywhere (the report's
three forms with their KPIs, sessions, a session's totals, the spend), never ``7.5000E-8``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.server.support import call
from tokenomy.pricing import Pricer
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings

TOKEN = "money-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
USAGE = {"input_uncached": 10, "output_visible": 5, "input_total": 10, "output_total": 5}


def _call(cid: str, at: str, total: str) -> dict[str, Any]:
    return {
        "type": "call",
        "id": cid,
        "provider": "openai",
        "request_model": "gpt-4o",
        "started_at": at,
        "usage": USAGE,
        "cost": {"total": total, "currency": "USD", "source": "test"},
        "attribution": {"team": "a"},
        "session_id": "s1",
    }


RECORDS = [
    _call("m1", "2026-03-02T09:00:00Z", "0.000000075"),
    _call("m2", "2026-03-02T10:00:00Z", "0.00000002"),
    _call("m0", "2026-03-01T09:00:00Z", "0.00000004"),
    {"type": "charge", "id": "g1", "amount": "0.00000003", "kind": "gpu", "at": "2026-03-02T11:00:00Z",
     "session_id": "s1"},
]  # fmt: skip
"""Session s1: $0.000000075 and $0.00000002 on 2026-03-02, $0.00000004 on 2026-03-01, and a
$0.00000003 charge."""
DAY = "since=2026-03-02&until=2026-03-03"
QUERIES = {
    "totals": f"/api/v1/report?{DAY}",
    "grouped": f"/api/v1/report?by=team&{DAY}",
    "summary": f"/api/v1/report?view=summary&{DAY}",
    "sessions": "/api/v1/sessions",
    "session": "/api/v1/sessions/s1",
    "spend": f"/api/v1/spend?scope=team&value=a&{DAY}",
}


def test_small_amounts_are_plain_decimal_strings_on_every_read_route(tmp_path: Path) -> None:
    app = Collector(ServerSettings(db=tmp_path / "m.duckdb", token=TOKEN), pricer=Pricer())

    async def scenario() -> dict[str, Any]:
        await app.startup()
        try:
            body = "\n".join(json.dumps(r) for r in RECORDS).encode()
            headers = {**AUTH, "content-type": "application/x-ndjson"}
            assert (await call(app, "POST", "/v1/events", body, headers)).status == 200
            answers = {name: await call(app, "GET", path, headers=AUTH) for name, path in QUERIES.items()}
        finally:
            await app.shutdown()
        assert all(a.status == 200 for a in answers.values()), {n: a.body for n, a in answers.items()}
        assert all(b"E-" not in a.body for a in answers.values())
        return {name: answer.json() for name, answer in answers.items()}

    found = asyncio.run(scenario())
    assert found["totals"]["total"]["cost"] == "0.000000095000"
    grouped = found["grouped"]
    assert grouped["total"]["cost"] == "0.000000125000"  # the calls and the charge
    assert grouped["kpis"]["spend"]["value"] == "0.000000125000"
    assert grouped["kpis"]["cost_per_session"]["value"] == "0.000000125000"
    spend = found["summary"]["kpis"]["spend"]
    assert (spend["value"], spend["previous"]) == ("0.000000125000", "0.000000040000")
    (listed,) = found["sessions"]["sessions"]
    assert (listed["cost"], listed["charges"]) == ("0.000000135000", "0.000000030000")
    totals = found["session"]["totals"]
    assert (totals["cost"], totals["charges"], totals["spend"]) == (
        "0.000000135000",
        "0.000000030000",
        "0.000000165000",
    )
    assert found["spend"]["usd"] == "0.000000095000"
