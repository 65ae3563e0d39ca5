"""Running the mock: :class:`MockLLMServer` on an event loop, or :func:`run_in_thread` for sync code.

The server binds 127.0.0.1 by default and uses uvloop when it is installed (``uvloop=False``
to use the standard loop). In a thread it gets its own event loop, so synchronous tests and
SDK clients can talk to it while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from tokenomy.errors import ConfigError
from tokenomy.mockllm.app import App
from tokenomy.mockllm.config import MockLLMConfig
from tokenomy.mockllm.connection import Connection
from tokenomy.mockllm.counting import Count, Counter

T = TypeVar("T")
LOCALHOST = "127.0.0.1"


def new_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop's when asked for and installed, else asyncio's."""
    if use_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop  # noqa: PLC0415 - optional dependency (absent on Windows)

            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class MockLLMServer:
    """The mock upstream on the running event loop.

    Example::

        async with MockLLMServer(MockLLMConfig(seed=1)) as server:
            client = AsyncOpenAI(base_url=server.openai_base_url, api_key="test")
    """

    def __init__(self, config: MockLLMConfig | None = None, *, count: Count | None = None) -> None:
        """Args:
        config: The settings (defaults when None).
        count: A token counter ``(text, model) -> int`` to use instead of the default.
        """
        self.config = config or MockLLMConfig()
        self.app = App(self.config, Counter(count) if count else None)
        self.host = LOCALHOST
        self.port = 0
        self._server: asyncio.Server | None = None
        self._live: set[Connection] = set()

    async def start(self, host: str = LOCALHOST, port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks a free one); return the bound (host, port)."""
        loop = asyncio.get_running_loop()
        max_body = self.config.max_body_bytes
        try:
            self._server = await loop.create_server(
                lambda: Connection(self.app.handle, max_body, self._live), host, port, backlog=2048
            )
        except OSError as exc:
            raise ConfigError(
                f"the mock LLM server cannot listen on {host}:{port}: {exc.strerror or exc}; "
                "choose another port (0 picks a free one)"
            ) from exc
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        return self.host, self.port

    async def stop(self) -> None:
        """Stop listening and close every open connection (answers in progress end as cut)."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._live):
            connection.close()
        for _ in range(200):  # at most ~1 s for the transports to report their connections lost
            if not self._live:
                break
            await asyncio.sleep(0.005)
        await self._server.wait_closed()
        self._server = None
        await asyncio.sleep(0)  # let the cancelled answers run their accounting

    @property
    def base_url(self) -> str:
        """``http://host:port`` (Anthropic SDK base URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://host:port/v1`` (OpenAI SDK base URL)."""
        return self.base_url + "/v1"

    def stats(self, *, with_requests: bool = True) -> dict[str, Any]:
        """What was served so far (the same JSON as ``GET /_mock/stats``)."""
        return self.app.stats(with_requests=with_requests)

    def reset(self) -> None:
        """Forget what was served; empty the prompt caches; restart the random sequence."""
        self.app.reset()

    async def __aenter__(self) -> MockLLMServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class MockThread:
    """A :class:`MockLLMServer` running on its own event loop in a daemon thread."""

    def __init__(
        self, server: MockLLMServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.server = server
        self._loop = loop
        self._thread = thread

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port`` (Anthropic SDK base URL)."""
        return self.server.base_url

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:port/v1`` (OpenAI SDK base URL)."""
        return self.server.openai_base_url

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stats(self, *, with_requests: bool = True) -> dict[str, Any]:
        """What was served so far, read safely from the server's thread."""
        return self.call(_async(self.server.stats, with_requests=with_requests))

    def reset(self) -> None:
        """Forget what was served (see :meth:`MockLLMServer.reset`)."""
        self.call(_async(self.server.reset))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and its thread."""
        if not self._thread.is_alive():
            return
        self.call(self.server.stop(), timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> MockThread:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _async(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def run_in_thread(
    config: MockLLMConfig | None = None,
    *,
    host: str = LOCALHOST,
    port: int = 0,
    uvloop: bool = True,
    count: Count | None = None,
) -> MockThread:
    """Start the mock in a background thread and return once it listens.

    Args:
        config: The settings (defaults when None).
        host: Interface to bind (loopback by default).
        port: Port to bind (0: a free one; read it from ``.base_url``).
        uvloop: Use uvloop when installed.
        count: A token counter to use instead of the default.

    Returns:
        A handle with ``base_url``, ``openai_base_url``, ``stats()``, ``reset()`` and ``stop()``;
        also a context manager.
    """
    server = MockLLMServer(config, count=count)
    loop = new_loop(uvloop)
    started: list[BaseException | None] = []
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start(host, port))
            started.append(None)
        except BaseException as exc:  # report any start failure to the caller's thread
            started.append(exc)
        ready.set()
        if started[0] is None:
            loop.run_forever()
        loop.close()

    thread = threading.Thread(target=main, name="tokenomy-mock-llm", daemon=True)
    thread.start()
    ready.wait()
    if started[0] is not None:
        raise started[0]
    return MockThread(server, loop, thread)
