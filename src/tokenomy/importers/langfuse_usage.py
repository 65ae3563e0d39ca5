"""Langfuse ``usageDetails`` in exclusive buckets.

Langfuse stores usage as named, *exclusive* usage types whose sum is the total (its docs: "the
total key is the sum of all (non-total) usage metrics"). Its ingestion normalizes providers'
inclusive numbers into these keys: ``input`` is the uncached input (cache reads and writes
subtracted), ``output`` the visible output (reasoning subtracted), and the details sit beside them:
``input_cached_tokens`` or ``input_cache_read`` (cache reads), ``input_cache_creation`` or
``input_cache_write`` (cache writes, TTL unstated: 5 minutes), ``input_cache_creation_5m`` and
``input_cache_creation_1h``, ``output_reasoning_tokens`` or ``output_reasoning``. Usage sent by
hand may use other spellings (``input_tokens``, ``prompt_tokens``...). Writes given both ways
(``input_cache_creation`` beside ``input_cache_creation_5m`` / ``_1h``) are counted once when the
TTL keys add up to them, or when ``total`` counts them once (the whole's writes beyond the TTL
keys then have an unstated TTL).

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

Two writers break the rule that every key is its own exclusive part, and are read as they write:

- LiteLLM's Langfuse integration writes ``input`` = ``prompt_tokens - cache_read_input_tokens``
  beside ``cache_read_input_tokens``, ``cache_creation_input_tokens`` and ``total`` =
  ``prompt_tokens + completion_tokens``. Its ``prompt_tokens`` includes the cache writes
  (:mod:`tokenomy.importers.litellm_usage`), so its ``input`` does too: adding the writes on top
  would count them twice. A ``total`` equal to the sum *without* ``cache_creation_input_tokens``
  is LiteLLM's (an exclusive writer's total counts the writes): the writes are then taken out of
  ``input``, or, when ``input`` is smaller than the writes (an older LiteLLM, whose
  ``prompt_tokens`` left them out), kept on top, as :mod:`~tokenomy.importers.litellm_usage` does.
  Without a ``total`` (LiteLLM always writes one) the keys are read as exclusive.
- Langfuse's LangChain ``CallbackHandler`` flattens every ``input_token_details`` key to
  ``input_<key>`` and subtracts each from ``input`` (floored at 0). langchain-anthropic lists the
  cache writes twice there: ``cache_creation`` and their TTL split ``ephemeral_5m_input_tokens`` /
  ``ephemeral_1h_input_tokens``. The ``input_ephemeral_*`` keys are therefore the TTL split of
  ``input_cache_creation``, not more tokens; and ``input`` lost the writes twice, so the uncached
  input is ``input`` plus the split when ``input`` is above 0, else (the floor may have hidden up to
  the split) ``total`` minus every other part, and unknown (None) without a ``total``. Without an
  ``input_cache_creation`` (newer langchain-anthropic sets it to 0 once it gives the split) the
  split keys are the cache writes themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import MODAL_BUCKETS, MODALITIES, Quality, Usage
from tokenomy.usage.base import get_int

_WRITES: Final = "cache_write"
"""The pseudo-bucket of cache writes whose TTL the key does not state: 5 minutes unless a split says."""
_BUCKET_OF: Final[dict[str, str]] = {
    "input": "input_uncached",
    "input_tokens": "input_uncached",
    "prompt_tokens": "input_uncached",
    "prompt": "input_uncached",
    "input_cached_tokens": "cache_read",
    "input_cache_read": "cache_read",
    "input_cached": "cache_read",
    "cache_read_input_tokens": "cache_read",
    "input_cache_creation": _WRITES,
    "input_cache_write": _WRITES,
    "cache_creation_input_tokens": _WRITES,
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
_LITELLM_WRITES: Final = "cache_creation_input_tokens"
"""LiteLLM's spelling of the cache writes, which its ``input`` also counts (see the module docstring)."""
_TOTALS: Final = frozenset({"total", "total_tokens"})
_MODAL_BUCKETS: Final = frozenset(MODAL_BUCKETS)


def langfuse_usage(details: Mapping[str, Any]) -> Usage:
    """Convert Langfuse usage details to exclusive buckets (see the module docstring).

    A side with no key at all stays unknown (None); a side with some keys has its other buckets
    at 0, because Langfuse lists every usage type it knows of.
    """
    buckets: dict[str, int] = {}
    split: dict[str, int] = {}
    modal: dict[str, int] = {}
    understood = True
    for key in details:
        count = get_int(details, key)
        if count is None or key in _TOTALS:
            continue
        ttl = _split_bucket(key.lower())
        if ttl is not None:
            split[ttl] = split.get(ttl, 0) + count
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
    flags: list[Quality] = []
    written = buckets.pop(_WRITES, None)
    check, unknown = True, frozenset[str]()
    if split:
        unknown = _with_split(buckets, written, split, total if understood else None, flags)
    else:
        if written is not None:
            beyond = _writes_beyond_ttls(buckets, written, total if understood else None)
            buckets["cache_write_5m"] = buckets.get("cache_write_5m", 0) + beyond
        check = _litellm_input(buckets, get_int(details, _LITELLM_WRITES), total if understood else None)
    usage = _usage(buckets, modal, tuple(flags), unknown)
    if check and understood and total is not None and usage.total is not None and usage.total != total:
        return _usage(buckets, modal, (*flags, Quality.TOTAL_MISMATCH), unknown)
    return usage


