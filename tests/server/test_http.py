"""Bodies are bounded while they are read and while they inflate; encodings are checked."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any

import pytest

from tokenomy.errors import PayloadError
from tokenomy.server.http import Request, inflate


def _request(body: bytes, headers: dict[str, str], chunk: int = 1000) -> tuple[Request, list[int]]:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    served: list[int] = []

    async def receive() -> dict[str, Any]:
        index = len(served)
        served.append(index)
        return {"type": "http.request", "body": pieces[index], "more_body": index < len(pieces) - 1}

    scope = {
        "method": "POST",
        "path": "/v1/events",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    return Request.from_scope(scope, receive), served


def _body(body: bytes, headers: dict[str, str], limit: int) -> tuple[bytes, int]:
    request, served = _request(body, headers)
    return asyncio.run(request.body(limit)), len(served)


def test_a_body_within_the_limit_is_read_whole() -> None:
    assert _body(b"x" * 2500, {}, 10_000) == (b"x" * 2500, 3)


def test_a_large_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    request, served = _request(b"x" * 100_000, {})
    with pytest.raises(PayloadError) as caught:
        asyncio.run(request.body(2500))
    assert caught.value.status == 413
    assert len(served) == 3  # stopped after the chunk that went over, not at the end


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, served = _request(b"x" * 10, {"content-length": "999999"})
    with pytest.raises(PayloadError, match="Content-Length says 999999") as caught:
        asyncio.run(request.body(1000))
    assert caught.value.status == 413
    assert served == []


def test_gzip_is_inflated() -> None:
    assert _body(gzip.compress(b"hello" * 100), {"content-encoding": "gzip"}, 10_000)[0] == b"hello" * 100


def test_every_member_of_a_gzip_body_is_inflated_and_trailing_bytes_are_refused() -> None:
    """Two gzip members (``cat a.gz b.gz``, as some senders build a body) are one body, as ``gzip -dc``
    reads it: the second was dropped, and its records acknowledged unstored."""
    two = gzip.compress(b'{"id": "a"}\n') + gzip.compress(b'{"id": "b"}\n')
    assert inflate(two, 10_000) == b'{"id": "a"}\n{"id": "b"}\n'
    with pytest.raises(PayloadError, match="inflates past it"):  # the limit counts every member
        inflate(gzip.compress(b"x" * 6_000) + gzip.compress(b"y" * 6_000), 10_000)
    with pytest.raises(PayloadError, match="not valid gzip") as caught:
        inflate(gzip.compress(b"abc") + b"trailing junk", 10_000)
    assert caught.value.status == 400


def test_a_gzip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadError, match="inflates past it") as caught:
        inflate(bomb, 1_000_000)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not gzip at all", "not valid gzip"),
        (gzip.compress(b"abc" * 1000)[:-20], "cut short"),
        (b"", "cut short"),
    ],
)
def test_bad_gzip_is_a_400(data: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        inflate(data, 10_000)
    assert caught.value.status == 400


def test_an_unknown_encoding_is_a_415() -> None:
    request, _ = _request(zlib.compress(b"x"), {"content-encoding": "br"})
    with pytest.raises(PayloadError, match="'br' is not supported") as caught:
        asyncio.run(request.body(1000))
    assert caught.value.status == 415


def test_headers_and_query_are_read() -> None:
    scope = {
        "method": "GET",
        "path": "/api/v1/calls",
        "query_string": b"limit=5&model=gpt-4o",
        "headers": [(b"Content-Type", b"application/json; charset=utf-8"), (b"x-a", b"1"), (b"x-a", b"2")],
    }
    request = Request.from_scope(scope, None)  # type: ignore[arg-type]
    assert request.query == {"limit": "5", "model": "gpt-4o"}
    assert request.media_type == "application/json"
    assert request.headers["x-a"] == "1, 2"
