"""The anthropic SDK (Anthropic, AsyncAnthropic): the Messages route, body and event readers.

``messages.create`` (plain and ``stream=True``) and the ``messages.stream`` helper post to
``/v1/messages``; the beta namespace posts to ``/v1/messages?beta=true``. Tool definitions
are read as sent (``input_schema``, ``cache_control``, server tools' ``type``), as the gateway and
the importers read them, so that the same request has the same ``tool_def_tokens`` and prefix
hashes on every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

try:  # the JSON decoder's own string scanner, as the json module itself imports it
    from _json import scanstring
except ImportError:  # an interpreter without the C decoder
    from json.decoder import py_scanstring as scanstring  # type: ignore[attr-defined,no-redef]

from tokenomy.capture.sdk.base import (
    ClientAdapter,
    Route,
    attr,
    dump,
    installed_class,
    json_or_none,
    request_tools,
    type_of,
)


def messages_body(obj: Any, keep_text: bool) -> dict[str, Any]:
    """A Message as its wire body."""
    del keep_text  # the text costs nothing extra in model_dump; it is kept only if capture is on
    return dump(obj)


def messages_event(event: Any) -> dict[str, Any]:
    """A raw Messages stream event as its wire event (text deltas, most events, read by hand)."""
    if event.type == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            return {
                "type": "content_block_delta",
                "index": event.index,
                "delta": {"type": "text_delta", "text": delta.text},
            }
    return dump(event)


def messages_is_output(event: Any) -> bool:
    """True for a content delta (text, thinking, tool input); also for an event given as its data
    text (see ``Route.raw``), read as the SDK reads it into the event object."""
    if type(event) is str:
        kind = type_of(event)
        if kind is not None and kind != "content_block_delta":
            return False  # no content delta, whatever the rest of its text
        event = messages_data(event)
        return isinstance(event, dict) and event.get("type") == "content_block_delta"
    return bool(attr(event, "type") == "content_block_delta")


_SKIPPED: Final = frozenset({"ping", "error"})


def messages_data(data: str) -> Any:
    """The event the SDK yields for a Messages event's data text, decoded: None for one it yields
    nothing for (empty or non-JSON text, a ``ping``, and an ``error`` event, which it raises on).

    The SDK decides by the event's name (the ``event:`` line), which is not kept; the API names
    every event by its data's ``type``, which is read instead.
    """
    if not data:
        return None
    event = json_or_none(data)
    if isinstance(event, dict) and event.get("type") in _SKIPPED:
        return None
    return event


def messages_events(items: Sequence[Any], accumulator: Any) -> None:
    """Feed a Messages stream's events (SDK objects, or data text, see ``Route.raw``), as
    :func:`data_events` does; a text delta written as the API writes it is read by
    :func:`_text_delta` instead of decoded whole. Once the auto stream has recognised the stream,
    its accumulator is fed directly (the same effect, see ``AutoStream.inner``)."""
    take, inner = accumulator.feed, None
    for item in items:
        if type(item) is str:
            found = _text_delta(item)
            if found is None:
                found = messages_data(item)
            if found is None:
                continue
        elif item is not None:
            found = messages_event(item)
        else:
            continue
        take(found)
        if inner is None:
            inner = getattr(accumulator, "inner", None)
            if inner is not None:
                take = inner.feed


_TEXT_HEAD: Final = '{"type":"content_block_delta","index":'
_TEXT_MIDDLE: Final = ',"delta":{"type":"text_delta","text":"'
_TEXT_FIRST: Final = _TEXT_HEAD + "0" + _TEXT_MIDDLE
_HEAD, _MIDDLE, _FIRST = len(_TEXT_HEAD), len(_TEXT_MIDDLE), len(_TEXT_FIRST)


def _text_delta(data: str) -> dict[str, Any] | None:
    """A text delta's data text decoded, when it is written exactly as the API writes one
    (``{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}``): the
    same dict as the JSON decoder makes of it, its text read by the decoder's own string scanner.
    None for text written in any other way (it is then decoded whole)."""
    if data.startswith(_TEXT_FIRST):  # the first block's, the most frequent
        index, start = 0, _FIRST
    elif data.startswith(_TEXT_HEAD):
        middle = data.find(_TEXT_MIDDLE, _HEAD)
        digits = data[_HEAD:middle] if middle > _HEAD else ""
        if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and len(digits) > 1):
            return None
        index, start = int(digits), middle + _MIDDLE
    else:
        return None
    try:
        text, end = scanstring(data, start)
    except ValueError:
        return None
    if data[end:] != "}}":
        return None
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


_MESSAGES: Final = Route(
    "messages",
    "chat",
    "anthropic.messages",
    messages_body,
    messages_event,
    messages_is_output,
    events=messages_events,
    raw=True,
)
ADAPTER: Final = ClientAdapter(
    name="anthropic",
    matches=lambda client: isinstance(client, installed_class("anthropic", "Anthropic", "AsyncAnthropic")),
    is_async=lambda client: isinstance(client, installed_class("anthropic", "AsyncAnthropic")),
    provider="anthropic",
    client_provider=lambda client: None,
    routes={"/v1/messages": _MESSAGES, "/v1/messages?beta=true": _MESSAGES},
    timeouts=lambda: installed_class("anthropic", "APITimeoutError"),
    tools=request_tools,
)