def _writes_beyond_ttls(buckets: Mapping[str, int], written: int, total: int | None) -> int:
    """How many of the cache writes given without a TTL (``input_cache_creation``) are more writes
    than the TTL keys beside them (``input_cache_creation_5m`` and ``_1h``) count: the whole of
    them when the keys are exclusive, none when they are the sum of the TTL keys, the rest when
    the TTL keys are a part of them (those rest writes have an unstated TTL: 5 minutes).

    A total tells which (it counts the TTL keys' writes once or twice); without one, writes equal
    to the TTL keys' sum are that sum, and other writes are exclusive."""
    by_ttl = buckets.get("cache_write_5m", 0) + buckets.get("cache_write_1h", 0)
    if not written or not by_ttl:
        return written
    if total is not None:
        parts = sum(buckets.values())
        if parts + written == total:
            return written
        if written >= by_ttl and parts - by_ttl + written == total:
            return written - by_ttl
    return 0 if written == by_ttl else written


def _litellm_input(buckets: dict[str, int], writes: int | None, total: int | None) -> bool:
    """Take LiteLLM's cache writes out of its ``input``, which counts them (see the module docstring).

    LiteLLM's total is ``input + reads + output``, whichever LiteLLM wrote it, so a total that
    leaves the writes out tells its usage from an exclusive writer's. Returns False when the total
    is known not to count the writes (an older LiteLLM's), so that it is not checked against them.
    """
    uncached = buckets.get("input_uncached")
    if not writes or uncached is None or total is None or sum(buckets.values()) - writes != total:
        return True
    if uncached >= writes:
        buckets["input_uncached"] = uncached - writes
        return True
    return False  # writes above the input: an older LiteLLM's, on top of prompt_tokens and its total


def _with_split(
    buckets: dict[str, int],
    written: int | None,
    split: Mapping[str, int],
    total: int | None,
    flags: list[Quality],
) -> frozenset[str]:
    """Place LangChain's ephemeral TTL split: the same tokens as ``input_cache_creation``, subtracted
    from ``input`` twice by Langfuse's handler (see the module docstring). Returns the buckets left
    unknown: the uncached input, when Langfuse's floor hid it and no total tells it."""
    for bucket, count in split.items():
        buckets[bucket] = buckets.get(bucket, 0) + count
    described = sum(split.values())
    if not written:
        return frozenset()  # the split alone names the writes
    if not described:  # a split of zeros says nothing: the writes' TTL is unstated
        buckets["cache_write_5m"] = buckets.get("cache_write_5m", 0) + written
        return frozenset()
    if described != written:
        flags.append(Quality.CACHE_SPLIT_MISMATCH)
    reported = buckets.get("input_uncached")
    if reported is None:
        return frozenset()
    if reported > 0:
        buckets["input_uncached"] = reported + described
        return frozenset()
    if total is None:
        return frozenset({"input_uncached"})
    # Langfuse floored input at 0, hiding up to the split: the total tells what it hid
    uncached = total - sum(v for k, v in buckets.items() if k != "input_uncached")
    buckets["input_uncached"] = uncached
    if not 0 <= uncached <= described:
        flags.append(Quality.TOTAL_MISMATCH)
    return frozenset()


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


def _split_bucket(key: str) -> str | None:
    """The bucket of a LangChain ephemeral TTL key (``input_ephemeral_1h_input_tokens``), else None."""
    if "ephemeral" not in key:
        return None
    if "1h" in key.split("_"):
        return "cache_write_1h"
    return "cache_write_5m" if "5m" in key.split("_") else None


def _modality(key: str) -> str | None:
    """The non-text modality a key names (``input_audio_tokens``: audio), or None for text. A
    document (Gemini's ``DOCUMENT`` modality, PDF pages) is billed as image tokens."""
    words = key.split("_")
    if "document" in words:
        return "image"
    return next((m for m in MODALITIES if m in words), None)


def _usage(
    buckets: Mapping[str, int],
    modal: Mapping[str, int],
    quality: tuple[Quality, ...],
    unknown: frozenset[str] = frozenset(),
) -> Usage:
    """A side with no key at all is unknown (None); a side with some keys has its other buckets at 0,
    but for those in ``unknown``."""

    def side(*names: str) -> list[int | None]:
        known = any(name in buckets for name in names)
        return [buckets.get(name, 0) if known and name not in unknown else None for name in names]

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
