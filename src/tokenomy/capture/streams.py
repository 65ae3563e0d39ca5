"""Watching a stream the caller reads: its events, first token, end, error or abandonment.

One watcher object per stream (:class:`ChunkWatch` or :class:`ObjectWatch`), made once when the
SDK hands the stream back, does all of it; the stream object itself (its type, attributes and
helpers) is unchanged, and only its HTTP response gets two attributes, on the object. The call is
recorded when the stream ends:

* read to the end: as reported;
* an error raised while reading (an in-stream error, a cut connection): with that error;
* abandoned half way: the stream's generator is closed (``stream.close()``, leaving a ``with``
  block, or garbage collection) or the response is closed under it (the stream helpers close the
  response directly): recorded as cancelled, with what the caller had read;
* still open when the program exits (held half read, by a global say): recorded as abandoned there,
  before the sinks shut down (:attr:`tokenomy.capture.runtime.Runtime.open_calls`).

Both SDKs' stream objects read server-sent events from the bytes of their HTTP response
(``response.iter_bytes()``, ``aiter_bytes()`` for an async client) and turn them into the SDK's
objects in a generator (``stream._iterator``) that closes the response when it ends, however it
ends. For a route whose events are read from their data text (``Route.raw``: OpenAI chat and
Responses, Anthropic Messages), the watcher sets the response's byte reader
(:meth:`ChunkWatch.chunks`) and keeps each chunk the SDK reads with its arrival time: a clock
reading and two list appends a network chunk, made by C iterators (no Python code runs a chunk), and
nothing of tokenomy's per event. An async stream's chunks are kept by the response's content decoder
instead (:mod:`tokenomy.capture.decoders`), else by :meth:`ChunkWatch.achunks`. The chunks are split
into events, their arrival times given to the events they complete, and read on the sink's thread
(:func:`stream_items`), where the time to first token is found too. The end is read where the SDK
closes the response (:meth:`ChunkWatch.closed`): closed by the SDK's generator itself, an exception
on its way out of it is an error (a ``GeneratorExit``: abandonment) and none means its events ran
out; a close from outside the generator is abandonment. The SDK may have received more than it read
(a chunk holds several events, and the HTTP client reads ahead); a call cut short keeps the events
the SDK read, up to the one its generator's loop holds (``sse``). Other routes, and stream classes
whose generator does not close the response (openai 1.x), are watched on the SDK's objects
(:class:`ObjectWatch`, a generator layer over ``stream._iterator``).

The hooks set on the response hold the watcher. The watcher holds the stream weakly and the
response strongly: the garbage collector clears weak references before it runs the ``finally`` of
the SDK's generator, which closes the response, so a weak one would leave a collected stream's
response open and its connection checked out of the pool. The cycle this makes (the response, its
hooks, the watcher) lasts until the call is recorded, which takes the hooks off the response: the
Anthropic SDK relies on a dropped stream being closed by reference counting, and a finished stream,
its response and its buffers are freed as soon as the caller drops it, as a bare client's are (not
left to the garbage collector). On the caller's thread, the end is a few attribute reads, the hooks
taken off and one queue append (:meth:`Watch.finish`); reading the events, usage and prompt happens
on the sink's thread (:mod:`tokenomy.capture.build`).

Kept as the SDK's event objects before (one object an event, held until the stream ended, with a
generator layer timing the first ones), a stream cost the calling thread 20-120 us more a call
(docs/benchmarks.md, "Capture overhead").
"""

from __future__ import annotations

import json
import sys
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import compress, filterfalse
from typing import Any, Final

from tokenomy.capture.captured import ABANDONED, DONE, FAILED, Captured
from tokenomy.capture.decoders import kept_by_decoder
from tokenomy.capture.log import brief
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sink.core import Sink

_clock = time.perf_counter_ns
_OPEN: Final = RUNTIME.open_calls


