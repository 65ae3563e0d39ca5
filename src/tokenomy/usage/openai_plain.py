"""The most common answer, an OpenAI chat completion, read directly: the same Extracted, less work.

The chat adapter (:mod:`tokenomy.usage.openai_chat`) reads every field through defensive helpers
and derives the exclusive buckets through the general rules. An ordinary OpenAI chat completion
(one text choice, integer counts that add up, the usual details objects) needs none of that:
:func:`plain_chat` reads it in one pass and returns exactly what the adapter's general reading
returns, or None for any other body (tool calls, several choices, a missing or odd count, a
marker of another provider...). The adapter tries it first, so every caller (SDK capture, the
gateway, importers) gains; the tests compare both readings on real and hand-made bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import Kind, Usage, new_usage
from tokenomy.usage.base import Extracted, from_unix

_ADAPTER: Final = "openai.chat"
_REPORTED: Final = Kind.REPORTED
"""The member itself (looked up on the enum, it costs about as much as a function call)."""
_MESSAGE_KEYS: Final = frozenset({"role", "content", "refusal", "annotations", "audio"})
"""Message keys the chat adapter's reading does not depend on beyond content and refusal; any other
key (tool or function calls...) must be None for the body to be read here."""


def plain_chat(body: Mapping[str, Any]) -> Extracted | None:
    """The chat adapter's general reading of ``body``, for a plain OpenAI chat completion.

    Returns:
        The Extracted (provider ``openai``), or None when the body is not the plain case.
    """
    found = plain_chat_parts(body)
    if found is None:
        return None
    usage, choice, text = found
    return Extracted(
        usage=usage,
        provider="openai",
        api="chat",
        adapter=_ADAPTER,
        response_model=_str(body.get("model")),
        response_id=_str(body.get("id")),
        finish_reason=_str(choice.get("finish_reason")),
        tool_uses=(),
        service_tier=_str(body.get("service_tier")),
        created_at=from_unix(body.get("created")),
        provider_reported_cost=None,
        completion_text=text,
        extra={},
    )


def plain_chat_parts(body: Mapping[str, Any]) -> tuple[Usage, dict[str, Any], str | None] | None:
    """What :func:`plain_chat` is made of: the usage, the one choice and the answer's text, or None.

    For a reader that needs only a few of the Extracted's fields (the gateway takes the model, id
    and service tier from the body itself): the same test of the plain case, without the record.
    """
    if type(body) is not dict or body.get("object") != "chat.completion":
        return None
    if "x_groq" in body:  # the one provider marker (openai_chat's _PROVIDER_MARKERS; a test holds it)
        return None
    usage = _usage(body.get("usage"))
    choices = body.get("choices")
    if usage is None or type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    message = choice.get("message") if type(choice) is dict else None
    if type(message) is not dict or "text" in choice:
        return None
    for key, value in message.items():  # the keys of a text answer only: no tool or function calls
        if key not in _MESSAGE_KEYS and value is not None:
            return None
    content, refusal = message.get("content"), message.get("refusal")
    text = content if type(content) is str and content else None
    if text is None and content not in (None, ""):
        return None
    if text is None and type(refusal) is str and refusal:
        text = refusal
    return usage, choice, text


def _usage(raw: Any) -> Usage | None:
    """The buckets of a usage whose counts are plain integers that add up, else None.

    Without ``cached_tokens`` (or ``reasoning_tokens``) the split of that side is unknown and
    only its total is kept, as the adapter does.
    """
    if type(raw) is not dict:
        return None
    prompt, completion, total = (
        raw.get("prompt_tokens"),
        raw.get("completion_tokens"),
        raw.get("total_tokens"),
    )
    if type(prompt) is not int or type(completion) is not int or type(total) is not int:
        return None
    if "cost" in raw:  # what the provider charged (Perplexity): kept by the general rules
        return None
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    if type(prompt_details) is not dict or type(completion_details) is not dict:
        return None
    if prompt_details.get("cache_write_tokens") is not None:  # a write count: the general rules apply
        return None
    if prompt_details.get("audio_tokens") or completion_details.get("audio_tokens"):  # priced apart
        return None
    if prompt_details.get("image_tokens") or completion_details.get("image_tokens"):
        return None
    if prompt_details.get("video_tokens") or completion_details.get("video_tokens"):
        return None
    cached, reasoning = prompt_details.get("cached_tokens"), completion_details.get("reasoning_tokens")
    if total != prompt + completion or prompt < 0 or completion < 0:
        return None
    if cached is not None and (type(cached) is not int or not 0 <= cached <= prompt):
        return None
    if reasoning is not None and (type(reasoning) is not int or not 0 <= reasoning <= completion):
        return None
    return new_usage(  # the fields in order: Usage(...) with these values, at half the cost
        None if cached is None else prompt - cached,
        cached,
        0,
        0,
        None if reasoning is None else completion - reasoning,
        reasoning,
        prompt,
        completion,
        {},
        _REPORTED,
        (),
        {},
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
