"""The mock served on 127.0.0.1 to the real openai and anthropic SDKs (sync, async, streams, helpers).

Every test matches what the SDK saw with the mock's own ground truth (``/_mock/stats``), by
request id.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.mockllm.support import TOOLS_OPENAI
from tokenomy.errors import ConfigError
from tokenomy.mockllm import Lengths, MockLLMConfig, MockLLMServer, MockThread, run_in_thread

pytestmark = pytest.mark.integration

CLAUDE = "claude-sonnet-4-6"
ANTHROPIC_TOOLS: list[Any] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]


@pytest.fixture(scope="module")
def server() -> Iterator[MockThread]:
    config = MockLLMConfig(output_tokens=Lengths.fixed(12), reasoning_tokens=Lengths.fixed(20), seed=3)
    with run_in_thread(config) as handle:
        yield handle


@pytest.fixture
def mock(server: MockThread) -> MockThread:
    server.reset()
    return server


def oai(mock: MockThread, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=mock.openai_base_url, api_key="test", max_retries=0, timeout=10, **kwargs)


def claude(mock: MockThread, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock.base_url, api_key="test", max_retries=0, timeout=10, **kwargs)


def record(mock: MockThread, request_id: str | None) -> dict[str, Any]:
    assert request_id is not None
    found: dict[str, Any] = mock.stats()["requests"][request_id]
    return found


def user(text: str = "Hello") -> list[Any]:
    return [{"role": "user", "content": text}]


# --- OpenAI ---------------------------------------------------------------------------------------


def test_openai_chat_usage_equals_the_mocks_ground_truth(mock: MockThread) -> None:
    response = oai(mock).chat.completions.create(model="gpt-4o", messages=user("Count these words"))
    truth = record(mock, response._request_id)
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (
        truth["input_tokens"],
        truth["output_tokens"],
    )
    assert truth["output_tokens"] == 12
    assert response.choices[0].message.content is not None
    assert len(response.choices[0].message.content.split()) == 12


def test_openai_stream_include_usage_final_chunk(mock: MockThread) -> None:
    stream = oai(mock).chat.completions.create(
        model="o3", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None
    assert usage.completion_tokens_details is not None
    truth = record(mock, stream.response.headers["x-request-id"])
    assert (usage.prompt_tokens, usage.completion_tokens) == (truth["input_tokens"], truth["output_tokens"])
    assert usage.completion_tokens_details.reasoning_tokens == truth["reasoning_tokens"] == 20
    assert truth["streamed"] is True


def test_openai_async_plain_and_streamed(mock: MockThread) -> None:
    async def run() -> tuple[int, int, str]:
        client = openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0, timeout=10)
        plain = await client.chat.completions.create(model="gpt-4o-mini", messages=user())
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=user(), stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        assert plain.usage is not None
        return plain.usage.completion_tokens, len(text.split()), text

    completion_tokens, words, text = asyncio.run(run())
    assert completion_tokens == words == 12
    assert text.startswith("The of and")
    assert mock.stats()["models"]["gpt-4o-mini"]["requests"] == 2


def test_openai_chat_stream_helper_with_a_tool_call(mock: MockThread) -> None:
    with oai(mock).chat.completions.stream(
        model="gpt-4o", messages=user("Weather?"), tools=TOOLS_OPENAI, tool_choice="required"
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "mock", "days": 1}
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_responses_plain_and_stream_helper(mock: MockThread) -> None:
    client = oai(mock)
    response = client.responses.create(model="gpt-5", input="Hi", reasoning={"effort": "low"})
    assert response.usage is not None
    truth = record(mock, response._request_id)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (
        truth["input_tokens"],
        truth["output_tokens"],
    )
    assert response.usage.output_tokens_details.reasoning_tokens == truth["reasoning_tokens"] == 20
    assert len(response.output_text.split()) == 12
    with client.responses.stream(model="gpt-4o", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == response.output_text
    assert final.usage is not None
    assert final.usage.output_tokens == 12


def test_openai_embeddings_completions_and_models(mock: MockThread) -> None:
    client = oai(mock)
    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
    assert [len(d.embedding) for d in embedded.data] == [1536, 1536]
    assert embedded.usage.prompt_tokens == record(mock, embedded._request_id)["input_tokens"] == 5
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5
    assert "gpt-4o" in {m.id for m in client.models.list()}
    assert client.models.retrieve("o3").id == "o3"


def test_openai_prompt_cache_second_call_reads_within_ttl(mock: MockThread) -> None:
    client = oai(mock)
    system: Any = {"role": "system", "content": "You follow the house style guide. " * 300}
    first = client.chat.completions.create(model="gpt-4o", messages=[system, *user("q1")])
    second = client.chat.completions.create(model="gpt-4o", messages=[system, *user("q2 is different")])
    assert first.usage is not None
    assert second.usage is not None
    details = [u.prompt_tokens_details for u in (first.usage, second.usage)]
    assert details[0] is not None
    assert details[1] is not None
    assert details[0].cached_tokens == 0
    cached = details[1].cached_tokens or 0
    assert cached >= 1024
    assert cached % 128 == 0
    assert cached == record(mock, second._request_id)["cached_tokens"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (401, openai.AuthenticationError)],
)
def test_openai_forced_errors_raise_the_sdks_exceptions(
    mock: MockThread, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as info:
        oai(mock).chat.completions.create(
            model="gpt-4o", messages=user(), extra_headers={"X-Mock-Error": str(status)}
        )
    assert info.value.status_code == status
    assert info.value.request_id == info.value.response.headers["x-request-id"]
    assert record(mock, info.value.request_id)["status"] == status


def test_openai_bad_request_is_a_bad_request_error(mock: MockThread) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai(mock).chat.completions.create(model="gpt-4o", messages=[])
    assert isinstance(info.value.body, dict)
    assert info.value.body["param"] == "messages"


def test_openai_stall_times_out_and_hangup_is_a_connection_error(mock: MockThread) -> None:
    client = oai(mock)
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(
            model="gpt-4o",
            messages=user(),
            extra_headers={"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "3000"},
        )
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="gpt-4o", messages=user(), extra_headers={"X-Mock-Error": "hangup"}
        )


def test_openai_malformed_body_fails_to_decode(mock: MockThread) -> None:
    with pytest.raises(json.JSONDecodeError):
        oai(mock).chat.completions.create(
            model="gpt-4o", messages=user(), extra_headers={"X-Mock-Error": "malformed"}
        )


def test_openai_stream_errors_chat_raises_responses_yields_an_error_event(mock: MockThread) -> None:
    client = oai(mock)
    headers = {"X-Mock-Error": "stream_error"}
    chat = client.chat.completions.create(model="gpt-4o", messages=user(), stream=True, extra_headers=headers)
    with pytest.raises(openai.APIError, match="stream_error"):
        list(chat)
    events = list(client.responses.create(model="gpt-4o", input="x", stream=True, extra_headers=headers))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "error",
    ]


def test_openai_cut_stream_raises_and_counts_what_was_sent(mock: MockThread) -> None:
    stream = oai(mock).chat.completions.create(
        model="gpt-4o",
        messages=user(),
        stream=True,
        extra_headers={"X-Mock-Error": "cut", "X-Mock-Cut-After": "6"},
    )
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(
            chunk.choices[0].delta.content or "" for chunk in stream
        )  # keeps what came before the cut
    truth = record(mock, stream.response.headers["x-request-id"])
    assert len([s for s in seen if s]) == truth["output_tokens"] == 5
    assert (truth["complete"], truth["fault"]) == (False, "cut")


def test_openai_abandoned_stream_counts_only_what_was_sent(mock: MockThread) -> None:
    headers = {"X-Mock-Output-Tokens": "200", "X-Mock-Chunk-Delay-Ms": "5"}
    stream = oai(mock).chat.completions.create(
        model="gpt-4o", messages=user(), stream=True, extra_headers=headers
    )
    for received, _ in enumerate(stream):
        if received == 5:
            break
    stream.close()
    rid = stream.response.headers["x-request-id"]
    truth: dict[str, Any] | None = None
    for _ in range(500):  # the server notices the closed connection on its next write
        truth = mock.stats()["requests"].get(rid)
        if truth is not None:
            break
        time.sleep(0.01)
    assert truth is not None
    assert truth["complete"] is False
    assert 5 <= truth["output_tokens"] < 200


def test_time_to_first_token_is_at_least_the_configured_delay(mock: MockThread) -> None:
    start = time.perf_counter()
    stream = oai(mock).chat.completions.create(
        model="gpt-4o", messages=user(), stream=True, extra_headers={"X-Mock-TTFT-Ms": "150"}
    )
    first_content = next(c for c in stream if c.choices and c.choices[0].delta.content)
    assert time.perf_counter() - start >= 0.15
    assert first_content.choices[0].delta.content == "The"
    stream.close()


# --- Anthropic ------------------------------------------------------------------------------------


def test_anthropic_message_usage_equals_the_mocks_ground_truth(mock: MockThread) -> None:
    message = claude(mock).messages.create(model=CLAUDE, max_tokens=100, messages=user("Hi there"))
    truth = record(mock, message._request_id)
    usage = message.usage
    assert (
        usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
        == (truth["input_tokens"])
    )
    assert usage.output_tokens == truth["output_tokens"] == 12
    assert message.stop_reason == "end_turn"


def test_anthropic_stream_helper_with_thinking(mock: MockThread) -> None:
    with claude(mock).messages.stream(
        model=CLAUDE, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024}, messages=user()
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].type == "text"
    assert text == final.content[1].text
    truth = record(mock, stream.response.headers["request-id"])
    assert final.usage.output_tokens == truth["output_tokens"] == 12 + 20
    assert truth["reasoning_tokens"] == 20


def test_anthropic_tool_use_through_the_stream_helper(mock: MockThread) -> None:
    with claude(mock).messages.stream(
        model=CLAUDE, max_tokens=500, tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"}, messages=user()
    ) as stream:
        final = stream.get_final_message()
    (block,) = final.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "mock"})
    assert final.stop_reason == "tool_use"


def test_anthropic_async_plain_and_raw_stream(mock: MockThread) -> None:
    async def run() -> tuple[int, list[str], int]:
        client = anthropic.AsyncAnthropic(base_url=mock.base_url, api_key="t", max_retries=0, timeout=10)
        message = await client.messages.create(model=CLAUDE, max_tokens=100, messages=user())
        events = await client.messages.create(model=CLAUDE, max_tokens=5, messages=user(), stream=True)
        kinds: list[str] = [event.type async for event in events]
        async with client.messages.stream(model=CLAUDE, max_tokens=100, messages=user()) as stream:
            final = await stream.get_final_message()
        await client.close()
        return message.usage.output_tokens, kinds, final.usage.output_tokens

    plain, kinds, streamed = asyncio.run(run())
    assert plain == streamed == 12
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 5


def test_anthropic_cache_write_then_read_within_ttl(mock: MockThread) -> None:
    client = claude(mock)
    system: list[Any] = [
        {"type": "text", "text": "Policy clause. " * 700, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    first = client.messages.create(model=CLAUDE, max_tokens=50, system=system, messages=user("q1"))
    second = client.messages.create(model=CLAUDE, max_tokens=50, system=system, messages=user("q2"))
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == first.usage.cache_creation_input_tokens
    assert (first.usage.cache_creation_input_tokens or 0) >= 1024
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    truth = record(mock, second._request_id)
    assert truth["cached_tokens"] == second.usage.cache_read_input_tokens
    assert record(mock, first._request_id)["cache_write_1h"] == first.usage.cache_creation_input_tokens


@pytest.mark.parametrize(
    ("status", "error"),
    [(529, anthropic.OverloadedError), (429, anthropic.RateLimitError), (500, anthropic.InternalServerError)],
)
def test_anthropic_forced_errors_raise_the_sdks_exceptions(
    mock: MockThread, status: int, error: type[anthropic.APIStatusError]
) -> None:
    with pytest.raises(error) as info:
        claude(mock).messages.create(
            model=CLAUDE, max_tokens=10, messages=user(), extra_headers={"X-Mock-Error": str(status)}
        )
    assert info.value.status_code == status
    assert record(mock, info.value.request_id)["status"] == status


def test_anthropic_bad_request_and_stream_error(mock: MockThread) -> None:
    client = claude(mock)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=CLAUDE, max_tokens=10, messages=[])
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "invalid_request_error"
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        client.messages.stream(
            model=CLAUDE, max_tokens=10, messages=user(), extra_headers={"X-Mock-Error": "stream_error"}
        ) as stream,
    ):
        stream.get_final_message()


def test_anthropic_cut_stream_raises(mock: MockThread) -> None:
    # anthropic's stream reader lets the transport's error through (openai's wraps it in APIConnectionError)
    cut = claude(mock).messages.stream(
        model=CLAUDE, max_tokens=100, messages=user(), extra_headers={"X-Mock-Error": "cut"}
    )
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)), cut as stream:
        stream.get_final_message()
    truth = mock.stats()["totals"]
    assert (truth["incomplete"], truth["output_tokens"]) == (1, 0)


# --- HTTP -----------------------------------------------------------------------------------------


def raw_request(body: bytes, path: str = "/v1/chat/completions", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


def read_response(sock: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, rest) of one Content-Length response."""
    for _ in range(1000):
        if b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                return head, rest[:length], rest[length:]
        buf += sock.recv(65536)
    raise AssertionError("no complete response")


