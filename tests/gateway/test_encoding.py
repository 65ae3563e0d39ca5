"""An upstream that compresses its answer though the gateway asked for none: the client gets it as it came,
and metering reads it decoded (gzip, deflate), or records the call with usage unknown."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from tests.gateway.scripted import Asked, ScriptedUpstream, chunked, scripted, sized
from tests.gateway.support import ListTarget, Running, calls_of, chat_completion, memory_sink, post, running
from tokenomy.capture.sink.core import Sink
from tokenomy.gateway import Gateway, GatewaySettings, Route
from tokenomy.gateway.encoding import decoded, decoder, encodings
from tokenomy.schema import Status

MESSAGES: Any = [{"role": "user", "content": "hi"}]
USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def _reversed(data: bytes) -> bytes:
    return data[::-1]


def _gzip(data: bytes) -> bytes:
    """gzip with a fixed time in its header: two answers compared byte for byte may be made in two
    different seconds (the gateway's and the direct one were, now and then)."""
    return gzip.compress(data, mtime=0)


CODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _gzip,
    "deflate": zlib.compress,
    "x-unknown": _reversed,  # an encoding no one decodes: usage unknown
}


def _stream(asked: Asked) -> bytes:
    with_usage = (asked.json().get("stream_options") or {}).get("include_usage") is True
    head = {
        "id": "chatcmpl-encoded0000000002",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
    }
    events = [
        {**head, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        *([{**head, "choices": [], "usage": USAGE}] if with_usage else []),
    ]
    return b"".join(b"data: %s\n\n" % json.dumps(e).encode() for e in events) + b"data: [DONE]\n\n"


def _answer(asked: Asked) -> list[bytes]:
    coding = asked.headers["x-coding"]
    encode = CODERS[coding]
    headers = [("content-encoding", coding)]
    if asked.headers.get("x-status"):  # an error, compressed
        error = {
            "error": {"message": "slow down", "type": "rate_limit_exceeded", "param": None, "code": None}
        }
        return sized(int(asked.headers["x-status"]), encode(json.dumps(error).encode()), headers)
    if not asked.json().get("stream"):
        body = json.dumps(chat_completion("chatcmpl-encoded0000000001", "gpt-4o", prompt=7, completion=2))
        return sized(200, encode(body.encode()), [("content-type", "application/json"), *headers])
    packed = encode(_stream(asked))
    pieces = [packed[at : at + 16] for at in range(0, len(packed), 16)]
    return chunked(200, pieces, [("content-type", "text/event-stream"), *headers])


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted(_answer) as served:
        yield served


@pytest.fixture
def gateway(upstream: ScriptedUpstream) -> Iterator[tuple[Running, Sink, ListTarget]]:
    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", upstream.base_url + "/v1", api_key="sk-up"),))
    with running(Gateway(settings, sink=sink)) as served:
        yield served, sink, target
    sink.shutdown(5)


def _post(port: int, body: object, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """support.post to the chat route on ``port``, without the headers every server sets its own way."""
    status, got, raw = post(f"http://127.0.0.1:{port}/v1/chat/completions", body, headers)
    return status, {k: v for k, v in got.items() if k not in ("date", "server")}, raw


@pytest.mark.integration
@pytest.mark.parametrize("coding", ["gzip", "deflate", "x-unknown"])
def test_a_compressed_answer_reaches_the_client_as_it_came_and_is_metered_decoded(
    upstream: ScriptedUpstream, gateway: tuple[Running, Sink, ListTarget], coding: str
) -> None:
    served, sink, target = gateway
    body, headers = {"model": "gpt-4o", "messages": MESSAGES}, {"x-coding": coding, "accept-encoding": "gzip"}
    direct = _post(upstream.port, body, headers)
    through = _post(served.port, body, headers)
    assert through == direct, "the client did not get the upstream's answer as it came"
    assert upstream.asked[-1].headers["accept-encoding"] == "identity"  # not the client's gzip
    (call,) = calls_of(sink, target)
    assert (call.status, call.http_status) == (Status.OK, 200)
    if coding == "x-unknown":  # not decoded here: recorded, its usage unknown
        assert (call.usage.input_total, call.usage.output_total) == (None, None)
    else:
        assert (call.usage.input_total, call.usage.output_total, call.id) == (
            7,
            2,
            "chatcmpl-encoded0000000001",
        )


@pytest.mark.integration
def test_the_openai_sdk_reads_a_gzipped_answer_through_the_gateway_as_directly(
    upstream: ScriptedUpstream, gateway: tuple[Running, Sink, ListTarget]
) -> None:
    answers = []
    for base in (upstream.base_url + "/v1", gateway[0].openai_base_url):
        client = OpenAI(
            base_url=base, api_key="sk-client", max_retries=0, default_headers={"x-coding": "gzip"}
        )
        answers.append(client.chat.completions.create(model="gpt-4o", messages=MESSAGES).model_dump())
    assert answers[0] == answers[1]
    assert answers[1]["usage"]["prompt_tokens"] == 7


@pytest.mark.integration
@pytest.mark.parametrize("asks_usage", [False, True])
def test_a_compressed_stream_is_metered_and_the_sdk_sees_what_it_sees_directly(
    upstream: ScriptedUpstream, gateway: tuple[Running, Sink, ListTarget], asks_usage: bool
) -> None:
    """A stream the gateway must strip of the usage it asked for reaches the client decoded (without
    its Content-Encoding); one it need not change, as it came."""
    served, sink, target = gateway
    body: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    if asks_usage:
        body["stream_options"] = {"include_usage": True}
    direct = _post(upstream.port, body, {"x-coding": "gzip"})
    status, headers, raw = _post(served.port, body, {"x-coding": "gzip"})
    if asks_usage:
        assert (status, headers, raw) == direct
    else:
        assert headers.get("content-encoding") != "gzip"
        assert raw == gzip.decompress(direct[2])
    (call,) = calls_of(sink, target)
    assert (call.usage.input_total, call.usage.output_total, call.usage.estimated) == (7, 2, False)
    client = OpenAI(
        base_url=served.openai_base_url, api_key="sk", max_retries=0, default_headers={"x-coding": "gzip"}
    )
    usage: Any = {"include_usage": True} if asks_usage else None
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=usage)
    )
    assert [c.usage is not None for c in chunks] == [False, False, *([True] if asks_usage else [])]


