"""Watching a stream the caller reads: its events, first token, end, error or abandonment.

One watcher object per stream (:class:`TextWatch` or :class:`ObjectWatch`), made once when the
SDK hands the stream back, does all of it; the stream object itself (its type, attributes and
helpers) is unchanged but for one attribute set on it and one on its HTTP response. The call is
recorded when the stream ends:

* read to the end: as reported;
* an error raised while reading (an in-stream error, a cut connection): with that error;
* abandoned half way: the stream's generator is closed (``stream.close()``, leaving a ``with``
  block, or garbage collection) or the response is closed under it (the stream helpers close the
  response directly): recorded as cancelled, with what had arrived.

Both SDKs' stream objects read server-sent events from ``stream._iter_events()`` and turn them
into the SDK's objects in a generator (``stream._iterator``) that closes the HTTP response when it
ends, however it ends. For a route read from the events' data text (``Route.raw``: OpenAI chat and
Responses, Anthropic Messages), the watcher sets the stream's event reader (:meth:`TextWatch.events`;
the anthropic SDK's, on the copy of the stream its generator runs on) and keeps every event the
SDK reads, as it reads it: the server-sent event objects (one small object each, where the chunk
objects the SDK builds from them are several pydantic objects each), replaced by their data text
when the stream ends (strings, which the garbage collector does not scan while they wait for the
sink's thread). Until an event surely carries output, a generator layer also takes each one's
arrival time (the time to first token is found from those on the sink's thread); after it, the
interpreter's own iterators pass the events on, so the caller's thread runs no Python code per
event. The end is read where the SDK closes the response (:meth:`TextWatch.closed`): after the
``[DONE]`` event it is the end; closed by the SDK's generator itself, an exception on its way out
of it is an error (a ``GeneratorExit``: abandonment) and none means its events ran out; a close
from outside the generator is abandonment. Other routes, and streams without such a reader, are watched on the
SDK's objects (:class:`ObjectWatch`, a generator layer over ``stream._iterator``).

The hooks set on the stream and its response hold the watcher. The watcher holds the stream weakly
and the response strongly: the garbage collector clears weak references before it runs the
``finally`` of the SDK's generator, which closes the response, so a weak one would leave a collected
stream's response open and its connection checked out of the pool. The cycle this makes (the
response, its hook, the watcher) lasts until the call is recorded, which takes the hook off the
response: the Anthropic SDK relies on a dropped stream being closed by reference counting, and a
finished stream, its response and its buffers are freed as soon as the caller drops it, as a bare
client's are (not left to the garbage collector). On the caller's thread, the end is the events'
data text read into a list, the hook taken off and one queue append (:meth:`Watch.finish`); reading
the events, usage and prompt happens on the sink's thread (:mod:`tokenomy.capture.build`).
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cached_property
from itertools import chain, filterfalse
from typing import Any, Final

from tokenomy.capture.captured import ABANDONED, DONE, FAILED, Captured, event_text
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.core import Sink

_clock = time.perf_counter_ns


class Watch(ABC):
    """The live state of one stream and its response's close hook (see the module docstring)."""

    __slots__ = ("_once", "captured", "close_response", "hook", "response", "sink")

    def __init__(
        self, captured: Captured, sink: Sink, response: Any, close: Callable[[Any], Any], hook: str
    ) -> None:
        self.captured = captured
        self.sink = sink
        # Held strongly: the collector clears weak references before it runs the SDK generator's
        # ``finally``, so a weak one would leave a collected stream's response open. The cycle this
        # makes with the hook (response -> hook -> watcher -> response) lasts until the call is
        # recorded: :meth:`finish` takes the hook off the response.
        self.response = response
        self.close_response = close  # the response class's own close (or aclose)
        self.hook = hook  # the name of the hook set on the response: "close" or "aclose"
        self._once = threading.Lock()  # taken by the first finish, never released

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """Record the call once: at the end, on an error, or when abandoned."""
        if not self._once.acquire(False):
            return
        captured = self.captured
        try:
            captured.latency_ns = _clock() - captured.t0
            captured.end = end
            if captured.sse:  # the events' data text only: strings, which the garbage collector skips
                # Kept until the sink's thread read them, the event objects (tracked by the garbage
                # collector, where strings are not) made the caller's collections more frequent.
                events = captured.items
                if events:
                    try:
                        captured.items = [event._data for event in events]  # the SDKs' own attribute
                    except AttributeError:
                        captured.items = [event_text(event) for event in events]
                    events.clear()  # the stream's hooks hold this list as long as the caller keeps the stream
                else:
                    captured.items = []
                captured.sse = False
            if error is not None:
                captured.error = captured.client.adapter.classify(error)
            # the hook off the response (if nobody replaced it since): the response no longer refers
            # to this watcher, so no cycle is left
            response, name = self.response, self.hook
            if getattr(getattr(response, name, None), "__self__", None) is self:
                delattr(response, name)
            self.sink.submit(captured if captured.ticket is None else captured.settled())
        except Exception as exc:  # this runs inside the caller's loop over the stream: never raise there
            RUNTIME.log.note("capture", f"tokenomy capture: could not record a stream ({exc!r})")

    def __del__(self) -> None:
        """A stream dropped before it was ever read ends here, freed by the garbage collector (its
        response and this watcher refer to each other until the call is recorded): recorded as
        abandoned, with its prompt counted locally. No SDK code runs for such a stream, so this
        is the only place that sees it go."""
        try:
            if not self._once.locked():
                self.finish(ABANDONED)
        except BaseException:  # at interpreter shutdown the modules may be gone: never raise here
            pass

    @property
    def done(self) -> bool:
        """Whether the call has been recorded."""
        return self._once.locked()

    @abstractmethod
    def closed(self, caller: Any) -> None:
        """The response is being closed by ``caller`` (a frame; None: not known) and the call is
        not recorded yet: decide how the stream ended."""

    def close(self) -> None:
        """Set as the response's ``close``: records the stream (if not already), then closes."""
        if not self._once.locked():
            self.closed(None if _getframe is None else _getframe(1))  # the frame closing the response
        self.close_response(self.response)

    async def aclose(self) -> None:
        """Set as an async response's ``aclose``: records the stream (if not already), then closes."""
        if not self._once.locked():
            self.closed(None if _getframe is None else _getframe(1))
        await self.close_response(self.response)


