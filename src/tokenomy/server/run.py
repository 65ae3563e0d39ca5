"""Running the collector: uvicorn (httptools parser, uvloop when installed) serving :class:`Collector`.

One process owns the store (DuckDB allows one writer). The socket is bound before the server
starts, so a taken port is reported at once and ``--port 0`` knows its port. Ctrl-C or
SIGTERM stops accepting connections, lets requests in flight finish, writes what is queued and
closes the store; after a SIGTERM the process then exits 0 (a clean stop for a service manager).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tokenomy.errors import ConfigError
from tokenomy.listen import bind, terminate_ends_cleanly, uvicorn_config
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings


def serve(settings: ServerSettings, *, on_ready: Callable[[str, int], None] | None = None) -> None:
    """Serve until interrupted.

    Args:
        settings: Checked settings (see :func:`tokenomy.server.settings.with_env`).
        on_ready: Called with the bound host and port once the store and spool are ready.

    Raises:
        ConfigError: uvicorn is not installed (``pip install 'tokenomy[server]'``), the address
            cannot be bound, or the server could not start.
    """
    try:
        import uvicorn  # noqa: PLC0415  (an optional dependency: the `server` extra)
    except ImportError as exc:
        raise ConfigError("the collector needs uvicorn: pip install 'tokenomy[server]'") from exc
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    ready = (lambda: on_ready(str(host), int(port))) if on_ready is not None else None
    logging.getLogger("tokenomy.server").setLevel(logging.INFO)
    config = uvicorn_config(Collector(settings, on_ready=ready), timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    with terminate_ends_cleanly(server):  # a SIGTERM exits 0 once drained (killed by it, 143, before)
        server.run(sockets=[sock])
    if not server.started:
        raise ConfigError(
            "the collector could not start (see the message above: the store, the spool or the pricing "
            "overrides could not be prepared)"
        )
