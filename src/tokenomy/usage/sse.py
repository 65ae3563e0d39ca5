"""Server-sent events: split a byte or text stream into events, and decode their JSON data.

Follows the WHATWG event-stream rules: lines end with CRLF, LF or CR; a line starting with
``:`` is a comment; ``field: value`` loses one leading space from the value; ``data`` lines
accumulate (joined by newlines); a blank line dispatches the event, and an event without data
is dropped. :class:`SSEDecoder` works incrementally, so a proxy can feed it network chunks
that split lines, CRLF pairs or UTF-8 characters anywhere; a trailing event that the stream
never terminated with a blank line is still emitted on :meth:`SSEDecoder.close`, because a
stream cut half way must still yield what it carried.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final, NamedTuple

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
DONE: Final = "[DONE]"
"""The data OpenAI-style streams send last; not JSON, skipped by :func:`iter_json_events`."""


class SSEEvent(NamedTuple):
    """One dispatched event: its ``event`` field (None when absent) and its data lines joined."""

    event: str | None
    data: str


class SSEDecoder:
    """Incremental event-stream parser: :meth:`feed` chunks, then :meth:`close` once."""

    __slots__ = ("_buf", "_data", "_decoder", "_event")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf: list[str] = []
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        """Events completed by ``chunk`` (bytes are decoded as UTF-8, bad bytes replaced)."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        if "\n" not in text and "\r" not in text:
            # No line ends: keep the piece (a long data line may arrive in many chunks).
            self._buf.append(text)
            return []
        self._buf.append(text)
        text = "".join(self._buf)
        # A CR at the very end may be the first half of a CRLF: hold it for the next chunk.
        held = text.endswith("\r")
        if held:
            text = text[:-1]
        lines = _LINE_END.split(text) if "\r" in text else text.split("\n")
        self._buf = [lines.pop() + ("\r" if held else "")]
        out: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if line.startswith("data: "):  # the common case, without a call
                data.append(line[6:])
                continue
            event = self._line(line)
            if event is not None:
                out.append(event)
                data = self._data
        return out

    def close(self) -> list[SSEEvent]:
        """Flush: the last unterminated line and event, if any carried data."""
        tail = self._decoder.decode(b"", final=True)
        rest = ("".join(self._buf) + tail).rstrip("\r")
        self._buf = []
        # A held CR followed by a chunk without line ends leaves a line end inside the buffer.
        out = [e for e in map(self._line, _LINE_END.split(rest) if rest else []) if e is not None]
        last = self._dispatch()
        return out if last is None else [*out, last]

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith("data: "):  # the common case, first
            self._data.append(line[6:])
            return None
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event = self._data, self._event
        if not data:
            self._event = None
            return None
        self._data, self._event = [], None
        return SSEEvent(event, data[0] if len(data) == 1 else "\n".join(data))


def parse_sse(data: bytes | str) -> Iterator[SSEEvent]:
    """The events of a whole event stream, including a trailing unterminated one.

    Args:
        data: The raw stream, as bytes (UTF-8) or text.

    Yields:
        Each event in order.
    """
    decoder = SSEDecoder()
    yield from decoder.feed(data)
    yield from decoder.close()


def iter_json_events(source: bytes | str | Iterable[SSEEvent]) -> Iterator[dict[str, Any]]:
    """The JSON objects carried by a stream's events, in order.

    ``[DONE]`` markers, data that is not valid JSON (a stream cut inside an event) and JSON
    that is not an object are skipped.

    Args:
        source: A raw event stream (bytes or text) or already parsed events.

    Yields:
        Each event's decoded data object.
    """
    events = parse_sse(source) if isinstance(source, bytes | str) else source
    for event in events:
        if event.data == DONE:
            continue
        try:
            value = json.loads(event.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def json_body(text: str) -> Any:
    """A response body logged as text: its JSON value, or the list of objects of a JSON-lines
    stream (Ollama's ``application/x-ndjson``: one object a line), or None when it is neither.

    A stream cut inside its last line still gives the lines before it, when there are two or more
    (one object and a line of something else is no stream); any other line that is not a JSON
    object makes the text unreadable as lines (None)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [line for line in _LINE_END.split(text.strip()) if line.strip()]
    found: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        try:
            value = json.loads(line)
        except ValueError:
            if number == len(lines) - 1 and len(found) > 1:
                break  # cut short inside its last line
            return None
        if not isinstance(value, dict):
            return None
        found.append(value)
    return found or None
