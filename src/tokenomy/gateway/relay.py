"""Relaying an answer to the client: headers filtered, streams forwarded chunk by chunk as they arrive.

A stream is never buffered: each upstream chunk is sent on as one body message the moment it
arrives (and appended to the exchange's list for metering). When the gateway asked upstream for
the usage chunk the client did not ask for (OpenAI ``stream_options.include_usage``), a
:class:`UsageStripper` removes that chunk, and the ``"usage":null`` field OpenAI then adds to every
other chunk, so the client receives what it would have received without the gateway (a ``usage``
member inside a chunk that still has choices is left as it came: see :func:`_strip_event`). To do that
it forwards whole events only (an event split across two upstream chunks is sent when complete),
with any of the line ends SSE allows (LF, CRLF, CR).
"""

from __future__ import annotations

import json
import re
from typing import Final

from tokenomy.gateway.upstream import Headers

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"host",
    }
)
"""Headers that belong to one connection, never forwarded (Content-Length is recomputed)."""

_NULL_USAGE: Final = b',"usage":null'
_USAGE_KEY: Final = b'"usage"'
_EVENT_END: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")
"""Where an event ends: a line end, then a blank line's, each a CRLF, a LF or a CR (a CR followed
by a LF is one line end; a CR that ends the bytes at hand is taken as a whole one)."""
_LINE: Final = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")


def response_headers(headers: Headers, *, length: int | None) -> Headers:
    """The upstream's response headers as the client gets them."""
    out = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
    if length is not None:
        out.append((b"content-length", b"%d" % length))
    return out


class UsageStripper:
    """Removes the usage a client did not ask for from an OpenAI stream (see the module docstring)."""

    __slots__ = ("_after_cr", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._after_cr: bool | None = None
        """Set when what was handled so far ended in a CR: whether that event was sent. A LF opening
        the next chunk is the second half of its line end (CRLF), and goes where the event went."""

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` to send now (complete events, the usage removed)."""
        lead = b""
        if not chunk:
            return lead
        if self._after_cr is not None:
            if chunk[:1] == b"\n":
                lead, chunk = (b"\n" if self._after_cr else b""), chunk[1:]
            self._after_cr = None
        data = self._pending + chunk if self._pending else chunk
        # the usual stream has LF line ends only: its last event ends at its last blank line
        end = _last_event_end(data) if b"\r" in data else data.rfind(b"\n\n") + 2
        if end < 2:  # no event ends in it yet
            self._pending = data
            return lead
        complete, self._pending = data[:end], data[end:]
        out = _strip(complete) if _USAGE_KEY in complete else complete
        if not self._pending and complete.endswith(b"\r"):
            self._after_cr = out.endswith(b"\r")
        return lead + out

    def close(self) -> bytes:
        """What is left at the end of the stream (an event the upstream never terminated)."""
        rest, self._pending, self._after_cr = self._pending, b"", None
        return _strip_event(rest) if _USAGE_KEY in rest else rest


def _last_event_end(data: bytes) -> int:
    """Where the last complete event of ``data`` ends (-1: none does)."""
    end = -1
    for match in _EVENT_END.finditer(data):
        end = match.end()
    return end


def _strip(block: bytes) -> bytes:
    """``block`` (whole events) without the usage: the ``"usage":null`` OpenAI adds to every chunk
    when asked is cut as bytes; an event that still names ``"usage"`` is read (:func:`_strip_event`)."""
    if _NULL_USAGE in block:
        block = block.replace(_NULL_USAGE, b"")
        if _USAGE_KEY not in block:
            return block
    events, start = [], 0
    for match in _EVENT_END.finditer(block):
        events.append(_strip_event(block[start : match.end()]))
        start = match.end()
    if start < len(block):
        events.append(block[start:])
    return b"".join(events)


def _strip_event(event: bytes) -> bytes:
    """One event without the usage chunk include_usage adds (``choices: []`` and a usage object):
    nothing is left of it. Any other event is sent as it came, a ``usage`` member inside a chunk that
    still has choices too: some OpenAI-compatible servers put it there whether asked or not, and the
    gateway cannot tell which; it is a field the client's SDK knows, never a chunk it did not expect.

    Only an event with one ``data:`` line holding such a JSON object is dropped (a line end opening
    the event, a blank line left from the one before, stays)."""
    lines = [match for match in _LINE.finditer(event) if match.group(1).startswith(b"data:")]
    if len(lines) != 1:
        return event
    line = lines[0]
    value_at = line.start() + (6 if line.group(1).startswith(b"data: ") else 5)
    try:
        obj = json.loads(event[value_at : line.end(1)])
    except ValueError:  # not JSON, not UTF-8: sent as it came
        return event
    if type(obj) is dict and obj.get("choices") == [] and isinstance(obj.get("usage"), dict):
        return event[: len(event) - len(event.lstrip(b"\r\n"))]  # the chunk include_usage adds
    return event
