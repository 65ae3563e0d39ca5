"""Listening sockets for tokenomy's own servers (the collector, the gateway, their tests and benches).

One place decides how a port is bound: the first address the host resolves to, ``SO_REUSEADDR``
so a restart does not wait for old connections to time out, a deep accept backlog, and an
inheritable socket so that worker processes can share it; and how uvicorn serves it
(:func:`uvicorn_config`), and how a SIGTERM stops it (:func:`terminate_ends_cleanly`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any, Final

from tokenomy.errors import ConfigError

BACKLOG: Final = 2048
"""Connections the kernel may queue before the server accepts them."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one).

    Raises:
        ConfigError: The address cannot be resolved or bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from exc
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, **options: Any) -> Any:
    """The uvicorn ``Config`` both servers run with (``options`` added or overriding): uvloop and
    httptools when installed, lifespan events, no access log, no ``server`` header.

    uvicorn is imported here: callers check first that it is installed (the ``server`` extra).
    """
    import uvicorn  # noqa: PLC0415  (an optional dependency)

    settings: dict[str, Any] = {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
    }
    return uvicorn.Config(app, **(settings | options))


@contextlib.contextmanager
def terminate_ends_cleanly(server: object) -> Iterator[None]:
    """Make a SIGTERM a clean stop for a uvicorn ``server`` (the gateway, the collector): the process
    exits 0 once the server has drained.

    uvicorn handles SIGTERM with its graceful shutdown, then restores the handler it found and raises
    the signal again, so that with the default handler the process ends killed by SIGTERM (status
    143 in a shell, a failed stop for a container runtime or a service manager). The handler it
    finds here only asks the server to stop (``should_exit``): raised again after the drain it does
    nothing more, and ``serve`` returns; a SIGTERM that comes before uvicorn has put its own handler
    in place stops the server as uvicorn's would. Off the main thread (where no handler can be set)
    nothing changes. Ctrl-C keeps uvicorn's behaviour (a ``KeyboardInterrupt`` once drained).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True  # type: ignore[attr-defined]  # uvicorn.Server has no stubs

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
