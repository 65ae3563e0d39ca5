"""The openai SDK (OpenAI, AsyncOpenAI, AzureOpenAI): routes, provider, body and event readers.

Routes: ``/chat/completions`` (also ``.parse`` and the ``.stream`` helper, which post there),
``/responses`` (``create``, ``parse``, ``stream``), ``/embeddings`` and the legacy
``/completions``. Azure clients are billed by ``azure``; other clients by the provider their
base URL's host names (Groq, DeepSeek, OpenRouter... through the OpenAI SDK), else ``openai``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from tokenomy.capture.sdk.base import (
    ClientAdapter,
    Route,
    attr,
    data_events,
    dump,
    installed_class,
    json_or_none,
    request_tools,
    type_of,
)

_CHUNK: Final = "chat.completion.chunk"


def body(obj: Any, keep_text: bool) -> dict[str, Any]:
    """A ChatCompletion, Completion or Response as its wire body."""
    del keep_text  # the text costs nothing extra in model_dump; it is kept only if capture is on
    return dump(obj)


def chat_event(chunk: Any) -> dict[str, Any]:
    """A ChatCompletionChunk as its wire event; a plain text chunk is read by hand (the common case)."""
    choices = chunk.choices
    if chunk.usage is None and len(choices) == 1 and _plain_head(chunk):
        choice = choices[0]
        delta = choice.delta
        if delta.tool_calls is None and delta.function_call is None and delta.refusal is None:
            event: dict[str, Any] = {"id": chunk.id, "object": chunk.object, "model": chunk.model}
            event["created"], event["service_tier"] = chunk.created, chunk.service_tier
            event["choices"] = [
                {
                    "index": choice.index,
                    "delta": {"content": delta.content},
                    "finish_reason": choice.finish_reason,
                }
            ]
            return event
    return dump(chunk)


def chat_events(chunks: Sequence[Any], accumulator: Any) -> None:
    """Feed a chat stream's chunks to an accumulator, plain text chunks without building their dicts.

    A chunk kept as its data text (a ``str``, see ``Route.raw``) is read by :func:`chat_data`; once
    the chat accumulator is known (the auto stream recognised it), the texts that follow are given
    to its ``feed_raws`` in one loop, which reads each as ``feed_raw`` does and passes over an error
    event as :func:`chat_data` does. Once the accumulator offers ``feed_delta`` (the chat
    accumulator does), an SDK chunk object :func:`chat_event` would read by hand is given to it by
    its fields, which has the same effect as feeding ``chat_event(chunk)``.
    """
    at, count = 0, len(chunks)
    while at < count:
        chunk = chunks[at]
        at += 1
        if type(chunk) is str:
            chat_data(chunk, accumulator)
            feed_raws = getattr(getattr(accumulator, "inner", accumulator), "feed_raws", None)
            if feed_raws is not None:
                at = feed_raws(chunks, at, _error_event)
            continue
        if chunk is None:  # an event without data text (not one the SDK makes)
            continue
        inner = getattr(accumulator, "inner", accumulator)
        feed_delta = getattr(inner, "feed_delta", None)
        if feed_delta is not None and chunk.usage is None and chunk.object == _CHUNK and _plain_head(chunk):
            choices = chunk.choices
            if len(choices) == 1:
                choice = choices[0]
                delta = choice.delta
                if (
                    type(choice.index) is int
                    and delta.tool_calls is None
                    and delta.function_call is None
                    and delta.refusal is None
                ):
                    head = (chunk.id, chunk.model, chunk.created, chunk.service_tier)
                    feed_delta(head, choice.index, delta.content, choice.finish_reason)
                    continue
        accumulator.feed(chat_event(chunk))


def chat_data(data: str, accumulator: Any) -> None:
    """Feed one chunk given as its server-sent event's data text: what the SDK decoded into the
    chunk object it yielded, so feeding it has the same effect as feeding that object's wire event.

    The chat accumulator reads it by :meth:`~tokenomy.usage.openai_chat.ChatStream.feed_raw` (a
    text delta by its text alone); before the stream is recognised it is decoded and fed whole.
    ``[DONE]``, empty data and text that is not JSON are skipped, and so is an error event, which
    the SDK raises instead of yielding (the call then ends with that error).
    """
    if _error_event(data):
        return
    inner = getattr(accumulator, "inner", accumulator)
    feed_raw = getattr(inner, "feed_raw", None)
    if feed_raw is not None:
        feed_raw(data)
        return
    if not data or data.startswith("[DONE]"):
        return
    try:
        event = json.loads(data)
    except ValueError:
        return
    accumulator.feed(event)


def _error_event(data: str) -> bool:
    """Whether a chunk's data text is an error event (which the SDK raises instead of yielding)."""
    return '"error"' in data and _is_error(data)


def _is_error(data: str) -> bool:
    event = json_or_none(data)
    return isinstance(event, dict) and bool(event.get("error"))


def _plain_head(chunk: Any) -> bool:
    """No field beyond the SDK's own that the usage adapters read (Groq's ``x_groq`` usage,
    OpenRouter's ``provider``): such a chunk is read whole, by :func:`dump`."""
    extra = getattr(chunk, "model_extra", None)
    return not extra or ("x_groq" not in extra and "provider" not in extra)