class TextWatch(Watch):
    """Keeps a stream's server-sent events and the first ones' arrival times (see the module docstring)."""

    __slots__ = ("frame", "kept", "read", "running", "stream", "times")

    def __init__(
        self,
        captured: Captured,
        sink: Sink,
        response: Any,
        close: Callable[[Any], Any],
        *,
        stream: Any,
        read: Callable[[Any], Any],
        is_async: bool,
    ) -> None:
        # Watch.__init__'s work written out (one call fewer on the caller's path, once a stream)
        self.captured, self.sink, self.response, self.close_response = captured, sink, response, close
        self.hook = "aclose" if is_async else "close"
        self._once = threading.Lock()
        self.stream = weakref.ref(stream)
        self.read = read  # the stream class's own _iter_events
        self.running, self.frame = ("ag_running", "ag_frame") if is_async else ("gi_running", "gi_frame")
        self.kept: list[Any] = []
        self.times: list[int] = []
        captured.items, captured.times, captured.sse = self.kept, self.times, True

    def events(self) -> Iterator[Any]:
        """Set as the stream's ``_iter_events``: the SDK's events, each one kept as it passes.

        Until an event surely carries output (the route's ``text_output``), :meth:`_head` keeps each
        event with the clock's reading; from then on the interpreter's own iterators keep the rest
        (``filterfalse`` with ``list.append``, which returns None, passes every event on).
        """
        stream = self.stream()
        if stream is None:
            return iter(())
        source = self.read(stream)
        return chain(self._head(source), filterfalse(self.kept.append, source))

    def _head(self, source: Iterator[Any]) -> Iterator[Any]:
        keep, stamp, surely = self.kept.append, self.times.append, self.captured.route.text_output
        for sse in source:
            keep(sse)
            stamp(_clock())
            if surely is not None:
                data = event_text(sse)
                if data is not None and surely(data):
                    yield sse
                    return
            yield sse

    def aevents(self) -> AsyncIterator[Any]:
        """The async twin of :meth:`events`: every event kept, the first ones with their arrival times
        (until one surely carries output), by an iterator object (:class:`_KeptEvents`) rather than an
        async generator, which a client that stops reading at ``[DONE]`` (the SDK's chat streams)
        would leave suspended for the event loop to finalize: one more task and a wake-up of the loop
        a call."""
        stream = self.stream()
        source = _NoEvents() if stream is None else self.read(stream).__aiter__()
        return _KeptEvents(source, self.kept.append, self.times.append, self.captured.route.text_output)

    def closed(self, caller: Any) -> None:
        """How a stream ended, read when ``caller`` (a frame; None: not known) closes its response.

        After ``[DONE]``: the end. Closed by the SDK's generator itself (its ``finally``): an exception
        on its way out of it is an error (a ``GeneratorExit``: abandoned), and none means its events
        ran out. Closed by code the generator runs (the HTTP client closes the response when the body
        ends or breaks): nothing yet, the generator closes it again on its way out. Closed from
        outside the generator, or once the stream is gone: abandoned.
        """
        kept = self.kept
        if kept and (event_text(kept[-1]) or "").startswith("[DONE]"):
            self.finish(DONE)
            return
        stream = self.stream()
        inner = None if stream is None else getattr(stream, "_iterator", None)
        if inner is None or getattr(inner, self.running, False) is not True:
            self.finish(ABANDONED)
            return
        frame = getattr(inner, self.frame, None)
        if caller is not None and caller is not frame:
            return
        error = sys.exc_info()[1]
        trace = None if error is None else error.__traceback__
        while trace is not None and trace.tb_frame is not frame:
            trace = trace.tb_next
        if trace is None:  # no exception on its way out of the SDK's generator (an outer one may be handled)
            self.finish(DONE)
        elif isinstance(error, GeneratorExit):
            self.finish(ABANDONED)
        else:
            self.finish(FAILED, error)


