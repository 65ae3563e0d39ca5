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


FINISH = b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]'
IN_LAST = FINISH + b',"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'


@given(
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(min_value=1, max_value=len(WITH_USAGE + IN_LAST) - 1), max_size=8),
)
def test_every_line_end_and_chunking_gives_the_same_bytes(end: bytes, cuts: list[int]) -> None:
    whole = (ROLE + TOKEN + IN_LAST + USAGE + DONE).replace(b"\n", end)
    points = sorted({c for c in cuts if c < len(whole)})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    expected = WITHOUT.replace(DONE, IN_LAST + DONE).replace(b"\n", end)
    assert b"".join(_run(chunks)) == expected


def test_usage_inside_a_chunk_of_choices_is_sent_as_it_came() -> None:
    """Some compatible servers put it there whether asked or not: the gateway cannot tell, and a usage
    member is a field the client's SDK reads, where a chunk without choices would not be expected."""
    spaced = b'data: {"usage": {"prompt_tokens": 5} , "id": "c", "choices": [{"delta": {}}]}\n\n'
    assert _run([IN_LAST, spaced]) == [IN_LAST, spaced]


def test_an_event_that_is_not_json_or_has_several_data_lines_is_sent_as_it_came() -> None:
    odd = b'data: {"usage":{"a":1},\ndata: "choices":[]}\n\ndata: {"usage":{"a":\n\n'
    assert b"".join(_run([odd])) == odd
