"""Running the gateway on uvicorn (httptools parser, uvloop), with a graceful shutdown.

The socket is bound before the server starts, so a taken port is reported at once and ``--port
0`` knows its port. Ctrl-C or SIGTERM: ``/readyz`` turns 503, the listening socket closes, open
streams are relayed to their end (for at most ``drain_seconds``), then idle upstream connections
close and the sink delivers what it holds; after a SIGTERM the process then exits 0 (a clean stop
for a service manager), after Ctrl-C with a ``KeyboardInterrupt`` (the CLI's status 130).

Once started, the gateway loads what the first metered call would (:meth:`Gateway.warm`: the
tokenizer's ranks, about half a second, and the price catalog), then the objects alive (the
modules, the price catalog, the settings: some 80,000) are moved out of the garbage collector's
reach with :func:`gc.freeze`. Metered calls wait up to a
second for the sink, so they outlive the young collections and bring on a full one every few
thousand requests; each full collection walked that whole start-up heap again (10-20 ms), which
came to several microseconds a request. Frozen objects are never freed, which costs nothing for a
heap that lives as long as the process.

The young generation's threshold is raised too (:data:`YOUNG_THRESHOLD` tracked objects instead of
700). A metered call's objects stay alive until the loop builds it and the sink delivers it, so with
the default a young collection came every few dozen requests and walked all the calls in flight,
about 4 µs of CPU a request in all; with the higher threshold the objects of most requests are freed
by their reference counts before one comes (measured: docs/gateway.md, "A larger young
generation"). Garbage in reference cycles waits a little longer for its collection, which bounds it
at the threshold's count of objects. Only the served process does either: an app that embeds
:class:`Gateway` keeps its own collector as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Final

from tokenomy.errors import ConfigError
from tokenomy.gateway.app import Gateway
from tokenomy.gateway.settings import check_exposure
from tokenomy.gateway.upstream import UpstreamError
from tokenomy.listen import BACKLOG, bind, terminate_ends_cleanly, uvicorn_config

YOUNG_THRESHOLD: Final = 10_000
"""The served gateway's young-generation threshold (CPython's default is 700; see the module docstring)."""


def serve(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 8800,
    *,
    drain_seconds: float = 30.0,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve until interrupted.

    Raises:
        ConfigError: uvicorn is missing (``pip install 'tokenomy[server]'``), the address cannot be
            bound, or it is beyond loopback with neither required keys nor a token
            (:func:`tokenomy.gateway.settings.check_exposure`), or ``drain_seconds`` is negative.
    """
    check_exposure(gateway.settings, host)
    drain = drain_time(drain_seconds)
    try:
        import uvicorn  # noqa: PLC0415  (an optional dependency: the `server` extra)
    except ImportError as exc:
        raise ConfigError("the gateway needs uvicorn: pip install 'tokenomy[server]'") from exc
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn_config(
        gateway,
        date_header=False,
        proxy_headers=False,  # the gateway reads neither the client's address nor the scheme
        timeout_graceful_shutdown=drain,
        timeout_keep_alive=30,
        backlog=BACKLOG,
    )
    server = uvicorn.Server(config)

    loop: list[asyncio.AbstractEventLoop] = []

    def started() -> None:
        loop.append(asyncio.get_running_loop())  # where a SIGHUP's reload runs
        gateway.warm()  # the tokenizer and the price catalog, loaded now rather than by the first call
        gc.freeze()  # the start-up heap, out of every later collection (the module docstring)
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])  # fewer young collections (idem)
        if on_ready is not None:
            on_ready(str(bound_host), int(bound_port))

    _announce(server, started)
    quiet = ExpectedCuts()
    errors = logging.getLogger("uvicorn.error")
    errors.addFilter(quiet)
    try:
        with terminate_ends_cleanly(server), _hangup_reloads_keys(gateway, loop):
            server.run(sockets=[sock])
    finally:
        errors.removeFilter(quiet)
        gc.unfreeze()  # the exit frees the start-up heap (DuckDB reports what is never freed as leaked)


class ExpectedCuts(logging.Filter):
    """uvicorn logs every exception that leaves the app as "Exception in ASGI application", with
    its traceback, at ERROR. The gateway raises on purpose to cut a client's stream the way the
    upstream cut it (an UpstreamError), and a shutdown past its drain time cancels the streams
    still open: both are expected, metered and counted, so they become one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record of an expected cut; pass every other record unchanged."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UpstreamError):
            why = f"the upstream cut a stream ({exc.message}); the client's was cut the same way"
        elif isinstance(exc, asyncio.CancelledError):
            why = "a stream still open when the drain time ended was cut"
        else:
            return True
        record.msg, record.args = f"tokenomy gateway: {why}", ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _hangup_reloads_keys(gateway: Gateway, loop: list[asyncio.AbstractEventLoop]) -> Iterator[None]:
    """SIGHUP re-reads the virtual keys at once (``systemctl reload``, ``kill -HUP``), instead of its
    default action, which ended the process on the spot: no drain, and the calls the sink still held
    were lost. The reload runs on the event loop (``loop`` holds it once started; a SIGHUP before
    that is ignored: the keys are read at start) and says what it found on stderr. Off the main
    thread (or without SIGHUP) nothing changes."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        yield
        return

    def hangup(signum: int, frame: object) -> None:
        if loop:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the process is ending
                loop[0].call_soon_threadsafe(reload_keys, gateway)

    previous = signal.signal(signal.SIGHUP, hangup)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def reload_keys(gateway: Gateway) -> str:
    """Re-read the gateway's virtual keys now; the line it prints on stderr (and returns)."""
    keys = gateway.keys
    if keys is None:
        line = "tokenomy gateway: SIGHUP: this gateway checks no virtual keys; nothing to reload"
    else:
        failures = keys.failures
        keys.reload()
        line = (
            f"tokenomy gateway: SIGHUP: virtual keys reloaded ({keys.known} known)"
            if keys.failures == failures
            else f"tokenomy gateway: SIGHUP: the virtual keys could not be reloaded ({keys.last_error}); "
            f"serving the {keys.known} already known"
        )
    print(line, file=sys.stderr, flush=True)
    return line


def drain_time(drain_seconds: float) -> float:
    """uvicorn's graceful-shutdown timeout for ``drain_seconds``: the seconds as given (uvicorn waits
    with ``asyncio.wait_for``, which takes fractions; ``int()`` cut 0.5 to 0), and at least a
    millisecond, since at 0 ``wait_for`` gives up before even a shutdown with nothing open can finish,
    and uvicorn then logs "Cancel 0 running task(s), timeout graceful shutdown exceeded" at ERROR.

    Raises:
        ConfigError: ``drain_seconds`` is negative or not a number.
    """
    if not drain_seconds >= 0:  # NaN too
        raise ConfigError(f"the drain time must be 0 seconds or more, not {drain_seconds}")
    return max(drain_seconds, 0.001)


def _announce(server: object, ready: Callable[[], None]) -> None:
    """Call ``ready`` once uvicorn has started (after its startup hook)."""
    startup = server.startup  # type: ignore[attr-defined]  # uvicorn.Server has no stubs for this hook

    async def started(sockets: list[socket.socket] | None = None) -> None:
        await startup(sockets=sockets)
        ready()

    server.startup = started  # type: ignore[attr-defined]  # see above
