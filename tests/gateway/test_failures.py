"""Every failure reaches the client in the provider's own error format and is recorded with its status."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway.support import (
    ListTarget,
    Running,
    asgi_call,
    calls_of,
    memory_sink,
    mock_routes,
    post,
    running,
)
from tokenomy.capture.sink.core import Sink
from tokenomy.gateway import Gateway, GatewaySettings, HandlerTransport, Route
from tokenomy.gateway.metering import stream_error
from tokenomy.gateway.upstream import UpstreamRequest, UpstreamResponse
from tokenomy.mockllm import MockThread
from tokenomy.schema import Status

MESSAGES: Any = [{"role": "user", "content": "Hello"}]


def _client(gateway: Running, error: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.openai_base_url, api_key="k", max_retries=0, default_headers={"X-Mock-Error": error}
    )


@pytest.mark.parametrize(
    ("status", "exception"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (401, openai.AuthenticationError)],
)
def test_openai_status_errors_pass_through(
    gateway: Running,
    mock: MockThread,
    recorded: tuple[Sink, ListTarget],
    status: int,
    exception: type[Exception],
) -> None:
    with pytest.raises(exception) as raised:
        _client(gateway, str(status)).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    [call] = calls_of(*recorded)
    assert (call.status, call.http_status) == (Status.ERROR, status)
    assert call.usage.input_total == 0
    assert call.usage.output_total == 0
    assert mock.stats(with_requests=False)["totals"]["by_status"] == {str(status): 1}


def test_anthropic_overloaded_is_the_sdks_overloaded_error(
    gateway: Running, recorded: tuple[Sink, ListTarget]
) -> None:
    client = anthropic.Anthropic(
        base_url=gateway.base_url, api_key="k", max_retries=0, default_headers={"X-Mock-Error": "529"}
    )
    with pytest.raises(anthropic.InternalServerError) as raised:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=32, messages=MESSAGES)
    assert raised.value.status_code == 529
    assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert calls_of(*recorded)[0].http_status == 529


def test_hangup_is_a_502_in_openai_format(gateway: Running, recorded: tuple[Sink, ListTarget]) -> None:
    status, _, body = post(
        f"{gateway.openai_base_url}/chat/completions",
        {"model": "gpt-4o", "messages": MESSAGES},
        {"X-Mock-Error": "hangup"},
    )
    error = json.loads(body)["error"]
    assert status == 502
    assert error["type"] == "upstream_error"
    assert "closed the connection" in error["message"]
    [call] = calls_of(*recorded)
    assert call.status is Status.ERROR
    assert call.http_status is None
    assert call.error_type == "upstream_protocol"
    assert call.usage.input_total is None  # no answer: usage unknown, never 0


def test_malformed_body_is_a_502_and_the_sdk_gets_an_api_error(
    gateway: Running, recorded: tuple[Sink, ListTarget]
) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        _client(gateway, "malformed").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert raised.value.status_code == 502
    assert calls_of(*recorded)[0].error_type == "upstream_malformed"


def test_the_sdks_do_not_retry_a_malformed_answer_as_they_would_not_directly(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    """The gateway's 502 for a malformed 200 says ``x-should-retry: false``: with their default
    retries, both SDKs raise at once, as they do directly, rather than asking the upstream three times."""
    headers = {"X-Mock-Error": "malformed"}
    oai = openai.OpenAI(base_url=gateway.openai_base_url, api_key="k", max_retries=2, default_headers=headers)
    claude = anthropic.Anthropic(
        base_url=gateway.base_url, api_key="k", max_retries=2, default_headers=headers
    )
    with pytest.raises(openai.InternalServerError) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=MESSAGES)
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert mock.stats()["totals"]["requests"] == 2  # one each: not retried
    assert [c.error_type for c in calls_of(*recorded, expect=2)] == ["upstream_malformed"] * 2


def test_cut_stream_reaches_the_client_as_a_cut_and_is_recorded_with_what_arrived(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    client = _client(gateway, "cut")
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    [call] = calls_of(*recorded)
    served = mock.stats(with_requests=False)["totals"]
    assert call.status is Status.ERROR
    assert call.error_type == "upstream_protocol"
    assert call.usage.output_total == served["output_tokens"] == 2  # 3 frames: role + 2 tokens
    assert call.usage.kind.value == "estimated"


def test_in_stream_error_is_forwarded_and_recorded_as_an_error(
    gateway: Running, recorded: tuple[Sink, ListTarget]
) -> None:
    client = _client(gateway, "stream_error")
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    claude = anthropic.Anthropic(
        base_url=gateway.base_url,
        api_key="k",
        max_retries=0,
        default_headers={"X-Mock-Error": "stream_error"},
    )
    with pytest.raises(anthropic.APIStatusError):
        list(claude.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, stream=True))
    chat, messages = calls_of(*recorded, expect=2)
    assert (chat.streamed, chat.status, chat.error_type) == (True, Status.ERROR, "server_error")
    assert (messages.streamed, messages.status, messages.error_type) == (
        True,
        Status.ERROR,
        "overloaded_error",
    )


@pytest.mark.parametrize(
    ("datas", "found"),
    [
        (['{"choices":[{"delta":{"content":"the \\"error\\" word"}}]}'], None),  # said, not raised
        (['{"choices":[]}', '{"error":{"type":"server_error","message":"x"}}'], "server_error"),
        (['{"type":"error","error":{"type":"overloaded_error"}}'], "overloaded_error"),
        # Gemini's in-stream error: its kind in status
        (['{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}'], "RESOURCE_EXHAUSTED"),
        (['{"error":{"code":500,"message":"x","status":"sk-test-MARKERKEY123"}}'], "stream_error"),
        (['{"error":"text only"}'], None),
        (["[DONE]", '{"type":"error"}'], "stream_error"),
        # free text in the type (a message with a prompt or a key) is never stored: a generic type instead
        (['{"error":{"type":"MARKERPROMPT42 sk-test-MARKERKEY123","message":"x"}}'], "stream_error"),
        (['{"type":"error","code":"sk-test-MARKERKEY123"}'], "stream_error"),
        # a Responses stream's error event: its code at the top level
        (
            ['{"type":"error","code":"server_error","message":"x","param":null,"sequence_number":3}'],
            "server_error",
        ),
        # a Responses answer that failed: its response's error code; one that completed: no error
        (
            ['{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error"}}}'],
            "server_error",
        ),
        (['{"type":"response.failed","response":{"status":"failed","error":null}}'], "failed"),
        (['{"type":"response.completed","response":{"status":"completed","error":null}}'], None),
    ],
)
def test_an_error_event_is_told_from_a_text_that_says_error(datas: list[str], found: str | None) -> None:
    assert stream_error(datas) == found


@pytest.fixture
def impatient(mock: MockThread) -> Iterator[tuple[Running, Sink, ListTarget]]:
    """A gateway whose upstream read timeout is 0.3 s."""
    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", mock.openai_base_url, read_timeout=0.3),))
    with running(Gateway(settings, sink=sink)) as served:
        yield served, sink, target
    sink.shutdown(5)


def test_upstream_timeout_is_a_504(impatient: tuple[Running, Sink, ListTarget]) -> None:
    gateway, sink, target = impatient
    status, _, body = post(
        f"{gateway.openai_base_url}/chat/completions",
        {"model": "gpt-4o", "messages": MESSAGES},
        {"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "2000"},
    )
    assert status == 504
    assert json.loads(body)["error"]["type"] == "timeout"
    [call] = calls_of(sink, target)
    assert call.status is Status.TIMEOUT
    assert call.error_type == "upstream_timeout"


def test_connection_refused_is_a_502(recorded: tuple[Sink, ListTarget]) -> None:
    settings = GatewaySettings(routes=(Route(("*",), "anthropic", "http://127.0.0.1:1"),))
    with running(Gateway(settings, sink=recorded[0])) as gateway:
        status, _, body = post(
            f"{gateway.base_url}/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": MESSAGES}
        )
    error = json.loads(body)
    assert status == 502
    assert error["type"] == "error"
    assert error["error"]["type"] == "api_error"
    assert "cannot connect to 127.0.0.1:1" in error["error"]["message"]
    assert calls_of(*recorded)[0].error_type == "upstream_connect"


def test_bad_requests_are_refused_by_the_gateway_in_format(gateway: Running, mock: MockThread) -> None:
    status, _, body = post(f"{gateway.openai_base_url}/chat/completions", {"messages": MESSAGES})
    assert status == 400
    assert json.loads(body)["error"]["param"] == "model"
    status, _, body = post(f"{gateway.base_url}/v1/messages", {"model": "gpt-4o", "messages": MESSAGES})
    assert status == 400
    assert "does not serve the messages API" in json.loads(body)["error"]["message"]
    assert mock.stats(with_requests=False)["totals"]["requests"] == 0


def test_the_gateways_own_errors_have_openais_shape(gateway: Running, mock: MockThread) -> None:
    """OpenAI says what went wrong in ``type`` and gives ``code: null`` unless it has a finer one (an
    unknown model's ``model_not_found``); the gateway's own refusals say it the same way."""
    client = openai.OpenAI(base_url=gateway.openai_base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as no_model:
        client.chat.completions.create(messages=MESSAGES, model=openai.omit)  # type: ignore[call-overload]
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", b"{not json", {"content-type": "application/json"})
    not_json = json.loads(conn.getresponse().read())["error"]
    conn.close()
    refusing = Gateway(GatewaySettings(routes=(Route(("claude-*",), "anthropic", mock.base_url),)))
    no_route = asyncio.run(
        asgi_call(refusing, "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
    )
    assert (no_model.value.type, no_model.value.code, no_model.value.param) == (
        "invalid_request_error",
        None,
        "model",
    )
    assert (not_json["type"], not_json["code"], not_json["param"]) == ("invalid_request_error", None, None)
    assert set(not_json) == {"message", "type", "param", "code"}
    assert (no_route.status, no_route.json()["error"]["type"], no_route.json()["error"]["code"]) == (
        404,
        "invalid_request_error",
        "model_not_found",
    )


def test_no_route_is_a_404(mock: MockThread, recorded: tuple[Sink, ListTarget]) -> None:
    settings = mock_routes(mock.base_url, mock.openai_base_url)
    only_claude = GatewaySettings(routes=settings.routes[:1])
    with running(Gateway(only_claude, sink=recorded[0])) as gateway:
        status, _, body = post(
            f"{gateway.openai_base_url}/chat/completions", {"model": "gpt-4o", "messages": MESSAGES}
        )
    assert status == 404
    assert "no route for model 'gpt-4o'" in json.loads(body)["error"]["message"]


FAILED_RESPONSE: dict[str, Any] = {
    "id": "resp_9",
    "object": "response",
    "model": "gpt-4o-2024-08-06",
    "status": "failed",
    "error": {"code": "server_error", "message": "The model failed to finish its answer."},
    "output": [],
    "usage": {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    },
}


@pytest.mark.parametrize("status", ["failed", "completed"])
def test_a_plain_responses_answer_that_failed_is_an_error_call_with_its_usage(status: str) -> None:
    """HTTP 200 with ``status: failed`` (a background or a long response that failed): relayed as it
    came, recorded as an error with the response's error code, its reported usage still billed."""
    body = {
        **FAILED_RESPONSE,
        "status": status,
        "error": FAILED_RESPONSE["error"] if status == "failed" else None,
    }

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse.of(200, json.dumps(body).encode(), [(b"content-type", b"application/json")])

    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://upstream.test/v1", api_key="sk-r"),))
    app = Gateway(settings, transport=HandlerTransport(answer), sink=sink)
    request = {"model": "gpt-4o", "input": "hi"}
    relayed = asyncio.run(asgi_call(app, "/v1/responses", request))
    assert (relayed.status, relayed.json()) == (200, body)
    [call] = calls_of(sink, target)
    usage = call.usage
    assert (usage.input_total, usage.input_uncached, usage.cache_read, usage.output_total) == (12, 8, 4, 3)
    if status == "failed":
        assert (call.status, call.error_type) == (Status.ERROR, "server_error")
    else:
        assert (call.status, call.error_type) == (Status.OK, None)
    sink.shutdown(5)


_LEAKY = "MARKERPROMPT42 with key sk-test-MARKERKEY123"
"""Free text an upstream may put where a classification belongs: a prompt and a key."""


def _recorded_after(status: int, body: dict[str, Any], path: str, request: dict[str, Any]) -> Any:
    """The call the gateway records for one request the upstream answers with ``status`` and ``body``."""

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse.of(
            status, json.dumps(body).encode(), [(b"content-type", b"application/json")]
        )

    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://upstream.test/v1", api_key="sk-r"),))
    app = Gateway(settings, transport=HandlerTransport(answer), sink=sink)
    relayed = asyncio.run(asgi_call(app, path, request))
    assert (relayed.status, relayed.json()) == (status, body)  # relayed as it came, whatever is recorded
    [call] = calls_of(sink, target)
    sink.shutdown(5)
    return call


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("invalid_request_error", "invalid_request_error"),
        (_LEAKY, "http_400"),
        ("x" * 65, "http_400"),
        ("sk-test-MARKERKEY123", "http_400"),
        (None, "http_400"),
    ],
)
def test_an_upstream_errors_type_is_recorded_only_when_it_is_a_classification(
    kind: str | None, expected: str
) -> None:
    body = {"error": {"message": "bad", "type": kind, "code": _LEAKY}}
    call = _recorded_after(400, body, "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
    assert (call.status, call.http_status, call.error_type) == (Status.ERROR, 400, expected)


@pytest.mark.parametrize(
    ("status", "expected"), [("INVALID_ARGUMENT", "INVALID_ARGUMENT"), ("sk-test-MARKERKEY123", "http_400")]
)
def test_a_gemini_errors_status_is_its_type_when_it_is_a_classification(status: str, expected: str) -> None:
    body = {"error": {"code": 400, "message": "bad", "status": status}}
    call = _recorded_after(400, body, "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
    assert (call.status, call.http_status, call.error_type) == (Status.ERROR, 400, expected)


def test_a_failed_responses_answers_code_is_recorded_only_when_it_is_a_classification() -> None:
    body = {**FAILED_RESPONSE, "error": {"code": _LEAKY, "message": "x"}}
    call = _recorded_after(200, body, "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    assert (call.status, call.error_type) == (Status.ERROR, "failed")
    assert call.usage.input_total == 12  # still billed
