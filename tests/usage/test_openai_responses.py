from __future__ import annotations

from typing import Any

from tokenomy.schema import ToolUse
from tokenomy.usage import accumulate, args_hash, extract

USAGE = {
    "input_tokens": 9299,
    "input_tokens_details": {"cached_tokens": 8448},
    "output_tokens": 577,
    "output_tokens_details": {"reasoning_tokens": 512},
    "total_tokens": 9876,
}


def response(usage: dict[str, Any] | None = USAGE, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1754925861,
        "status": "completed",
        "model": "gpt-5-2025-08-07",
        "service_tier": "flex",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "weather"},
            },
            {
                "type": "function_call",
                "name": "final_result",
                "arguments": '{"result": 6667}',
                "call_id": "c",
            },
            {"type": "message", "content": [{"type": "output_text", "text": "Sunny."}]},
        ],
        "usage": usage,
    }
    out.update(fields)
    return out


def test_inclusive_counts_are_split() -> None:
    e = extract(response())
    assert e.usage.buckets() == {
        "input_uncached": 851,
        "cache_read": 8448,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 65,
        "reasoning": 512,
    }
    assert (e.usage.input_total, e.usage.output_total, e.usage.total) == (9299, 577, 9876)
    assert (e.adapter, e.api, e.finish_reason, e.service_tier) == (
        "openai.responses",
        "responses",
        "completed",
        "flex",
    )
    assert e.completion_text == "Sunny."


def test_tool_items_become_tool_uses_and_web_searches_are_counted() -> None:
    e = extract(response())
    assert e.tool_uses == (
        ToolUse("web_search", args_hash({"type": "search", "query": "weather"}), server=True),
        ToolUse("final_result", args_hash({"result": 6667})),
    )
    assert e.usage.server_tools == {"web_searches": 1}


def test_reported_tool_usage_wins_over_counting_items() -> None:
    e = extract(response(tool_usage={"web_search": {"num_requests": 3}, "image_gen": {"input_tokens": 0}}))
    assert e.usage.server_tools == {"web_searches": 3}
    zero = extract(response(output=[], tool_usage={"web_search": {"num_requests": 0}}))
    assert zero.usage.server_tools == {}


def test_cache_writes_are_read_from_input_details() -> None:
    usage = {
        "input_tokens": 4020,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 4025,
    }
    u = extract(response(usage)).usage
    assert (u.input_uncached, u.cache_read, u.cache_write_5m, u.output_visible) == (8, 0, 4012, 5)


def test_missing_details_leave_the_split_unknown() -> None:
    u = extract(response({"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})).usage
    assert (u.input_total, u.input_uncached, u.cache_read, u.cache_write_5m) == (10, None, None, 0)
    assert (u.output_total, u.output_visible, u.reasoning) == (4, None, None)


def test_incomplete_response_reports_the_reason() -> None:
    e = extract(response(status="incomplete", incomplete_details={"reason": "max_output_tokens"}))
    assert e.finish_reason == "max_output_tokens"


def test_terminal_event_can_be_read_as_a_body() -> None:
    e = extract({"type": "response.completed", "sequence_number": 9, "response": response()})
    assert e.usage.input_total == 9299


def test_hosted_and_client_tools_are_told_apart() -> None:
    output = [
        {"type": "mcp_call", "name": "lookup", "arguments": "{}", "server_label": "s"},
        {"type": "code_interpreter_call", "code": "print(1)"},
        {"type": "computer_call", "action": {"type": "click"}},
        {"type": "file_search_call", "queries": ["q"]},
        {"type": "unknown_future_call"},
    ]
    e = extract(response(output=output))
    assert [(t.name, t.server) for t in e.tool_uses] == [
        ("lookup", True),
        ("code_interpreter", True),
        ("computer", False),
        ("file_search", True),
    ]
    assert e.usage.server_tools == {"file_searches": 1}


def events(final: str = "response.completed") -> list[dict[str, Any]]:
    start = response(usage=None, status="in_progress", output=[])
    item = {"type": "function_call", "name": "final_result", "arguments": '{"result": 1}'}
    return [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "item": {"type": "message"}},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        {"type": "response.output_item.done", "item": item},
        {"type": final, "response": response(output=[item])},
    ]


def test_stream_reads_the_terminal_event() -> None:
    for final in ("response.completed", "response.incomplete", "response.failed"):
        e = accumulate(events(final))
        assert (e.usage.input_total, e.usage.output_total) == (9299, 577)
        assert e.extra["complete"] is True


def test_stream_cut_before_the_terminal_event_keeps_items_and_text() -> None:
    e = accumulate(events()[:-1])
    assert e.usage.input_total is None
    assert e.usage.output_total is None
    assert e.tool_uses == (ToolUse("final_result", args_hash({"result": 1})),)
    assert e.completion_text == "Hello"
    assert (e.response_id, e.extra["complete"]) == ("resp_1", False)


def test_a_response_that_never_finished_has_no_finish_reason() -> None:
    # The last snapshot of a stream cut or failed before its terminal event says "in_progress".
    assert accumulate(events()[:-1]).finish_reason is None
    error = {"type": "error", "code": "server_error", "message": "boom"}
    assert accumulate([*events()[:-1], error]).finish_reason is None
    assert extract(response(status="queued", usage=None)).finish_reason is None  # a background response
    assert accumulate(events()).finish_reason == "completed"
    assert extract(
        response(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    ).finish_reason == ("max_output_tokens")


def test_a_failed_response_names_its_error_code() -> None:
    failed = response(status="failed", error={"code": "server_error", "message": "The model failed."})
    assert extract(failed).extra["failure"] == "server_error"
    assert extract(response(status="failed", error=None)).extra["failure"] == "failed"
    assert "failure" not in extract(response()).extra  # completed
    assert "failure" not in extract(response(status="incomplete")).extra


def test_a_failed_terminal_event_fails_the_stream() -> None:
    *head, _ = events()
    failed = response(output=[], status="failed", error={"code": "rate_limit_exceeded", "message": "slow"})
    e = accumulate([*head, {"type": "response.failed", "response": failed}])
    assert e.extra["failure"] == "rate_limit_exceeded"
    assert e.usage.input_total == 9299  # its usage is still what the provider reported


def test_an_error_event_fails_the_stream_with_its_code() -> None:
    error = {"type": "error", "code": "server_error", "message": "boom", "param": None, "sequence_number": 6}
    e = accumulate([*events()[:-1], error])
    assert e.extra["failure"] == "server_error"
    assert e.extra["complete"] is False
    assert e.completion_text == "Hello"  # what arrived before it is kept
    without_code = accumulate([*events()[:2], {"type": "error", "message": "boom"}])
    assert without_code.extra["failure"] == "error"
    assert "failure" not in accumulate(events()).extra


def test_a_failure_code_that_is_free_text_is_not_kept() -> None:
    """The code becomes the call's ``error_type``: free text (a prompt, a key) there is never kept."""
    leaky = "MARKERPROMPT42 sk-test-MARKERKEY123"
    failed = response(status="failed", error={"code": leaky, "message": "x"})
    assert extract(failed).extra["failure"] == "failed"
    keyed = response(status="failed", error={"code": "sk-test-MARKERKEY123", "message": "x"})
    assert extract(keyed).extra["failure"] == "failed"
    *head, _ = events()
    streamed = accumulate([*head, {"type": "response.failed", "response": failed}])
    assert streamed.extra["failure"] == "failed"
    errored = accumulate([*events()[:2], {"type": "error", "code": leaky, "message": "boom"}])
    assert errored.extra["failure"] == "error"
