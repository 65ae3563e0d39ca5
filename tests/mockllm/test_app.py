"""Request handling without sockets: routing, validation, injected faults, accounting, control endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.mockllm.support import answer, app, post, request
from tokenomy.mockllm.config import Latency, Lengths
from tokenomy.mockllm.reply import Drop, Reply, Stream

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def chat(content: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}


def messages(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


def test_every_answer_carries_its_request_id_and_the_ledger_files_it_under_that_id() -> None:
    mock = app()
    got = post(mock, CHAT, chat())
    rid = got.header("x-request-id")
    assert rid is not None
    assert rid.startswith("req_")
    record = mock.ledger.get(rid)
    assert record is not None
    assert (record.model, record.status, record.endpoint) == ("gpt-4o", 200, CHAT)
    anthropic = post(mock, MESSAGES, messages())
    assert anthropic.header("request-id") == anthropic.header("x-request-id") != rid


def test_usage_in_the_body_equals_the_ledger() -> None:
    mock = app(output_tokens=Lengths.fixed(21))
    usage = post(mock, CHAT, chat("one two three")).json()["usage"]
    totals = mock.stats()["totals"]
    assert usage["prompt_tokens"] == totals["input_tokens"] == 3 + 1 + 3 + 3  # framing, role, text, priming
    assert usage["completion_tokens"] == totals["output_tokens"] == 21


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"{not json", None, "could not parse the request body as JSON"),
        (b"", None, "the request body is empty"),
        (b"[1, 2]", None, "must be a JSON object"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), "model", "model parameter"),
        (json.dumps({"model": "gpt-4o", "messages": []}).encode(), "messages", "non-empty array"),
        (json.dumps({"model": "gpt-4o", "messages": ["x"]}).encode(), "messages[0]", "'role'"),
        (json.dumps(chat(max_tokens=0)).encode(), "max_tokens", "integer >= 1"),
    ],
)
def test_bad_openai_requests_get_an_openai_400(body: bytes, param: str | None, message: str) -> None:
    mock = app()
    got = answer(mock, request(CHAT, body))
    assert got.status == 400
    error = got.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]
    assert mock.stats()["totals"]["by_status"] == {"400": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {"model": "claude-opus-4-7", "messages": [{"role": "user", "content": "x"}]},
            "max_tokens: Field required",
        ),
        (messages(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (messages(thinking={"type": "enabled", "budget_tokens": 100}), "budget_tokens: must be >= 1024"),
        (messages(thinking={"type": "enabled", "budget_tokens": 4000}), "less than max_tokens"),
    ],
)
def test_bad_anthropic_requests_get_an_anthropic_400(body: dict[str, Any], message: str) -> None:
    got = post(app(), MESSAGES, body)
    assert got.status == 400
    data = got.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert message in data["error"]["message"]
    assert data["request_id"] == got.header("request-id")


def test_unknown_path_and_wrong_method_are_answered_in_the_callers_dialect() -> None:
    mock = app()
    missing = answer(mock, request("/v1/nothing", {}))
    assert missing.status == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/nothing)"
    anthropic = answer(mock, request("/v1/nothing", {}, {"anthropic-version": "2023-06-01"}))
    assert anthropic.json()["error"]["type"] == "not_found_error"
    wrong = answer(mock, request(CHAT, method="GET"))
    assert wrong.status == 405
    assert "use POST" in wrong.json()["error"]["message"]


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "requests"), (500, "server_error"), (503, "server_error")]
)
def test_forced_openai_errors_have_the_right_status_and_type(status: int, kind: str) -> None:
    mock = app()
    got = post(mock, CHAT, chat(), x_mock_error=str(status))
    assert got.status == status
    assert got.json()["error"]["type"] == kind
    assert "mock upstream: injected" in got.json()["error"]["message"]
    assert mock.stats()["models"]["gpt-4o"]["errors"] == 1
    assert mock.stats()["totals"]["input_tokens"] == 0


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error"), (401, "authentication_error")],
)
def test_forced_anthropic_errors_have_the_right_status_and_type(status: int, kind: str) -> None:
    got = post(app(), MESSAGES, messages(), x_mock_error=str(status))
    assert (got.status, got.json()["error"]["type"]) == (status, kind)


def test_bad_mock_header_is_a_400_naming_it() -> None:
    got = post(app(), CHAT, chat(), x_mock_output_tokens="many")
    assert got.status == 400
    assert "x-mock-output-tokens" in got.json()["error"]["message"]


def test_header_overrides_can_be_turned_off() -> None:
    got = post(app(header_overrides=False), CHAT, chat(), x_mock_error="500")
    assert got.status == 200


def test_hangup_and_stall_drop_the_connection_and_record_no_tokens() -> None:
    mock = app(stall_ms=1234)
    hang = mock.handle(request(CHAT, chat(), {"x-mock-error": "hangup"}))
    stall = mock.handle(request(CHAT, chat(), {"x-mock-error": "stall", "x-mock-stall-ms": "50"}))
    default_stall = mock.handle(request(CHAT, chat(), {"x-mock-error": "stall"}))
    assert isinstance(hang, Drop)
    assert isinstance(stall, Drop)
    assert isinstance(default_stall, Drop)
    assert (hang.after_s, stall.after_s, default_stall.after_s) == (0.0, 0.05, 1.234)
    hang.done()
    totals = mock.stats()["totals"]
    assert (totals["requests"], totals["errors"], totals["input_tokens"], totals["by_status"]) == (
        1,
        1,
        0,
        {"0": 1},
    )


def test_malformed_body_is_not_json_but_still_billed() -> None:
    mock = app(output_tokens=Lengths.fixed(5))
    got = post(mock, CHAT, chat(), x_mock_error="malformed")
    assert got.status == 200
    with pytest.raises(json.JSONDecodeError):
        got.json()
    assert mock.stats()["totals"]["output_tokens"] == 5


def test_cut_reply_sends_half_the_body() -> None:
    action = app().handle(request(CHAT, chat(), {"x-mock-error": "cut"}))
    assert isinstance(action, Reply)
    assert action.cut_at == len(action.body) // 2


def test_cut_stream_accounts_only_the_frames_sent() -> None:
    mock = app(output_tokens=Lengths.fixed(10))
    body = chat(stream=True)
    action = mock.handle(request(CHAT, body, {"x-mock-error": "cut", "x-mock-cut-after": "4"}))
    assert isinstance(action, Stream)
    assert action.cut_after == 4
    action.done(4, False)  # role chunk + 3 content chunks
    record = mock.stats()["requests"][next(iter(mock.stats()["requests"]))]
    assert (record["output_tokens"], record["complete"], record["fault"]) == (3, False, "cut")
    assert record["input_tokens"] > 0


def test_stream_error_replaces_the_rest_of_the_stream() -> None:
    got = post(app(cut_after_frames=2), CHAT, chat(stream=True), x_mock_error="stream_error")
    events = got.events()
    assert len(events) == 3
    assert events[-1][1]["error"]["type"] == "server_error"
    non_stream = post(app(), CHAT, chat(), x_mock_error="stream_error")
    assert non_stream.status == 500


def test_anthropic_malformed_stream_frame_keeps_its_event_name() -> None:
    action = app().handle(request(MESSAGES, messages(stream=True), {"x-mock-error": "malformed"}))
    assert isinstance(action, Stream)
    bad = action.frames[3].data
    assert bad.startswith(b"event: content_block_delta\ndata: {")
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.split(b"data: ", 1)[1])


def test_configured_error_rates_are_drawn_from_the_seeded_generator() -> None:
    def statuses(seed: int) -> list[int]:
        mock = app(error_rates={429: 0.3, 500: 0.2}, seed=seed)
        return [post(mock, CHAT, chat()).status for _ in range(400)]

    first = statuses(3)
    assert first == statuses(3)
    assert 0.2 < first.count(429) / 400 < 0.4
    assert 0.12 < first.count(500) / 400 < 0.28
    assert first.count(200) + first.count(429) + first.count(500) == 400


def test_configured_fault_rate_of_one_hangs_up_every_request() -> None:
    mock = app(fault_rates={"hangup": 1.0})
    assert all(isinstance(mock.handle(request(CHAT, chat())), Drop) for _ in range(5))


def test_stats_requests_reset_and_models_endpoints() -> None:
    mock = app()
    rid = post(mock, CHAT, chat()).header("x-request-id")
    stats = answer(mock, request("/_mock/stats", method="GET")).json()
    assert stats["totals"]["requests"] == 1
    assert list(stats["requests"]) == [rid]
    assert stats["counter"] == "custom"
    one = answer(mock, request(f"/_mock/requests/{rid}", method="GET")).json()
    assert one["request_id"] == rid
    assert answer(mock, request("/_mock/requests/nope", method="GET")).status == 404
    short = answer(mock, request("/_mock/stats", method="GET"))
    assert "requests" in short.json()
    assert answer(mock, request("/_mock/reset")).json() == {"reset": True}
    assert mock.stats()["totals"]["requests"] == 0
    openai_models = answer(mock, request("/v1/models", method="GET")).json()
    assert openai_models["object"] == "list"
    assert {"id": "gpt-4o", "object": "model", "created": 1_700_000_000, "owned_by": "mock"} in openai_models[
        "data"
    ]
    claude = answer(
        mock, request("/v1/models", method="GET", headers={"anthropic-version": "2023-06-01"})
    ).json()
    assert [m["id"] for m in claude["data"]] == ["claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5"]
    assert claude["has_more"] is False
    assert answer(mock, request("/v1/models/o3", method="GET")).json()["id"] == "o3"
    assert answer(mock, request("/v1/models/nope", method="GET")).status == 404


def test_stats_without_requests() -> None:
    mock = app()
    post(mock, CHAT, chat())
    req = request("/_mock/stats", method="GET")
    req.query = "requests=0"
    assert "requests" not in answer(mock, req).json()


def test_openai_prompt_cache_through_chat_completions() -> None:
    mock = app()
    system = "policy " * 2000
    turn = [{"role": "system", "content": system}, {"role": "user", "content": "q1"}]
    first = post(mock, CHAT, chat(messages=turn)).json()["usage"]
    turn = [{"role": "system", "content": system}, {"role": "user", "content": "another question"}]
    second = post(mock, CHAT, chat(messages=turn)).json()["usage"]
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == 2003 // 128 * 128
    assert mock.stats()["totals"]["cached_tokens"] == 1920


def test_anthropic_cache_write_then_read_through_messages() -> None:
    mock = app()
    system = [{"type": "text", "text": "rules " * 1500, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    first = post(mock, MESSAGES, messages(system=system)).json()["usage"]
    assert (
        first["cache_creation_input_tokens"] == first["cache_creation"]["ephemeral_1h_input_tokens"] == 1500
    )
    assert first["cache_read_input_tokens"] == 0
    assert first["input_tokens"] == 1 + 3
    second = post(mock, MESSAGES, messages(system=system)).json()["usage"]
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"]) == (1500, 0)
    totals = mock.stats()["totals"]
    assert (totals["cache_write_1h"], totals["cached_tokens"], totals["input_tokens"]) == (
        1500,
        1500,
        2 * 1504,
    )


def test_latency_settings_reach_the_answers() -> None:
    mock = app(output_tokens=Lengths.fixed(5), latency=Latency(ttft_ms=100, inter_chunk_ms=10))
    plain = mock.handle(request(CHAT, chat()))
    assert isinstance(plain, Reply)
    assert plain.delay_s == pytest.approx(0.14)
    stream = mock.handle(request(CHAT, chat(stream=True), {"x-mock-latency-ms": "500"}))
    assert isinstance(stream, Stream)
    assert stream.ttft_s == pytest.approx(0.1)
    assert stream.gap_s == pytest.approx(0.4 / 4)  # 5 token frames share the 400 ms after the first token
    assert not stream.instant


def test_repeated_bodies_reuse_their_parsed_prompt_but_get_fresh_answers() -> None:
    mock = app(output_tokens=Lengths.lognormal(50, 1.0), seed=2)
    raw = json.dumps(chat("same words every time")).encode()
    answers = [answer(mock, request(CHAT, raw)) for _ in range(5)]
    usages = [a.json()["usage"] for a in answers]
    assert len({u["prompt_tokens"] for u in usages}) == 1
    assert len({u["completion_tokens"] for u in usages}) > 1  # each answer draws its own length
    assert len({a.header("x-request-id") for a in answers}) == 5
    assert mock.received == 5
    assert mock.stats()["totals"]["input_tokens"] == 5 * usages[0]["prompt_tokens"]