@pytest.mark.integration
def test_a_compressed_error_is_passed_on_and_recorded_with_its_type(
    upstream: ScriptedUpstream, gateway: tuple[Running, Sink, ListTarget]
) -> None:
    served, sink, target = gateway
    body, headers = {"model": "gpt-4o", "messages": MESSAGES}, {"x-coding": "gzip", "x-status": "429"}
    assert _post(served.port, body, headers) == _post(upstream.port, body, headers)
    (call,) = calls_of(sink, target)
    assert (call.status, call.http_status, call.error_type) == (Status.ERROR, 429, "rate_limit_exceeded")


def test_codings_are_read_from_the_header_and_undone_last_first() -> None:
    body = b'{"a": 1}'
    assert encodings([(b"content-encoding", b"deflate, GZIP"), (b"content-encoding", b"identity")]) == [
        b"deflate",
        b"gzip",
    ]
    assert decoded(gzip.compress(zlib.compress(body)), [b"deflate", b"gzip"]) == body
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    unwrapped = raw.compress(body) + raw.flush()  # deflate without zlib's header, as some servers send it
    one_by_one = decoder([b"deflate"])
    assert one_by_one is not None
    assert b"".join(one_by_one.feed(unwrapped[i : i + 1]) for i in range(len(unwrapped))) == body
    assert decoded(b"not gzip", [b"gzip"]) is None
    assert decoded(body, [b"compress"]) is None


class _FakeBrotliError(Exception):
    """As brotli's own ``error``: an Exception, not a ValueError."""


class _FakeBrotli:
    """A stand-in Brotli module (none is installed): its "compression" reverses the bytes, and bytes
    that do not start with its mark raise its own error, as a real decoder does on bytes not in br."""

    error = _FakeBrotliError

    class Decompressor:
        def process(self, data: bytes) -> bytes:
            if not data.startswith(b"}"):
                raise _FakeBrotliError("BROTLI_DECODER_RESULT_ERROR")
            return _reversed(data)


def test_br_is_decoded_by_an_installed_module_and_its_errors_read_as_bytes_not_in_br(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tokenomy.gateway import encoding

    monkeypatch.setattr(encoding, "brotli_module", lambda: _FakeBrotli)
    assert decoded(_reversed(b'{"a": 1}'), [b"br"]) == b'{"a": 1}'
    assert decoded(b"not brotli", [b"br"]) is None  # not the module's own error escaping
    found = decoder([b"br"])
    assert found is not None
    with pytest.raises(ValueError, match="not in its Content-Encoding"):
        found.feed(b"not brotli")
    monkeypatch.setattr(encoding, "brotli_module", lambda: None)
    assert decoder([b"br"]) is None
