"""Watching a stream the caller reads: its events, first token, end, error or abandonment.

The SDKs' stream objects iterate an inner iterator (``stream._iterator``). Instrumenting
replaces it, on that very object (so its type, attributes and helpers are unchanged), with a
generator that passes every event through, keeping a reference to it and the time of the first
event that carries output (``ttft_ms``). The call is recorded when the stream ends:

* read to the end: as reported;
* an error raised while reading (an in-stream error, a cut connection): with that error;
* abandoned half way: the generator is closed (``stream.close()``, leaving a ``with`` block,
  or garbage collection) or the response is closed under it (the stream helpers close the
  response directly): recorded as cancelled, with what had arrived.

For a route read from the events' data text (``Route.raw``: OpenAI chat), the stream's event
reader is wrapped too (:func:`keep_data`), and what is kept for the sink's thread is each event's
data ``str`` rather than the SDK's object: strings are not tracked by the garbage collector, where
the objects, alive until the sink's thread read them, made the collections in the caller's threads
more frequent and longer.

The close hook on the response holds only the :class:`StreamWatch`, never the stream or its
generators, and the data-text reader set on the stream holds the stream only weakly, so neither
creates a reference cycle: the Anthropic SDK relies on a dropped stream being closed by reference
counting, and a finished stream, its response and its buffers are freed as soon as the caller
drops it, as a bare client's are (not left to the garbage collector).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from tokenomy.capture.captured import ABANDONED, DONE, FAILED, Captured
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.core import Sink


class StreamWatch:
    """The live state of one stream, shared by its iterator wrapper and its close hook."""

    __slots__ = ("_lock", "captured", "done", "is_output", "keep", "running", "sink", "waiting_first")

    def __init__(self, captured: Captured, sink: Sink) -> None:
        self.captured = captured
        self.sink = sink
        self.is_output = captured.route.is_output
        self.running = False
        self.done = False
        self.waiting_first = True
        self.keep = True  # False once the events' data text is kept instead (see keep_data)
        self._lock = threading.Lock()
        captured.items = []

    def take(self, item: Any) -> None:
        """Keep one event; the first one carrying output sets the time to first token."""
        if self.keep:
            items = self.captured.items
            if items is not None:
                items.append(item)
        if self.waiting_first:
            try:
                found = self.is_output is None or self.is_output(item)
            except Exception:  # an odd event must never reach the caller as an error
                found = False
            if found:
                self.waiting_first = False
                self.captured.ttft_ns = time.perf_counter_ns() - self.captured.t0

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """Record the call once: at the end, on an error, or when abandoned."""
        with self._lock:
            if self.done:
                return
            self.done = True
        captured = self.captured
        try:
            captured.latency_ns = time.perf_counter_ns() - captured.t0
            captured.end = end
            if error is not None:
                captured.error = captured.client.adapter.classify(error)
            self.sink.submit(captured.settled())
        except Exception as exc:  # this runs inside the caller's loop over the stream: never raise there
            RUNTIME.log.note("capture", f"tokenomy capture: could not record a stream ({exc!r})")

    def closed(self) -> None:
        """The response was closed: abandoned, unless the wrapper is mid-read (it then decides)."""
        if not self.running:
            self.finish(ABANDONED)


def watch_sync(inner: Iterator[Any], watch: StreamWatch) -> Iterator[Any]:
    """Pass ``inner``'s events through, recording the stream (see the module docstring)."""
    try:
        while True:
            watch.running = True
            try:
                item = next(inner)
            except StopIteration:
                watch.running = False
                watch.finish(DONE)
                return
            except BaseException as exc:
                watch.running = False
                watch.finish(FAILED, exc)
                raise
            watch.running = False
            if watch.waiting_first or watch.keep:  # else nothing to do: no call per event
                watch.take(item)
            yield item
    finally:
        if not watch.done:
            watch.finish(ABANDONED)
            close = getattr(inner, "close", None)
            if close is not None:
                close()


async def watch_async(inner: AsyncIterator[Any], watch: StreamWatch) -> AsyncIterator[Any]:
    """The async twin of :func:`watch_sync`."""
    try:
        while True:
            watch.running = True
            try:
                item = await inner.__anext__()
            except StopAsyncIteration:
                watch.running = False
                watch.finish(DONE)
                return
            except BaseException as exc:
                watch.running = False
                watch.finish(FAILED, exc)
                raise
            watch.running = False
            if watch.waiting_first or watch.keep:
                watch.take(item)
            yield item
    finally:
        if not watch.done:
            watch.finish(ABANDONED)
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()


def hook_close(response: Any, watch: StreamWatch, *, is_async: bool) -> None:
    """Make closing the stream's HTTP response record the stream (if not already recorded)."""
    ref = weakref.ref(response)
    if is_async:
        original_aclose: Callable[[Any], Awaitable[None]] = type(response).aclose

        async def aclose() -> None:
            watch.closed()
            target = ref()
            if target is not None:
                await original_aclose(target)

        response.aclose = aclose
        return
    original_close: Callable[[Any], None] = type(response).close

    def close() -> None:
        watch.closed()
        target = ref()
        if target is not None:
            original_close(target)

    response.close = close


def keep_data(stream: Any, into: list[Any], *, is_async: bool) -> bool:
    """Make the stream keep each server-sent event's data text in ``into`` as the SDK reads it.

    Both SDKs' stream objects read their events from ``stream._iter_events()``, called when the
    stream is first read: an attribute of the same name set on the object is called instead, and
    passes every event through after appending its ``data`` (a ``str``, which the garbage
    collector does not track, where the SDK's event objects would stay alive until the sink's
    thread read them). False (nothing changed) when the stream has no such method.
    """
    events = getattr(stream, "_iter_events", None)
    if events is None or not callable(events) or "_iter_events" in getattr(stream, "__dict__", {}):
        return False
    # The wrapper is set on the stream, so it must not hold the stream (nor its bound method): that
    # would be a reference cycle, leaving every finished stream, its response and its buffers to
    # the garbage collector instead of freeing them when the caller drops the stream.
    try:
        ref = weakref.ref(stream)
    except TypeError:
        return False
    method = getattr(type(stream), "_iter_events", None)
    if not callable(method):
        return False
    keep = into.append
    if is_async:

        async def aiter_kept() -> AsyncIterator[Any]:
            target = ref()
            if target is None:
                return
            async for sse in method(target):
                keep(getattr(sse, "data", None))
                yield sse

        stream._iter_events = aiter_kept
        return True

    def iter_kept() -> Iterator[Any]:
        target = ref()
        if target is None:
            return
        for sse in method(target):
            keep(getattr(sse, "data", None))
            yield sse

    stream._iter_events = iter_kept
    return True


def watch_stream(stream: Any, captured: Captured, sink: Sink, *, is_async: bool) -> bool:
    """Instrument an SDK stream object in place; False when it is not a stream this code knows."""
    inner = getattr(stream, "_iterator", None)
    response = getattr(stream, "response", None)
    if inner is None or response is None:
        return False
    watch = StreamWatch(captured, sink)
    if captured.route.raw and captured.items is not None:
        watch.keep = not keep_data(stream, captured.items, is_async=is_async)
    stream._iterator = watch_async(inner, watch) if is_async else watch_sync(inner, watch)
    hook_close(response, watch, is_async=is_async)
    return True