class Watch(ABC):
    """The live state of one stream and its response's close hook (see the module docstring)."""

    __slots__ = ("__weakref__", "_once", "captured", "close_response", "hook", "key", "response", "sink")

    key: weakref.ref[Any]
    """Its call's entry among the open calls, recorded at exit if still open then
    (:attr:`tokenomy.capture.runtime.Runtime.open_calls`): set by each kind of watcher."""

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
        _OPEN.pop(self.key, None)
        captured = self.captured
        try:
            captured.latency_ns = _clock() - captured.t0
            captured.end = end
            if error is not None:
                answered = getattr(self.response, "status_code", None)  # the stream's answer had arrived
                captured.error = captured.client.adapter.classify(error, answered=answered)
            take_off(self.response, self.hook, self)  # the response no longer refers to this: no cycle left
            self.sink.submit(captured if captured.ticket is None else captured.settled())
        except Exception as exc:  # this runs inside the caller's loop over the stream: never raise there
            RUNTIME.log.note("capture", f"tokenomy capture: could not record a stream ({brief(exc)})")

    def __del__(self) -> None:
        """A stream dropped before it was ever read ends here, freed by the garbage collector (its
        response and this watcher refer to each other until the call is recorded): recorded as
        abandoned, with its prompt counted locally. No SDK code runs for such a stream, so this
        is the only place that sees it go (and, for an async stream the collector frees half read,
        the first: its generator's ``finally`` runs later, in a task; :meth:`dropped`)."""
        try:
            if not self._once.locked():
                self.dropped()
        except BaseException:  # at interpreter shutdown the modules may be gone: never raise here
            pass

    def dropped(self) -> None:
        """The garbage collector frees the stream with its call unrecorded: recorded as abandoned."""
        self.finish(ABANDONED)

    @property
    def done(self) -> bool:
        """Whether the call has been recorded."""
        return self._once.locked()

    @abstractmethod
    def at_exit(self) -> None:
        """The process is exiting with the stream still open (held, half read): recorded as
        abandoned, with what the caller read."""

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


