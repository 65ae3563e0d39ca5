"""The usage chunk the gateway asks for on a client's behalf never reaches the client, whatever the
upstream's SSE looks like: lines ending in LF, CRLF or CR, split anywhere across network chunks. An
upstream that puts the usage inside the last chunk of choices whether asked or not (as some
compatible servers do) is passed on as it came. The client gets the upstream's bytes as it would have
got them directly, and metering still reads the usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from tests.gateway.scripted import Asked, ScriptedUpstream, chunked, scripted
from tests.gateway.support import ListTarget, Running, calls_of, memory_sink, post, running
from tokenomy.capture.sink.core import Sink
from tokenomy.gateway import Gateway, GatewaySettings, Route

USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
SEPARATORS = {"lf": "\n\n", "crlf": "\r\n\r\n", "cr": "\r\r"}


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    head = {"id": "chatcmpl-scripted0000000001", "object": "chat.completion.chunk", "created": 1}
    return {**head, "model": "gpt-4o", "choices": choices, **extra}


def _events(style: str, asked: bool) -> list[dict[str, Any]]:
    """The chunks an upstream sends: OpenAI's own style, with usage when ``asked`` (``"usage":null`` on
    each chunk and a last chunk with ``choices: []``), or, as some compatible servers do, the usage
    inside the chunk that finishes the choice, asked or not."""
    if style == "openai":
        null = {"usage": None} if asked else {}
        events = [_chunk({"role": "assistant", "content": ""}, **null), _chunk({"content": "Hi"}, **null)]
        events.append(_chunk({}, "stop", **null))
        return [*events, _chunk(None, usage=USAGE)] if asked else events
    return [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hi"}),
        _chunk({}, "stop", usage=USAGE),
    ]


def _answer(asked: Asked) -> list[bytes]:
    body = asked.json()
    with_usage = (body.get("stream_options") or {}).get("include_usage") is True
    sep = SEPARATORS[asked.headers.get("x-sep", "lf")]
    text = "".join(
        f"data: {json.dumps(e, separators=(',', ':'))}{sep}"
        for e in _events(asked.headers["x-style"], with_usage)
    )
    raw = (text + f"data: [DONE]{sep}").encode()
    size = int(asked.headers.get("x-split", "0")) or len(raw)
    pieces = [raw[at : at + size] for at in range(0, len(raw), size)]
    return chunked(200, pieces, [("content-type", "text/event-stream")])


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted(_answer) as served:
        yield served


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedUpstream) -> Iterator[tuple[Running, Sink, ListTarget]]:
    """A gateway in front of ``upstream``, recording to a list (emptied by each test that reads it)."""
    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", upstream.base_url + "/v1", api_key="sk-up"),))
    with running(Gateway(settings, sink=sink)) as served:
        yield served, sink, target
    sink.shutdown(5)


def _post(port: int, path: str, body: object, headers: dict[str, str]) -> bytes:
    status, _, answer = post(f"http://127.0.0.1:{port}{path}", body, headers)
    assert status == 200
    return answer


@pytest.mark.integration
@pytest.mark.parametrize("style", ["openai", "usage_in_last"])
@pytest.mark.parametrize("sep", ["lf", "crlf", "cr"])
@pytest.mark.parametrize("split", [0, 1])
@pytest.mark.parametrize("options", [None, {"include_usage": False}])
def test_the_client_gets_the_upstreams_bytes_without_the_usage_and_metering_reads_it(
    upstream: ScriptedUpstream,
    gateway: tuple[Running, Sink, ListTarget],
    *,
    style: str,
    sep: str,
    split: int,
    options: dict[str, bool] | None,
) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    if options is not None:
        body["stream_options"] = options
    headers = {"x-style": style, "x-sep": sep, "x-split": str(split)}
    served, sink, target = gateway
    target.records.clear()
    direct = _post(upstream.port, "/v1/chat/completions", body, headers)
    assert (b'"usage"' in direct) is (style == "usage_in_last")
    through = _post(served.port, "/v1/chat/completions", body, headers)
    assert through == direct, "the gateway changed the stream beyond the usage it asked for"
    assert upstream.asked[-1].json()["stream_options"]["include_usage"] is True
    (call,) = calls_of(sink, target)
    assert (call.usage.input_total, call.usage.output_total, call.usage.estimated) == (7, 2, False)


@pytest.mark.integration
@pytest.mark.parametrize("sep", ["crlf", "cr"])
@pytest.mark.parametrize("style", ["openai", "usage_in_last"])
def test_the_openai_sdk_sees_what_it_sees_directly(
    upstream: ScriptedUpstream, gateway: tuple[Running, Sink, ListTarget], sep: str, style: str
) -> None:
    seen = {}
    for name, base in (("direct", upstream.base_url + "/v1"), ("gateway", gateway[0].openai_base_url)):
        client = OpenAI(base_url=base, api_key="sk-client", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-style": style, "x-sep": sep, "x-split": "5"},
        )
        seen[name] = [chunk.model_dump() for chunk in stream]
    assert seen["gateway"] == seen["direct"]
    counts = [
        None if chunk["usage"] is None else {k: chunk["usage"][k] for k in USAGE} for chunk in seen["gateway"]
    ]
    assert counts == [None, None, USAGE if style == "usage_in_last" else None]
