"""Small hand-written records of every input format, for the importer tests."""

from __future__ import annotations

import json
from typing import Any

TRACE = "0af7651916cd43dd8448eb211c80319c"


def openai_chat(
    id: str = "chatcmpl-1", *, prompt: int = 100, completion: int = 20, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """An OpenAI chat completion with usage details."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": 1767225600,  # 2026-01-01T00:00:00Z
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


def anthropic_message(id: str = "msg_1") -> dict[str, Any]:
    """An Anthropic Messages body with cache reads and 5m/1h writes."""
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
            "output_tokens": 40,
        },
    }


def gemini_body() -> dict[str, Any]:
    """A Gemini generateContent response with thoughts."""
    return {
        "responseId": "gem-1",
        "modelVersion": "gemini-2.5-flash",
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 30,
            "candidatesTokenCount": 10,
            "thoughtsTokenCount": 5,
            "totalTokenCount": 45,
        },
    }


def chat_request(model: str = "gpt-4o") -> dict[str, Any]:
    """An OpenAI chat request with a system prompt, history, a user turn and one tool."""
    return {
        "model": model,
        "max_tokens": 256,
        "user": "u-42",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Italy?"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    }


_SSE_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_s1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [],
            "usage": {
                "input_tokens": 25,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi there"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
]
ANTHROPIC_SSE = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in _SSE_EVENTS)
"""An Anthropic Messages stream as captured raw SSE text."""


def openai_chunks(id: str = "chatcmpl-s2") -> list[dict[str, Any]]:
    """An OpenAI chat stream with include_usage (the last chunk has no choices)."""
    head = {"id": id, "object": "chat.completion.chunk", "created": 1767225600, "model": "gpt-4o-mini"}
    return [
        {
            **head,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        },
        {**head, "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}},
    ]


def native_call(id: str = "n-1", **fields: Any) -> dict[str, Any]:
    """A native JSONL call."""
    return {
        "id": id,
        "provider": "openai",
        "request_model": "gpt-4o",
        "started_at": "2026-01-01T00:00:00.000Z",
        "session_id": "s-native",
        "usage": {
            "input_uncached": 100,
            "cache_read": 0,
            "cache_write_5m": 0,
            "cache_write_1h": 0,
            "output_visible": 10,
            "reasoning": 0,
        },
        **fields,
    }


def attr(key: str, value: Any) -> dict[str, Any]:
    """An OTLP/JSON key-value (integers as strings, as the mapping allows)."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def span(
    span_id: str, name: str, attrs: dict[str, Any], *, parent: str | None = None, start: int = 0
) -> dict[str, Any]:
    """An OTLP/JSON span in the test trace, starting ``start`` seconds after 2026-01-01."""
    base = 1767225600_000_000_000 + start * 1_000_000_000
    out: dict[str, Any] = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(base),
        "endTimeUnixNano": str(base + 1_500_000_000),
        "attributes": [attr(k, v) for k, v in attrs.items()],
        "status": {},
    }
    if parent:
        out["parentSpanId"] = parent
    return out


def otlp_request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OTLP/JSON ExportTraceServiceRequest."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr(k, v) for k, v in (resource or {}).items()]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }


def agent_trace() -> dict[str, Any]:
    """An agent span (session and agent name on it) over two chat spans and a tool span."""
    return otlp_request(
        [
            span(
                "a000000000000001",
                "invoke_agent planner",
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "planner",
                    "session.id": "sess-9",
                    "gen_ai.usage.input_tokens": 300,
                    "gen_ai.usage.output_tokens": 30,
                },
            ),
            span(
                "c000000000000001",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.response.id": "chatcmpl-otel-1",
                    "gen_ai.request.max_tokens": 512,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.usage.input_tokens": 200,
                    "gen_ai.usage.cache_read.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 20,
                },
                parent="a000000000000001",
                start=1,
            ),
            span(
                "b000000000000001",
                "execute_tool search",
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
                parent="a000000000000001",
                start=3,
            ),
            span(
                "c000000000000002",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 10,
                },
                parent="a000000000000001",
                start=5,
            ),
        ],
        resource={"service.name": "agent", "deployment.environment.name": "prod"},
    )


def spend_log(request_id: str = "chatcmpl-ll-1", **fields: Any) -> dict[str, Any]:
    """A LiteLLM SpendLogs row (metadata and messages as JSON strings, as the proxy stores them)."""
    metadata = {
        "usage_object": {
            "prompt_tokens": 1200,
            "completion_tokens": 80,
            "total_tokens": 1280,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
        },
        "user_api_key_team_alias": "search",
        "user_api_key_user_id": "alice",
    }
    row = {
        "request_id": request_id,
        "session_id": "sess-ll",
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "startTime": "2026-01-02 10:00:00.000000",
        "endTime": "2026-01-02 10:00:02.500000",
        "completionStartTime": "2026-01-02 10:00:00.400000",
        "model": "claude-sonnet-4-20250514",
        "custom_llm_provider": "anthropic",
        "metadata": json.dumps(metadata),
        "spend": 0.0028,
        "total_tokens": 1280,
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "request_tags": '["env:prod", "batch"]',
        "end_user": "",
        "team_id": "team-1",
        "status": "success",
        "messages": "{}",
        "response": "{}",
    }
    row.update(fields)
    return row