class ChunkWatch(Watch):
    """Keeps the bytes a stream's SDK reads from its response, with each chunk's arrival (see the
    module docstring)."""

    __slots__ = ("frame", "held", "kept", "own", "reader", "running", "stream", "times")

    def __init__(
        self,
        captured: Captured,
        sink: Sink,
        response: Any,
        close: Callable[[Any], Any],
        *,
        stream: Any,
        is_async: bool,
    ) -> None:
        super().__init__(captured, sink, response, close, "aclose" if is_async else "close")
        self.stream = self.key = weakref.ref(stream)
        _OPEN[self.key] = _stream_at_exit  # recorded at exit if still open then
        self.reader = "aiter_bytes" if is_async else "iter_bytes"
        self.own: Callable[..., Any] = getattr(type(response), self.reader)  # the response class's own
        self.running, self.frame = ("ag_running", "ag_frame") if is_async else ("gi_running", "gi_frame")
        # An async stream's generator frame, held: when the collector frees a stream dropped half
        # read, it clears the weak reference above and runs this watcher's ``__del__`` before the
        # generator's ``finally`` (scheduled as a task), so the frame's ``sse`` (the last event the
        # SDK read) is read from here (:meth:`dropped`). A sync stream's generator is closed at once
        # by reference counting, and no frame is held for it (holding it would keep the stream alive).
        self.held = getattr(getattr(stream, "_iterator", None), "ag_frame", None) if is_async else None
        self.kept: list[bytes] = []
        self.times: list[int] = []
        captured.items, captured.chunks = [], (self.kept, self.times)

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Set as the response's ``iter_bytes``: its own, each chunk kept with its arrival time.

        Built of C iterators, so no Python code runs a chunk: ``filterfalse`` passes on every item
        its predicate (a list's ``append``, which returns None) was called with, and ``compress``
        takes a chunk from the reader, then a clock reading (always true) to let it through."""
        return compress(
            filterfalse(self.kept.append, self.own(self.response, chunk_size)),
            filterfalse(self.times.append, iter(_clock, None)),
        )

    def achunks(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Set as an async response's ``aiter_bytes``: the same, by an iterator object rather than an
        async generator, which a client that stops reading at ``[DONE]`` (the SDK's chat streams)
        would leave suspended for the event loop to finalize: one more task and a wake-up of the loop
        a call."""
        return _KeptChunks(
            self.own(self.response, chunk_size).__aiter__(), self.kept.append, self.times.append
        )

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """:meth:`Watch.finish`, then the reader's hook taken off the response (it holds the chunks)."""
        super().finish(end, error)
        take_off(self.response, self.reader, self)

    def dropped(self) -> None:
        """Recorded as abandoned, up to the last event the SDK's generator read (the frame held for
        an async stream), not with every chunk the HTTP client had received beyond it."""
        self.cut(ABANDONED, self.held)

    def at_exit(self) -> None:
        """Recorded as abandoned, up to the last event the SDK's generator read (:meth:`cut`), as
        when the stream is closed half way (the generator may be running on a thread the exit does
        not wait for: it is cut where it stands)."""
        stream = self.stream()
        inner = None if stream is None else getattr(stream, "_iterator", None)
        self.cut(ABANDONED, None if inner is None else getattr(inner, self.frame, None))

    def closed(self, caller: Any) -> None:
        """How a stream ended, read when ``caller`` (a frame; None: not known) closes its response.

        Closed by the SDK's generator itself (its ``finally``): an exception on its way out of it is
        an error (a ``GeneratorExit``: abandoned), and none means its events ran out. Closed by code
        the generator runs (the HTTP client closes the response when the body ends or breaks):
        nothing yet, the generator closes it again on its way out. Closed from outside the generator,
        or once the stream is gone: abandoned.
        """
        stream = self.stream()
        inner = None if stream is None else getattr(stream, "_iterator", None)
        frame = None if inner is None else getattr(inner, self.frame, None)
        if inner is None or getattr(inner, self.running, False) is not True:
            if frame is None and caller is not None and caller.f_code.co_name == "__stream__":
                frame = caller  # the SDK's generator closing the response of a stream being freed
            failed = _sdk_error(caller, stream)  # a stream helper that raised over the events it read
            self.cut(ABANDONED if failed is None else FAILED, frame, failed)
            return
        if caller is not None and caller is not frame:
            return
        error = sys.exc_info()[1]
        trace = None if error is None else error.__traceback__
        while trace is not None and trace.tb_frame is not frame:
            trace = trace.tb_next
        if trace is None:  # no exception on its way out of the SDK's generator (an outer one may be handled)
            self.finish(DONE)
        elif isinstance(error, GeneratorExit):
            self.cut(ABANDONED, frame)
        else:
            self.cut(FAILED, frame, error)

    def cut(self, end: str, frame: Any, error: BaseException | None = None) -> None:
        """Recorded as abandoned or failed before the bytes ran out, with the data text of the last
        event the SDK's generator (``frame``) read, its loop's ``sse``: it may have received more than
        it read, and the call is recorded with what the caller consumed
        (:func:`stream_items`). A stream abandoned after its ``[DONE]`` ended."""
        if not self._once.locked():
            try:
                event = None if frame is None else frame.f_locals.get("sse")
            except Exception:  # a frame that cannot be read: everything received counts
                frame = event = None
            data = None if frame is None else getattr(event, "data", "")
            if type(data) is not str:
                data = None
            elif end == ABANDONED and data.startswith("[DONE]"):
                end = DONE
            self.captured.read_up_to = data
        self.finish(end, error)


def _sdk_error(caller: Any, stream: Any) -> Exception | None:
    """The exception being handled when the SDK's own code (a stream helper's close, its ``with``
    block's exit) closes a stream's response from outside its generator, when it was raised over
    this stream (a helper reading its events that could not read the answer: openai's
    ``chat.completions.stream`` parsing partial JSON): the call failed. One raised elsewhere (the
    caller's own loop, another call of the SDK made inside the block) leaves the stream abandoned, as
    does a close by the garbage collector (the generator's own ``finally``)."""
    if stream is None or caller is None or caller.f_code.co_name == "__stream__" or not _in_sdk(caller):
        return None
    error = sys.exc_info()[1]
    if not isinstance(error, Exception):
        return None
    trace = error.__traceback__
    while trace is not None:  # through a frame of this stream, or of the helper that reads it
        owner = trace.tb_frame.f_locals.get("self")
        if owner is stream or getattr(owner, "_raw_stream", None) is stream:
            return error
        trace = trace.tb_next
    return None


def _in_sdk(frame: Any) -> bool:
    """Whether ``frame`` runs the code of one of the SDKs."""
    return str(frame.f_globals.get("__name__", "")).partition(".")[0] in _SDKS


_SDKS: Final = frozenset({"openai", "anthropic"})


def _stream_at_exit(stream: Any) -> None:
    """Record, at exit, the stream's call if it is still open: its watcher is the one whose hook
    its response still carries (:meth:`ChunkWatch.at_exit`)."""
    response = getattr(stream, "response", None)
    for hook in ("close", "aclose"):
        watch = getattr(getattr(response, hook, None), "__self__", None)
        if isinstance(watch, Watch):
            watch.at_exit()
            return


class _KeptChunks:
    """An async iterator over ``source`` (the response's own byte reader) that keeps each chunk
    (``keep``) and its arrival time (``stamp``)."""

    __slots__ = ("keep", "source", "stamp")

    def __init__(
        self, source: AsyncIterator[bytes], keep: Callable[[bytes], Any], stamp: Callable[[int], Any]
    ) -> None:
        self.source, self.keep, self.stamp = source, keep, stamp

    def __aiter__(self) -> _KeptChunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.source.__anext__()  # its StopAsyncIteration (or error) ends this iterator too
        self.stamp(_clock())
        self.keep(chunk)
        return chunk

    async def aclose(self) -> None:
        """Close the response's own reader (``contextlib.aclosing`` and the HTTP client call it)."""
        close = getattr(self.source, "aclose", None)
        if close is not None:
            await close()


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
        self.key = weakref.ref(self)
        _OPEN[self.key] = ObjectWatch.at_exit  # recorded at exit if still open then

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

    def at_exit(self) -> None:
        """Recorded as abandoned, with the events kept so far."""
        self.finish(ABANDONED)

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
    """The stream class's server-sent event reader, when the stream reads its events as the SDKs'
    own streams do: from ``stream._iter_events()``, which decodes the response's bytes, so those
    bytes can be kept (:class:`ChunkWatch`). None (keep the SDK's objects) when the stream has no
    such method, someone set another one on the object (its events may then come from elsewhere),
    the stream takes no weak reference, or its generator does not close the response.
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
"""Per stream class, its event reader when its streams' bytes can be kept (:func:`_class_reader`)."""


def _class_reader(kind: type) -> Callable[[Any], Any] | None:
    """The class's ``_iter_events``, when its streams' bytes can be kept: it has one, which reads the
    response's ``iter_bytes`` (``aiter_bytes``), not its raw bytes; the class takes weak references
    and hashes (its streams are kept, weakly, among the open calls); and its own generator
    (``__stream__``) closes the response, as the SDK's current versions do in its ``finally``: how a
    stream kept by :class:`ChunkWatch` ended is read there. Older versions (openai 1.x) leave the
    close to the HTTP client when the body ends, so an error or an abandoned stream would never be
    seen: those keep the SDK's objects instead."""
    method = getattr(kind, "_iter_events", None)
    if not callable(method) or not hasattr(kind, "__weakref__") or kind.__hash__ is None:
        return None  # (the open calls are keyed by a weak reference to the stream: it must hash)
    reads = _names(method)
    if (
        "response" not in reads
        or not {"iter_bytes", "aiter_bytes"} & reads
        or {"iter_raw", "aiter_raw"} & reads
    ):
        return None
    names = _names(getattr(kind, "__stream__", None))
    return method if "close" in names or "aclose" in names else None


def _names(function: Any) -> set[str]:
    """The attribute and global names a function's code reads (empty: not a Python function)."""
    code = getattr(function, "__code__", None)
    return set() if code is None else set(code.co_names)


def watch_stream(stream: Any, captured: Captured, sink: Sink, *, is_async: bool) -> bool:
    """Instrument an SDK stream object in place; False when it is not a stream this code knows."""
    response = getattr(stream, "response", None)
    inner = getattr(stream, "_iterator", None)
    if inner is None or response is None:
        return False
    hook = "aclose" if is_async else "close"
    close = getattr(type(response), hook)
    watch: Watch
    if (
        captured.route.raw
        and event_reader(stream) is not None
        and callable(getattr(type(response), "aiter_bytes" if is_async else "iter_bytes", None))
    ):
        chunks = ChunkWatch(captured, sink, response, close, stream=stream, is_async=is_async)
        watch = chunks
        if not is_async:
            response.iter_bytes = chunks.chunks
        elif not kept_by_decoder(response, chunks.kept.append, chunks.times.append, _clock):
            response.aiter_bytes = chunks.achunks
    else:
        watch = ObjectWatch(captured, sink, response, close, hook)
        stream._iterator = watch_async(inner, watch) if is_async else watch_sync(inner, watch)
    setattr(response, hook, watch.aclose if is_async else watch.close)
    return True


def stream_items(captured: Captured) -> None:
    """A stream's kept chunks (a watched stream's, or a raw response's the caller read) split into its
    events' data text, each with the arrival of the chunk that completed it, on the sink's thread
    before the call is built. A stream cut after its ``[DONE]`` counts as ended."""
    from tokenomy.usage.sse import SSEDecoder  # noqa: PLC0415  (loaded on the sink's thread)

    kept = captured.chunks
    captured.chunks = None
    if kept is None:
        return
    chunks, arrived = kept
    count = min(len(chunks), len(arrived))  # as they stood now (a reader left running may add more)
    chunks, arrived = chunks[:count], arrived[:count]
    items: list[Any] = []
    times: list[int] = []
    decoder = SSEDecoder()
    first_of_last = 0  # the first event the last chunk completed
    for index, (chunk, at) in enumerate(zip(chunks, arrived, strict=True)):
        if index == count - 1:
            first_of_last = len(items)
        for event in decoder.feed(chunk):
            items.append(event.data)
            times.append(at)
    for event in decoder.close():
        items.append(event.data)
        times.append(arrived[-1] if arrived else captured.t0)
    target = captured.read_up_to
    if target is not None:
        # Cut short (abandoned, or failed on an event): the SDK read every event the earlier chunks
        # completed (it asks for a chunk only once it has read all events before), and of the last
        # chunk's, those up to the event whose data text it read last (the first such: identical
        # events in one chunk count once).
        cut = next((at + 1 for at in range(first_of_last, len(items)) if items[at] == target), first_of_last)
        del items[cut:], times[cut:]
    if captured.end == ABANDONED and items and items[-1].startswith("[DONE]"):
        captured.end = DONE
    if not captured.route.raw:  # a route read from the SDK's objects: given its events' JSON objects instead
        _first_output(captured, items, times)  # (its test may not read the objects' plain dicts)
        pairs = [
            (found, at)
            for found, at in zip(map(_json_object, items), times, strict=True)
            if found is not None
        ]
        items, times = [found for found, _ in pairs], [at for _, at in pairs]
    captured.items, captured.times = items, times


def _first_output(captured: Captured, items: list[Any], times: list[int]) -> None:
    """The time to first token from the events' data text: the first one the route's test calls output."""
    is_output = captured.route.is_output
    if is_output is None:
        return
    for text, at in zip(items, times, strict=True):
        try:
            found = is_output(text)
        except Exception:  # a test that does not read data text: no time to first token
            return
        if found:
            captured.ttft_ns = at - captured.t0
            return


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a data text holds, or None (``[DONE]``, not JSON, not an object)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def take_off(target: Any, name: str, owner: object) -> None:
    """Delete the attribute ``name`` set on ``target`` as a method of ``owner`` (if nobody replaced it
    since): ``target`` then no longer refers to ``owner``."""
    if getattr(getattr(target, name, None), "__self__", None) is owner:
        delattr(target, name)
