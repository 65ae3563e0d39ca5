"""What the application asks a connection to do with one request: the three kinds of answer.

A :class:`Reply` is a whole response (possibly delayed, possibly cut short); a :class:`Stream`
is a chunked event stream with pacing; a :class:`Drop` sends nothing and closes the
connection, at once (a hang-up) or after a while (a stall). Each carries a callback the
connection calls exactly once, when the answer has ended, with what was really written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tokenomy.mockllm.wire.base import Frame

Headers = bytes
"""Pre-encoded header lines (see :func:`tokenomy.mockllm.http.lines`)."""


def _nothing(*_: object) -> None:
    return None


@dataclass(slots=True)
class Reply:
    """A complete response.

    Attributes:
        status: HTTP status.
        headers: Headers besides content-length / transfer-encoding / connection.
        body: The body.
        delay_s: Wait this long before sending.
        chunked: Send the body with chunked transfer encoding instead of Content-Length.
        cut_at: Send only this many body bytes, then close the connection.
        done: Called with True when the whole body was written, False otherwise.
    """

    status: int
    headers: Headers
    body: bytes
    delay_s: float = 0.0
    chunked: bool = False
    cut_at: int | None = None
    done: Callable[[bool], None] = _nothing


@dataclass(slots=True)
class Stream:
    """A server-sent event stream.

    Attributes:
        headers: Headers besides transfer-encoding / connection.
        frames: The events, in order.
        ttft_s: Wait before the first frame that carries tokens.
        gap_s: Wait before each later frame that carries tokens.
        cut_after: Send only this many frames, then close the connection.
        done: Called with (frames written, whether the stream ended normally).
    """

    headers: Headers
    frames: list[Frame]
    ttft_s: float = 0.0
    gap_s: float = 0.0
    cut_after: int | None = None
    done: Callable[[int, bool], None] = _nothing

    @property
    def instant(self) -> bool:
        """True when no frame needs waiting for."""
        return self.ttft_s <= 0 and self.gap_s <= 0


@dataclass(slots=True)
class Drop:
    """Close the connection without answering, after ``after_s`` seconds."""

    after_s: float
    done: Callable[[], None] = _nothing


Action = Reply | Stream | Drop
