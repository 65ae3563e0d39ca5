"""End to end: the real SDK clients against the mock upstream; what is recorded equals what was served."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tests.capture.support import MemoryTarget
from tokenomy import capture
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call, Kind, Status

pytestmark = pytest.mark.integration

LONG = " ".join(["the"] * 1300)  # long enough for the prompt caches (1024 tokens)
SYSTEM = f"You answer in one short line. {LONG}"
QUESTIONS = ("What is a token?", "And a cache?", "What is a token?")


_LOOKUP: Any = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


def _calls(target: MemoryTarget) -> list[Call]:
    assert capture.flush(30) is True
    return [r for r in target.records if isinstance(r, Call)]


def _assert_equals_mock(calls: list[Call], mock: MockThread, *, reasoning: bool = True) -> None:
    served = mock.stats(with_requests=False)["totals"]
    assert len(calls) == served["requests"]
    assert sum(c.usage.input_total or 0 for c in calls) == served["input_tokens"]
    assert sum(c.usage.cache_read or 0 for c in calls) == served["cached_tokens"]
    assert sum(c.usage.cache_write_5m or 0 for c in calls) == served["cache_write_5m"]
    assert sum(c.usage.cache_write_1h or 0 for c in calls) == served["cache_write_1h"]
    assert sum(c.usage.output_total or 0 for c in calls) == served["output_tokens"]
    if reasoning:
        assert sum(c.usage.reasoning or 0 for c in calls) == served["reasoning_tokens"]
    assert all(c.usage.kind is Kind.REPORTED and c.usage.ok for c in calls)
    assert all(c.status is Status.OK and c.latency_ms is not None and c.latency_ms > 0 for c in calls)
    assert served["cached_tokens"] > 0  # the repeated prompt hit the cache: cache buckets were exercised


def _openai(mock: MockThread) -> OpenAI:
    return capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="test", max_retries=0))


def _aopenai(mock: MockThread) -> AsyncOpenAI:
    return capture.instrument(AsyncOpenAI(base_url=mock.openai_base_url, api_key="test", max_retries=0))


def _anthropic(mock: MockThread) -> Anthropic:
    return capture.instrument(Anthropic(base_url=mock.base_url, api_key="test", max_retries=0))


def _aanthropic(mock: MockThread) -> AsyncAnthropic:
    return capture.instrument(AsyncAnthropic(base_url=mock.base_url, api_key="test", max_retries=0))


def _chat_messages(question: str) -> Any:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "o3"])
def test_openai_chat_plain(mock: MockThread, recorded: MemoryTarget, model: str) -> None:
    client = _openai(mock)
    for question in QUESTIONS:
        client.chat.completions.create(model=model, messages=_chat_messages(question))
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert [c.streamed for c in calls] == [False] * 3
    assert all(c.ttft_ms is None and c.api == "chat" and c.provider == "openai" for c in calls)
    assert (sum(c.usage.reasoning or 0 for c in calls) > 0) is (model == "o3")


def test_openai_chat_streamed_with_usage(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _openai(mock)
    for question in QUESTIONS:
        stream = client.chat.completions.create(
            model="o3", messages=_chat_messages(question), stream=True, stream_options={"include_usage": True}
        )
        assert len(list(stream)) > 3
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert all(c.streamed and c.ttft_ms is not None and 0 < c.ttft_ms <= (c.latency_ms or 0) for c in calls)


def test_openai_chat_async_plain_and_streamed(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _aopenai(mock)

    async def run() -> None:
        for question in QUESTIONS:
            await client.chat.completions.create(model="gpt-4o", messages=_chat_messages(question))
            stream = await client.chat.completions.create(
                model="gpt-4o",
                messages=_chat_messages(question),
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in stream:
                pass

    asyncio.run(run())
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert [c.streamed for c in calls] == [False, True] * 3


PROMPTS: Any = (
    "hi",
    "hello world this is a longer prompt of words",
    ["a", "b"],
    [15339, 1917],
    [[15339, 1917], [64]],
)


@pytest.mark.parametrize("prompt", PROMPTS, ids=["one", "nine", "strings", "ids", "id lists"])
def test_a_legacy_completion_counted_locally_counts_its_prompt_as_the_api_does(
    mock: MockThread, recorded: MemoryTarget, prompt: Any
) -> None:
    """A completions stream reports no usage, so its prompt is counted locally: as the tokens of its
    text (strings: their sum; token ids: their number), not as a chat message, whose framing made
    "hi" 8 tokens where the API counts 1, and a list of strings unknown."""
    client = _openai(mock)
    list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt, stream=True))
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt)
    counted, reported = _calls(recorded)
    assert (counted.streamed, counted.usage.kind, reported.usage.kind) == (
        True,
        Kind.ESTIMATED,
        Kind.REPORTED,
    )
    assert counted.usage.input_total == reported.usage.input_total
    assert counted.usage.input_total == mock.stats(with_requests=False)["totals"]["input_tokens"] // 2


@pytest.mark.parametrize("streamed", [False, True])
def test_openai_responses(mock: MockThread, recorded: MemoryTarget, streamed: bool) -> None:
    client = _openai(mock)
    for question in QUESTIONS:
        if streamed:
            for _ in client.responses.create(
                model="o4-mini", instructions=SYSTEM, input=question, stream=True
            ):
                pass
        else:
            client.responses.create(model="o4-mini", instructions=SYSTEM, input=question)
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert all(c.api == "responses" and c.id.startswith("resp_") for c in calls)


def test_openai_responses_async_stream(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _aopenai(mock)

    async def run() -> None:
        for question in QUESTIONS:
            stream = await client.responses.create(
                model="gpt-4.1", instructions=SYSTEM, input=question, stream=True
            )
            async for _ in stream:
                pass

    asyncio.run(run())
    _assert_equals_mock(_calls(recorded), mock)


def test_openai_embeddings_sync_and_async(mock: MockThread, recorded: MemoryTarget) -> None:
    _openai(mock).embeddings.create(
        model="text-embedding-3-small", input=["a few words", "and more words here"]
    )
    asyncio.run(_aopenai(mock).embeddings.create(model="text-embedding-3-large", input="one more"))
    calls = _calls(recorded)
    served = mock.stats(with_requests=False)["totals"]
    assert sum(c.usage.input_total or 0 for c in calls) == served["input_tokens"] > 0
    assert [c.usage.output_total for c in calls] == [0, 0]
    assert [c.operation for c in calls] == ["embeddings", "embeddings"]
    assert all(c.n_messages is None for c in calls)  # an embeddings input is not a prompt


def _messages_kwargs(question: str) -> dict[str, Any]:
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "system": system,
        "messages": [{"role": "user", "content": question}],
    }


@pytest.mark.parametrize("streamed", [False, True])
def test_anthropic_messages(mock: MockThread, recorded: MemoryTarget, streamed: bool) -> None:
    client = _anthropic(mock)
    for question in QUESTIONS:
        if streamed:
            with client.messages.stream(**_messages_kwargs(question)) as stream:
                stream.get_final_message()
        else:
            client.messages.create(**_messages_kwargs(question))
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    served = mock.stats(with_requests=False)["totals"]
    assert served["cache_write_5m"] > 0  # the first call wrote the cache the next ones read
    assert all(c.provider == "anthropic" and c.api == "messages" and c.id.startswith("msg_") for c in calls)


def test_anthropic_async_with_thinking(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _aanthropic(mock)
    thinking = {"type": "enabled", "budget_tokens": 1024}

    async def run() -> None:
        for question in QUESTIONS:
            kwargs = {**_messages_kwargs(question), "max_tokens": 2048, "thinking": thinking}
            await client.messages.create(**kwargs)
            stream = await client.messages.create(**kwargs, stream=True)
            async for _ in stream:
                pass

    asyncio.run(run())
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock, reasoning=False)  # Anthropic counts thinking inside output_tokens
    served = mock.stats(with_requests=False)["totals"]
    assert served["reasoning_tokens"] > 0
    assert all(c.usage.reasoning is None for c in calls)  # the split is unknown, as the adapter documents


def test_calls_count_and_hash_the_prompt_shape(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _openai(mock)
    tools: Any = [_LOOKUP]
    history = [
        *_chat_messages("first"),
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    client.chat.completions.create(
        model="gpt-4o", messages=history, tools=tools, tool_choice="required", max_tokens=50
    )
    (call,) = _calls(recorded)
    assert call.n_messages == 4
    assert call.system_tokens is not None
    assert call.system_tokens > 1300
    assert call.user_tokens == 1
    assert call.history_tokens is not None
    assert call.history_tokens > 0
    assert call.tool_def_tokens is not None
    assert call.tool_def_tokens > 0
    assert call.max_output_tokens == 50
    assert call.finish_reason == "tool_calls"
    assert [t.name for t in call.tool_uses] == ["lookup"]
    assert len(call.prefix_hashes) >= 2
    assert all(len(h) == 16 for h in call.prefix_hashes)


def test_extra_body_is_recorded_as_it_is_sent(mock: MockThread, recorded: MemoryTarget) -> None:
    """The SDK lays extra_body over the body when it sends: what is recorded is what was sent."""
    client = _openai(mock)
    client.chat.completions.create(
        model="gpt-4o",
        messages=_chat_messages("hi"),
        max_tokens=50,
        extra_body={"max_tokens": 700, "model": "gpt-4o-mini", "tools": [_LOOKUP]},
    )
    client.chat.completions.create(model="gpt-4o", messages=_chat_messages("hi"), max_tokens=50)
    sent, plain = _calls(recorded)
    assert (sent.max_output_tokens, sent.request_model, sent.response_model) == (
        700,
        "gpt-4o-mini",
        "gpt-4o-mini",
    )
    assert sent.tool_def_tokens is not None
    assert sent.tool_def_tokens > 0
    assert (plain.max_output_tokens, plain.request_model, plain.tool_def_tokens) == (50, "gpt-4o", 0)


def test_anthropic_raw_streams_and_the_async_stream_helper(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _anthropic(mock)
    aclient = _aanthropic(mock)
    for question in QUESTIONS:
        for _ in client.messages.create(**_messages_kwargs(question), stream=True):
            pass

    async def run() -> None:
        for question in QUESTIONS:
            async with aclient.messages.stream(**_messages_kwargs(question)) as stream:
                await stream.get_final_message()

    asyncio.run(run())
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert all(c.streamed and c.ttft_ms is not None and c.id.startswith("msg_") for c in calls)


def test_openai_async_helpers_and_plain_responses(mock: MockThread, recorded: MemoryTarget) -> None:
    client = _aopenai(mock)

    async def run() -> list[str]:
        ids = []
        for question in QUESTIONS:
            async with client.chat.completions.stream(
                model="gpt-4o", messages=_chat_messages(question), stream_options={"include_usage": True}
            ) as chat:
                ids.append((await chat.get_final_completion()).id)
            async with client.responses.stream(model="o3", instructions=SYSTEM, input=question) as stream:
                ids.append((await stream.get_final_response()).id)
            ids.append((await client.responses.create(model="o3", instructions=SYSTEM, input=question)).id)
            parsed = await client.chat.completions.parse(model="gpt-4o", messages=_chat_messages(question))
            ids.append(parsed.id)
        return ids

    ids = asyncio.run(run())
    calls = _calls(recorded)
    _assert_equals_mock(calls, mock)
    assert [c.id for c in calls] == ids
    assert [c.streamed for c in calls] == [True, True, False, False] * 3
    assert [c.api for c in calls] == ["chat", "responses", "responses", "chat"] * 3
