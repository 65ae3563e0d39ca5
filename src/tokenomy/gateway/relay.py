"""Relaying an answer to the client: headers filtered, streams forwarded chunk by chunk as they arrive.

A stream is never buffered: each upstream chunk is sent on as one body message the moment it
arrives (and appended to the exchange's list for metering). When the gateway asked upstream for
the usage chunk the client did not ask for (OpenAI ``stream_options.include_usage``), a
:class:`UsageStripper` removes that chunk, and the ``"usage":null`` field OpenAI then adds to every
other chunk, or the ``usage`` member of a chunk that still has choices (where some OpenAI-compatible
servers put it), so the client receives what it would have received without the gateway. To do that
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
_DECODER: Final = json.JSONDecoder()


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
    """One event without its usage: nothing left of the usage chunk (``choices: []``), else the
    chunk with its ``usage`` member cut out and every other byte as the upstream sent it.

    Only an event with one ``data:`` line holding a JSON object with a ``usage`` key is changed
    (a line end opening the event, a blank line left from the one before, stays)."""
    lines = [match for match in _LINE.finditer(event) if match.group(1).startswith(b"data:")]
    if len(lines) != 1:
        return event
    line = lines[0]
    value_at = line.start() + (6 if line.group(1).startswith(b"data: ") else 5)
    try:
        text = event[value_at : line.end(1)].decode()
        obj = json.loads(text)
        if type(obj) is not dict or "usage" not in obj:
            return event
        if obj.get("choices") == [] and isinstance(obj["usage"], dict):
            return event[: len(event) - len(event.lstrip(b"\r\n"))]  # the chunk include_usage adds
        kept = _without_usage(text).encode()
    except (ValueError, IndexError):  # not JSON, not UTF-8: sent as it came
        return event
    return event[:value_at] + kept + event[line.end(1) :]


def _without_usage(text: str) -> str:
    """``text``, a JSON object, without its top-level ``usage`` member and one comma: the object the
    upstream writes when not asked for usage, every other character as it was."""
    while True:
        spans = _members(text)
        found = [index for index, (key, _, _) in enumerate(spans) if key == "usage"]
        if not found:
            return text
        index = found[-1]
        _, start, end = spans[index]
        if index > 0:  # from the end of the member before it: the comma between goes with it
            start = spans[index - 1][2]
        elif index + 1 < len(spans):  # the first member: the comma after it goes
            end = spans[index + 1][1]
        text = text[:start] + text[end:]


def _members(text: str) -> list[tuple[str, int, int]]:
    """The members of the JSON object ``text``: each one's key, where it starts and where its value ends."""
    spans: list[tuple[str, int, int]] = []
    at = _skip(text, text.index("{") + 1)
    while text[at] != "}":
        key, after = _DECODER.raw_decode(text, at)
        after = _skip(text, after)
        if text[after] != ":" or not isinstance(key, str):
            raise ValueError("not a JSON object's member")
        _, end = _DECODER.raw_decode(text, _skip(text, after + 1))
        spans.append((key, at, end))
        at = _skip(text, end)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return spans


def _skip(text: str, at: int) -> int:
    """Past the JSON whitespace at ``at``."""
    while text[at] in " \t\r\n":
        at += 1
    return at
