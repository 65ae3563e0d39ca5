from __future__ import annotations

from typing import Any

from tokenomy.schema import Quality, ToolUse
from tokenomy.usage import accumulate, args_hash, bedrock, extract


def converse(
    usage: dict[str, Any] | None, content: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    message = {"role": "assistant", "content": content if content is not None else [{"text": "Hello"}]}
    out: dict[str, Any] = {
        "output": {"message": message},
        "stopReason": "end_turn",
        "metrics": {"latencyMs": 812},
    }
    if usage is not None:
        out["usage"] = usage
    out.update(fields)
    return out


def test_input_tokens_are_exclusive_of_cache() -> None:
    usage = {
        "inputTokens": 22,
        "outputTokens": 13,
        "totalTokens": 2527,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 2492,
        "serverToolUsage": {},
    }
    e = extract(converse(usage, serviceTier={"type": "priority"}))
    assert e.usage.buckets() == {
        "input_uncached": 22,
        "cache_read": 0,
        "cache_write_5m": 2492,
        "cache_write_1h": 0,
        "output_visible": 13,
        "reasoning": 0,
    }
    assert (e.usage.input_total, e.usage.total) == (2514, 2527)
    assert e.usage.ok
    assert (e.provider, e.api, e.response_model) == ("aws", "converse", None)
    assert (e.finish_reason, e.service_tier, e.extra["latency_ms"], e.completion_text) == (
        "end_turn",
        "priority",
        812,
        "Hello",
    )


def test_omitted_cache_fields_mean_no_cache_use() -> None:
    u = extract(converse({"inputTokens": 10, "outputTokens": 5, "totalTokens": 15})).usage
    assert (u.cache_read, u.cache_write_5m, u.cache_write_1h, u.input_total) == (0, 0, 0, 10)


def test_old_count_spellings_are_aliases() -> None:
    usage = {
        "inputTokens": 3,
        "outputTokens": 1,
        "cacheReadInputTokenCount": 40,
        "cacheWriteInputTokenCount": 7,
    }
    u = extract(converse(usage)).usage
    assert (u.cache_read, u.cache_write_5m) == (40, 7)


def test_cache_details_split_writes_by_ttl() -> None:
    details = [{"ttl": "1h", "inputTokens": 100}, {"ttl": "5m", "inputTokens": 20}]
    usage = {"inputTokens": 3, "outputTokens": 1, "cacheWriteInputTokens": 120, "cacheDetails": details}
    u = extract(converse(usage)).usage
    assert (u.cache_write_5m, u.cache_write_1h, u.input_total) == (20, 100, 123)
    assert u.ok
    bad = extract(converse({**usage, "cacheWriteInputTokens": 150})).usage
    assert bad.quality == (Quality.CACHE_SPLIT_MISMATCH,)


def test_reasoning_blocks_leave_the_output_split_unknown() -> None:
    content: list[dict[str, Any]] = [{"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "Hi"}]
    u = extract(converse({"inputTokens": 3, "outputTokens": 50}, content)).usage
    assert (u.output_total, u.output_visible, u.reasoning) == (50, None, None)


def test_tool_use_and_total_mismatch() -> None:
    content = [{"toolUse": {"toolUseId": "t", "name": "lookup", "input": {"id": 3}}}]
    e = extract(converse({"inputTokens": 3, "outputTokens": 4, "totalTokens": 9}, content))
    assert e.tool_uses == (ToolUse("lookup", args_hash({"id": 3})),)
    assert e.usage.quality == (Quality.TOTAL_MISMATCH,)


def test_usage_only_body_without_message_has_unknown_output_split() -> None:
    u = extract({"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}}).usage
    assert (u.input_total, u.output_total, u.reasoning) == (5, 2, None)


def wrapped() -> list[dict[str, Any]]:
    usage = {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42, "cacheReadInputTokens": 0}
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Let me "}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "look."}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t1", "name": "lookup"}},
                "contentBlockIndex": 1,
            }
        },
        {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"id":'}}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": " 3}"}}, "contentBlockIndex": 1}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": usage, "metrics": {"latencyMs": 400}}},
    ]


def test_stream_reads_the_metadata_event() -> None:
    e = accumulate(wrapped())
    assert (e.adapter, e.usage.input_total, e.usage.output_visible, e.usage.total) == (
        "bedrock.converse",
        30,
        12,
        42,
    )
    assert e.tool_uses == (ToolUse("lookup", args_hash({"id": 3})),)
    assert (e.completion_text, e.finish_reason, e.extra["complete"]) == ("Let me look.", "tool_use", True)


def test_bare_event_stream_payloads_read_the_same() -> None:
    bare = [next(iter(event.values())) for event in wrapped()]
    e = accumulate(bare)
    assert (e.adapter, e.usage.input_total, e.finish_reason) == ("bedrock.converse", 30, "tool_use")
    assert e.tool_uses == (ToolUse("lookup", args_hash({"id": 3})),)


def test_stream_cut_before_metadata_has_unknown_usage() -> None:
    e = accumulate(wrapped()[:6], kind="bedrock")
    assert e.usage.input_total is None
    assert e.extra["complete"] is False
    assert e.tool_uses == (ToolUse("lookup", args_hash('{"id":')),)


def test_streamed_reasoning_leaves_the_output_split_unknown() -> None:
    events = wrapped()
    events.insert(
        1, {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "hmm"}}, "contentBlockIndex": 9}}
    )
    u = accumulate(events).usage
    assert (u.output_total, u.output_visible, u.reasoning) == (12, None, None)


def test_a_bare_message_stop_is_recognised_as_bedrock() -> None:
    e = accumulate(
        [{"stopReason": "max_tokens"}, {"usage": {"inputTokens": 1, "outputTokens": 2}, "metrics": {}}]
    )
    assert (e.adapter, e.finish_reason, e.usage.output_total) == ("bedrock.converse", "max_tokens", 2)


def test_only_a_metadata_object_with_usage_or_metrics_is_a_bedrock_event() -> None:
    """Another API's event may carry a ``metadata`` object (or a ``metadata`` key holding text): it is
    no ConverseStream event; Bedrock's wrapped ``metadata`` event is."""
    assert not bedrock.matches_event({"metadata": {"user": "u-1"}, "id": "x"})
    assert not bedrock.matches_event({"metadata": "a note", "contentBlockIndex": 0})
    assert bedrock.matches_event({"metadata": {"usage": {"inputTokens": 3, "outputTokens": 1}}})
    assert bedrock.matches_event({"metadata": {"metrics": {"latencyMs": 90}}})
    assert bedrock.matches_event({"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}})
