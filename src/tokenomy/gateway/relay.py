"""Relaying an answer to the client: headers filtered, streams forwarded chunk by chunk as they arrive.

A stream is never buffered: each upstream chunk is sent on as one body message the moment it
arrives (and appended to the exchange's list for metering). When the gateway asked upstream for
the usage chunk the client did not ask for (OpenAI ``stream_options.include_usage``), a
:class:`UsageStripper` removes that chunk, and the ``"usage":null`` field OpenAI then adds to every
other chunk, so the client receives what it would have received without the gateway. To do that
it forwards whole events only (an event split across two upstream chunks is sent when complete).
"""

from __future__ import annotations

import json
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
_EVENT_END: Final = b"\n\n"


def response_headers(headers: Headers, *, length: int | None) -> Headers:
    """The upstream's response headers as the client gets them."""
    out = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
    if length is not None:
        out.append((b"content-length", b"%d" % length))
    return out


class UsageStripper:
    """Removes the usage chunk a client did not ask for from an OpenAI stream (see the module docstring)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` to send now (complete events, the usage chunk removed)."""
        data = self._pending + chunk if self._pending else chunk
        end = data.rfind(_EVENT_END)
        if end < 0:
            self._pending = data
            return b""
        complete, self._pending = data[: end + 2], data[end + 2 :]
        if b'"usage"' not in complete:
            return complete
        return _strip(complete)

    def close(self) -> bytes:
        """What is left at the end of the stream (an event the upstream never terminated)."""
        rest, self._pending = self._pending, b""
        return _strip(rest) if b'"usage"' in rest else rest


def _strip(block: bytes) -> bytes:
    if _NULL_USAGE in block:
        block = block.replace(_NULL_USAGE, b"")
    if b'"choices":[]' not in block:
        return block
    kept = [event for event in block.split(_EVENT_END) if not _is_usage_chunk(event)]
    return _EVENT_END.join(kept)


def _is_usage_chunk(event: bytes) -> bool:
    """True for ``data: {... "choices": [], "usage": {...}}``, the chunk include_usage adds."""
    if b'"choices":[]' not in event or b'"usage":{' not in event:
        return False
    for line in event.splitlines():
        if line.startswith(b"data:"):
            try:
                obj = json.loads(line[5:])
            except ValueError:
                return False
            return isinstance(obj, dict) and obj.get("choices") == [] and isinstance(obj.get("usage"), dict)
    return False
