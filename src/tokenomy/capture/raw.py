"""Raw responses: calls made through ``with_raw_response`` or ``with_streaming_response``.

The SDKs hand such a call back as a raw response wrapper whose body is read only when the caller
asks for it. A body already read when the SDK returns (``with_raw_response`` without streaming) is
recorded at once, from that body. Otherwise (a stream, or any ``with_streaming_response`` call)
:class:`RawWatch` waits for the caller to read it, in one of two ways:

* ``.parse()``: the SDK's own objects. A stream is then watched like any other
  (:mod:`tokenomy.capture.streams`); a plain answer is recorded from its bytes as the SDK reads them.
* the bytes themselves: ``read()``, ``text()``, ``json()``, ``iter_bytes()``, ``iter_text()`` or
  ``iter_lines()`` (a web backend relaying a stream's server-sent events to a browser, for example).
  All of these read through the HTTP response's ``iter_bytes`` (``aiter_bytes`` for an async client),
  so one hook set on that response, on the object only, keeps each decoded chunk as it passes, with
  its arrival time for a stream. When the bytes end the call is recorded: read to the end, cut by
  an error (recorded with it), or abandoned half way (recorded as cancelled, with what was read; a
  stream whose ``[DONE]`` arrived counts as ended). A stream's chunks are split into events and read
  on the sink's thread (:func:`tokenomy.capture.streams.stream_items`), as a watched stream's are
  (:class:`tokenomy.capture.streams.ChunkWatch` keeps the bytes its SDK reads the same way).

A raw response dropped without being read is recorded when it goes (or, still held, at the program's
exit), with what is known (status, latency, the prompt counted locally; no usage was read). The
HTTP response's own ``iter_raw`` bypasses the hook: bytes read that way are not seen.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

from tokenomy.capture.captured import ABANDONED, DONE, FAILED, UNREAD, Captured
from tokenomy.capture.log import brief
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sdk.base import ErrorInfo
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.streams import take_off, watch_stream
from tokenomy.schema import Status

_clock = time.perf_counter_ns
_OPEN: Final = RUNTIME.open_calls


class RawWatch:
    """One raw response whose body the caller has not read yet (see the module docstring).

    The hook on the HTTP response holds this object, which holds that response until the call is
    recorded (the hook is then taken off); the raw wrapper is held weakly, since it holds this
    object through its ``_parse`` and a finalizer.
    """

    __slots__ = (
        "__weakref__",
        "_once",
        "captured",
        "chunks",
        "hook",
        "http",
        "is_async",
        "key",
        "own",
        "parse",
        "raw",
        "sink",
        "started",
        "stream",
        "times",
    )

    def __init__(self, captured: Captured, sink: Sink, raw: Any, *, stream: bool, is_async: bool) -> None:
        self.captured, self.sink, self.stream, self.is_async = captured, sink, stream, is_async
        self.parse: Callable[..., Any] = type(raw)._parse  # the class's own
        self.raw = weakref.ref(raw)
        self._once = threading.Lock()  # taken when the call is recorded (or its stream watched)
        self.chunks: list[bytes] = []
        self.times: list[int] = []  # each chunk's arrival (streams only)
        self.started = False  # whether the caller began reading the bytes
        http = self.http = raw.http_response
        self.hook = "aiter_bytes" if is_async else "iter_bytes"
        self.own: Callable[..., Any] = getattr(type(http), self.hook)  # the class's own reader
        setattr(http, self.hook, self.aiter_bytes if is_async else self.iter_bytes)
        self.key = weakref.ref(self)
        # still unread at exit: recorded then as if dropped, with what was read (Runtime.open_calls)
        _OPEN[self.key] = RawWatch.dropped

    def _claim(self) -> bool:
        """Take the right to record the call (once); no longer open."""
        if not self._once.acquire(False):
            return False
        _OPEN.pop(self.key, None)
        return True

    def parsed(self, *args: Any, **kwargs: Any) -> Any:
        """Set as the raw wrapper's ``_parse``: a stream's SDK object is watched from then on; a plain
        answer is recorded by the hook as the SDK reads its bytes."""
        raw = self.raw()
        if not self.stream:
            return self.parse(raw, *args, **kwargs)
        self._unhook()  # the SDK's stream reads the bytes: its events are watched instead
        out = self.parse(raw, *args, **kwargs)
        if self._claim():
            try:
                if not watch_stream(out, self.captured, self.sink, is_async=self.is_async):
                    self._submit(DONE, None, out)
            except Exception as exc:
                RUNTIME.log.note("capture", f"tokenomy capture: could not watch a raw stream ({brief(exc)})")
        return out

    def dropped(self) -> None:
        """The raw wrapper is gone: recorded as it stands, unless its bytes already recorded it. Bytes
        still being read are left half way (an async client's readers are closed by tasks of the event
        loop, one layer a task, so the wrapper can go before the hook's own reader is closed)."""
        if self.started:
            self._ended(ABANDONED, None)
        elif self._claim():
            # a stream nobody read (not even past the hook, by iter_raw) was abandoned, as a parsed
            # stream dropped unread is; a plain answer left unread was answered all the same
            if self.stream and getattr(self.http, "is_stream_consumed", True) is False:
                self.captured.error = ErrorInfo(Status.CANCELLED, None, 200)  # answered, then dropped
            self._submit(UNREAD, None, None)

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Set as the HTTP response's ``iter_bytes``: its own, each chunk kept as it passes."""
        keep, times, stream = self.chunks.append, self.times.append, self.stream
        end, error = ABANDONED, None
        self.started = True
        try:
            for chunk in self.own(self.http, chunk_size):
                if stream:
                    times(_clock())
                keep(chunk)
                yield chunk
            end = DONE
        except Exception as exc:
            end, error = FAILED, exc
            raise
        finally:  # GeneratorExit (closed half way) and other BaseExceptions leave it abandoned
            self._ended(end, error)

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Set as an async HTTP response's ``aiter_bytes`` (see :meth:`iter_bytes`)."""
        keep, times, stream = self.chunks.append, self.times.append, self.stream
        end, error = ABANDONED, None
        self.started = True
        try:
            async for chunk in self.own(self.http, chunk_size):
                if stream:
                    times(_clock())
                keep(chunk)
                yield chunk
            end = DONE
        except Exception as exc:
            end, error = FAILED, exc
            raise
        finally:
            self._ended(end, error)

    def _ended(self, end: str, error: BaseException | None) -> None:
        """The bytes ended: record the call once, from them (never raises: it runs in the caller's loop)."""
        if not self._claim():
            return
        if self.stream:
            self.captured.items = []  # a stream: its events are read from the chunks on the sink's thread
            self.captured.chunks = (self.chunks, self.times)  # (a reader left running may add more: ignored)
            self._submit(end, error, None)
        else:
            self._submit(end, error, b"".join(self.chunks))

    def _submit(self, end: str, error: BaseException | None, response: Any) -> None:
        """Record the call (the caller holds ``_once``)."""
        captured = self.captured
        try:
            captured.latency_ns = _clock() - captured.t0
            captured.end = end
            captured.response = response
            if error is not None:
                answered = getattr(self.http, "status_code", None)  # its answer had arrived
                captured.error = captured.client.adapter.classify(error, answered=answered)
            self._unhook()
            self.sink.submit(captured.settled())
        except Exception as exc:
            RUNTIME.log.note("capture", f"tokenomy capture: could not record a raw response ({brief(exc)})")

    def _unhook(self) -> None:
        """Take the hook off the HTTP response; it then no longer holds this."""
        take_off(self.http, self.hook, self)


def watch_raw(result: Any, captured: Captured, sink: Sink, *, stream: bool, is_async: bool) -> bool:
    """Record ``result`` when the caller reads it, if it is a raw response whose body is still unread
    (see the module docstring); False otherwise (not a raw response, or its body already read)."""
    # on every plain call's path: a dict look-up first (asking an SDK model's class for a missing
    # attribute goes through pydantic's metaclass, about a microsecond)
    http = getattr(result, "__dict__", _NO_ATTRIBUTES).get("http_response")
    if http is None or not callable(getattr(type(result), "_parse", None)):
        return False
    if not stream and getattr(http, "is_closed", True):
        return False  # a plain answer read in full already: recorded at once, from its body
    if not callable(getattr(type(http), "aiter_bytes" if is_async else "iter_bytes", None)):
        return False
    watch = RawWatch(captured, sink, result, stream=stream, is_async=is_async)
    result._parse = watch.parsed
    weakref.finalize(result, watch.dropped)
    return True


_NO_ATTRIBUTES: dict[str, Any] = {}
