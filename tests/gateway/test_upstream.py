"""The pool transport against the mock upstream: keep-alive reuse, chunks as they arrive, failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from tokenomy.gateway.upstream import PoolTransport, UpstreamError, UpstreamRequest
from tokenomy.mockllm import MockThread

BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()


def _request(base: str, body: bytes = BODY, headers: dict[str, str] | None = None) -> UpstreamRequest:
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    sent = [(b"content-type", b"application/json"), *extra]
    return UpstreamRequest("POST", f"{base}/chat/completions", sent, body, 2.0, 2.0)


def test_plain_answers_reuse_one_connection(mock: MockThread) -> None:
    async def main() -> list[int]:
        pool = PoolTransport()
        statuses = []
        for _ in range(5):
            response = await pool.send(_request(mock.openai_base_url))
            body = json.loads(await response.read())
            statuses.append(response.status)
            assert body["usage"]["completion_tokens"] == 16
        idle = sum(len(v) for v in pool._idle.values())
        await pool.aclose()
        return [*statuses, idle]

    assert asyncio.run(main()) == [200, 200, 200, 200, 200, 1]


def test_stream_chunks_arrive_one_by_one(mock: MockThread) -> None:
    stream = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ).encode()

    async def main() -> list[bytes]:
        pool = PoolTransport()
        response = await pool.send(
            _request(mock.openai_base_url, stream, headers={"X-Mock-Chunk-Delay-Ms": "5"})
        )
        chunks = [c async for c in response.chunks()]
        await pool.aclose()
        return chunks

    chunks = asyncio.run(main())
    assert len(chunks) >= 17  # the token frames are written 5 ms apart: never merged here
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


def test_failures_are_upstream_errors(mock: MockThread) -> None:
    async def main(request: UpstreamRequest) -> None:
        pool = PoolTransport()
        try:
            response = await pool.send(request)
            await response.read()
        finally:
            await pool.aclose()

    with pytest.raises(UpstreamError) as hung:
        asyncio.run(main(_request(mock.openai_base_url, headers={"X-Mock-Error": "hangup"})))
    assert hung.value.kind == "protocol"
    stall = _request(mock.openai_base_url, headers={"X-Mock-Error": "stall", "X-Mock-Stall-Ms": "3000"})
    stall.read_timeout = 0.2
    with pytest.raises(UpstreamError) as slow:
        asyncio.run(main(stall))
    assert slow.value.kind == "timeout"
    with pytest.raises(UpstreamError) as refused:
        asyncio.run(main(_request("http://127.0.0.1:1/v1")))
    assert refused.value.kind == "connect"


def _raw_handler(
    answers: list[bytes],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A server's handler answering the n-th connection's request with ``answers[n]``, then closing."""
    left = list(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(left.pop(0))
        await writer.drain()
        writer.close()

    return handle


def test_a_small_answer_cut_short_is_a_protocol_error() -> None:
    async def main() -> tuple[str, bytes]:
        handle = _raw_handler(
            [
                b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n" + b"x" * 20,
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            ]
        )
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport()
        with pytest.raises(UpstreamError) as cut:
            await pool.send(_request(f"http://127.0.0.1:{port}"))
        whole = await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        await pool.aclose()
        server.close()
        return cut.value.kind, whole

    assert asyncio.run(main()) == ("protocol", b"hello")


def _chunked_answer(chunks: list[bytes]) -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


def test_chunks_larger_than_the_read_buffer_arrive_whole() -> None:
    """The connection stops reading while much waits unread (twice the 64 KiB limit); a chunk
    larger than that must still arrive whole, and a run of small ones after it, in order."""
    big = bytes(range(256)) * 1200  # 307,200 bytes: more than 2 x 64 KiB in one chunk
    small = [b"%05d" % n * 40 for n in range(1000)]  # 200 kB in 1,000 chunks

    async def main() -> list[bytes]:
        server = await asyncio.start_server(_raw_handler([_chunked_answer([big, *small])]), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport()
        response = await pool.send(_request(f"http://127.0.0.1:{port}"))
        got = []
        async for chunk in response.chunks():
            got.append(chunk)
            await asyncio.sleep(0)  # a consumer slower than the socket: the unread part grows
        await pool.aclose()
        server.close()
        return got

    assert asyncio.run(main()) == [big, *small]


def _counting_server(
    answer: bytes, close_after: float | None
) -> tuple[Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], list[int]]:
    """A keep-alive server answering its first request on each connection with ``answer``; the
    second request on a connection is read (and counted) and then, ``close_after`` seconds later,
    the connection is closed unanswered (None: closed while idle, before any second request)."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        seen.append(1)
        writer.write(answer)
        await writer.drain()
        if close_after is not None:
            await reader.readuntil(b"\r\n\r\n")
            seen.append(2)
            await asyncio.sleep(close_after)
        writer.close()

    return handle, seen


OK_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


def test_a_connection_closed_while_idle_is_not_used() -> None:
    async def main() -> tuple[bytes, list[int]]:
        handle, seen = _counting_server(OK_ANSWER, None)
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport(stale_window=0.0)  # no retry: the closed connection must be left out
        await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        second = await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        await pool.aclose()
        server.close()
        return second, seen

    assert asyncio.run(main()) == (b"hello", [1, 1])  # two connections, one request each


def test_a_reused_connection_closed_at_once_is_retried_once() -> None:
    """The server's idle close crossing the request (it reads the request and closes at once):
    sent again on a new connection."""

    async def main() -> tuple[bytes, list[int]]:
        handle, seen = _counting_server(OK_ANSWER, 0.0)
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport(stale_window=5.0)
        await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        second = await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        await pool.aclose()
        server.close()
        return second, seen

    assert asyncio.run(main()) == (b"hello", [1, 2, 1])


def test_a_reused_connection_closed_late_is_not_sent_again() -> None:
    """An upstream that took the prompt and closed later may have begun on it (and billed it): the
    failure is the upstream's, and the request is not sent a second time."""

    async def main() -> tuple[str, list[int]]:
        handle, seen = _counting_server(OK_ANSWER, 0.3)
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport(stale_window=0.1)
        await (await pool.send(_request(f"http://127.0.0.1:{port}"))).read()
        with pytest.raises(UpstreamError) as failed:
            await pool.send(_request(f"http://127.0.0.1:{port}"))
        await asyncio.sleep(0.05)
        await pool.aclose()
        server.close()
        return failed.value.kind, seen

    assert asyncio.run(main()) == ("protocol", [1, 2])


def test_a_stale_retry_goes_to_a_new_connection_once_not_through_the_pool() -> None:
    """Many idle connections to an upstream that reads each request and resets at once: the prompt
    is written on one of them and on one new connection, never on every idle one in turn."""

    async def main() -> tuple[str, int]:
        served: list[int] = []
        first: list[bool] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            served.append(1)
            if len(first) < 4:  # the pool's first four connections answer once, then reset
                first.append(True)
                writer.write(OK_ANSWER)
                await writer.drain()
                await reader.readuntil(b"\r\n\r\n")
                served.append(2)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = PoolTransport(stale_window=5.0)
        answers = await asyncio.gather(*(pool.send(_request(f"http://127.0.0.1:{port}")) for _ in range(4)))
        for answer in answers:
            await answer.read()
        served.clear()
        with pytest.raises(UpstreamError) as failed:
            await pool.send(_request(f"http://127.0.0.1:{port}"))
        await pool.aclose()
        server.close()
        return failed.value.kind, len(served)

    assert asyncio.run(main()) == ("protocol", 2)  # one idle connection, then one new one
