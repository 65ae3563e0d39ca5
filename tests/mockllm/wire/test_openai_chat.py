"""Chat Completions on the wire: bodies, chunks, usage, tools; checked against real recordings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.mockllm.support import TOOLS_OPENAI, app, post, request
from tokenomy import tokens
from tokenomy.mockllm.app import App
from tokenomy.mockllm.config import Lengths, MockLLMConfig
from tokenomy.mockllm.reply import Stream

CHAT = "/v1/chat/completions"


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi there"}], **extra}


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "hello there, how are you"}], 13),
        (
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "name": "ana", "content": "hello there"},
                {"role": "assistant", "content": "Hi."},
                {"role": "tool", "tool_call_id": "call_abc123", "content": "42"},
            ],
            33,  # 4 x 3 framing + 3 priming + the roles, the contents, the name and its 1, the call id
        ),
    ],
)
def test_the_prompt_is_counted_as_openai_counts_its_chat_format(
    messages: list[dict[str, str]], expected: int
) -> None:
    """3 tokens a message, each field's own tokens (the role's too), 1 more for a name, 3 priming the
    reply: OpenAI's published rule, which tokenomy's local count follows."""
    mock = App(MockLLMConfig())  # the tokenizer's exact counts
    usage = post(mock, CHAT, {"model": "gpt-4o", "messages": messages}).json()["usage"]
    local = tokens.count_messages(messages, "gpt-4o").tokens
    assert usage["prompt_tokens"] == local == expected


def test_text_answer_matches_the_documented_shape_exactly() -> None:
    got = post(app(output_tokens=Lengths.fixed(3)), CHAT, body()).json()
    assert got == {
        "id": got["id"],
        "object": "chat.completion",
        "created": got["created"],
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The of and", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 9,  # 3 framing, the role 1, the text 2, 3 priming the reply
            "completion_tokens": 3,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }
    assert got["id"].startswith("chatcmpl-")


def test_model_names_are_escaped_in_the_pre_serialised_body() -> None:
    got = post(app(), CHAT, {**body(), "model": 'we"ird\\model'}).json()
    assert got["model"] == 'we"ird\\model'


def test_reasoning_model_reports_reasoning_inside_completion_tokens() -> None:
    mock = app(output_tokens=Lengths.fixed(10), reasoning_tokens=Lengths.fixed(30))
    usage = post(mock, CHAT, {**body(), "model": "o4-mini"}).json()["usage"]
    assert (usage["completion_tokens"], usage["completion_tokens_details"]["reasoning_tokens"]) == (40, 30)
    assert mock.stats()["totals"]["reasoning_tokens"] == 30


def test_max_completion_tokens_caps_and_finishes_with_length() -> None:
    got = post(app(output_tokens=Lengths.fixed(50)), CHAT, body(max_completion_tokens=7)).json()
    assert got["choices"][0]["finish_reason"] == "length"
    assert got["usage"]["completion_tokens"] == 7
    assert got["choices"][0]["message"]["content"].count(" ") == 6


def test_stream_chunks_then_usage_chunk_then_done() -> None:
    mock = app(output_tokens=Lengths.fixed(4))
    events = post(mock, CHAT, body(stream=True, stream_options={"include_usage": True})).events()
    datas = [data for _, data in events]
    assert datas[-1] == "[DONE]"
    chunks: list[dict[str, Any]] = datas[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "The of and to"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert "usage" not in chunks[0]


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    events = post(app(), CHAT, body(stream=True)).events()
    assert all("usage" not in data for _, data in events[:-1])
    assert events[-2][1]["choices"][0]["finish_reason"] == "stop"


def test_tool_call_plain_and_streamed() -> None:
    mock = app()
    request = body(tools=TOOLS_OPENAI, tool_choice="required")
    got = post(mock, CHAT, request).json()
    choice = got["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"mock","days":1}'}
    events = post(mock, CHAT, {**request, "stream": True, "stream_options": {"include_usage": True}}).events()
    deltas = [d["choices"][0]["delta"] for _, d in events[:-1] if d["choices"]]
    calls = [t for d in deltas for t in d.get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(t["function"]["arguments"] for t in calls) == '{"city":"mock","days":1}'
    assert events[-3][1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-2][1]["usage"]["completion_tokens"] == got["usage"]["completion_tokens"]


@pytest.mark.parametrize(
    "extra",
    [{}, {"model": "o3"}, {"tools": TOOLS_OPENAI, "tool_choice": "required", "model": "gpt-5"}],
)
def test_stream_frames_carry_exactly_the_plans_tokens(extra: dict[str, Any]) -> None:
    mock = app(output_tokens=Lengths.fixed(9), chunk_tokens=2)
    action = mock.handle(request(CHAT, {**body(stream=True), **extra}))
    assert isinstance(action, Stream)
    action.done(len(action.frames), True)
    record = mock.stats()["totals"]
    assert sum(f.tokens for f in action.frames) == record["output_tokens"]
    assert sum(f.reasoning for f in action.frames) == record["reasoning_tokens"]


@pytest.mark.realdata
def test_body_has_every_field_of_a_recorded_openai_response() -> None:
    path = real_data_path("provider-responses", "openai-python", "chat_completions_recorded.jsonl")
    recorded = json.loads(path.read_text().splitlines()[0])["response"]
    mine = post(app(), CHAT, body()).json()
    assert set(recorded) <= set(mine)
    assert set(recorded["usage"]) <= set(mine["usage"])
    assert set(recorded["choices"][0]) <= set(mine["choices"][0])
    assert set(recorded["choices"][0]["message"]) <= set(mine["choices"][0]["message"])


@pytest.mark.realdata
def test_stream_has_the_shape_of_a_recorded_include_usage_stream() -> None:
    folder = real_data_path("provider-responses", "openai-python", "chat-streams-include-usage")
    recorded = [json.loads(line)["data"] for line in (folder / "test_parse_max_tokens_reached.jsonl").open()]
    mine = [
        d for _, d in post(app(), CHAT, body(stream=True, stream_options={"include_usage": True})).events()
    ]
    assert recorded[-1] == mine[-1] == "[DONE]"
    assert recorded[-2]["choices"] == mine[-2]["choices"] == []
    assert set(recorded[-2]["usage"]) <= set(mine[-2]["usage"])
    for theirs, ours in ((recorded[0], mine[0]), (recorded[1], mine[1]), (recorded[-3], mine[-3])):
        assert set(theirs) <= set(ours)
        assert set(theirs["choices"][0]) <= set(ours["choices"][0])
        assert set(theirs["choices"][0]["delta"]) <= set(ours["choices"][0]["delta"])
