"""A stream that reports no usage and answers with a tool call: its output is counted, the call included.

The SDK's default chat stream (no ``stream_options.include_usage``) reports no usage, so the capture
counts its output: the text that arrived and each tool call (name, argument text as streamed, and
:data:`tokenomy.capture.estimate.TOOL_CALL_FRAMING`). An answer made of a tool call alone used to
count 0 output tokens.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai import OpenAI

from tests.capture.support import MemoryTarget
from tokenomy import capture, tokens
from tokenomy.capture.estimate import TOOL_CALL_FRAMING
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call, Kind

pytestmark = pytest.mark.integration

CHAT: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_a_chat_stream_without_usage_counts_the_tool_call_it_answered_with(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0))
    names: list[str] = []
    parts: list[str] = []
    texts: list[str] = []
    stream = client.chat.completions.create(
        model="gpt-4o", messages=CHAT, tools=TOOLS, tool_choice="required", stream=True
    )
    for chunk in stream:
        assert chunk.usage is None
        for choice in chunk.choices:
            texts.append(choice.delta.content or "")
            for delta in choice.delta.tool_calls or []:
                assert delta.function is not None
                names.append(delta.function.name or "")
                parts.append(delta.function.arguments or "")
    capture.flush(30)
    [call] = [r for r in recorded.records if isinstance(r, Call)]
    name, arguments = "".join(names), "".join(parts)
    assert (name, arguments, "".join(texts)) == ("get_weather", '{"city":"mock"}', "")
    expected = (
        tokens.count(name, "gpt-4o").tokens + tokens.count(arguments, "gpt-4o").tokens + TOOL_CALL_FRAMING
    )
    assert expected == 2 + 5 + 7
    assert call.usage.kind == Kind.ESTIMATED
    assert call.usage.output_total == expected
    assert [t.name for t in call.tool_uses] == ["get_weather"]
    assert call.content is None  # the tool text is for counting only: nothing stored
