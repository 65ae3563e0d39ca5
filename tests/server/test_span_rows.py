"""Span rows keep the tree and a few facts, never content, and never long values."""

from __future__ import annotations

import json

import pytest

from tokenomy.server.otlp_tree import Lineage, TreeSpan
from tokenomy.server.span_rows import (
    CONTENT_KEYS,
    KEPT_KEYS,
    MAX_ATTRIBUTES,
    MAX_TEXT,
    kept_attributes,
    span_rows,
    without_status_messages,
)
from tokenomy.store.events import spans_to_arrow


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
    assert len(KEPT_KEYS) > MAX_ATTRIBUTES
    attrs = dict.fromkeys(KEPT_KEYS, "x" * 1000)
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
    "gen_ai.tool.description",
    "gen_ai.agent.description",
    "gen_ai.prompt",
    "gen_ai.completion",
]
"""Every content or free-text attribute of the OTel GenAI registry (current and deprecated names)."""


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


REVIEW_LEAKS = {
    "error.message": "PROMPT error message with key sk-test-KEY123",
    "rpc.request.metadata.authorization": ["Bearer sk-test-KEY123"],
    "rpc.grpc.request.metadata.authorization": ["Bearer sk-test-KEY123"],
    "rpc.grpc.response.metadata.set-cookie": ["session=KEY"],
    "gen_ai.request.api_key": "sk-test-KEY123",
    "server.address.key": "sk-test-KEY123",
    "gen_ai.user.message": "PROMPT user.message",
    "gen_ai.custom.prompt_text": "PROMPT custom gen_ai",
    "gen_ai.prompt.0.content": "PROMPT flattened",
    "gen_ai.prompt.0.role": "user",
    "gen_ai.completion.0.content": "PROMPT completion",
    "gen_ai.request.stop_sequences": ["PROMPT stop"],
    "error.stacktrace": "Traceback ... PROMPT",
    "http.request.header.authorization": ["Bearer sk-test-KEY123"],
    "http.request.header.x-api-key": ["sk-ant-KEY456"],
    "url.full": "https://api.openai.com/v1/chat?key=sk-test-KEY123",
    "input.value": "PROMPT openinference",
    "llm.prompts": ["PROMPT llm.prompts"],
    "traceloop.entity.input": "PROMPT traceloop",
}
"""Attributes the security review found in the spans table (prompt text and keys under names the
old prefix rule kept), and others of the same families."""
ALLOWED = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.provider.name": "openai",
    "gen_ai.agent.name": "myagent",
    "gen_ai.conversation.id": "sess-1",
    "gen_ai.tool.name": "lookup",
    "gen_ai.prompt.name": "promptname",
    "gen_ai.usage.input_tokens": 100,
    "error.type": "timeout",
    "server.address": "api.openai.com",
    "server.port": 443,
    "rpc.system": "grpc",
    "rpc.service": "myservice.EchoService",
    "rpc.method": "Exchange",
    "http.request.method": "POST",
    "http.response.status_code": 500,
}


def test_only_allow_listed_attributes_are_kept() -> None:
    kept = json.loads(kept_attributes({**REVIEW_LEAKS, **ALLOWED}) or "{}")
    assert kept == ALLOWED
    text = json.dumps(kept)
    assert "PROMPT" not in text
    assert "KEY" not in text


def test_the_allow_list_holds_no_content_attribute() -> None:
    assert KEPT_KEYS.isdisjoint(CONTENT_KEYS)
    under_content = [k for k in KEPT_KEYS if any(k.startswith(f"{c}.") for c in CONTENT_KEYS)]
    assert under_content == ["gen_ai.prompt.name"]  # the name of a prompt template, not a prompt
    assert set(ALLOWED) <= KEPT_KEYS
    assert KEPT_KEYS.isdisjoint(REVIEW_LEAKS)


def test_status_messages_are_emptied_only_where_asked() -> None:
    failed = TreeSpan("t", "r", None, "tool", 1, None, None, {}, status_code=2, status_message="PROMPT sk-1")
    ok = TreeSpan("t", "s", "r", "tool", 1, None, None, {})
    rows, _ = span_rows([failed, ok], Lineage([failed, ok]), skip=set())
    table = spans_to_arrow(rows)
    assert table.column("status_message").to_pylist() == ["PROMPT sk-1", None]
    emptied = without_status_messages(table)
    assert emptied.column("status_message").to_pylist() == [None, None]
    assert emptied.column("status").to_pylist() == ["error", "unset"]
    assert emptied.drop_columns(["status_message"]).equals(table.drop_columns(["status_message"]))


def test_an_error_type_is_kept_only_when_it_is_a_classification() -> None:
    """``error.type`` is allow-listed, but free text there (an exception's message, a key) is dropped,
    as a call's ``error_type`` drops it."""
    leaky = "PROMPT: summarise my diary, key sk-test-KEY123"
    assert kept_attributes({"error.type": leaky, "server.port": 443}) == '{"server.port":443}'
    assert kept_attributes({"error.type": "AIzaSyD-KEY123"}) is None
    assert kept_attributes({"error.type": "rate_limit_error"}) == '{"error.type":"rate_limit_error"}'


def test_a_tool_span_names_its_tool_in_either_convention() -> None:
    """OpenInference names a tool ``tool.name``: its TOOL spans were stored with no tool name."""
    spans = [
        TreeSpan("t", "a", None, "search", 1, None, None, {"gen_ai.tool.name": "search"}),
        TreeSpan(
            "t",
            "b",
            None,
            "lookup",
            1,
            None,
            None,
            {"openinference.span.kind": "TOOL", "tool.name": "lookup"},
        ),
        TreeSpan("t", "c", None, "step", 1, None, None, {}),
    ]
    rows, _missing = span_rows(spans, Lineage(spans), skip=set())
    assert [r["tool_name"] for r in rows] == ["search", "lookup", None]
