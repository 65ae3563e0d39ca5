from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tokenomy.pricing import Pricer
from tokenomy.schema import Quality, ToolUse
from tokenomy.usage import accumulate, args_hash, extract, stream_accumulator

TEXT = [{"type": "text", "text": "Done."}]


def message(
    usage: dict[str, Any] | None, content: list[dict[str, Any]] | None = TEXT, **fields: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": "end_turn",
        "usage": usage,
    }
    if content is not None:
        out["content"] = content
    out.update(fields)
    return out


def test_input_tokens_are_exclusive_of_cache() -> None:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": 1111,
        "cache_creation_input_tokens": 418,
        "cache_creation": {"ephemeral_5m_input_tokens": 418, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 33,
        "service_tier": "standard",
    }
    e = extract(message(usage))
    assert e.usage.buckets() == {
        "input_uncached": 3,
        "cache_read": 1111,
        "cache_write_5m": 418,
        "cache_write_1h": 0,
        "output_visible": 33,
        "reasoning": 0,
    }
    assert (e.usage.input_total, e.usage.output_total) == (1532, 33)
    assert (e.provider, e.api, e.service_tier, e.finish_reason) == (
        "anthropic",
        "messages",
        "standard",
        "end_turn",
    )
    assert e.completion_text == "Done."


def test_ttl_split_and_creation_total_only() -> None:
    split = {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000}
    u = extract(
        message({"input_tokens": 5, "cache_creation_input_tokens": 3000, "cache_creation": split})
    ).usage
    assert (u.cache_write_5m, u.cache_write_1h) == (2000, 1000)
    assert u.ok
    only_total = extract(
        message({"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 40})
    )
    assert (only_total.usage.cache_write_5m, only_total.usage.cache_write_1h) == (40, 0)


def test_split_that_disagrees_with_the_total_is_kept_and_flagged() -> None:
    split = {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 10}
    usage = {
        "input_tokens": 5,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 90,
        "cache_creation": split,
    }
    u = extract(message({**usage, "output_tokens": 1})).usage
    assert (u.cache_write_5m, u.cache_write_1h, u.input_total) == (100, 10, 115)
    assert u.quality == (Quality.CACHE_SPLIT_MISMATCH,)


def test_null_or_missing_cache_fields_stay_unknown() -> None:
    u = extract(message({"input_tokens": 11, "cache_read_input_tokens": None, "output_tokens": 6})).usage
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.input_total) == (11, None, None, None)
    assert u.output_total == 6


def test_thinking_blocks_leave_the_output_split_unknown() -> None:
    content = [{"type": "thinking", "thinking": "...", "signature": "s"}, *TEXT]
    usage = {
        "input_tokens": 43,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens": 321,
    }
    u = extract(message(usage, content)).usage
    assert (u.output_total, u.output_visible, u.reasoning) == (321, None, None)
    redacted = extract(message(usage, [{"type": "redacted_thinking", "data": "x"}])).usage
    assert redacted.reasoning is None


def test_thinking_token_count_splits_the_output() -> None:
    usage = {"input_tokens": 28, "output_tokens": 106, "output_tokens_details": {"thinking_tokens": 67}}
    u = extract(message(usage, [{"type": "thinking", "thinking": ""}])).usage
    assert (u.output_visible, u.reasoning, u.output_total) == (39, 67, 106)
    too_many = extract(message({**usage, "output_tokens_details": {"thinking_tokens": 200}})).usage
    assert Quality.REASONING_EXCEEDS_OUTPUT in too_many.quality


def test_body_without_content_leaves_the_output_split_unknown() -> None:
    u = extract({"usage": {"input_tokens": 1, "cache_read_input_tokens": 0, "output_tokens": 9}}).usage
    assert (u.output_total, u.reasoning, u.output_visible) == (9, None, None)


def test_server_tools_and_tool_blocks() -> None:
    content: list[dict[str, Any]] = [
        {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "SF"}},
        {"type": "mcp_tool_use", "id": "m1", "name": "lookup", "input": {}},
    ]
    usage = {
        "input_tokens": 11306,
        "output_tokens": 163,
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0, "code_execution_requests": 1},
    }
    e = extract(message(usage, content))
    assert e.usage.server_tools == {"web_searches": 2, "code_executions": 1}
    assert e.tool_uses == (
        ToolUse("web_search", args_hash({"query": "q"}), server=True),
        ToolUse("get_weather", args_hash({"city": "SF"})),
        ToolUse("lookup", args_hash({}), server=True),
    )


def test_advisor_iterations_on_another_model_are_kept_apart() -> None:
    step = {
        "input_tokens": 1128,
        "output_tokens": 110,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    advisor = {
        **step,
        "input_tokens": 2518,
        "output_tokens": 22,
        "model": "claude-opus-4-8",
        "type": "advisor_message",
    }
    usage = {
        **step,
        "input_tokens": 2390,
        "output_tokens": 121,
        "iterations": [{**step, "type": "message"}, advisor],
    }
    e = extract(message(usage))
    assert (e.usage.input_total, e.usage.output_total) == (2390, 121)
    [sub] = e.extra["sub_usages"]
    assert (sub["model"], sub["type"], sub["usage"].input_total, sub["usage"].output_total) == (
        "claude-opus-4-8",
        "advisor_message",
        2518,
        22,
    )


def test_a_compaction_step_leaves_the_counters_it_does_not_report_known() -> None:
    """A step that reports only input and output: its cache counters are 0, not unknown (which made
    the whole call's cache buckets unknown), and the response's thinking is not the step's output."""
    usage = {
        "input_tokens": 180,
        "output_tokens": 48,
        "output_tokens_details": {"thinking_tokens": 40},
        "cache_read_input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "iterations": [{"type": "compaction", "input_tokens": 100, "output_tokens": 82}],
    }
    thinking = [{"type": "thinking", "thinking": "hm", "signature": "s"}, *TEXT]
    u = extract(message(usage, content=thinking)).usage
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.cache_write_1h) == (280, 20, 0, 0)
    assert (u.output_visible, u.reasoning, u.input_total, u.output_total) == (90, 40, 300, 130)
    assert u.quality == ()


