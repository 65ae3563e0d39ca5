"""LiteLLM's usage object (OpenAI-shaped, with the upstream provider's extras) in exclusive buckets.

LiteLLM, its proxy, and the agents built on it (OpenHands) log usage in OpenAI's chat shape
whatever the upstream provider: ``prompt_tokens`` and ``completion_tokens`` with
``prompt_tokens_details`` / ``completion_tokens_details``, plus the upstream's own fields
(Anthropic ``cache_read_input_tokens`` and ``cache_creation_input_tokens``, DeepSeek
``prompt_cache_hit_tokens``...).

Convention, as current LiteLLM writes it: ``prompt_tokens`` includes cache reads and cache
writes; ``cached_tokens`` (or ``cache_read_input_tokens``, ``prompt_cache_hit_tokens``) are the
reads; ``cache_creation_input_tokens`` the writes, split by TTL when
``cache_creation_token_details`` says so (else all 5-minute); ``completion_tokens`` includes
``reasoning_tokens``. Older LiteLLM versions left cache writes out of ``prompt_tokens``: when the
reads and writes together exceed ``prompt_tokens`` but the reads alone do not, the writes are
taken to be on top. A usage without any cache detail leaves the input split unknown (None).

Modalities: ``prompt_tokens_details.audio_tokens`` / ``image_tokens`` are parts of ``prompt_tokens``
and ``completion_tokens_details.audio_tokens`` / ``image_tokens`` parts of the visible output
(``text_tokens`` is the text rest, not read). They go to :attr:`Usage.modalities` by the same rule
as OpenAI's chat usage (:func:`tokenomy.usage.base.detail_modalities`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenomy.schema import Kind, Quality, Usage
from tokenomy.usage.base import detail_modalities, get_int, with_modalities


@dataclass(frozen=True, slots=True)
class _Side:
    """One side's buckets (None: unknown) and its total when the split is unknown."""

    parts: tuple[int | None, ...]
    total: int | None = None


def litellm_usage(usage: Mapping[str, Any], *, kind: Kind = Kind.REPORTED) -> Usage:
    """Convert a LiteLLM usage object to exclusive buckets.

    Args:
        usage: The ``usage`` object of a LiteLLM response or log row.
        kind: Where the numbers come from (reported by default).

    Returns:
        The usage; impossible numbers are kept as reported and flagged, never clamped.
    """
    flags: list[Quality] = []
    inputs = _inputs(usage, get_int(usage, "prompt_tokens"), flags)
    outputs = _outputs(usage, get_int(usage, "completion_tokens"), flags)
    uncached, read, w5m, w1h = inputs.parts
    visible, reasoning = outputs.parts
    result = Usage.of(
        input_uncached=uncached,
        cache_read=read,
        cache_write_5m=w5m,
        cache_write_1h=w1h,
        output_visible=visible,
        reasoning=reasoning,
        input_total=inputs.total,
        output_total=outputs.total,
        kind=kind,
        quality=tuple(flags),
    )
    found = detail_modalities(usage, "prompt_tokens_details", "completion_tokens_details", result)
    return with_modalities(result, found)


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _inputs(usage: Mapping[str, Any], prompt: int | None, flags: list[Quality]) -> _Side:
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    read = _first(
        get_int(details, "cached_tokens"),
        get_int(usage, "cache_read_input_tokens"),
        get_int(usage, "prompt_cache_hit_tokens"),
    )
    writes = _first(
        get_int(usage, "cache_creation_input_tokens"),
        get_int(details, "cache_creation_tokens"),
        get_int(details, "cache_write_tokens"),
    )
    if read is None and writes is None:
        return _Side((None, None, None, None), total=prompt)
    read = read or 0
    w5m, w1h = _write_split(usage, details, writes or 0, flags)
    written = w5m + w1h
    if prompt is None:
        return _Side((None, read, w5m, w1h))
    if read + written <= prompt:
        uncached = prompt - read - written
    elif read <= prompt:
        uncached = prompt - read  # an older LiteLLM: writes were not counted in prompt_tokens
    else:
        flags.append(Quality.CACHE_EXCEEDS_INPUT)
        uncached = prompt - read - written
    return _Side((uncached, read, w5m, w1h))


def _write_split(
    usage: Mapping[str, Any], details: Mapping[str, Any], writes: int, flags: list[Quality]
) -> tuple[int, int]:
    split = usage.get("cache_creation_token_details") or details.get("cache_creation_token_details")
    if not isinstance(split, Mapping):
        split = usage.get("cache_creation")
    if not isinstance(split, Mapping):
        return writes, 0
    w5m = get_int(split, "ephemeral_5m_input_tokens") or 0
    w1h = get_int(split, "ephemeral_1h_input_tokens") or 0
    if w5m + w1h == 0 and writes:
        return writes, 0
    if w5m + w1h != writes:
        flags.append(Quality.CACHE_SPLIT_MISMATCH)
    return w5m, w1h


def _outputs(usage: Mapping[str, Any], completion: int | None, flags: list[Quality]) -> _Side:
    reasoning = get_int(usage, "completion_tokens_details", "reasoning_tokens")
    if reasoning is None:
        return _Side((None, None), total=completion)
    if completion is None:
        return _Side((None, reasoning))
    if reasoning > completion:
        flags.append(Quality.REASONING_EXCEEDS_OUTPUT)
    return _Side((completion - reasoning, reasoning))
