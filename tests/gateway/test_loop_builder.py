"""Calls built on the event loop after the answer, handed to the sink; the sink's guarantees kept."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest

from tests.gateway.support import ListTarget, asgi_call, calls_of, chat_completion, memory_sink
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.gateway import (
    Gateway,
    GatewaySettings,
    HandlerTransport,
    Route,
    UpstreamRequest,
    UpstreamResponse,
)
from tokenomy.gateway.building import BUILD_DELAY, BUILD_SLICE, LoopBuilder
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.schema import Attribution, Call

CHAT = chat_completion("chatcmpl-000000000007", "gpt-4o-mini", completion=2)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


class Recorded:
    """A pending capture that remembers the thread that built it (or fails to build)."""

    def __init__(self, number: int, fail: bool = False) -> None:
        self.number, self.fail = number, fail
        self.built_on: list[str] = []

    def build(self) -> Call:
        self.built_on.append(threading.current_thread().name)
        if self.fail:
            raise ValueError(f"unreadable answer {self.number}")
        exchange = Exchange(
            SURFACES["/v1/chat/completions"], "openai", BODY, Attribution(), None, time.time_ns(), status=200
        )
        exchange.body = json.dumps({**CHAT, "id": f"chatcmpl-{self.number:012d}"}).encode()
        return build_call(exchange)


async def _ok(request: UpstreamRequest) -> UpstreamResponse:
    return UpstreamResponse.of(200, json.dumps(CHAT).encode(), [(b"content-type", b"application/json")])


def _sink(queue_size: int = 100) -> tuple[Sink, ListTarget]:
    """A sink whose thread wakes only when flushed (so any build before that is the loop's)."""
    target = ListTarget()
    settings = SinkSettings(queue_size=queue_size, batch_size=1000, flush_interval=30, spool_dir=None)
    return Sink(target, settings), target


def _gateway() -> tuple[Gateway, ListTarget]:
    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://upstream.test/v1", api_key="sk-r"),))
    return Gateway(settings, transport=HandlerTransport(_ok), sink=sink), target


def test_the_call_is_built_on_the_loop_after_the_answer_and_counted_then() -> None:
    app, target = _gateway()
    builder = app.proxy.builder
    assert builder is not None

    async def scenario() -> tuple[int, dict[str, int], int, dict[str, int]]:
        answer = await asgi_call(app, "/v1/chat/completions", BODY)
        assert answer.json() == CHAT
        waiting, tokens = builder.waiting, dict(app.metrics.tokens)  # the answer is out, nothing built
        await _built(builder)
        return waiting, tokens, builder.waiting, dict(app.metrics.tokens)

    waiting, tokens, waiting_after, tokens_after = asyncio.run(scenario())
    assert (waiting, tokens) == (1, {})
    assert waiting_after == 0
    assert tokens_after == {"input_unsplit": 9, "output_unsplit": 2}  # totals without a split
    assert app.sink is not None
    [call] = calls_of(app.sink, target)
    assert (call.id, call.usage.input_total, call.usage.output_total) == ("chatcmpl-000000000007", 9, 2)
    app.sink.shutdown(5)


async def _built(builder: LoopBuilder) -> None:
    """Let the loop run until the builder has built everything (bounded: a few seconds at most)."""
    for _ in range(500):
        if not builder.waiting:
            return
        await asyncio.sleep(BUILD_DELAY)
    raise AssertionError(f"{builder.waiting} exchanges still unbuilt")


def test_exchanges_are_built_on_the_loop_thread_a_slice_at_a_time_in_order() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink, delay=0)
    items = [Recorded(n) for n in range(BUILD_SLICE * 2 + 3)]
    seen: list[int] = []

    async def scenario() -> str:
        for item in items:
            builder.submit(item)
        while builder.waiting:
            await asyncio.sleep(0)  # one turn of the loop: at most one slice built per callback
            seen.append(builder.waiting)
        return threading.current_thread().name

    loop_thread = asyncio.run(scenario())
    assert all(item.built_on == [loop_thread] for item in items)
    steps = [a - b for a, b in zip([len(items), *seen], seen, strict=False) if a != b]
    assert steps == [BUILD_SLICE, BUILD_SLICE, 3]
    calls = calls_of(sink, target, expect=len(items))
    assert [c.id for c in calls] == [f"chatcmpl-{n:012d}" for n in range(len(items))]
    sink.shutdown(5)


def test_a_failed_build_is_counted_and_logged_by_the_sink_and_the_others_go_on() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink)
    good, bad = Recorded(1), Recorded(2, fail=True)

    async def scenario() -> None:
        builder.submit(bad)  # never raises into the request path
        builder.submit(good)
        await _built(builder)

    asyncio.run(scenario())
    assert len(bad.built_on) == 1  # built once, on the loop; the sink raises the stored error
    assert not sink.flush(10.0)  # as for any build the sink failed: a record was lost
    assert [c.id for c in target.records if isinstance(c, Call)] == ["chatcmpl-000000000001"]
    stats = sink.stats()
    assert (stats.dropped, stats.errors, stats.sent) == (1, 1, 1)
    sink.shutdown(5)


