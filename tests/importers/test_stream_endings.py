"""How a logged provider stream ended: finished, cut before its end, or failed by an error event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.importers import samples
from tests.importers.support import calls, cost_total, run, write_lines
from tokenomy import tokens
from tokenomy.capture.estimate import TOOL_CALL_FRAMING
from tokenomy.importers.messages import request_messages
from tokenomy.importers.shape import shape_of
from tokenomy.pricing import Pricer
from tokenomy.schema import Kind, Status
from tokenomy.store import DuckDBStore

ANTHROPIC_MODEL = "claude-sonnet-4-20250514"
REQUEST = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]}


def sse(events: list[dict[str, Any]]) -> str:
    """Events as raw SSE text, named by their type when they have one."""
    return "".join(
        (f"event: {e['type']}\n" if "type" in e else "") + f"data: {json.dumps(e)}\n\n" for e in events
    )


def anthropic_events() -> list[dict[str, Any]]:
    """The sample Anthropic stream's events: start, text block, delta (end_turn), stop."""
    return [json.loads(line[6:]) for line in samples.ANTHROPIC_SSE.splitlines() if line.startswith("data: ")]


def exchange(request: dict[str, Any], events: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """An HTTP exchange whose response body is the stream's SSE text."""
    return {
        "request": {"method": "POST", "url": url, "headers": {}, "body": request},
        "response": {"status_code": 200, "headers": {}, "body": sse(events)},
    }


def counted(text: str, model: str) -> int:
    return tokens.count(text, model).tokens


def test_anthropic_stream_cut_after_its_deltas_is_an_error_with_the_output_counted(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    cut = anthropic_events()[:3]  # message_start, content_block_start, one text delta
    path = tmp_path / "cut.sse"
    path.write_text(sse(cut))
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    call = calls(store)["msg_s1"]
    assert (call.status, call.error_type, call.finish_reason) == (Status.ERROR, "stream_cut", None)
    output = counted("Hi there", ANTHROPIC_MODEL)
    assert output > 0
    assert (call.usage.input_uncached, call.usage.output_total, call.usage.kind) == (
        25,
        output,
        Kind.ESTIMATED,
    )
    assert summary.output_total == output
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": output},
    }
    whole = [*anthropic_events()[:3], delta]
    other = tmp_path / "whole" / "whole.sse"
    other.parent.mkdir()
    other.write_text(
        sse([{**e, "message": {**e["message"], "id": "msg_w"}} if "message" in e else e for e in whole])
    )
    run(store, pricer, other)
    finished = calls(store)["msg_w"]
    assert (finished.status, finished.usage.kind) == (
        Status.OK,
        Kind.REPORTED,
    )  # stop_reason, no message_stop
    assert cost_total(call) == cost_total(finished)  # the output is priced, not the input alone


def test_wrapped_jsonl_events_of_a_cut_anthropic_stream(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    lines = [{"event": e["type"], "data": e} for e in anthropic_events()[:3]]
    path = write_lines(tmp_path / "cut.jsonl", lines)
    assert run(store, pricer, path).calls == 1
    call = calls(store)["msg_s1"]
    assert (call.status, call.error_type, call.usage.kind) == (Status.ERROR, "stream_cut", Kind.ESTIMATED)
    assert call.usage.output_total == counted("Hi there", ANTHROPIC_MODEL)


def test_finished_chat_stream_without_include_usage_stays_ok_and_is_counted(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    chunks = samples.openai_chunks("chatcmpl-noinc")[:3]  # ends with finish_reason "stop", no usage chunk
    path = write_lines(
        tmp_path / "pairs.jsonl", [exchange(REQUEST, chunks, "https://api.openai.com/v1/chat")]
    )
    assert run(store, pricer, path).calls == 1
    call = calls(store)["chatcmpl-noinc"]
    assert (call.status, call.error_type, call.finish_reason) == (Status.OK, None, "stop")
    prompt = shape_of(request_messages(REQUEST), None, "gpt-4o-mini").input_tokens
    assert (call.usage.input_total, call.usage.output_total) == (prompt, counted("Hello", "gpt-4o-mini"))
    assert call.usage.kind is Kind.ESTIMATED
    cost = cost_total(call)
    assert cost is not None
    assert cost > 0


def test_chat_stream_cut_before_its_finish_reason(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = tmp_path / "cut.sse"
    path.write_text(sse(samples.openai_chunks("chatcmpl-cut")[:2]))
    assert run(store, pricer, path).calls == 1
    call = calls(store)["chatcmpl-cut"]
    assert (call.status, call.error_type, call.usage.kind) == (Status.ERROR, "stream_cut", Kind.ESTIMATED)
    assert (call.usage.input_total, call.usage.output_total) == (None, counted("Hello", "gpt-4o-mini"))


def responses_events(id: str, *, completed: bool) -> list[dict[str, Any]]:
    """A Responses stream: created, two text deltas and, when ``completed``, its terminal event."""
    response = {"id": id, "object": "response", "status": "in_progress", "model": "gpt-4o", "output": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {"type": "response.output_text.delta", "delta": "Hello"},
        {"type": "response.output_text.delta", "delta": " world"},
    ]
    if completed:
        usage = {"input_tokens": 11, "output_tokens": 2, "total_tokens": 13}
        final = {**response, "status": "completed", "usage": usage}
        events.append({"type": "response.completed", "response": final})
    return events


def test_responses_stream_without_its_terminal_event_is_cut(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    cut, done = tmp_path / "cut.sse", tmp_path / "done.sse"
    cut.write_text(sse(responses_events("resp_cut", completed=False)))
    done.write_text(sse(responses_events("resp_done", completed=True)))
    assert run(store, pricer, cut, done).calls == 2
    stored = calls(store)
    call = stored["resp_cut"]
    assert (call.status, call.error_type, call.usage.kind) == (Status.ERROR, "stream_cut", Kind.ESTIMATED)
    assert call.usage.output_total == counted("Hello world", "gpt-4o")
    ok = stored["resp_done"]
    assert (ok.status, ok.error_type, ok.usage.kind, ok.usage.output_total) == (
        Status.OK,
        None,
        Kind.REPORTED,
        2,
    )


def test_an_error_event_mid_stream_fails_the_call_with_its_type(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    path = tmp_path / "failed.sse"
    path.write_text(sse([*anthropic_events()[:3], overloaded]))
    assert run(store, pricer, path).calls == 1
    call = calls(store)["msg_s1"]
    assert (call.status, call.error_type, call.usage.kind) == (
        Status.ERROR,
        "overloaded_error",
        Kind.ESTIMATED,
    )


def test_a_stream_of_only_an_error_event(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    bare = tmp_path / "bare.sse"
    bare.write_text(sse([overloaded]))
    summary = run(store, pricer, bare)
    assert (summary.calls, summary.rejected) == (0, 1)
    reason = str(summary.files[0].errors[0])
    assert "only an error (overloaded_error: Overloaded)" in reason
    assert "no request" in reason
    request = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": True,
        "messages": REQUEST["messages"],
    }
    pair = exchange(request, [overloaded], "https://api.anthropic.com/v1/messages")
    path = write_lines(tmp_path / "pairs.jsonl", [pair])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (1, 0)
    (call,) = calls(store).values()
    assert (call.status, call.error_type, call.provider, call.request_model, call.streamed) == (
        Status.ERROR,
        "overloaded_error",
        "anthropic",
        "claude-sonnet-4-5",
        True,
    )
    assert (call.usage.input_total, call.usage.output_total) == (None, None)  # a 200 error stream: unknown


def test_error_events_of_other_providers_give_their_type(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    gemini = {"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}}
    responses = {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error.",
        "sequence_number": 2,
    }
    request = {"model": "gpt-4o", "stream": True, "input": "Hi"}
    pairs = [
        {"id": "g", **exchange(request, [gemini], "https://generativelanguage.googleapis.com/v1beta/x")},
        {"id": "r", **exchange(request, [responses], "https://api.openai.com/v1/responses")},
    ]
    path = write_lines(tmp_path / "pairs.jsonl", pairs)
    assert run(store, pricer, path).calls == 2
    stored = calls(store)
    assert (stored["g"].status, stored["g"].error_type, stored["g"].provider) == (
        Status.ERROR,
        "RESOURCE_EXHAUSTED",
        "google",
    )
    assert (stored["r"].status, stored["r"].error_type, stored["r"].provider) == (
        Status.ERROR,
        "server_error",
        "openai",
    )


def tool_chunks(id: str) -> list[dict[str, Any]]:
    """A chat stream whose only output is a tool call, its arguments in three fragments, no usage."""
    head = {"id": id, "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def call(**function: str) -> dict[str, Any]:
        return {"tool_calls": [{"index": 0, "function": function}]}

    return [
        chunk({"role": "assistant", "content": None, **call(name="search_docs", arguments="")}),
        *(chunk(call(arguments=part)) for part in ('{"query": "ret', "ry policy", '", "limit": 3}')),
        chunk({}, "tool_calls"),
    ]


def test_chat_stream_without_usage_answering_with_a_tool_call_counts_the_call(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "pairs.jsonl",
        [exchange(REQUEST, tool_chunks("chatcmpl-tool"), "https://api.openai.com/v1/chat")],
    )
    assert run(store, pricer, path).calls == 1
    call = calls(store)["chatcmpl-tool"]
    assert (call.status, call.finish_reason, call.usage.kind) == (Status.OK, "tool_calls", Kind.ESTIMATED)
    arguments = '{"query": "retry policy", "limit": 3}'
    output = counted("search_docs", "gpt-4o-mini") + counted(arguments, "gpt-4o-mini") + TOOL_CALL_FRAMING
    assert output == 2 + 13 + 7
    assert call.usage.output_total == output
    assert call.content is None  # the arguments were counted, not stored


def test_responses_stream_cut_inside_a_function_call_counts_what_arrived_of_it(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    response = {
        "id": "resp_cut",
        "object": "response",
        "status": "in_progress",
        "model": "gpt-4o",
        "output": [],
    }
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "search_docs",
        "arguments": "",
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"query": '},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '"retry'},
    ]
    path = tmp_path / "cut.sse"
    path.write_text(sse(events))
    assert run(store, pricer, path).calls == 1
    call = calls(store)["resp_cut"]
    assert (call.status, call.error_type, call.usage.kind) == (Status.ERROR, "stream_cut", Kind.ESTIMATED)
    assert [t.name for t in call.tool_uses] == ["search_docs"]
    output = counted("search_docs", "gpt-4o") + counted('{"query": "retry', "gpt-4o") + TOOL_CALL_FRAMING
    assert call.usage.output_total == output


def test_an_error_events_free_text_type_is_not_stored(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """An error event whose type is free text (a prompt, a key) fails the call as ``stream_error``."""
    leaky = {"type": "error", "error": {"type": "MARKERPROMPT42 sk-test-MARKERKEY123", "message": "x"}}
    path = tmp_path / "failed.sse"
    path.write_text(sse([*anthropic_events()[:3], leaky]))
    assert run(store, pricer, path).calls == 1
    call = calls(store)["msg_s1"]
    assert (call.status, call.error_type) == (Status.ERROR, "stream_error")


def test_a_reasoning_models_stream_cut_before_its_usage_leaves_its_reasoning_unknown(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """o3 bills its reasoning before its first visible token: the "Hello" that arrived is its visible
    output, not all of it (stored as the whole output before)."""
    chunks = [{**chunk, "model": "o3-2025-04-16"} for chunk in samples.openai_chunks("chatcmpl-o3cut")[:2]]
    path = tmp_path / "cut.sse"
    path.write_text(sse(chunks))
    assert run(store, pricer, path).calls == 1
    usage = calls(store)["chatcmpl-o3cut"].usage
    assert (usage.kind, usage.output_visible, usage.reasoning, usage.output_total) == (
        Kind.ESTIMATED,
        counted("Hello", "o3"),
        None,
        None,
    )