class _KeptEvents:
    """An async iterator over ``source`` that keeps each event (``keep``) and, until one surely carries
    output (``surely`` true of its data text), their arrival times (``stamp``): after it, as for a
    synchronous stream, no clock is read (the time to first token is found from the times kept)."""

    __slots__ = ("keep", "source", "stamp", "surely")

    def __init__(
        self,
        source: AsyncIterator[Any],
        keep: Callable[[Any], Any],
        stamp: Callable[[int], Any],
        surely: Callable[[str], object] | None,
    ) -> None:
        self.source, self.keep, self.surely = source, keep, surely
        self.stamp: Callable[[int], Any] | None = stamp

    def __aiter__(self) -> _KeptEvents:
        return self

    async def __anext__(self) -> Any:
        sse = await self.source.__anext__()  # its StopAsyncIteration (or error) ends this iterator too
        self.keep(sse)
        stamp = self.stamp
        if stamp is not None:
            stamp(_clock())
            surely = self.surely
            if surely is not None:
                data = event_text(sse)
                if data is not None and surely(data):
                    self.stamp = None
        return sse


class _NoEvents:
    """An async iterator with no events (the stream was freed before its reader was called)."""

    def __aiter__(self) -> _NoEvents:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


_getframe: Final[Callable[[int], Any] | None] = getattr(sys, "_getframe", None)
"""Reads the frame that closes a response (None where frames cannot be read)."""


class ObjectWatch(Watch):
    """Keeps a stream's SDK objects, as its generator layer (:func:`watch_sync`) passes them on."""

    __slots__ = ("is_output", "running", "waiting_first")

    def __init__(
        self, captured: Captured, sink: Sink, response: Any, close: Callable[[Any], Any], hook: str
    ) -> None:
        super().__init__(captured, sink, response, close, hook)
        self.is_output = captured.route.is_output
        self.running = False
        self.waiting_first = True
        captured.items = []

    def take(self, item: Any) -> None:
        """Keep one event; the first one carrying output sets the time to first token."""
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
                self.captured.ttft_ns = _clock() - self.captured.t0

    def closed(self, caller: Any) -> None:
        """Abandoned, unless the generator layer is mid-read (it then decides)."""
        if not self.running:
            self.finish(ABANDONED)


def watch_sync(inner: Iterator[Any], watch: ObjectWatch) -> Iterator[Any]:
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
            watch.take(item)
            yield item
    finally:
        if not watch.done:
            watch.finish(ABANDONED)
            close = getattr(inner, "close", None)
            if close is not None:
                close()