def chat_is_output(chunk: Any) -> bool:
    """True when a chunk carries output text, a refusal or tool-call arguments (also a chunk given
    as its data text, read as the SDK reads it into the chunk object)."""
    if type(chunk) is str:
        return _data_is_output(chunk)
    for choice in chunk.choices:
        delta = attr(choice, "delta")
        if delta is None:
            if attr(choice, "text"):  # legacy completions
                return True
        elif delta.content or delta.tool_calls or delta.refusal:
            return True
    return False


def _data_is_output(data: str) -> bool:
    """:func:`chat_is_output` of the chunk this data text decodes to (False for ``[DONE]``, an error
    event or text that is not a JSON object: the SDK yields no chunk for those)."""
    if not data or data.startswith("[DONE]"):
        return False
    event = json_or_none(data)
    choices = event.get("choices") if isinstance(event, dict) and not event.get("error") else None
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if delta is None:
            if choice.get("text"):  # legacy completions
                return True
        elif isinstance(delta, dict) and (
            delta.get("content") or delta.get("tool_calls") or delta.get("refusal")
        ):
            return True
    return False


_TEXT_DELTA: Final = "response.output_text.delta"


def responses_event(event: Any) -> dict[str, Any]:
    """A Responses stream event as its wire event; text deltas are read by hand."""
    if event.type == _TEXT_DELTA:
        return {"type": _TEXT_DELTA, "delta": event.delta}
    return dump(event)


def responses_is_output(event: Any) -> bool:
    """True for a delta event (text, refusal, tool-call arguments, reasoning); also for an event
    given as its data text (see ``Route.raw``), read as the SDK reads it into the event object (an
    event whose type is read without decoding it and is no delta is not output, whatever the rest)."""
    if type(event) is str:
        kind = type_of(event)
        if kind is not None and not kind.endswith(".delta"):
            return False
        event = responses_data(event)
        kind = event.get("type") if isinstance(event, dict) else None
    else:
        kind = event.type
    return isinstance(kind, str) and kind.endswith(".delta")


def responses_data(data: str) -> Any:
    """The event the SDK yields for a Responses event's data text, decoded: None for one it yields
    nothing for (``[DONE]``, which ends the stream; empty or non-JSON text, and an event with an
    ``error`` member, which it raises on instead). The ``error`` event type is yielded, not raised."""
    if not data or data.startswith("[DONE]"):
        return None
    event = json_or_none(data)
    if isinstance(event, dict) and event.get("error"):
        return None
    return event


TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""The Responses stream events the usage accumulator takes as the stream's end (the last one wins)."""
_each_response_event: Final = data_events(responses_data, responses_event)


def responses_events(items: Sequence[Any], accumulator: Any) -> None:
    """Feed a Responses stream's events (SDK objects, or data text, see ``Route.raw``).

    The usage accumulator reads a stream that has a terminal event (:data:`TERMINAL`) from the
    last such event alone: when that event is kept as data text and every event after it can be
    placed without decoding it, it is the only one decoded and fed (the text deltas, most of a
    stream, are not decoded at all). Otherwise each event is fed, as :func:`data_events` does.
    """
    final = _final_event(items)
    if final is not None:
        accumulator.feed(final)
    else:
        _each_response_event(items, accumulator)


def _final_event(items: Sequence[Any]) -> dict[str, Any] | None:
    """The decoded last terminal event of a stream kept as data text, when it is known for sure."""
    for item in reversed(items):
        if type(item) is not str:
            return None
        kind = type_of(item)
        if kind is None:
            if not item or item.startswith("[DONE]"):
                continue
            return None
        if kind in TERMINAL:
            event = responses_data(item)
            if (
                isinstance(event, dict)
                and event.get("type") in TERMINAL
                and isinstance(event.get("response"), dict)
            ):
                return event
            return None
    return None


def embeddings_body(obj: Any, keep_text: bool) -> dict[str, Any]:
    """A CreateEmbeddingResponse as its wire body, without the vectors."""
    del keep_text  # an embeddings response has no text
    out = {"object": "list", "model": attr(obj, "model"), "data": [{"object": "embedding"}]}
    usage = attr(obj, "usage")
    out["usage"] = dump(usage) if usage is not None else None
    return out


def _provider(client: object) -> str | None:
    azure = installed_class("openai", "AzureOpenAI", "AsyncAzureOpenAI")
    return "azure" if isinstance(client, azure) else None


_CHAT: Final = Route(
    "chat",
    "chat",
    "openai.chat",
    body,
    chat_event,
    chat_is_output,
    events=chat_events,
    raw=True,
)
_RESPONSES: Final = Route(
    "responses",
    "chat",
    "openai.responses",
    body,
    responses_event,
    responses_is_output,
    events=responses_events,
    raw=True,
)
ADAPTER: Final = ClientAdapter(
    name="openai",
    matches=lambda client: isinstance(client, installed_class("openai", "OpenAI", "AsyncOpenAI")),
    is_async=lambda client: isinstance(client, installed_class("openai", "AsyncOpenAI")),
    provider="openai",
    client_provider=_provider,
    routes={
        "/chat/completions": _CHAT,
        "/completions": Route(
            "completions", "text_completion", "openai.chat", body, dump, chat_is_output, text_prompt="prompt"
        ),
        "/responses": _RESPONSES,
        "/embeddings": Route("embeddings", "embeddings", "openai.embeddings", embeddings_body, prompt=False),
    },
    timeouts=lambda: installed_class("openai", "APITimeoutError"),
    tools=request_tools,
)