def test_the_sink_builds_what_the_loop_did_not_get_to() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink)
    item = Recorded(3)

    loop = asyncio.new_event_loop()

    async def scenario() -> None:
        builder.submit(item)
        loop.stop()  # the loop ends before its next turn, where the build was due

    task = loop.create_task(scenario())
    loop.run_forever()
    assert task.done()
    loop.close()
    assert item.built_on == []
    [call] = calls_of(sink, target)
    assert call.id == "chatcmpl-000000000003"
    assert item.built_on == ["tokenomy-sink"]
    later = Recorded(6)

    async def on_another_loop() -> None:
        builder.submit(later)  # the callback the stopped loop never ran does not hold this one up
        await _built(builder)

    asyncio.run(on_another_loop())
    assert len(later.built_on) == 1
    assert later.built_on != ["tokenomy-sink"]
    assert builder.waiting == 0
    sink.shutdown(5)


def test_drain_builds_everything_waiting_at_once() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink)
    items = [Recorded(n) for n in range(BUILD_SLICE + 5)]

    async def scenario() -> int:
        for item in items:
            builder.submit(item)
        builder.drain()
        return builder.waiting

    assert asyncio.run(scenario()) == 0
    assert all(len(item.built_on) == 1 for item in items)
    assert len(calls_of(sink, target, expect=len(items))) == len(items)
    sink.shutdown(5)


def test_an_exchange_the_full_sink_dropped_is_not_built() -> None:
    sink, target = _sink(queue_size=1)
    builder = LoopBuilder(sink)
    kept, dropped = Recorded(4), Recorded(5)

    async def scenario() -> None:
        builder.submit(kept)
        builder.submit(dropped)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert len(kept.built_on) == 1
    assert dropped.built_on == []
    assert sink.stats().dropped == 1
    assert sink.flush(10.0) is False  # the dropped exchange never reaches the target: the flush says so
    [call] = [r for r in target.records if isinstance(r, Call)]
    assert call.id == "chatcmpl-000000000004"
    assert sink.flush(10.0) is True  # nothing lost since
    sink.shutdown(5)


def test_a_run_of_exchanges_waits_the_delay_then_is_built_together() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink, delay=2.0, per_turn=4)
    items = [Recorded(n) for n in range(6)]
    seen: list[tuple[float, int]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        now = [loop.time()]
        loop.time = lambda: now[0]  # type: ignore[method-assign]  # the loop's clock, moved by hand
        for item in items[:3]:
            builder.submit(item)
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append((1.9, builder.waiting))  # turns of the loop, but not yet the delay
        now[0] += 1.0
        builder.submit(items[3])  # joins the run: its build is not put off again
        await asyncio.sleep(0)
        now[0] += 0.9
        await asyncio.sleep(0)
        seen.append((0.1, builder.waiting))
        now[0] += 0.2
        for item in items[4:]:
            builder.submit(item)
        while builder.waiting:
            before = builder.waiting
            await asyncio.sleep(0)
            seen.append((0.0, before - builder.waiting))

    asyncio.run(scenario())
    assert seen[:2] == [(1.9, 3), (0.1, 4)]
    assert [step for _, step in seen[2:] if step] == [4, 2]  # the due run, a slice a turn
    calls = calls_of(sink, target, expect=len(items))
    assert [c.id for c in calls] == [f"chatcmpl-{n:012d}" for n in range(len(items))]
    sink.shutdown(5)


def test_the_builder_refuses_a_negative_delay_or_an_empty_slice() -> None:
    sink, _ = _sink()
    for delay, per_turn in ((-0.1, 8), (0.0, 0)):
        expected = f"LoopBuilder needs delay >= 0 and per_turn >= 1, not {delay} and {per_turn}"
        with pytest.raises(ValueError, match=re.escape(expected)):
            LoopBuilder(sink, delay=delay, per_turn=per_turn)
    sink.shutdown(5)


def test_while_the_sinks_thread_holds_the_lock_the_loop_builds_nothing_and_tries_again_later() -> None:
    sink, target = _sink()
    builder = LoopBuilder(sink, delay=0)
    items = [Recorded(n) for n in range(3)]

    async def scenario() -> tuple[int, int]:
        builder._building.acquire()  # as the sink's thread does while it builds an item itself
        try:
            for item in items:
                builder.submit(item)
            for _ in range(20):
                await asyncio.sleep(0)  # turns of the loop: the builder's callback finds the lock taken
            held = builder.waiting
        finally:
            builder._building.release()
        await _built(builder)
        return held, builder.waiting

    held, left = asyncio.run(scenario())
    assert (held, left) == (3, 0)
    assert all(len(item.built_on) == 1 and item.built_on[0] != "tokenomy-sink" for item in items)
    calls = calls_of(sink, target, expect=len(items))
    assert [c.id for c in calls] == [f"chatcmpl-{n:012d}" for n in range(3)]
    sink.shutdown(5)
