"""A metered stream that reports no usage and answers with a tool call: the call is counted in its output.

Metering counts an unreported output locally (:func:`tokenomy.capture.estimate.fill_missing`); the tool
calls a stream carried come with the rest of its reading, and each counts its name, its argument text
and :data:`tokenomy.capture.estimate.TOOL_CALL_FRAMING`.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from tokenomy import tokens
from tokenomy.capture.estimate import TOOL_CALL_FRAMING
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution, Kind

CHAT = SURFACES["/v1/chat/completions"]
MESSAGES = SURFACES["/v1/messages"]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
ARGS = '{"city": "Paris", "units": "metric"}'


def _sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def _chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-t1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice]}


def _call_delta(**function: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": 0, "function": function}]}


CHAT_STREAM = (
    _sse(
        _chat_chunk({"role": "assistant", "content": None, **_call_delta(name="get_weather", arguments="")}),
        *(_chat_chunk(_call_delta(arguments=ARGS[i : i + 7])) for i in range(0, len(ARGS), 7)),
        _chat_chunk({}, "tool_calls"),
    )
    + b"data: [DONE]\n\n"
)


def _exchange(surface: Any, provider: str, request: dict[str, Any], stream: bytes) -> Exchange:
    exchange = Exchange(surface, provider, request, Attribution(team="t"), None, time.time_ns(), status=200)
    exchange.streamed, exchange.latency_ns = True, 1_000_000
    exchange.chunks = [stream[:50], stream[50:51], stream[51:]]  # split inside events
    return exchange


def _rule(model: str) -> int:
    return tokens.count("get_weather", model).tokens + tokens.count(ARGS, model).tokens + TOOL_CALL_FRAMING


def test_a_chat_stream_without_usage_counts_the_tool_call_it_answered_with() -> None:
    call = build_call(_exchange(CHAT, "openai", {"model": "gpt-4o", "messages": ASK}, CHAT_STREAM), Pricer())
    assert _rule("gpt-4o") == 3 + 11 + 7
    assert call.usage.kind == Kind.ESTIMATED
    assert call.usage.output_total == _rule("gpt-4o")
    assert call.usage.input_total is not None
    assert call.usage.input_total > 0
    assert [t.name for t in call.tool_uses] == ["get_weather"]
    assert call.cost is not None
    assert call.cost.parts["output_visible"] == Decimal("0.000210")  # 21 tokens at gpt-4o's $10 per million


def test_a_messages_stream_cut_before_its_output_count_counts_the_streamed_input_json() -> None:
    start: dict[str, Any] = {
        "id": "msg_t1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
    }
    start["usage"] = {"input_tokens": 30, "output_tokens": 1}
    stream = _sse(
        {"type": "message_start", "message": {**start, "content": []}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": ARGS[i : i + 5]},
            }
            for i in range(0, len(ARGS), 5)
        ),
        {"type": "content_block_stop", "index": 0},
    )  # cut: no message_delta, so the output count never arrived
    request = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": ASK}
    call = build_call(_exchange(MESSAGES, "anthropic", request, stream))
    assert call.usage.kind == Kind.ESTIMATED
    assert call.usage.input_uncached == 30  # reported by message_start, kept
    assert call.usage.output_total == _rule("claude-sonnet-4-5") > TOOL_CALL_FRAMING


def test_a_stream_without_usage_or_tool_calls_counts_its_text_alone() -> None:
    stream = _sse(_chat_chunk({"content": "Sunny."}, "stop"))
    call = build_call(_exchange(CHAT, "openai", {"model": "gpt-4o", "messages": ASK}, stream))
    assert call.usage.output_total == tokens.count("Sunny.", "gpt-4o").tokens


def test_a_reasoning_models_stream_without_usage_leaves_its_reasoning_unknown() -> None:
    """o4-mini reasons before its first visible token: the tool call counted is its visible output,
    and its reasoning (and so its output total) is unknown, never counted as none."""
    request = {"model": "o4-mini", "messages": ASK}
    call = build_call(_exchange(CHAT, "openai", request, CHAT_STREAM), Pricer())
    assert call.usage.kind == Kind.ESTIMATED
    assert (call.usage.output_visible, call.usage.reasoning, call.usage.output_total) == (
        _rule("o4-mini"),
        None,
        None,
    )
    assert call.cost is not None
    assert call.cost.total is not None
    assert "reasoning unknown: those tokens not priced" in (call.cost.reason or "")