async def watch_async(inner: AsyncIterator[Any], watch: ObjectWatch) -> AsyncIterator[Any]:
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
            watch.take(item)
            yield item
    finally:
        if not watch.done:
            watch.finish(ABANDONED)
            # The response, not ``inner.aclose()``: once the collector frees an abandoned stream, both
            # generators are closed by tasks of their own, and closing ``inner`` from here while its
            # own task closes it fails ("already running"). ``inner`` closes the response again when
            # it goes (its ``finally``), which then does nothing.
            await watch.close_response(watch.response)


def event_reader(stream: Any) -> Callable[[Any], Any] | None:
    """The stream class's server-sent event reader, when the stream's events can be kept by it.

    Both SDKs' stream objects read their events from ``stream._iter_events()``; an attribute of
    the same name set on the object is called instead. None (keep the SDK's objects) when the
    stream has no such method, someone else already set one, or the stream takes no weak reference.
    """
    kind = type(stream)
    try:
        method = _READERS[kind]
    except KeyError:
        method = _READERS[kind] = _class_reader(kind)
    if method is None:
        return None
    # Not ``stream.__dict__``: reading it makes the object keep its attributes in a dict of their own,
    # which slows every attribute the SDK reads on the stream while it runs (Python 3.11+).
    found = getattr(stream, "_iter_events", None)
    return method if getattr(found, "__func__", None) is method else None


_READERS: dict[type, Callable[[Any], Any] | None] = {}
"""Per stream class, its event reader when its streams can be kept by it (:func:`_class_reader`)."""


def _class_reader(kind: type) -> Callable[[Any], Any] | None:
    """The class's ``_iter_events``, when its streams can be kept by it: it has one, takes weak
    references, and its own generator (``__stream__``) closes the response, as the SDK's current
    versions do in its ``finally``: how a stream kept by :class:`TextWatch` ended is read there.
    Older versions (openai 1.x) leave the close to the HTTP client when the body ends, so an error
    or an abandoned stream would never be seen: those keep the SDK's objects instead."""
    method = getattr(kind, "_iter_events", None)
    if not callable(method) or not hasattr(kind, "__weakref__"):
        return None
    code = getattr(getattr(kind, "__stream__", None), "__code__", None)
    names = () if code is None else code.co_names
    return method if "close" in names or "aclose" in names else None


def watch_stream(stream: Any, captured: Captured, sink: Sink, *, is_async: bool) -> bool:
    """Instrument an SDK stream object in place; False when it is not a stream this code knows."""
    response = getattr(stream, "response", None)
    inner = getattr(stream, "_iterator", None)
    if inner is None or response is None:
        return False
    hook = "aclose" if is_async else "close"
    close = getattr(type(response), hook)
    read = event_reader(stream) if captured.route.raw else None
    owner = stream if read is None else _reads_events(stream, inner, is_async=is_async)
    watch: Watch
    if read is not None and owner is not None:
        if owner is not stream:
            read = _read_weakly(read, owner)
        watch = TextWatch(captured, sink, response, close, stream=stream, read=read, is_async=is_async)
        owner._iter_events = watch.aevents if is_async else watch.events
    else:
        watch = ObjectWatch(captured, sink, response, close, hook)
        stream._iterator = watch_async(inner, watch) if is_async else watch_sync(inner, watch)
    setattr(response, hook, watch.aclose if is_async else watch.close)
    return True


def _reads_events(stream: Any, inner: Any, *, is_async: bool) -> Any:
    """The object whose ``_iter_events`` the stream's generator calls: the stream, or, where the SDK
    runs its generator on a copy of the stream made on first use (the anthropic SDK, so that a
    dropped stream is freed by reference counting), that copy. None: not known."""
    if not isinstance(getattr(type(stream), "_iterator", None), cached_property):
        return stream
    frame = getattr(inner, "ag_frame" if is_async else "gi_frame", None)
    owner = None if frame is None else frame.f_locals.get("self")
    return owner if type(owner) is type(stream) else None


def _read_weakly(read: Callable[[Any], Any], owner: Any) -> Callable[[Any], Any]:
    """``read`` of ``owner`` (the copy the SDK's generator runs on), held weakly: the generator holds
    the copy, which holds the watcher, so a strong reference would make a cycle of them."""
    ref = weakref.ref(owner)
    return lambda stream: read(ref())
