"""Migration ``0007_no_free_text``: rows stored before the rules lose the free text they hold.

Earlier versions stored an exception's message as a call's ``error_type``, a span's status message
whatever it said, and span attributes by prefix (``error.message``, request metadata with a
``Bearer`` key). Reopening such a store clears them, as the readers now do for new rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tokenomy.schema import Call, Status, Usage
from tokenomy.store import open_store
from tokenomy.store.events import EventBatch, spans_to_arrow

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
LEAK = "Incorrect API key provided: sk-test-MARKERKEY123 for MARKERPROMPT42"


def _call(call_id: str, error_type: str | None) -> Call:
    return Call(
        id=call_id,
        provider="openai",
        request_model="gpt-4o",
        started_at=T0,
        status=Status.ERROR,
        error_type=error_type,
        usage=Usage.of(input_uncached=1, output_visible=0, reasoning=0),
    )


def _span(span: str, message: str | None, attributes: dict[str, object] | None) -> dict[str, object]:
    return {"trace_id": "t1", "span_id": span, "name": "agent", "kind": "internal", "session_id": "S",
            "started_at": T0, "status": "error", "status_message": message, "source": "otlp",
            "attributes": None if attributes is None else json.dumps(attributes)}  # fmt: skip


def test_reopening_an_older_store_clears_the_free_text_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    dirty = {
        "error.message": LEAK,
        "error.type": LEAK,
        "rpc.grpc.request.metadata.authorization": "Bearer sk-test-MARKERKEY123",
        "gen_ai.request.model": "gpt-4o",
        "server.port": 443,
    }
    spans = [
        _span("s1", LEAK, dirty),
        _span("s2", "DEADLINE_EXCEEDED", {"error.type": "timeout", "gen_ai.user.message": "MARKERPROMPT42"}),
        _span("s3", None, {"error.message": LEAK}),
        _span("s4", None, None),
    ]
    with open_store(path) as store:
        store.insert_calls([_call("c1", LEAK), _call("c2", "rate_limit_error"), _call("c3", "AIzaSyD-KEY1")])
        store.write_priced_events(EventBatch(spans=spans_to_arrow(spans)))
        store.connection.execute("DELETE FROM _migrations WHERE name = '0007_no_free_text'")  # an older store
    with open_store(path) as store:
        con = store.connection
        calls = dict(con.execute("SELECT id, error_type FROM calls ORDER BY id").fetchall())
        rows = con.execute(
            "SELECT span_id, status_message, attributes FROM spans ORDER BY span_id"
        ).fetchall()
        text = json.dumps([calls, rows])
    assert calls == {"c1": None, "c2": "rate_limit_error", "c3": None}
    assert [(r[0], r[1]) for r in rows] == [
        ("s1", None),
        ("s2", "DEADLINE_EXCEEDED"),
        ("s3", None),
        ("s4", None),
    ]
    assert json.loads(rows[0][2]) == {"gen_ai.request.model": "gpt-4o", "server.port": 443}
    assert json.loads(rows[1][2]) == {"error.type": "timeout"}
    assert (rows[2][2], rows[3][2]) == (None, None)
    assert "MARKER" not in text
