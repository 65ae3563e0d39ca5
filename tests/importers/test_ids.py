"""Stable ids: from content, never from where a file lies."""

from __future__ import annotations

from tokenomy.importers.ids import canonical_json, content_id, provider_id, short_hash
from tokenomy.importers.steps import number_steps
from tokenomy.schema import Call


def test_content_ids_ignore_key_order_and_differ_by_kind() -> None:
    assert content_id("x", {"a": 1, "b": [1, 2]}) == content_id("x", {"b": [1, 2], "a": 1})
    assert content_id("x", {"a": 1}) != content_id("y", {"a": 1})
    assert content_id("x", {"a": 1}) != content_id("x", {"a": 2})
    assert content_id("x", {"a": 1}).startswith("x:")
    assert len(content_id("x", 1)) == 2 + 32
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_keys_are_hashed_never_kept() -> None:
    key = "sk-live-0123456789"
    assert key not in short_hash(key)
    assert len(short_hash(key)) == 16
    assert short_hash(key) == short_hash(key)


def test_steps_number_calls_by_start_time_within_each_session() -> None:
    from datetime import datetime

    calls = [
        Call(id="c", session_id="s", started_at=datetime(2026, 1, 1, 0, 0, 3)),
        Call(id="a", session_id="s", started_at=datetime(2026, 1, 1, 0, 0, 1)),
        Call(id="x", session_id="t", started_at=datetime(2026, 1, 1)),
        Call(id="n", session_id=None, started_at=datetime(2026, 1, 1)),
        Call(id="k", session_id="s", started_at=datetime(2026, 1, 1), step=9),
    ]
    assert [(c.id, c.step) for c in number_steps(calls)] == [
        ("c", 2),
        ("a", 1),
        ("x", 1),
        ("n", None),
        ("k", 9),
    ]


def test_a_response_id_that_tells_no_calls_apart_is_not_a_call_id() -> None:
    """Ollama's OpenAI layer draws ``chatcmpl-`` and a number below 1,000 for each answer."""
    assert [provider_id(i) for i in ("chatcmpl-749", "chatcmpl-7", "cmpl-42")] == [None, None, None]
    kept = ("chatcmpl-AbC123xyz", "chatcmpl-1234", "msg_01XFDUDYJgAACzvnptvVoYEL", "chatcmpl-b1", "resp_1")
    assert [provider_id(i) for i in kept] == list(kept)
    assert provider_id(None) is None
