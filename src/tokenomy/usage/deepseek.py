"""DeepSeek chat completions (OpenAI-compatible, with DeepSeek's own cache counters).

Convention (``usage``):

- ``prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens``: hits are cache reads,
  misses the uncached input. When the two do not add up to ``prompt_tokens`` the reported
  values are kept and flagged ``TOTAL_MISMATCH``; a missing miss count is derived from the
  others, a missing hit count is read from ``prompt_tokens_details.cached_tokens``.
- DeepSeek's context cache is written for free, so the cache-write buckets are 0.
- ``completion_tokens`` *includes* ``completion_tokens_details.reasoning_tokens`` (the
  ``reasoning_content`` of deepseek-reasoner); without the details the split is unknown.
- ``total_tokens`` is checked against input plus output.

Bodies and streams otherwise read like OpenAI chat (see :mod:`tokenomy.usage.openai_chat`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import Quality, Usage
from tokenomy.usage import openai_chat
from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import Extracted, check_total, get_int, mapping, minus

NAME: Final = "deepseek.chat"


def matches(body: Mapping[str, Any]) -> bool:
    """True for a chat body whose usage has DeepSeek's cache hit/miss counters."""
    usage = mapping(body.get("usage"))
    return usage is not None and ("prompt_cache_hit_tokens" in usage or "prompt_cache_miss_tokens" in usage)


def deepseek_usage(usage: Mapping[str, Any] | None) -> Usage:
    """The exclusive buckets of a DeepSeek ``usage`` object (see the module docstring)."""
    if usage is None:
        return Usage()
    prompt = get_int(usage, "prompt_tokens")
    hit = get_int(usage, "prompt_cache_hit_tokens")
    if hit is None:
        hit = get_int(usage, "prompt_tokens_details", "cached_tokens")
    miss = get_int(usage, "prompt_cache_miss_tokens")
    if miss is None and hit is not None:
        miss = minus(prompt, hit)
    flags: list[Quality] = []
    if hit is not None and prompt is not None and hit > prompt:
        flags.append(Quality.CACHE_EXCEEDS_INPUT)
    completion = get_int(usage, "completion_tokens")
    reasoning = get_int(usage, "completion_tokens_details", "reasoning_tokens")
    visible = None if completion is None or reasoning is None else completion - reasoning
    if visible is not None and visible < 0:
        flags.append(Quality.REASONING_EXCEEDS_OUTPUT)
    result = Usage.of(
        input_uncached=miss,
        cache_read=hit,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=visible,
        reasoning=reasoning,
        input_total=prompt,
        output_total=completion,
        quality=tuple(flags),
    )
    return check_total(result, get_int(usage, "total_tokens"))


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a DeepSeek chat completion body."""
    usage = deepseek_usage(mapping(body.get("usage")))
    return openai_chat.build(body, usage, adapter=NAME, provider="deepseek")


ADAPTER: Final = Adapter(
    name=NAME,
    provider="deepseek",
    api="chat",
    matches=matches,
    extract=extract,
    stream=openai_chat.ChatStream,
    expects="a DeepSeek chat completion (usage.prompt_cache_hit_tokens)",
)