def test_compaction_iterations_are_billed_on_top_of_the_top_level_counts() -> None:
    compaction = {
        "type": "compaction",
        "input_tokens": 100,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 55096,
        "cache_creation": {"ephemeral_5m_input_tokens": 55096, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 82,
    }
    step = {"type": "message", "input_tokens": 180, "output_tokens": 8, "cache_read_input_tokens": 0}
    usage = {
        "input_tokens": 180,
        "output_tokens": 8,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "iterations": [compaction, {**step, "cache_creation_input_tokens": 0}],
    }
    e = extract(message(usage))
    u = e.usage
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.cache_write_1h) == (280, 0, 55096, 0)
    assert (u.output_visible, u.reasoning, u.input_total, u.output_total) == (90, 0, 55376, 90)
    assert e.extra["compactions"] == 1
    assert "sub_usages" not in e.extra
    # claude-sonnet-4-5: 280 x $3 + 55096 x $3.75 + 90 x $15 per MTok
    cost = Pricer().price_usage(u, model="claude-sonnet-4-5", provider="anthropic", at=date(2026, 1, 15))
    assert cost.total == Decimal("0.00084") + Decimal("0.20661") + Decimal("0.00135")
    # the same through a stream: the iterations arrive with message_delta's cumulative usage
    events = [
        {"type": "message_start", "message": {**message(None, content=[]), "usage": {"input_tokens": 180}}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage},
    ]
    assert accumulate(events).usage == u


def test_a_compaction_on_another_model_is_kept_apart() -> None:
    step = {"type": "compaction", "model": "claude-haiku-4-5", "input_tokens": 900, "output_tokens": 50}
    usage = {"input_tokens": 10, "output_tokens": 5, "iterations": [step]}
    e = extract(message(usage))
    assert (e.usage.input_uncached, e.usage.output_total) == (10, 5)
    [sub] = e.extra["sub_usages"]
    assert (sub["model"], sub["usage"].input_uncached) == ("claude-haiku-4-5", 900)


def test_fallback_block_names_the_model_that_served() -> None:
    content: list[dict[str, Any]] = [
        {"type": "fallback", "from": {"model": "a"}, "to": {"model": "claude-sonnet-4-5"}},
        *TEXT,
    ]
    assert (
        extract(message({"input_tokens": 1, "output_tokens": 1}, content)).extra["fallback_to"]
        == "claude-sonnet-4-5"
    )


def stream(input_tokens: int = 656) -> list[dict[str, Any]]:
    start_usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 26,
        "service_tier": "standard",
    }
    head = {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": []}
    return [
        {"type": "message_start", "message": {**head, "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ": 1}"},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": None},
            "usage": {"input_tokens": 700, "output_tokens": 74, "cache_read_input_tokens": None},
        },
        {"type": "message_stop"},
    ]


def test_stream_takes_the_latest_value_of_each_field_never_a_sum() -> None:
    e = accumulate(stream())
    u = e.usage
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.output_total, u.output_visible) == (
        700,
        10,
        0,
        74,
        74,
    )
    assert (e.finish_reason, e.service_tier, e.response_model) == ("tool_use", "standard", "claude-haiku-4-5")
    assert e.tool_uses == (ToolUse("f", args_hash({"a": 1})),)
    assert e.completion_text == "Checking"
    assert e.extra["complete"] is True


def test_stream_cut_before_message_delta_has_unknown_output() -> None:
    e = accumulate(stream()[:7])
    assert (e.usage.input_uncached, e.usage.output_total, e.usage.reasoning) == (656, None, None)
    assert e.extra["complete"] is False
    assert e.tool_uses == (ToolUse("f", args_hash('{"a"')),)


def test_stream_with_thinking_block_leaves_the_split_unknown() -> None:
    events = stream()
    events.insert(1, {"type": "content_block_start", "index": 5, "content_block": {"type": "thinking"}})
    u = accumulate(events).usage
    assert (u.output_total, u.output_visible, u.reasoning) == (74, None, None)


def test_odd_events_do_not_break_the_stream() -> None:
    acc = stream_accumulator("anthropic")
    for event in [
        *stream()[:2],
        {"type": "content_block_delta", "index": "x", "delta": None},
        {"type": "message_delta", "usage": "nope"},
        {"type": "message_start", "message": []},
        *stream()[2:],
    ]:
        acc.feed(event)
    result = acc.result()
    assert result is not None
    assert (result.usage.output_total, result.response_model) == (74, "claude-haiku-4-5")
    assert result.extra["odd_events"] == 1


def test_nested_usage_objects_merge_key_by_key() -> None:
    events = stream()
    events[-2] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {
            "output_tokens": 74,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_1h_input_tokens": 30, "ephemeral_5m_input_tokens": None},
        },
    }
    u = accumulate(events).usage
    assert (u.cache_write_5m, u.cache_write_1h, u.input_total) == (0, 30, 696)
    assert u.ok


def test_a_message_delta_without_usage_does_not_end_the_placeholder() -> None:
    events = [*stream()[:7], {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}]
    e = accumulate(events)
    assert (e.usage.input_uncached, e.usage.output_total, e.finish_reason) == (656, None, "end_turn")
    assert e.extra["complete"] is False
