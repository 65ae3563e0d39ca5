"""The usage stripper: the client gets exactly the events it would have got without the gateway."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tokenomy.gateway.relay import UsageStripper, response_headers

ROLE = b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}\n\n'
TOKEN = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}\n\n'
USAGE = (
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
)
DONE = b"data: [DONE]\n\n"
WITH_USAGE = ROLE + TOKEN + USAGE + DONE
WITHOUT = ROLE.replace(b',"usage":null', b"") + TOKEN.replace(b',"usage":null', b"") + DONE


def _run(chunks: list[bytes]) -> list[bytes]:
    stripper = UsageStripper()
    out = [stripper.feed(c) for c in chunks]
    out.append(stripper.close())
    return [o for o in out if o]


def test_event_per_chunk_keeps_each_chunk_and_drops_the_usage_chunk() -> None:
    out = _run([ROLE, TOKEN, USAGE, DONE])
    assert out == [ROLE.replace(b',"usage":null', b""), TOKEN.replace(b',"usage":null', b""), DONE]


@given(st.lists(st.integers(min_value=1, max_value=len(WITH_USAGE) - 1), max_size=8))
def test_any_chunking_gives_the_same_bytes(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [WITH_USAGE[a:b] for a, b in zip([0, *points], [*points, len(WITH_USAGE)], strict=True)]
    assert b"".join(_run(chunks)) == WITHOUT


def test_a_content_chunk_mentioning_usage_is_kept() -> None:
    text = b'data: {"choices":[{"delta":{"content":"\\"usage\\":{\\"x\\":1}"}}]}\n\n'
    assert _run([text]) == [text]
    assert json.loads(text[6:])["choices"][0]["delta"]["content"] == '"usage":{"x":1}'


def test_hop_by_hop_headers_are_not_forwarded() -> None:
    headers = [(b"content-type", b"a"), (b"transfer-encoding", b"chunked"), (b"connection", b"close")]
    assert response_headers(headers, length=3) == [(b"content-type", b"a"), (b"content-length", b"3")]
