"""The openai SDK (OpenAI, AsyncOpenAI, AzureOpenAI): routes, provider, body and event readers.

Routes: ``/chat/completions`` (also ``.parse`` and the ``.stream`` helper, which post there),
``/responses`` (``create``, ``parse``, ``stream``), ``/embeddings`` and the legacy
``/completions``. Azure clients are billed by ``azure``; other clients by the provider their
base URL's host names (Groq, DeepSeek, OpenRouter... through the OpenAI SDK), else ``openai``.
"""

from __future__ import annotations

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
    fields, which has the same effect as feeding ``chat_event(chunk)``.
    """
    for chunk in chunks:
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


def _plain_head(chunk: Any) -> bool:
    """No field beyond the SDK's own that the usage adapters read (Groq's ``x_groq`` usage,
    OpenRouter's ``provider``): such a chunk is read whole, by :func:`dump`."""
    extra = getattr(chunk, "model_extra", None)
    return not extra or ("x_groq" not in extra and "provider" not in extra)


def chat_is_output(chunk: Any) -> bool:
    """True when a chunk carries output text, a refusal or tool-call arguments."""
    for choice in chunk.choices:
        delta = attr(choice, "delta")
        if delta is None:
            if attr(choice, "text"):  # legacy completions
                return True
        elif delta.content or delta.tool_calls or delta.refusal:
            return True
    return False


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


_CHAT: Final = Route("chat", "chat", "openai.chat", body, chat_event, chat_is_output, events=chat_events)
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