def langfuse_trace() -> dict[str, Any]:
    """A Langfuse trace: an agent observation over a generation, a tool span and another generation."""
    return {
        "id": "trace-lf-1",
        "timestamp": "2026-01-03T09:00:00.000Z",
        "name": "support-bot",
        "sessionId": "sess-lf",
        "userId": "bob",
        "environment": "production",
        "tags": ["tier:gold", "beta"],
        "observations": [
            {
                "id": "obs-agent",
                "traceId": "trace-lf-1",
                "type": "AGENT",
                "name": "helper",
                "startTime": "2026-01-03T09:00:00.000Z",
                "endTime": "2026-01-03T09:00:09.000Z",
                "parentObservationId": None,
                "level": "DEFAULT",
            },
            {
                "id": "obs-gen-1",
                "traceId": "trace-lf-1",
                "type": "GENERATION",
                "name": "plan",
                "model": "gpt-4o",
                "startTime": "2026-01-03T09:00:01.000Z",
                "completionStartTime": "2026-01-03T09:00:01.250Z",
                "endTime": "2026-01-03T09:00:02.000Z",
                "parentObservationId": "obs-agent",
                "modelParameters": {"max_tokens": "300", "temperature": "0"},
                "input": [{"role": "system", "content": "Plan."}, {"role": "user", "content": "Refund?"}],
                "output": {"role": "assistant", "content": "Checking."},
                "usageDetails": {
                    "input": 700,
                    "input_cached_tokens": 300,
                    "output": 40,
                    "output_reasoning_tokens": 10,
                    "total": 1050,
                },
                "costDetails": {"input": 0.00175, "output": 0.0005, "total": 0.00225},
                "level": "DEFAULT",
            },
            {
                "id": "obs-tool",
                "traceId": "trace-lf-1",
                "type": "TOOL",
                "name": "orders",
                "startTime": "2026-01-03T09:00:03.000Z",
                "parentObservationId": "obs-agent",
            },
            {
                "id": "obs-gen-2",
                "traceId": "trace-lf-1",
                "type": "GENERATION",
                "name": "answer",
                "model": "anthropic/claude-sonnet-4-20250514",
                "startTime": "2026-01-03T09:00:04.000Z",
                "endTime": "2026-01-03T09:00:06.000Z",
                "parentObservationId": "obs-tool",
                "usageDetails": {"input": 100, "input_cache_creation_1h": 50, "output": 20},
                "level": "ERROR",
                "statusMessage": "overloaded",
            },
        ],
    }


def transcript() -> list[dict[str, Any]]:
    """A chat transcript with a tool call and its result."""
    return [
        {"role": "system", "content": "You help with orders."},
        {"role": "user", "content": "Where is order 17?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "order_status", "arguments": '{"id": 17}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "shipped"},
        {"role": "assistant", "content": "Order 17 has shipped."},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome."},
    ]


def swe_trajectory(*, sent: int = 5000, received: int = 300, cost: float = 0.059) -> dict[str, Any]:
    """A small SWE-agent trajectory (old format: commands as ``action`` strings)."""
    return {
        "environment": "swe_main",
        "history": [
            {"role": "system", "content": "You are an autonomous programmer.", "agent": "primary"},
            {"role": "user", "content": "Demo: how to use the tools.", "agent": "primary", "is_demo": True},
            {"role": "user", "content": "Fix the bug in calc.py", "agent": "primary"},
            {
                "role": "assistant",
                "content": "Let me look.\n```\nopen calc.py\n```",
                "action": "open calc.py\n",
            },
            {"role": "user", "content": "[file contents]", "agent": "primary"},
            {
                "role": "assistant",
                "content": "Now edit.\n```\nedit 3:3\n```",
                "action": "edit 3:3\nreturn a/b\n",
            },
            {"role": "user", "content": "File updated.", "agent": "primary"},
            {"role": "assistant", "content": "Done.\n```\nsubmit\n```", "action": "submit\n"},
        ],
        "trajectory": [{"response": "r", "action": "a"}] * 3,
        "info": {
            "exit_status": "submitted",
            "model_stats": {
                "total_cost": cost,
                "instance_cost": cost,
                "tokens_sent": sent,
                "tokens_received": received,
                "api_calls": 3,
            },
        },
    }


def openhands_log(
    response_id: str, messages: list[dict[str, Any]], reply: str, *, at: float
) -> dict[str, Any]:
    """An OpenHands LLM log of one call (a LiteLLM proxy response)."""
    return {
        "messages": messages,
        "tools": [{"type": "function", "function": {"name": "terminal", "parameters": {"type": "object"}}}],
        "kwargs": {
            "extra_body": {
                "metadata": {
                    "tags": ["model:litellm_proxy/anthropic/claude-sonnet-4-20250514", "agent:Agent"]
                }
            },
            "max_completion_tokens": 4096,
        },
        "context_window": 200000,
        "response": {
            "id": response_id,
            "created": int(at),
            "model": "litellm_proxy/claude-sonnet-4-20250514",
            "object": "chat.completion",
            "choices": [
                {
                    "finish_reason": "tool_calls",
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply,
                        "tool_calls": [
                            {
                                "id": f"toolu_{response_id}",
                                "type": "function",
                                "function": {"name": "terminal", "arguments": '{"command": "ls"}'},
                            }
                        ],
                    },
                }
            ],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 50,
                "total_tokens": 1050,
                "prompt_tokens_details": {"cached_tokens": 600},
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 600,
            },
        },
        "cost": 0.00273,
        "timestamp": at,
        "latency_sec": 2.5,
    }
