"""Native records in: objects, arrays and NDJSON; bad records named by index and field; all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokenomy.errors import PayloadError
from tokenomy.server.events_ingest import read_events

CALL: dict[str, Any] = {
    "id": "c1",
    "provider": "openai",
    "request_model": "gpt-4o-mini",
    "started_at": "2026-03-01T10:00:00Z",
    "usage": {"input_uncached": 10, "output_visible": 2},
    "content": {"prompt": "secret prompt", "completion": "answer"},
}
CHARGE: dict[str, Any] = {
    "type": "charge",
    "id": "g1",
    "amount": "0.5",
    "kind": "search",
    "at": "2026-03-01T10:00:00Z",
}
OUTCOME: dict[str, Any] = {
    "type": "outcome",
    "target": "session",
    "id": "S",
    "success": True,
    "at": "2026-03-01T11:00:00Z",
}


def test_an_array_of_mixed_records() -> None:
    batch, counts = read_events(json.dumps([CALL, CHARGE, OUTCOME]).encode(), ndjson=False)
    assert (counts.calls, counts.charges, counts.outcomes) == (1, 1, 1)
    call = batch.calls.to_pylist()[0]
    assert call["id"] == "c1"
    assert call["prompt_text"] is None  # content is dropped unless the server keeps it
    assert call["source"] == "events"
    assert batch.charges.to_pylist()[0]["source"] == "events"
    outcome = batch.outcomes.to_pylist()[0]
    assert (outcome["target"], outcome["id"], outcome["success"]) == ("session", "S", True)


def test_one_object_and_ndjson() -> None:
    assert read_events(json.dumps(CALL).encode(), ndjson=False)[1].calls == 1
    lines = "\n".join(json.dumps(r) for r in (CALL, CHARGE)) + "\n\n"
    assert read_events(lines.encode(), ndjson=True)[1].charges == 1


def test_content_is_kept_when_asked() -> None:
    batch, _ = read_events(json.dumps(CALL).encode(), ndjson=False, capture_content=True)
    assert batch.calls.to_pylist()[0]["prompt_text"] == "secret prompt"


def test_bad_records_are_named_by_index_and_field_and_nothing_is_kept() -> None:
    bad_usage = {**CALL, "usage": {"input_uncached": -1}}
    bad_type = {**CHARGE, "type": "refund"}
    with pytest.raises(PayloadError) as caught:
        read_events(json.dumps([CALL, bad_usage, OUTCOME, bad_type, 7]).encode(), ndjson=False)
    message = caught.value.message
    assert caught.value.status == 400
    assert message.startswith("3 bad record(s), nothing stored")
    assert "record 2, field 'usage.input_uncached': must be >= 0, got -1" in message  # counted from 1
    assert "record 4, field 'type'" in message
    assert "record 5, field '(record)': expected a JSON object, got int" in message


def test_a_usage_object_in_a_providers_names_is_refused_not_stored_as_unknown() -> None:
    """Read as no bucket at all, its tokens and cost would be lost without a word."""
    provider_usage = {**CALL, "usage": {"input_uncached": 100, "completion_tokens": 20, "total_tokens": 120}}
    with pytest.raises(PayloadError) as caught:
        read_events(json.dumps(provider_usage).encode(), ndjson=False)
    assert caught.value.status == 400
    assert (
        "record 1, field 'usage': unknown key(s) 'completion_tokens', 'total_tokens'" in caught.value.message
    )


def test_ndjson_errors_name_the_line() -> None:
    body = json.dumps(CALL) + "\n" + json.dumps({**OUTCOME, "target": "team"})
    with pytest.raises(PayloadError, match="line 2, field 'target'"):
        read_events(body.encode(), ndjson=True)
    with pytest.raises(PayloadError, match="line 2 is not JSON"):
        read_events(b'{"id": "a"}\n{"id": ', ndjson=True)


@pytest.mark.parametrize(
    ("body", "message"), [(b"\xff\xfe", "not UTF-8"), (b"{nope", "not JSON: Expecting property name")]
)
def test_a_body_that_is_not_json_is_a_400(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        read_events(body, ndjson=False)


def test_an_error_type_that_is_free_text_is_not_stored() -> None:
    """An exception's message sent as ``error_type`` can quote the prompt or a key: the call is kept
    without it; a classification is kept as sent."""
    sent = [
        {**CALL, "id": "e1", "status": "error", "error_type": "RateLimitError"},
        {**CALL, "id": "e2", "status": "error", "error_type": "MARKERPROMPT42 sk-test-MARKERKEY123"},
        {**CALL, "id": "e3", "status": "error", "error_type": "sk-test-MARKERKEY123"},
    ]
    batch, counts = read_events(json.dumps(sent).encode(), ndjson=False)
    assert counts.calls == 3
    rows = batch.calls.to_pylist()
    assert [(r["id"], r["status"], r["error_type"]) for r in rows] == [
        ("e1", "error", "RateLimitError"),
        ("e2", "error", None),
        ("e3", "error", None),
    ]
    assert "MARKER" not in json.dumps(rows, default=str)
