"""OpenRouter: OpenAI-compatible chat and Responses bodies with OpenRouter's usage accounting.

Convention: the token counts follow OpenAI's (``prompt_tokens`` includes
``prompt_tokens_details.cached_tokens`` and ``cache_write_tokens``, ``completion_tokens``
includes ``completion_tokens_details.reasoning_tokens``; the Responses surface likewise),
see :mod:`tokenomy.usage.openai_chat` and :mod:`tokenomy.usage.openai_responses`. Cache
writes (reported for Anthropic and Gemini upstreams) are kept as ``cache_write_5m``.

OpenRouter also says what it charged: ``usage.cost`` (credits, USD) becomes
``provider_reported_cost``. ``extra`` keeps ``upstream_provider`` (the ``provider`` field),
``upstream_cost`` (``cost_details.upstream_inference_cost``, what the upstream billed, e.g.
under bring-your-own-key) and ``is_byok``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.usage import openai_chat, openai_responses
from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import Extracted, get_str, mapping, to_decimal

CHAT: Final = "openrouter.chat"
RESPONSES: Final = "openrouter.responses"
_BILLING_KEYS: Final = ("cost", "is_byok", "cost_details")


def _billed(body: Mapping[str, Any], count_key: str) -> bool:
    """True for OpenRouter's usage accounting: its ``cost`` is a number (Perplexity's, an object, is not
    OpenRouter's: :func:`tokenomy.usage.base.reported_cost`)."""
    usage = mapping(body.get("usage"))
    if usage is None or count_key not in usage or isinstance(usage.get("cost"), Mapping):
        return False
    return any(k in usage for k in _BILLING_KEYS)


def matches_chat(body: Mapping[str, Any]) -> bool:
    """True for a chat body with OpenRouter's usage accounting, or OpenRouter's ``gen-`` ids."""
    generated = (get_str(body, "id") or "").startswith("gen-") and isinstance(body.get("provider"), str)
    return _billed(body, "prompt_tokens") or (generated and "choices" in body)


def matches_responses(body: Mapping[str, Any]) -> bool:
    """True for a Responses body with OpenRouter's usage accounting."""
    return _billed(openai_responses.unwrap(body), "input_tokens")


def _extra(body: Mapping[str, Any], usage: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    upstream = get_str(body, "provider")
    if upstream:
        extra["upstream_provider"] = upstream
    upstream_cost = to_decimal((mapping(usage.get("cost_details")) or {}).get("upstream_inference_cost"))
    if upstream_cost is not None:
        extra["upstream_cost"] = upstream_cost
    if isinstance(usage.get("is_byok"), bool):
        extra["is_byok"] = usage["is_byok"]
    return extra


def extract_chat(body: Mapping[str, Any]) -> Extracted:
    """Read an OpenRouter chat completion body."""
    usage = mapping(body.get("usage")) or {}
    return openai_chat.build(
        body,
        openai_chat.chat_usage(mapping(body.get("usage"))),
        adapter=CHAT,
        provider="openrouter",
        cost=to_decimal(usage.get("cost")),
        extra=_extra(body, usage),
    )


def extract_responses(body: Mapping[str, Any]) -> Extracted:
    """Read an OpenRouter Responses body."""
    body = openai_responses.unwrap(body)
    usage = mapping(body.get("usage")) or {}
    return openai_responses.build(
        body,
        openai_responses.responses_usage(mapping(body.get("usage")), openai_responses.per_use(body)),
        adapter=RESPONSES,
        provider="openrouter",
        cost=to_decimal(usage.get("cost")),
        extra=_extra(body, usage),
    )


CHAT_ADAPTER: Final = Adapter(
    name=CHAT,
    provider="openrouter",
    api="chat",
    matches=matches_chat,
    extract=extract_chat,
    stream=openai_chat.ChatStream,
    expects="an OpenRouter chat completion (usage.prompt_tokens with usage.cost)",
)
RESPONSES_ADAPTER: Final = Adapter(
    name=RESPONSES,
    provider="openrouter",
    api="responses",
    matches=matches_responses,
    extract=extract_responses,
    stream=openai_responses.ResponsesStream,
    expects="an OpenRouter Responses API response (usage.input_tokens with usage.cost)",
)
