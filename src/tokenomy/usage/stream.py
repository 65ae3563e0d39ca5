"""Reading a whole stream, or a live one event by event, with the kind detected when not given.

:func:`stream_accumulator` gives the accumulator of one surface, or an :class:`AutoStream`
that recognises the surface from the first event it can place (a ``ping`` or an ``error``
event before it is held and replayed). Chunks of OpenAI-compatible surfaces look alike
(DeepSeek's and OpenRouter's chunks are OpenAI chunks), so the auto stream rebuilds the body
with its family's accumulator and lets the body's shape pick the adapter at the end: a
DeepSeek stream is read with DeepSeek's cache counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from tokenomy.errors import UsageError
from tokenomy.usage.adapter import Adapter, Extractor, StreamAccumulator
from tokenomy.usage.base import Extracted, is_mapping
from tokenomy.usage.registry import ADAPTERS, choose, resolve

MAX_PENDING: Final = 32
"""Events held before the kind is known; beyond this they are dropped (and counted)."""


def stream_kind(event: Mapping[str, Any]) -> Adapter | None:
    """The adapter whose streams start with events like ``event``, or None."""
    for adapter in ADAPTERS.values():
        if adapter.matches_event is not None and adapter.matches_event(event):
            return adapter
    return None


def _family_extractor(adapter: Adapter) -> Extractor:
    """Reads a rebuilt body with whichever adapter of ``adapter``'s api its shape selects."""

    def run(body: Mapping[str, Any]) -> Extracted:
        found = choose(body, api=adapter.api)
        return (found or adapter).extract(body)

    return run


class AutoStream:
    """A stream accumulator that finds the stream's kind from its first recognisable event."""

    __slots__ = ("_inner", "_kind", "_pending", "dropped")

    def __init__(self) -> None:
        self._inner: StreamAccumulator | None = None
        self._kind: str | None = None
        self._pending: list[Mapping[str, Any]] = []
        self.dropped = 0

    @property
    def inner(self) -> StreamAccumulator | None:
        """The recognised stream's own accumulator (None until an event was recognised).

        Feeding it an event has the same effect as feeding this auto stream, once recognised.
        """
        return self._inner

    @property
    def kind(self) -> str | None:
        """The adapter name recognised so far, or None."""
        return self._kind

    def feed(self, event: object) -> None:
        """Take one decoded event; never raises."""
        if not is_mapping(event):
            self.dropped += 1
            return
        if self._inner is not None:
            self._inner.feed(event)
            return
        adapter = stream_kind(event)
        if adapter is None or adapter.stream is None:
            if len(self._pending) < MAX_PENDING:
                self._pending.append(event)
            else:
                self.dropped += 1
            return
        self._kind = adapter.name
        self._inner = adapter.stream(_family_extractor(adapter))
        for held in self._pending:
            self._inner.feed(held)
        self._pending.clear()
        self._inner.feed(event)

    def result(self) -> Extracted | None:
        """The recognised stream's result, or None when no event was recognised."""
        return None if self._inner is None else self._inner.result()


def stream_accumulator(kind: str | None = None) -> StreamAccumulator:
    """A fresh accumulator for one stream.

    Args:
        kind: An adapter name (``openai.chat``, ``openai.responses``, ``anthropic.messages``,
            ``gemini.generate_content``, ``bedrock.converse``, ``deepseek.chat``,
            ``openrouter.chat``...), a provider with a single streaming surface
            (``anthropic``, ``gemini``, ``bedrock``), or None to detect it from the events.

    Returns:
        An object with ``feed(event)`` (cheap, never raises) and ``result()``.

    Raises:
        UsageError: When ``kind`` names no adapter, or one whose responses do not stream.
    """
    if kind is None:
        return AutoStream()
    adapter = resolve(kind)
    if adapter.stream is None:
        raise UsageError(f"{adapter.name} responses are not streamed; read the body with extract()")
    return adapter.stream(adapter.extract)


def accumulate(events: Iterable[Mapping[str, Any]], *, kind: str | None = None) -> Extracted:
    """Read a whole stream: its decoded event data objects, in order.

    Args:
        events: OpenAI chat chunks, Responses stream events, Anthropic SSE event data (with
            ``type``), Gemini stream chunks or Bedrock ConverseStream events (see
            :func:`tokenomy.usage.iter_json_events` to decode raw SSE).
        kind: The stream's adapter, or None to detect it from the events.

    Returns:
        What the stream reported; ``extra["complete"]`` is False for a stream cut before its
        final usage, whose unknown buckets are then None.

    Raises:
        UsageError: When no event carried anything an adapter reads.
    """
    accumulator = stream_accumulator(kind)
    count = 0
    for event in events:
        accumulator.feed(event)
        count += 1
    result = accumulator.result()
    if result is None:
        expected = "; ".join(a.expects for a in ADAPTERS.values() if a.matches_event is not None)
        raise UsageError(
            f"stream of {count} event(s) carried no usage or content that any adapter reads"
            f"{f' as {kind}' if kind else ''}. Expected the decoded data of events of: {expected}."
        )
    return result
