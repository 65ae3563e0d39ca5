"""Langfuse ``usageDetails`` in exclusive buckets.

Langfuse stores usage as named, *exclusive* usage types whose sum is the total (its docs: "the
total key is the sum of all (non-total) usage metrics"). Its ingestion normalizes providers'
inclusive numbers into these keys: ``input`` is the uncached input (cache reads and writes
subtracted), ``output`` the visible output (reasoning subtracted), and the details sit beside them:
``input_cached_tokens`` or ``input_cache_read`` (cache reads), ``input_cache_creation`` or
``input_cache_write`` (cache writes, TTL unstated: 5 minutes), ``input_cache_creation_5m`` and
``input_cache_creation_1h``, ``output_reasoning_tokens`` or ``output_reasoning``. Usage sent by
hand may use other spellings (``input_tokens``, ``prompt_tokens``...).

Mapping: the keys above go to their buckets; any other key that names the input (``input_*``,
``prompt*``, such as ``input_audio_tokens``) adds to the uncached input, and any other key naming
the output adds to the visible output, because Langfuse counts them as separate, priced parts of
the input and output. A key that names cache reads (``input_cached_audio_tokens``,
``input_cache_read_image``) adds to the cache reads. ``total`` is checked against the sum when every
key was understood (``TOTAL_MISMATCH`` otherwise).

Modalities: a key naming audio, image or video (``input_audio_tokens``, ``output_image_tokens``,
``input_cached_audio_tokens``) is, like every Langfuse key, its own exclusive part; its count is
added to its bucket as above and also recorded as that bucket's modality count
(:attr:`Usage.modalities`, ``input_uncached.audio``...). Reasoning is text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import MODAL_BUCKETS, MODALITIES, Quality, Usage
from tokenomy.usage.base import get_int

_BUCKET_OF: Final[dict[str, str]] = {
    "input": "input_uncached",
    "input_tokens": "input_uncached",
    "prompt_tokens": "input_uncached",
    "prompt": "input_uncached",
    "input_cached_tokens": "cache_read",
    "input_cache_read": "cache_read",
    "input_cached": "cache_read",
    "cache_read_input_tokens": "cache_read",
    "input_cache_creation": "cache_write_5m",
    "input_cache_write": "cache_write_5m",
    "cache_creation_input_tokens": "cache_write_5m",
    "input_cache_creation_5m": "cache_write_5m",
    "input_cache_creation_1h": "cache_write_1h",
    "output": "output_visible",
    "output_tokens": "output_visible",
    "completion_tokens": "output_visible",
    "completion": "output_visible",
    "output_reasoning_tokens": "reasoning",
    "output_reasoning": "reasoning",
    "reasoning_tokens": "reasoning",
}
_TOTALS: Final = frozenset({"total", "total_tokens"})
_MODAL_BUCKETS: Final = frozenset(MODAL_BUCKETS)


def langfuse_usage(details: Mapping[str, Any]) -> Usage:
    """Convert Langfuse usage details to exclusive buckets (see the module docstring).

    A side with no key at all stays unknown (None); a side with some keys has its other buckets
    at 0, because Langfuse lists every usage type it knows of.
    """
    buckets: dict[str, int] = {}
    modal: dict[str, int] = {}
    understood = True
    for key in details:
        count = get_int(details, key)
        if count is None or key in _TOTALS:
            continue
        bucket = _bucket(key.lower())
        if bucket is None:
            understood = False
            continue
        buckets[bucket] = buckets.get(bucket, 0) + count
        modality = _modality(key.lower())
        if modality is not None and bucket in _MODAL_BUCKETS:
            modal[f"{bucket}.{modality}"] = modal.get(f"{bucket}.{modality}", 0) + count
    total = next((get_int(details, k) for k in _TOTALS if get_int(details, k) is not None), None)
    usage = _usage(buckets, modal, ())
    if understood and total is not None and usage.total is not None and usage.total != total:
        return _usage(buckets, modal, (Quality.TOTAL_MISMATCH,))
    return usage


def _bucket(key: str) -> str | None:
    if key in _BUCKET_OF:
        return _BUCKET_OF[key]
    if "cache" in key and ("read" in key or "cached" in key):
        return "cache_read"
    if key.startswith(("input", "prompt")):
        return "input_uncached"
    if key.startswith(("output", "completion")):
        return "output_visible"
    return None


def _modality(key: str) -> str | None:
    """The non-text modality a key names (``input_audio_tokens``: audio), or None for text. A
    document (Gemini's ``DOCUMENT`` modality, PDF pages) is billed as image tokens."""
    words = key.split("_")
    if "document" in words:
        return "image"
    return next((m for m in MODALITIES if m in words), None)


def _usage(buckets: Mapping[str, int], modal: Mapping[str, int], quality: tuple[Quality, ...]) -> Usage:
    """A side with no key at all is unknown (None); a side with some keys has its other buckets at 0."""

    def side(*names: str) -> list[int | None]:
        known = any(name in buckets for name in names)
        return [buckets.get(name, 0) if known else None for name in names]

    uncached, read, w5m, w1h = side("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
    visible, reasoning = side("output_visible", "reasoning")
    return Usage.of(
        input_uncached=uncached,
        cache_read=read,
        cache_write_5m=w5m,
        cache_write_1h=w1h,
        output_visible=visible,
        reasoning=reasoning,
        quality=quality,
        modalities=modal,
    )
