"""What every usage adapter returns, and the small helpers adapters share.

An adapter reads one provider's response body (or stream) and returns an :class:`Extracted`:
the usage in exclusive buckets plus the facts about the response that sit next to it (model
served, finish reason, tool uses, service tier). Adapters never raise on odd numbers: they
record what was reported and flag it (see :class:`tokenomy.schema.Quality`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TypeGuard, TypeVar

from tokenomy.schema import MODALITIES, Quality, ToolUse, Usage

ToolText = tuple[tuple[str, Any], ...]
"""Tool calls as (name, arguments) pairs (:attr:`Extracted.tool_text`): the argument text as
streamed, or the argument object a body gave (written as JSON only when counted)."""

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Extracted:
    """A usage body read by an adapter."""

    usage: Usage
    provider: str
    api: str
    adapter: str
    response_model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    tool_uses: tuple[ToolUse, ...] = ()
    service_tier: str | None = None
    created_at: datetime | None = None
    provider_reported_cost: Decimal | None = None
    completion_text: str | None = None
    """Visible output text, for local counting and (only when capture is on) for storage."""
    tool_text: ToolText = ()
    """The tool calls the output carried, each as (name, argument text): the text as streamed (a
    stream's argument fragments joined), or an argument object written as JSON. For counting the
    output locally when its usage is unknown (:func:`tokenomy.capture.estimate.fill_missing`);
    never stored, even when content capture is on."""
    extra: Mapping[str, Any] = field(default_factory=dict)


def get_int(obj: Mapping[str, Any] | None, *path: str) -> int | None:
    """The integer at ``path`` inside nested mappings, or None when any step is missing or null.

    Whole-number floats (``12.0``) and strings of digits (``"12"``: int64 counts as protobuf's JSON
    mapping writes them, which some OpenAI-compatible servers pass on) are accepted; anything else
    that is not an integer is returned as None so that the caller treats it as unreported.
    """
    cur: Any = obj
    for key in path:
        if type(cur) is not dict and not isinstance(cur, Mapping):  # dict first: ABC checks are slow
            return None
        cur = cur.get(key)
    if isinstance(cur, bool) or cur is None:
        return None
    if isinstance(cur, int):
        return cur
    if isinstance(cur, float) and cur.is_integer():
        return int(cur)
    if type(cur) is str and cur.isascii() and cur.isdigit():
        return int(cur)
    return None


def embedding_usage(tokens: int | None) -> Usage:
    """An embeddings call's usage: its input tokens, all uncached, and nothing else (unknown when
    ``tokens`` is)."""
    if tokens is None:
        return Usage()
    return Usage.of(
        input_uncached=tokens, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )


def reported_cost(usage: Mapping[str, Any] | None) -> Decimal | None:
    """What the provider says it charged, when an OpenAI-compatible body says so as Perplexity's does:
    ``usage.cost`` an object whose ``total_cost`` is in USD (OpenRouter's number is read by its own
    adapter, :mod:`tokenomy.usage.openrouter`)."""
    cost = mapping((usage or {}).get("cost"))
    return None if cost is None else to_decimal(cost.get("total_cost"))


def get_str(obj: Mapping[str, Any] | None, *path: str) -> str | None:
    """The string at ``path`` inside nested mappings, or None."""
    cur: Any = obj
    for key in path:
        if type(cur) is not dict and not isinstance(cur, Mapping):  # dict first: ABC checks are slow
            return None
        cur = cur.get(key)
    return cur if isinstance(cur, str) else None


def minus(total: int | None, *parts: int | None) -> int | None:
    """``total`` minus the known ``parts`` (None parts count as 0); None when total is unknown."""
    if total is None:
        return None
    return total - sum(p for p in parts if p is not None)


def args_hash(arguments: Any) -> str:
    """A stable hash of tool-call arguments: canonical JSON (sorted keys, compact), sha256, 16 hex.

    Arguments given as a JSON string are parsed first so that ``'{"b":1, "a":2}'`` and
    ``{"a": 2, "b": 1}`` hash alike; a string that is not JSON is hashed as it is.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return hashlib.sha256(arguments.encode("utf-8")).hexdigest()[:16]
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def to_decimal(value: Any) -> Decimal | None:
    """A reported money amount as Decimal (via its string form, so 0.1 stays 0.1), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str | Decimal):
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            return None
        return result if result.is_finite() else None
    return None


# ---------------------------------------------------------------------------------------------
# shared shape helpers, added with the adapters (above, get_int and get_str only gained a fast
# path for plain dicts; their results are unchanged)


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """True for a mapping; decoded JSON objects are dicts, checked first because ABC checks are slow."""
    return type(value) is dict or isinstance(value, Mapping)


def mapping(value: Any) -> Mapping[str, Any] | None:
    """``value`` when it is a mapping, else None (JSON objects decode to dicts)."""
    return value if type(value) is dict or isinstance(value, Mapping) else None


def items(value: Any) -> list[Mapping[str, Any]]:
    """The mappings inside ``value`` when it is a list; anything else gives an empty list."""
    if not isinstance(value, list):
        return []
    return [v for v in value if type(v) is dict or isinstance(v, Mapping)]


def first_int(obj: Mapping[str, Any] | None, *keys: str) -> int | None:
    """The integer under the first of ``keys`` that holds one (aliases tried in order)."""
    for key in keys:
        value = get_int(obj, key)
        if value is not None:
            return value
    return None


def from_unix(seconds: Any) -> datetime | None:
    """A UTC datetime from Unix seconds (int or float), or None."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(text: Any) -> datetime | None:
    """A UTC datetime from an ISO 8601 string (``Z`` suffix accepted), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def tool_use(name: Any, arguments: Any = None, *, server: bool = False) -> ToolUse | None:
    """A ToolUse with hashed arguments (None arguments give no hash); None when ``name`` is no string."""
    if not isinstance(name, str) or not name:
        return None
    return ToolUse(name=name, args_hash=None if arguments is None else args_hash(arguments), server=server)


def call_text(name: Any, arguments: Any) -> tuple[str, Any] | None:
    """A tool call as :attr:`Extracted.tool_text` keeps it: its name and its arguments as given (text
    as streamed, a custom tool's free-form input, or an object; None gives an empty text); None
    when ``name`` is no string. An object is written as JSON only when the output is counted
    (:func:`tokenomy.capture.estimate.tool_call_tokens`), which is rare: every answer is read, and
    only a stream without usage is counted."""
    if not isinstance(name, str) or not name:
        return None
    return name, "" if arguments is None else arguments


def join_text(parts: list[str]) -> str | None:
    """The parts concatenated, or None when there are none."""
    return "".join(parts) if parts else None


def flagged(usage: Usage, *flags: Quality) -> Usage:
    """``usage`` with ``flags`` added (kept once, in order)."""
    if not flags:
        return usage
    return dataclasses.replace(usage, quality=tuple(dict.fromkeys(usage.quality + flags)))


def check_total(usage: Usage, reported_total: int | None) -> Usage:
    """Flag :attr:`Quality.TOTAL_MISMATCH` when the provider's grand total disagrees with ours.

    Nothing is changed when either side is unknown.
    """
    ours = usage.total
    if reported_total is None or ours is None or ours == reported_total:
        return usage
    return flagged(usage, Quality.TOTAL_MISMATCH)


def inclusive(
    *,
    input_total: int | None,
    cache_read: int | None,
    cache_write_5m: int | None,
    cache_write_1h: int | None,
    output_total: int | None,
    reasoning: int | None,
    server_tools: Mapping[str, int] | None = None,
) -> Usage:
    """Usage from *inclusive* totals (OpenAI, OTel convention): the input total contains the cache
    reads and writes, the output total contains the reasoning tokens.

    The uncached input and the visible output are derived by subtraction only when every part
    is known; otherwise they stay None and the reported totals are kept. Parts larger than
    their total are recorded as reported, with the derived bucket negative and the matching
    flag (:attr:`Quality.CACHE_EXCEEDS_INPUT`, :attr:`Quality.REASONING_EXCEEDS_OUTPUT`).
    """
    flags: list[Quality] = []
    cached = (cache_read, cache_write_5m, cache_write_1h)
    uncached = None
    # the cache exceeds the input only when some of it was reported (a negative input with no cache
    # reported, or a reported cache of 0, is a negative bucket, not this)
    cached_sum = sum(c for c in cached if c is not None)
    if input_total is not None and all(c is not None for c in cached):
        uncached = minus(input_total, *cached)
        if uncached is not None and uncached < 0 and cached_sum > 0:
            flags.append(Quality.CACHE_EXCEEDS_INPUT)
    elif input_total is not None and cached_sum > 0 and cached_sum > input_total:
        flags.append(Quality.CACHE_EXCEEDS_INPUT)
    visible = None
    if output_total is not None and reasoning is not None:
        visible = output_total - reasoning
        if visible < 0:
            flags.append(Quality.REASONING_EXCEEDS_OUTPUT)
    return Usage.of(
        input_uncached=uncached,
        cache_read=cache_read,
        cache_write_5m=cache_write_5m,
        cache_write_1h=cache_write_1h,
        output_visible=visible,
        reasoning=reasoning,
        input_total=input_total,
        output_total=output_total,
        server_tools=server_tools,
        quality=tuple(flags),
    )


def count_tools(counts: Mapping[str, Any] | None, names: Mapping[str, str]) -> dict[str, int]:
    """Non-zero per-use server tool counts, keyed by the tokenomy/genai-prices unit name.

    ``names`` maps a provider's key to the unit name (``web_search_requests`` ->
    ``web_searches``); a key it does not know is kept as the provider spells it.
    """
    out: dict[str, int] = {}
    for key in counts or {}:
        n = get_int(counts, key)
        if n:
            unit = names.get(key, key)
            out[unit] = out.get(unit, 0) + n
    return out


def slot(table: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """``table[key]``, created with ``make()`` only when missing (``setdefault`` builds it every time)."""
    found = table.get(key)
    if found is None:
        found = table[key] = make()
    return found


# ---------------------------------------------------------------------------------------------
# non-text tokens (Usage.modalities)


def modal_counts(obj: Mapping[str, Any] | None, keys: Mapping[str, str]) -> dict[str, int]:
    """Non-zero modality counts read from ``obj``: ``keys`` maps a field (``audio_tokens``) to its
    modality (``audio``); fields naming the same modality add up."""
    out: dict[str, int] = {}
    for key, modality in keys.items():
        n = get_int(obj, key)
        if n:
            out[modality] = out.get(modality, 0) + n
    return out


def split_input_modalities(
    counts: Mapping[str, int], usage: Usage, cached: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Place input modality counts that *include* the cache into the exclusive buckets of ``usage``.

    ``counts`` is each modality's share of the whole input ({"audio": 300}), as providers report
    it beside an input total that holds the cache reads and writes too. When the provider also says
    how much of the cache read was each modality (``cached``, even empty: a modality it leaves out
    had none read from the cache), that split is used: ``cache_read.<m>`` is the cached count, and
    the rest of the modality is placed as below, in the other buckets. When it does not (``cached``
    None), one rule places them: a modality's tokens fill the uncached input first, then the cache
    reads, the 5-minute and the 1-hour cache writes, each as far as it still has room (modalities
    in the order of :data:`tokenomy.schema.MODALITIES`). An unreported uncached input has the room
    the pricer gives it: ``input_total`` less the known cache buckets (no bound when the total is
    unknown too); an unreported cache bucket has none. Tokens beyond the whole input stay in
    ``input_uncached.<m>``, where :meth:`Usage.of` or the pricer finds that they do not fit.

    Returns:
        The counts keyed ``<bucket>.<modality>`` (:data:`tokenomy.schema.MODAL_KEYS`).
    """
    if not cached and not any(counts.values()):  # text alone: nearly every body (Gemini's each call)
        return {}
    rooms: dict[str, int | None] = {"input_uncached": usage.input_uncached}
    for bucket in _CACHE_BUCKETS:
        rooms[bucket] = getattr(usage, bucket) or 0
    if usage.input_uncached is None and usage.input_total is not None:
        rooms["input_uncached"] = usage.input_total - sum(
            n or 0 for b, n in rooms.items() if b in _CACHE_BUCKETS
        )
    out: dict[str, int] = {}
    for modality in MODALITIES:
        left = counts.get(modality, 0)
        order: tuple[str, ...] = _FILL_ORDER
        if cached is not None:
            read = cached.get(modality, 0)
            out[f"cache_read.{modality}"] = read
            room = rooms["cache_read"]
            rooms["cache_read"] = None if room is None else room - read
            left -= read
            order = tuple(b for b in _FILL_ORDER if b != "cache_read")
        for bucket in order:
            room = rooms[bucket]
            take = left if room is None else min(left, max(room, 0))
            if take:
                out[f"{bucket}.{modality}"] = out.get(f"{bucket}.{modality}", 0) + take
                rooms[bucket] = None if room is None else room - take
                left -= take
        if left:  # more than the whole input holds: kept where the check will find it
            out[f"input_uncached.{modality}"] = out.get(f"input_uncached.{modality}", 0) + left
    return {key: n for key, n in out.items() if n}


