"""The openai SDK (OpenAI, AsyncOpenAI, AzureOpenAI): routes, provider, body and event readers.

Routes: ``/chat/completions`` (also ``.parse`` and the ``.stream`` helper, which post there),
``/responses`` (``create``, ``parse``, ``stream``), ``/embeddings`` and the legacy
``/completions``. Azure clients are billed by ``azure``; other clients by the provider their
base URL's host names (Groq, DeepSeek, OpenRouter... through the OpenAI SDK), else ``openai``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tokenomy.capture.sdk.base import ClientAdapter, Route, attr, dump, installed_class

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

    Once the accumulator (or the auto stream's recognised one) offers ``feed_delta`` (the chat
    accumulator does), a chunk :func:`chat_event` would read by hand is given to it by its
    fields, which has the same effect as feeding ``chat_event(chunk)``. A chunk kept as its data
    text (a ``str``, see ``Route.raw``) is read by :func:`chat_data`; once the chat accumulator is
    known, its ``feed_raw`` is called directly.
    """
    feed_raw = None
    for chunk in chunks:
        if type(chunk) is str:
            if feed_raw is not None and '"error"' not in chunk:
                feed_raw(chunk)  # what chat_data does once the accumulator is known, without its lookups
                continue
            chat_data(chunk, accumulator)
            feed_raw = getattr(getattr(accumulator, "inner", accumulator), "feed_raw", None)
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
    if '"error"' in data and _is_error(data):
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


def _is_error(data: str) -> bool:
    try:
        event = json.loads(data)
    except ValueError:
        return False
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
    try:
        event = json.loads(data)
    except ValueError:
        return False
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


_CONTENT: Final = '"content":"'
_TOOL_CALL: Final = '"tool_calls":[{'


def chat_text_output(data: str) -> bool:
    """True when a chunk's data text surely carries output: a non-empty ``content`` string or a
    tool call, as the API writes them (compact JSON). Text written otherwise reads False here and
    is decided by :func:`chat_is_output` on the sink's thread; a ``"content":"`` inside another
    field's string can only be inside output text or tool-call arguments, which are output too."""
    at = data.find(_CONTENT)
    if at >= 0 and data[at + 11 : at + 12] not in ('"', ""):
        return '"error"' not in data
    return _TOOL_CALL in data and '"error"' not in data


_TEXT_DELTA: Final = "response.output_text.delta"


def responses_event(event: Any) -> dict[str, Any]:
    """A Responses stream event as its wire event; text deltas are read by hand."""
    if event.type == _TEXT_DELTA:
        return {"type": _TEXT_DELTA, "delta": event.delta}
    return dump(event)


def responses_is_output(event: Any) -> bool:
    """True for a delta event (text, refusal, tool-call arguments, reasoning)."""
    kind = event.type
    return isinstance(kind, str) and kind.endswith(".delta")


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


def _tools(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = request.get("tools")
    return [t for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []


_CHAT: Final = Route(
    "chat",
    "chat",
    "openai.chat",
    body,
    chat_event,
    chat_is_output,
    events=chat_events,
    raw=True,
    text_output=chat_text_output,
)
ADAPTER: Final = ClientAdapter(
    name="openai",
    matches=lambda client: isinstance(client, installed_class("openai", "OpenAI", "AsyncOpenAI")),
    is_async=lambda client: isinstance(client, installed_class("openai", "AsyncOpenAI")),
    provider="openai",
    client_provider=_provider,
    routes={
        "/chat/completions": _CHAT,
        "/completions": Route("completions", "text_completion", "openai.chat", body, dump, chat_is_output),
        "/responses": Route(
            "responses", "chat", "openai.responses", body, responses_event, responses_is_output
        ),
        "/embeddings": Route("embeddings", "embeddings", "openai.embeddings", embeddings_body, prompt=False),
    },
    timeouts=lambda: installed_class("openai", "APITimeoutError"),
    tools=_tools,
)
