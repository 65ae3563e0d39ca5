"""The real openai and anthropic SDKs through the gateway behave as against the mock directly,
and every call is recorded with the buckets the mock says it served."""

from __future__ import annotations

import re
from typing import Any

from anthropic import Anthropic
from openai import OpenAI

from tests.gateway.support import ListTarget, Running, calls_of, post
from tokenomy.capture.sink.core import Sink
from tokenomy.mockllm import MockThread
from tokenomy.schema import Kind, Status

MESSAGES: Any = [{"role": "user", "content": "Say something short about tokens."}]


def _clients(gateway: Running, mock: MockThread) -> tuple[OpenAI, OpenAI]:
    through = OpenAI(base_url=gateway.openai_base_url, api_key="sk-client", max_retries=0)
    direct = OpenAI(base_url=mock.openai_base_url, api_key="sk-client", max_retries=0)
    return through, direct


def _same_except_ids(a: dict[str, object], b: dict[str, object]) -> None:
    for key in ("id", "created"):
        a.pop(key, None)
        b.pop(key, None)
    assert a == b


def _no_ids(raw: bytes) -> bytes:
    """The stream without what differs between two answers (ids and times)."""
    return re.sub(rb'"created":\d+', b"", re.sub(rb"chatcmpl-mock\d+", b"", raw))


def test_chat_completion_is_the_mocks_and_is_metered(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    through, direct = _clients(gateway, mock)
    via = through.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    plain = direct.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    _same_except_ids(via.model_dump(), plain.model_dump())
    truth = mock.stats()["requests"][via._request_id]
    [call] = [c for c in calls_of(*recorded) if c.id == via.id]
    assert call.usage.input_total == truth["input_tokens"] == via.usage.prompt_tokens  # type: ignore[union-attr]
    assert call.usage.output_total == truth["output_tokens"] == 16
    assert call.usage.kind is Kind.REPORTED
    assert (call.provider, call.api, call.status, call.http_status) == ("openai", "chat", Status.OK, 200)
    assert call.source == "gateway"
    assert call.streamed is False
    assert call.n_messages == 1
    assert call.latency_ms is not None
    assert call.latency_ms > 0


def test_stream_without_usage_gets_exactly_the_mocks_events(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    via = post(f"{gateway.openai_base_url}/chat/completions", body)[2]
    plain = post(f"{mock.openai_base_url}/chat/completions", body)[2]
    assert b'"usage"' not in via
    assert via.count(b"data: ") == plain.count(b"data: ") == 19  # role, 16 tokens, finish, [DONE]
    assert _no_ids(via).split(b"\n\n") == _no_ids(plain).split(b"\n\n")
    [call] = [c for c in calls_of(*recorded) if c.streamed]
    first = next(r for r in mock.stats()["requests"].values())
    assert call.usage.output_total == first["output_tokens"] == 16
    assert call.usage.input_total == first["input_tokens"]
    assert call.usage.kind is Kind.REPORTED  # the gateway asked upstream for it
    assert call.ttft_ms is not None


def test_openai_sdk_stream_with_usage_keeps_it(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    through, _ = _clients(gateway, mock)
    stream = through.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 16
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    [call] = calls_of(*recorded)
    assert call.usage.output_total == 16
    assert call.streamed
    assert len(text.split()) == 16


def test_anthropic_sdk_plain_and_streamed(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    client = Anthropic(base_url=gateway.base_url, api_key="sk-ant-client", max_retries=0)
    reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert reply.usage.output_tokens == final.usage.output_tokens == 16
    served = mock.stats(with_requests=False)["totals"]
    calls = calls_of(*recorded, expect=2)
    assert {c.api for c in calls} == {"messages"}
    assert {c.provider for c in calls} == {"anthropic"}
    assert sum(c.usage.output_total or 0 for c in calls) == served["output_tokens"] == 32
    assert sum(c.usage.input_total or 0 for c in calls) == served["input_tokens"]


def test_responses_and_embeddings(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    through, _ = _clients(gateway, mock)
    reply = through.responses.create(model="gpt-4o", input="Hello there")
    vectors = through.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
    assert reply.usage is not None
    assert reply.usage.output_tokens == 16
    assert len(vectors.data) == 2
    served = mock.stats(with_requests=False)["totals"]
    calls = calls_of(*recorded, expect=2)
    assert sorted(c.api or "" for c in calls) == ["embeddings", "responses"]
    assert sum(c.usage.input_total or 0 for c in calls) == served["input_tokens"]
    assert sum(c.usage.output_total or 0 for c in calls) == served["output_tokens"] == 16