_CACHE_BUCKETS: Final = ("cache_read", "cache_write_5m", "cache_write_1h")
_FILL_ORDER: Final = ("input_uncached", *_CACHE_BUCKETS)


MODAL_FIELDS: Final = {"audio_tokens": "audio", "image_tokens": "image", "video_tokens": "video"}
"""OpenAI-shaped detail fields that count non-text tokens, and their modality."""


def detail_modalities(
    usage: Mapping[str, Any], input_details: str, output_details: str, buckets: Usage
) -> dict[str, int]:
    """The non-text tokens of an OpenAI-shaped usage (Chat ``prompt_tokens_details``, Responses
    ``input_tokens_details``...), as :attr:`Usage.modalities` keys.

    The ``input_details`` object counts ``audio_tokens``, ``image_tokens`` (and ``video_tokens``)
    inside an input total that includes the cache; its ``cached_tokens_details``, where present,
    splits the cache reads by modality. They are placed by :func:`split_input_modalities` in
    ``buckets``, the usage read from the same body. The ``output_details`` counts are visible
    output.
    """
    inputs = mapping(usage.get(input_details))
    outputs = mapping(usage.get(output_details))
    if not _any_modal(inputs) and not _any_modal(outputs):  # nearly every body: text alone
        return {}
    found = modal_counts(inputs, MODAL_FIELDS)
    split = mapping((inputs or {}).get("cached_tokens_details"))
    cached = None if split is None else modal_counts(split, MODAL_FIELDS)
    placed = split_input_modalities(found, buckets, cached) if found or cached else {}
    return {**placed, **keyed("output_visible", modal_counts(outputs, MODAL_FIELDS))}


