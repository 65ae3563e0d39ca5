"""The HTTP/1.1 parser and response framing."""

from __future__ import annotations

import pytest

from tokenomy.mockllm import http
from tokenomy.mockllm.http import HttpError, Parser

GET = b"GET /_mock/stats?requests=0 HTTP/1.1\r\nHost: x\r\nX-Mock-Error: 500\r\n\r\n"
POST = b'POST /v1/messages HTTP/1.1\r\nContent-Length: 11\r\nAccept: a\r\nAccept: b\r\n\r\n{"a": true}'


def test_parses_method_path_query_headers_and_body() -> None:
    (req,) = Parser(1000).feed(POST)
    assert (req.method, req.path, req.query, req.version) == ("POST", "/v1/messages", "", "HTTP/1.1")
    assert req.headers == {"content-length": "11", "accept": "a, b"}
    assert req.body == b'{"a": true}'
    (get,) = Parser(1000).feed(GET)
    assert (get.path, get.query, get.headers["x-mock-error"], get.body) == (
        "/_mock/stats",
        "requests=0",
        "500",
        b"",
    )


def test_pipelined_requests_and_byte_by_byte_delivery() -> None:
    parser = Parser(1000)
    assert [r.path for r in parser.feed(POST + GET + POST)] == [
        "/v1/messages",
        "/_mock/stats",
        "/v1/messages",
    ]
    done = []
    for i in range(len(POST)):
        done.extend(parser.feed(POST[i : i + 1]))
    assert [r.body for r in done] == [b'{"a": true}']


def test_chunked_request_body_is_decoded() -> None:
    raw = (
        b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n"
    )
    parser = Parser(1000)
    assert parser.feed(raw[:40]) == []
    (req,) = parser.feed(raw[40:] + GET)[:1]
    assert req.body == b"Wikipedia"


@pytest.mark.parametrize(
    ("version", "connection", "keep"),
    [
        ("HTTP/1.1", "", True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.0", "", False),
        ("HTTP/1.0", "keep-alive", True),
    ],
)
def test_keep_alive_follows_version_and_connection_header(version: str, connection: str, keep: bool) -> None:
    head = f"GET / {version}\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    (req,) = Parser(10).feed(head.encode())
    assert req.keep_alive is keep


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"NONSENSE\r\n\r\n", 400, "malformed request line"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, "malformed header"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413, "larger than the limit"),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, "whole number"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70_000, 431, "64 KiB"),
    ],
)
def test_bad_requests_raise_with_status_and_reason(raw: bytes, status: int, message: str) -> None:
    with pytest.raises(HttpError, match=message) as info:
        Parser(1000).feed(raw)
    assert info.value.status == status


def test_response_heads_and_chunks() -> None:
    lines = http.lines([("content-type", "application/json"), ("x-request-id", "req_1")])
    assert http.head(200, lines, length=2) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"x-request-id: req_1\r\ncontent-length: 2\r\n\r\n"
    )
    assert http.head(529, b"", length=None, keep_alive=False) == (
        b"HTTP/1.1 529 Overloaded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    assert http.head(200, b"", length=None, chunked=False) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert http.chunk(b"hello world!") == b"c\r\nhello world!\r\n"
    assert http.LAST_CHUNK == b"0\r\n\r\n"


def test_expect_100_continue_is_flagged_until_the_body_arrives() -> None:
    parser = Parser(1000)
    head = b"POST /v1/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    assert parser.feed(head) == []
    assert parser.expects_continue is True
    parser.expects_continue = False
    (req,) = parser.feed(b"{}")
    assert req.body == b"{}"
    assert parser.expects_continue is False
    assert http.CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
