from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenomy.usage import SSEDecoder, SSEEvent, iter_json_events, parse_sse

STREAM = (
    b": keep-alive comment\n"
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b"data: line one\n"
    b"data:line two\n"
    b"\n"
    b"event: only-a-name\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"type":"message_start"}'),
    SSEEvent(None, "line one\nline two"),
    SSEEvent(None, "[DONE]"),
]


def test_parse_sse_reads_events_comments_and_multiline_data() -> None:
    assert list(parse_sse(STREAM)) == EXPECTED


def test_crlf_and_bare_cr_line_ends_are_equivalent_to_lf() -> None:
    assert list(parse_sse(STREAM.replace(b"\n", b"\r\n"))) == EXPECTED
    assert list(parse_sse(STREAM.replace(b"\n", b"\r"))) == EXPECTED


def test_text_input_is_accepted() -> None:
    assert list(parse_sse(STREAM.decode())) == EXPECTED


def test_trailing_event_without_blank_line_is_still_emitted() -> None:
    assert list(parse_sse(b'data: {"a": 1}\n\ndata: {"b": 2}')) == [
        SSEEvent(None, '{"a": 1}'),
        SSEEvent(None, '{"b": 2}'),
    ]


def test_field_without_colon_and_unknown_fields_are_ignored() -> None:
    assert list(parse_sse(b"data\nid: 7\nretry: 10\nfoo: bar\ndata: x\n\n")) == [SSEEvent(None, "\nx")]


def test_only_one_leading_space_is_stripped() -> None:
    assert list(parse_sse(b"data:  two spaces\n\n")) == [SSEEvent(None, " two spaces")]


def test_utf8_character_split_across_chunks_is_decoded() -> None:
    raw = 'data: {"t": "héllo ✓"}\n\n'.encode()
    decoder = SSEDecoder()
    events = [e for i in range(len(raw)) for e in decoder.feed(raw[i : i + 1])] + decoder.close()
    assert events == [SSEEvent(None, '{"t": "héllo ✓"}')]


def test_crlf_split_between_chunks_does_not_make_an_extra_blank_line() -> None:
    decoder = SSEDecoder()
    first = decoder.feed(b"data: a\r")
    second = decoder.feed(b"\ndata: b\r")
    third = decoder.feed(b"\n\r\n")
    assert (first, second, third) == ([], [], [SSEEvent(None, "a\nb")])


def test_a_long_line_in_many_small_chunks_is_kept_whole() -> None:
    decoder = SSEDecoder()
    payload = "x" * 10_000
    raw = f"data: {payload}\n\n".encode()
    events = [e for i in range(0, len(raw), 7) for e in decoder.feed(raw[i : i + 7])]
    assert events == [SSEEvent(None, payload)]


@settings(deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), unique=True, max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    decoder = SSEDecoder()
    events = [e for a, b in itertools.pairwise(bounds) for e in decoder.feed(STREAM[a:b])]
    assert events + decoder.close() == EXPECTED


def test_iter_json_events_skips_done_invalid_and_non_objects() -> None:
    raw = b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"cut": \n\ndata: [1, 2]\n\ndata: {"b": 2}\n\n'
    assert list(iter_json_events(raw)) == [{"a": 1}, {"b": 2}]


def test_iter_json_events_accepts_parsed_events() -> None:
    assert list(iter_json_events([SSEEvent("x", '{"k": true}')])) == [{"k": True}]


def test_stream_cut_inside_the_last_event_yields_the_complete_ones() -> None:
    raw = b'data: {"a": 1}\n\ndata: {"b": 2, "c": [1, 2'
    assert list(iter_json_events(raw)) == [{"a": 1}]


def test_close_flushes_complete_lines_held_behind_a_carriage_return() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r\n\r") == []
    assert decoder.close() == [SSEEvent(None, "a")]


def test_a_held_carriage_return_before_a_chunk_without_line_ends() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("data: b") == []
    assert decoder.close() == [SSEEvent(None, "a\nb")]
