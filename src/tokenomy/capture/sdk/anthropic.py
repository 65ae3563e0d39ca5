"""The anthropic SDK (Anthropic, AsyncAnthropic): the Messages route, body and event readers.

``messages.create`` (plain and ``stream=True``) and the ``messages.stream`` helper post to
``/v1/messages``; the beta namespace posts to ``/v1/messages?beta=true``. Tool definitions
are read with their ``input_schema`` as the parameters that token counting understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.capture.sdk.base import ClientAdapter, Route, attr, dump, installed_class


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
    """True for a content delta (text, thinking, tool input)."""
    return bool(attr(event, "type") == "content_block_delta")


def _tools(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for tool in request.get("tools") or ():
        if isinstance(tool, Mapping):
            spec = {"name": tool.get("name"), "description": tool.get("description", "")}
            if isinstance(tool.get("input_schema"), Mapping):
                spec["parameters"] = tool["input_schema"]
            out.append(spec)
    return out


_MESSAGES: Final = Route(
    "messages", "chat", "anthropic.messages", messages_body, messages_event, messages_is_output
)
ADAPTER: Final = ClientAdapter(
    name="anthropic",
    matches=lambda client: isinstance(client, installed_class("anthropic", "Anthropic", "AsyncAnthropic")),
    is_async=lambda client: isinstance(client, installed_class("anthropic", "AsyncAnthropic")),
    provider="anthropic",
    client_provider=lambda client: None,
    routes={"/v1/messages": _MESSAGES, "/v1/messages?beta=true": _MESSAGES},
    timeouts=lambda: installed_class("anthropic", "APITimeoutError"),
    tools=_tools,
)
