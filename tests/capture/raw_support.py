"""Recording one stream twice, kept as its events' data text and as the SDK's objects, and comparing.

The raw path (``Route.raw``: :class:`tokenomy.capture.streams.TextWatch`) and the objects path
(:class:`~tokenomy.capture.streams.ObjectWatch`, forced by making the stream's event reader unknown)
must build the same Call from the same stream: every field but the ids and times, and the time to
first token taken at the same event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from tests.capture.support import Keeper
from tokenomy.capture import streams
from tokenomy.capture.captured import Captured
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sdk.anthropic import messages_data
from tokenomy.capture.sdk.openai import responses_data
from tokenomy.capture.streams import stream_items
from tokenomy.config import Config
from tokenomy.schema import Call
from tokenomy.usage import accumulate

DECODE: dict[str, Callable[[str], Any]] = {"responses": responses_data, "messages": messages_data}
_T0 = datetime(2026, 1, 1)


def kept_calls(
    run: Callable[[], object], monkeypatch: pytest.MonkeyPatch, *, objects: bool
) -> list[Captured]:
    """What ``run`` submits to the sink, unbuilt: kept raw, or (``objects``) as the SDK's objects."""
    keeper = Keeper()
    content = RUNTIME.content
    RUNTIME.configure(keeper, config=Config())
    RUNTIME.content = content
    try:
        with monkeypatch.context() as patch:
            if objects:
                patch.setattr(streams, "event_reader", lambda stream: None)
            run()
    finally:
        RUNTIME.shutdown(10)
        RUNTIME.content = content
    for captured in keeper.kept:  # a stream kept as its bytes: read into its events' data text
        stream_items(captured)
    return list(keeper.kept)


def both_ways(
    run: Callable[[], object], monkeypatch: pytest.MonkeyPatch, reset: Callable[[], None] = lambda: None
) -> list[tuple[Captured, Captured]]:
    """``run`` recorded through the raw path, then (after ``reset``) through the objects path."""
    reset()
    raw = kept_calls(run, monkeypatch, objects=False)
    reset()
    objects = kept_calls(run, monkeypatch, objects=True)
    assert len(raw) == len(objects) > 0
    for captured in raw:
        assert captured.items is not None
        assert all(type(item) is str for item in captured.items)  # the data text, no SDK objects
    for captured in objects:
        assert captured.items is not None
        assert not any(type(item) is str for item in captured.items)
    return list(zip(raw, objects, strict=True))


def _yielded(captured: Captured) -> list[Any]:
    """The events the SDK yielded: its objects, or the data texts it made objects of (decoded)."""
    items = captured.items or []
    if not any(type(item) is str for item in items):
        return list(items)
    decode = DECODE[captured.route.api]
    return [found for found in (decode(item) for item in items) if found is not None]


def _kind(event: Any) -> Any:
    return event.get("type") if isinstance(event, dict) else getattr(event, "type", None)


def first_output(captured: Captured) -> int | None:
    """How many yielded events came before the first one carrying output (None: none did)."""
    items = captured.items or []
    is_output = captured.route.is_output
    assert is_output is not None
    before = 0
    decode = DECODE[captured.route.api]
    for item in items:
        if is_output(item):
            return before
        if type(item) is not str or decode(item) is not None:
            before += 1
    return None


def _facts(call: Call) -> Call:
    """The call without its ids and times."""
    return call.replace(
        id="", trace_id="", span_id="", started_at=_T0, ended_at=None, latency_ms=None, ttft_ms=None
    )


def same_call(raw: Captured, objects: Captured, wire: Sequence[Mapping[str, Any]] | None = None) -> Call:
    """Both captured calls build the same Call (ids and times aside); the one built from text.

    One difference is allowed, where ``wire`` (the stream's events as sent, decoded) shows the text
    right: a hosted tool's arguments (a web search's ``action``) hash as sent, where the SDK's object
    adds the fields its model knows and the wire left out (as None), which changes their hash.
    """
    assert [_kind(e) for e in _yielded(raw)] == [_kind(e) for e in _yielded(objects)]
    from_text, from_objects = raw.build(), objects.build()
    text_facts, object_facts = _facts(from_text), _facts(from_objects)
    if text_facts.tool_uses != object_facts.tool_uses and wire is not None:
        assert [(t.name, t.server) for t in text_facts.tool_uses] == [
            (t.name, t.server) for t in object_facts.tool_uses
        ]
        assert all(
            t == o or t.server for t, o in zip(text_facts.tool_uses, object_facts.tool_uses, strict=True)
        )
        sent = accumulate(wire[: len(raw.items or ())], kind=raw.route.usage_kind)
        assert text_facts.tool_uses == sent.tool_uses
        text_facts = text_facts.replace(tool_uses=object_facts.tool_uses)
    assert text_facts == object_facts
    assert (from_text.ttft_ms is None) == (from_objects.ttft_ms is None)
    assert first_output(raw) == first_output(objects)
    return from_text


def events(stream: Any, count: int | None = None) -> Iterator[Any]:
    """The first ``count`` events of a stream (all when None)."""
    for read, event in enumerate(stream, start=1):
        yield event
        if count is not None and read >= count:
            return
