"""The served gateway warms its metering, freezes its start-up heap out of the garbage collector and
raises its young generation's threshold before it says it is ready."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest
import uvicorn

from tests.gateway.support import memory_sink
from tokenomy import tokens
from tokenomy.errors import TokenizerError
from tokenomy.gateway import Gateway, GatewaySettings, Route
from tokenomy.gateway.run import YOUNG_THRESHOLD, serve
from tokenomy.pricing import Pricer

ROUTES = (Route(("*",), "openai", "http://openai.test/v1", api_key="sk-route"),)


def test_the_start_up_heap_is_frozen_before_the_ready_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's own start-up and serving are replaced (no requests are needed): the run only starts,
    so the callback sees what a started gateway has done."""
    ran: list[str] = []

    async def started(self: Any, sockets: list[socket.socket] | None = None) -> None:
        ran.append("startup")

    def run(self: Any, sockets: list[socket.socket] | None = None) -> None:
        asyncio.run(self.startup(sockets=sockets))  # the hook serve() put around startup
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "startup", started)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    gc.unfreeze()
    before = gc.get_threshold()
    ready: list[tuple[str, int, int, tuple[int, int, int]]] = []
    try:
        serve(
            Gateway(GatewaySettings(routes=ROUTES)),
            "127.0.0.1",
            0,
            on_ready=lambda host, port: ready.append((host, port, gc.get_freeze_count(), gc.get_threshold())),
        )
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
        gc.set_threshold(*before)
    assert ran == ["startup"]
    [(host, port, frozen, threshold)] = ready
    assert host == "127.0.0.1"
    assert port > 0
    assert frozen > 10_000  # the modules, the settings, the app: everything alive at start-up
    assert threshold == (YOUNG_THRESHOLD, *before[1:])  # the young generation only
    assert before[0] < YOUNG_THRESHOLD


def test_warm_loads_the_tokenizer_and_the_catalog_only_when_calls_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[object] = []
    monkeypatch.setattr(tokens, "get_encoding", loaded.append)

    def lookup(self: Pricer, **asked: object) -> None:
        loaded.append((asked["model"], asked["provider"]))

    monkeypatch.setattr(Pricer, "lookup", lookup)
    settings = GatewaySettings(routes=ROUTES)
    Gateway(settings).warm()  # neither a sink nor budgets: nothing is counted or priced
    assert loaded == []
    sink, _ = memory_sink()
    Gateway(settings, sink=sink).warm()  # no pricer: the tokenizer only
    Gateway(settings, sink=sink, pricer=Pricer()).warm()
    assert loaded == [tokens.O200K, tokens.O200K, ("gpt-4o-mini", "openai")]
    sink.shutdown(5)


def test_a_tokenizer_that_cannot_load_does_not_stop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise TokenizerError(f"the ranks of {name} are missing")

    monkeypatch.setattr(tokens, "get_encoding", broken)
    sink, _ = memory_sink()
    Gateway(GatewaySettings(routes=ROUTES), sink=sink).warm()  # the first call meets the error instead
    sink.shutdown(5)
