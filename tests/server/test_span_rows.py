"""Span rows keep the tree and a few facts, never content, and never long values."""

from __future__ import annotations

import json

import pytest

from tokenomy.server.otlp_tree import Lineage, TreeSpan
from tokenomy.server.span_rows import CONTENT_KEYS, MAX_ATTRIBUTES, MAX_TEXT, kept_attributes, span_rows


def test_content_and_unrelated_attributes_are_left_out() -> None:
    attrs = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.call.arguments": '{"q": "secret"}',
        "gen_ai.input.messages": "[...]",
        "gen_ai.prompt.0.content": "hello",
        "http.response.status_code": 200,
        "url.full": "https://x.test/?key=secret",
        "db.statement": "SELECT secret",
        "error.type": "timeout",
        "gen_ai.request.temperature": float("nan"),
        "gen_ai.response.finish_reasons": ["stop", {"odd": 1}],
    }
    kept = json.loads(kept_attributes(attrs) or "{}")
    assert kept == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "http.response.status_code": 200,
        "error.type": "timeout",
        "gen_ai.response.finish_reasons": ["stop"],
    }


def test_values_and_counts_are_bounded() -> None:
    attrs = {f"gen_ai.k{i:03d}": "x" * 1000 for i in range(100)}
    kept = json.loads(kept_attributes(attrs) or "{}")
    assert len(kept) == MAX_ATTRIBUTES
    assert all(len(v) == MAX_TEXT for v in kept.values())
    assert kept_attributes({"url.full": "x"}) is None


def test_rows_skip_calls_and_count_spans_without_ids() -> None:
    root = TreeSpan(
        "t", "r", None, "agent run", 1, 10**18, 2 * 10**18, {"session.id": "S"}, {"service.name": "svc"}
    )
    call = TreeSpan("t", "c", "r", "chat", 3, None, None, {})
    anonymous = TreeSpan(None, None, None, "lost", 0, None, None, {})
    rows, missing = span_rows([root, call, anonymous], Lineage([root, call]), skip={("t", "c")})
    assert missing == 1
    assert [r["span_id"] for r in rows] == ["r"]
    row = rows[0]
    assert (row["kind"], row["status"], row["session_id"], row["service_name"]) == (
        "internal",
        "unset",
        "S",
        "svc",
    )
    assert row["started_at"].year == 2001


CONTENT_ATTRIBUTES = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.documents",
    "gen_ai.memory.query.text",
    "gen_ai.memory.records",
    "gen_ai.evaluation.explanation",
    "gen_ai.prompt",
    "gen_ai.completion",
]
"""Every content attribute of the OTel GenAI registry (current and deprecated names)."""


@pytest.mark.parametrize("key", CONTENT_ATTRIBUTES)
def test_each_content_attribute_of_the_genai_registry_is_left_out(key: str) -> None:
    attrs = {
        key: "SECRET text",
        f"{key}.0.content": "SECRET flattened",
        "gen_ai.operation.name": "retrieval",
    }
    assert key in CONTENT_KEYS
    assert json.loads(kept_attributes(attrs) or "{}") == {"gen_ai.operation.name": "retrieval"}


def test_names_and_ids_next_to_content_are_kept() -> None:
    attrs = {
        "gen_ai.prompt.name": "analyze-code",
        "gen_ai.memory.store.id": "store-1",
        "gen_ai.memory.record.count": 3,
        "gen_ai.evaluation.name": "Relevance",
        "gen_ai.evaluation.score.label": "relevant",
        "gen_ai.data_source.id": "H7STPQYOND",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.prompt.0.content": "SECRET",
    }
    kept = json.loads(kept_attributes(attrs) or "{}")
    assert kept == {k: v for k, v in attrs.items() if k != "gen_ai.prompt.0.content"}
