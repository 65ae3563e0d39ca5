"""Listening sockets for tokenomy's own servers (the collector, the gateway, their tests and benches).

One place decides how a port is bound: the first address the host resolves to, ``SO_REUSEADDR``
so a restart does not wait for old connections to time out, a deep accept backlog, and an
inheritable socket so that worker processes can share it.
"""

from __future__ import annotations

import socket
from typing import Final

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
