"""Prompts of every provider's request shape, normalized to OpenAI chat messages with text content."""

from __future__ import annotations

from tokenomy.importers.messages import normalize, request_messages, text_of, tool_uses_of
from tokenomy.usage.base import args_hash


def test_text_of_parts() -> None:
    assert text_of("plain") == "plain"
    assert (
        text_of(
            [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {}},
                {"type": "text", "text": "b"},
            ]
        )
        == "a\nb"
    )
    assert text_of({"parts": [{"text": "gemini"}]}) == "gemini"
    assert text_of(None) == ""


def test_anthropic_request() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "SF"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
        ],
    }
    messages = request_messages(request)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[0]["content"] == "Be brief."
    call = messages[2]["tool_calls"][0]
    assert (call["id"], call["function"]["name"], call["function"]["arguments"]) == (
        "t1",
        "get_weather",
        '{"city":"SF"}',
    )
    assert messages[3]["content"] == "sunny"


def test_gemini_and_responses_requests() -> None:
    gemini = request_messages(
        {
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "yo"}]},
            ],
        }
    )
    assert gemini == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]
    responses = request_messages({"instructions": "be kind", "input": "hello"})
    assert responses == [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hello"}]


def test_tool_uses_hash_arguments_canonically() -> None:
    a = normalize(
        {
            "role": "assistant",
            "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": '{"b": 1, "a": 2}'}}],
        }
    )
    b = normalize(
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "2", "name": "f", "input": {"a": 2, "b": 1}}],
        }
    )
    assert tool_uses_of(a) == tool_uses_of(b)
    assert tool_uses_of(a)[0].args_hash == args_hash({"a": 2, "b": 1})
