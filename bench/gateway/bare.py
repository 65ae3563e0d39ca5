"""The floor of the gateway benchmark: a bare ASGI app on uvicorn (httptools, uvloop) answering canned bytes.

``python -m bench.gateway.bare --body FILE --port 0`` answers every request with the bytes of FILE
(a response the mock upstream sent, captured by the benchmark) as ``application/json``, and prints
``bare listening on http://host:port``. It is what any ASGI proxy costs before doing any work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from tokenomy.listen import bind

Message = MutableMapping[str, Any]


def app_for(body: bytes) -> Callable[[Message, Any, Any], Awaitable[None]]:
    """An ASGI app answering ``body`` to every HTTP request (and ignoring lifespan)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    end = {"type": "http.response.body", "body": body, "more_body": False}

    async def app(
        scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send(start)
        await send(end)

    return app


def main(argv: list[str]) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.gateway.bare")
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sock = bind("127.0.0.1", args.port)
    print(f"bare listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app_for(args.body.read_bytes()),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