def test_keep_alive_reuses_one_connection_and_answers_pipelined_requests_in_order(mock: MockThread) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": user()}).encode()
    with socket.create_connection((mock.server.host, mock.server.port), timeout=10) as sock:
        sock.sendall(raw_request(body))
        head1, body1, rest = read_response(sock)
        sock.sendall(raw_request(body) + raw_request(b"{broken"))
        head2, body2, rest = read_response(sock, rest)
        head3, body3, _ = read_response(sock, rest)
    assert head1.startswith(b"HTTP/1.1 200")
    assert head2.startswith(b"HTTP/1.1 200")
    assert json.loads(body1)["id"] != json.loads(body2)["id"]
    assert head3.startswith(b"HTTP/1.1 400")
    assert "could not parse" in json.loads(body3)["error"]["message"]
    assert mock.stats()["totals"]["by_status"] == {"200": 2, "400": 1}


def test_a_head_gets_the_head_alone_and_the_connection_serves_the_next_request(mock: MockThread) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": user()}).encode()
    with socket.create_connection((mock.server.host, mock.server.port), timeout=10) as sock:
        sock.sendall(b"HEAD /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n" + raw_request(body))
        buf = b""
        for _ in range(1000):
            if buf.count(b"\r\n\r\n") >= 2:
                break
            buf += sock.recv(65536)
        head, _, after = buf.partition(b"\r\n\r\n")
        head2, body2, _ = read_response(sock, after)
    assert head.startswith(b"HTTP/1.1 405")
    assert b"content-length: " in head  # the length a GET would have: no body follows it
    assert head2.startswith(b"HTTP/1.1 200"), f"the HEAD's answer carried a body: {after[:60]!r}"
    assert json.loads(body2)["object"] == "chat.completion"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o", "/_mock/stats"])