def _any_modal(details: Mapping[str, Any] | None) -> bool:
    """True when an OpenAI-shaped details object may count non-text tokens (cheap: no parsing)."""
    if not details:
        return False
    return bool(
        details.get("audio_tokens")
        or details.get("image_tokens")
        or details.get("video_tokens")
        or details.get("cached_tokens_details")
    )


def keyed(bucket: str, counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` by modality as :attr:`Usage.modalities` keys of ``bucket``."""
    return {f"{bucket}.{modality}": n for modality, n in counts.items() if n}


def with_modalities(usage: Usage, modalities: Mapping[str, int]) -> Usage:
    """``usage`` with ``modalities`` (:attr:`Usage.modalities` keys) checked against its buckets.

    The buckets, totals and flags are kept; :meth:`Usage.of` drops the zero counts and flags a
    bucket whose modality counts exceed it (:attr:`Quality.MODALITY_EXCEEDS_BUCKET`).
    """
    if not modalities:
        return usage
    return Usage.of(
        input_uncached=usage.input_uncached,
        cache_read=usage.cache_read,
        cache_write_5m=usage.cache_write_5m,
        cache_write_1h=usage.cache_write_1h,
        output_visible=usage.output_visible,
        reasoning=usage.reasoning,
        input_total=usage.input_total,
        output_total=usage.output_total,
        server_tools=usage.server_tools,
        kind=usage.kind,
        quality=usage.quality,
        modalities={**usage.modalities, **modalities},
    )
