"""The adapter registry: which adapter reads a body, chosen by the body's shape.

:data:`ADAPTERS` lists every adapter in detection order, most specific first: OpenRouter and
DeepSeek bodies are OpenAI chat bodies with extra usage fields, so they are tried before
OpenAI chat; Anthropic is tried before the Responses API because both report
``input_tokens`` and only the Responses API reports ``total_tokens``. Every other module
chooses adapters through :func:`detect`, :func:`resolve` and :func:`extract`; no code
elsewhere branches on a provider's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from tokenomy.errors import UsageError
from tokenomy.providers import canonical
from tokenomy.usage import (
    anthropic,
    bedrock,
    cohere,
    deepseek,
    gemini,
    ollama,
    openai_chat,
    openai_embeddings,
    openai_responses,
    openrouter,
)
from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import Extracted, is_mapping

ADAPTERS: Final[Mapping[str, Adapter]] = MappingProxyType(
    {
        a.name: a
        for a in (
            openrouter.CHAT_ADAPTER,
            openrouter.RESPONSES_ADAPTER,
            deepseek.ADAPTER,
            openai_embeddings.ADAPTER,
            anthropic.ADAPTER,
            openai_responses.ADAPTER,
            openai_chat.ADAPTER,
            gemini.ADAPTER,
            bedrock.ADAPTER,
            cohere.ADAPTER,
            ollama.ADAPTER,
        )
    }
)
"""Every body adapter by name, in detection order (read-only)."""


def detect(body: Mapping[str, Any]) -> str | None:
    """The name of the adapter that reads ``body`` (e.g. ``"openai.chat"``), or None.

    Args:
        body: A decoded response body.

    Returns:
        The first adapter in :data:`ADAPTERS` order whose shape matches, or None.
    """
    found = _first_match(body, ADAPTERS.values())
    return None if found is None else found.name


def resolve(kind: str) -> Adapter:
    """The adapter named ``kind``: an adapter name, or a provider or family with one adapter.

    Raises:
        UsageError: When ``kind`` names no adapter, or several (``openai`` has three).
    """
    if kind in ADAPTERS:
        return ADAPTERS[kind]
    key = kind.strip().lower()
    provider = canonical(key)
    found = [a for a in ADAPTERS.values() if a.provider == provider or a.name.split(".")[0] == key]
    if len(found) == 1:
        return found[0]
    names = ", ".join(a.name for a in (found or ADAPTERS.values()))
    if found:
        raise UsageError(f"usage adapter {kind!r} is ambiguous: name one of {names}")
    raise UsageError(f"no usage adapter named {kind!r}: use one of {names}")


def _first_match(body: Mapping[str, Any], pool: Iterable[Adapter]) -> Adapter | None:
    for adapter in pool:
        if adapter.matches(body):
            return adapter
    return None


def choose(body: Mapping[str, Any], *, provider: str | None = None, api: str | None = None) -> Adapter | None:
    """The adapter for ``body``, preferring those of ``provider`` and ``api`` when given.

    The hints narrow the choice first. When they name exactly one adapter and the body holds
    a usage object that adapter's shape test does not recognise (a reduced body, stripped of
    the fields that tell surfaces apart), that adapter reads it as the caller says. When no
    adapter of that provider or api matches, the body's shape decides, because the shape is
    what fixes the counting convention (Groq or Azure bodies are OpenAI-shaped).
    """
    if provider is None and api is None:
        return _first_match(body, ADAPTERS.values())
    wanted = canonical(provider)
    hinted = [
        a for a in ADAPTERS.values() if (wanted is None or a.provider == wanted) and (api in (None, a.api))
    ]
    found = _first_match(body, hinted)
    if found is None and len(hinted) == 1 and _has_usage(body):
        found = hinted[0]
    for pool in ([a for a in ADAPTERS.values() if api in (None, a.api)], ADAPTERS.values()):
        found = found or _first_match(body, pool)
    return found


def _has_usage(body: Mapping[str, Any]) -> bool:
    return isinstance(body.get("usage"), Mapping) or isinstance(body.get("usageMetadata"), Mapping)


def _not_recognised(body: Any, provider: str | None, api: str | None) -> UsageError:
    hints = ", ".join(f"{k}={v!r}" for k, v in (("provider", provider), ("api", api)) if v)
    where = f" (with {hints})" if hints else ""
    if not isinstance(body, Mapping):
        return UsageError(f"usage body{where} must be a JSON object, got {type(body).__name__}")
    if "error" in body:
        return UsageError(
            f"body{where} is a provider error response (error: {str(body['error'])[:120]}); it carries "
            "no usage. Record the call as failed instead of extracting usage from it."
        )
    keys = ", ".join(sorted(map(str, body))[:10]) or "none"
    expected = "; ".join(a.expects for a in ADAPTERS.values())
    return UsageError(
        f"body{where} is not a recognised LLM response (top-level keys: {keys}). Expected one of: "
        f"{expected}. Pass provider= and api= if the body is one of these with fields stripped."
    )


def extract(body: Mapping[str, Any], *, provider: str | None = None, api: str | None = None) -> Extracted:
    """Read a response body with the adapter its shape (and the optional hints) select.

    Args:
        body: A decoded response body (a non-streamed response, or a terminal stream event
            that wraps one).
        provider: Who served it, in any spelling :func:`tokenomy.providers.canonical` knows
            (``groq``, ``azure.ai.openai``...). It narrows detection and labels the result.
        api: The API surface (``chat``, ``responses``, ``messages``, ``generate_content``,
            ``converse``, ``embeddings``), to disambiguate reduced bodies.

    Returns:
        The usage in exclusive buckets and the facts next to it.

    Raises:
        UsageError: When the body is not a response any adapter reads; the message names
            what was expected.
    """
    adapter = choose(body, provider=provider, api=api) if is_mapping(body) else None
    if adapter is None:
        raise _not_recognised(body, provider, api)
    result = adapter.extract(body)
    label = canonical(provider)
    if label is not None and label != result.provider:
        result = dataclasses.replace(result, provider=label)
    return result