def test_a_head_on_a_read_endpoint_gets_the_head_a_get_would(mock: MockThread, path: str) -> None:
    with socket.create_connection((mock.server.host, mock.server.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        got, body, _ = read_response(sock)
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        buf = b""
        for _ in range(1000):
            if b"\r\n\r\n" in buf:
                break
            buf += sock.recv(65536)
    head, _, after = buf.partition(b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-length: {len(body)}".encode() in head
    assert after == b""  # no body follows a HEAD's head


def test_malformed_http_gets_a_400_and_the_connection_closed(mock: MockThread) -> None:
    with socket.create_connection((mock.server.host, mock.server.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        for _ in range(100):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    assert data.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"connection: close" in data


def test_anthropic_missing_model_over_http(mock: MockThread) -> None:
    body = json.dumps({"max_tokens": 5, "messages": user()}).encode()
    with socket.create_connection((mock.server.host, mock.server.port), timeout=10) as sock:
        sock.sendall(raw_request(body, "/v1/messages", "anthropic-version: 2023-06-01\r\n"))
        head, payload, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 400")
    error = json.loads(payload)
    assert error["type"] == "error"
    assert "model" in error["error"]["message"]


# --- Running it -----------------------------------------------------------------------------------


def test_async_server_in_the_callers_loop_without_uvloop() -> None:
    async def run() -> tuple[int, dict[str, Any]]:
        async with MockLLMServer(MockLLMConfig(output_tokens=Lengths.fixed(3))) as server:
            assert server.host == "127.0.0.1"
            client = openai.AsyncOpenAI(
                base_url=server.openai_base_url, api_key="t", max_retries=0, timeout=10
            )
            response = await client.chat.completions.create(model="gpt-4o", messages=user())
            await client.close()
            assert response.usage is not None
            return response.usage.completion_tokens, server.stats(with_requests=False)

    tokens, stats = asyncio.run(run())
    assert tokens == stats["totals"]["output_tokens"] == 3


def test_thread_runner_on_the_standard_loop_and_a_busy_port() -> None:
    with run_in_thread(MockLLMConfig(), uvloop=False) as handle:
        assert oai(handle).models.list().data
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            run_in_thread(port=handle.server.port)
    handle.stop()  # stopping twice is harmless


def test_concurrent_streams_add_up_to_the_stats(mock: MockThread) -> None:
    async def run() -> list[int]:
        client = openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="t", max_retries=0, timeout=20)
        headers = {"X-Mock-Chunk-Delay-Ms": "1", "X-Mock-TTFT-Ms": "5"}

        async def one(i: int) -> int:
            stream = await client.chat.completions.create(
                model="gpt-4o",
                messages=user(f"request number {i}"),
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
            usage = [c.usage async for c in stream if c.usage]
            assert usage[0] is not None
            return usage[0].total_tokens

        totals = await asyncio.gather(*(one(i) for i in range(40)))
        await client.close()
        return list(totals)

    per_request = asyncio.run(run())
    served = mock.stats(with_requests=False)["totals"]
    assert served["requests"] == served["streamed"] == 40
    assert sum(per_request) == served["input_tokens"] + served["output_tokens"]


def test_total_latency_and_chunked_json_and_http_1_0_streams() -> None:
    config = MockLLMConfig(output_tokens=Lengths.fixed(2), chunked_json=True)
    with run_in_thread(config) as handle:
        start = time.perf_counter()
        reply = oai(handle).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=user(), extra_headers={"X-Mock-Latency-Ms": "120"}
        )
        assert time.perf_counter() - start >= 0.12
        assert reply.headers["transfer-encoding"] == "chunked"
        assert reply.parse().choices[0].message.content == "The of"
        body = json.dumps({"model": "gpt-4o", "messages": user(), "stream": True}).encode()
        request = raw_request(body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        with socket.create_connection((handle.server.host, handle.server.port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            for _ in range(1000):
                part = sock.recv(65536)
                if not part:
                    break
                data += part
    head, _, stream = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert b"connection: close" in head
    assert stream.endswith(b"data: [DONE]\n\n")


def test_stopping_the_server_accounts_for_a_stalled_request() -> None:
    handle = run_in_thread(MockLLMConfig())
    body = json.dumps({"model": "gpt-4o", "messages": user()}).encode()
    with socket.create_connection((handle.server.host, handle.server.port), timeout=10) as sock:
        sock.sendall(raw_request(body, extra="X-Mock-Error: stall\r\nX-Mock-Stall-Ms: 60000\r\n"))
        for _ in range(500):  # wait until the server has read the request
            if handle.server.app.received:
                break
            time.sleep(0.01)
        handle.stop()
        assert sock.recv(100) == b""  # closed without an answer
    totals = handle.server.stats(with_requests=False)["totals"]
    assert (totals["requests"], totals["by_status"]) == (1, {"0": 1})
