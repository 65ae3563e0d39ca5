"""What every wire adapter provides, and the serialisation helpers they share.

An :class:`Endpoint` turns a request body into a Prompt and a Plan into a JSON body or a list
of :class:`Frame` objects (server-sent events, each tagged with the output tokens it carries so
the ledger can count what a cut or abandoned stream really sent). Frames that repeat with only
their text changing are built from a :class:`DeltaTemplate`, serialised once per response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tokenomy.mockllm.generate import split_even
from tokenomy.mockllm.plan import Plan
from tokenomy.mockllm.prompt import Prompt

_MARK: Final = "\u0001mock-delta\u0001"
_MARK_JSON: Final = json.dumps(_MARK).encode()
_SEQ: Final = "\u0001mock-seq\u0001"
_SEQ_JSON: Final = json.dumps(_SEQ).encode()
_WORD_MEMO: Final = 4096


@dataclass(slots=True)
class Frame:
    """One server-sent event, with the output tokens it delivers."""

    data: bytes
    output: int = 0
    reasoning: int = 0

    @property
    def tokens(self) -> int:
        """All output tokens in this frame."""
        return self.output + self.reasoning


class ErrorShape(Protocol):
    """How one provider writes an error body."""

    def body(self, status: int, message: str, *, param: str | None, request_id: str) -> bytes:
        """The JSON error body for ``status``."""
        ...

    def injected(self, status: int) -> str:
        """The message of an error the mock injects on purpose."""
        ...


class Endpoint(Protocol):
    """One API surface (chat completions, responses, messages...)."""

    name: str
    errors: ErrorShape
    id_header: str

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read a request body; raise InvalidRequestError for an invalid one."""
        ...

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The non-streamed JSON response."""
        ...

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """The streamed response, as server-sent events."""
        ...

    def stream_error(self, plan: Plan) -> bytes:
        """An event that reports a server error in the middle of a stream."""
        ...


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""One shared encoder: json.dumps with options builds a new one per call, which costs a third."""


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8."""
    return _ENCODER.encode(value).encode("utf-8")


def sse(payload: Any, event: str | None = None) -> bytes:
    """One server-sent event (``event:`` line only when named)."""
    if event is None:
        return b"data: " + dumps(payload) + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


class DeltaTemplate:
    """An event whose only varying part is one string: serialised once, filled per frame."""

    def __init__(self, payload: Any, event: str | None = None) -> None:
        """``payload`` holds :data:`DELTA` where the text goes."""
        before, after = sse(payload, event).split(_MARK_JSON, 1)
        self._before = before
        self._after = after
        self._words: dict[str, bytes] = {}

    def fill(self, text: str, seq: int | None = None) -> bytes:
        """The event with ``text`` in place (and ``seq`` where the payload holds :data:`SEQ`)."""
        out = self._before + json.dumps(text, ensure_ascii=False).encode("utf-8") + self._after
        return out if seq is None else out.replace(_SEQ_JSON, b"%d" % seq)

    def fill_words(self, text: str, seq: int | None = None) -> bytes:
        """:meth:`fill` for generated text (plain ASCII words), which needs no JSON escaping.

        Generated text comes from a small vocabulary, so without a sequence number the event for
        each piece is built once per template and reused.
        """
        if seq is None:
            done = self._words.get(text)
            if done is None:
                done = self._before + b'"' + text.encode("ascii") + b'"' + self._after
                if len(self._words) < _WORD_MEMO:
                    self._words[text] = done
            return done
        out = self._before + b'"' + text.encode("ascii") + b'"' + self._after
        return out.replace(_SEQ_JSON, b"%d" % seq)


DELTA: Final = _MARK
"""The placeholder a DeltaTemplate payload carries where its text goes."""
SEQ: Final = _SEQ
"""The placeholder for an event sequence number (OpenAI Responses streams)."""


def tool_pieces(tokens: int, arguments: str) -> tuple[int, list[str]]:
    """Split a tool call's tokens: (tokens of the opening frame, argument pieces of one token each)."""
    parts = split_even(arguments, max(1, min(len(arguments), tokens - 1)))
    return max(tokens - len(parts), 0), parts


def malformed_body() -> bytes:
    """A 200 body that is not valid JSON: an object cut off in the middle."""
    return b'{"id":"mock-malformed","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis'


def malformed_frame(event: str | None = None) -> bytes:
    """A server-sent event whose data is not valid JSON."""
    named = b"event: " + event.encode() + b"\n" if event else b""
    return named + b'data: {"id":"mock-malformed","choices":[{"delta":{"content":"unterminated\n\n'
