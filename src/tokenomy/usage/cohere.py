"""Cohere: Chat (v2 and v1) and Embed response bodies.

Convention: what Cohere bills is ``billed_units`` (``usage.billed_units`` in v2, ``meta.billed_units``
in v1 and Embed): ``input_tokens`` and ``output_tokens``, the counts its prices apply to. Its
``tokens`` counts also hold the prompt template Cohere adds around the messages, which is not
billed, so they are not read for the buckets. Cohere reports no cache writes and no reasoning
split: the input is its billed total and the output its total, their splits unknown. Its
``usage.cached_tokens`` counts prompt tokens served from its cache, but against the ``tokens``
counts, not the billed ones (a real answer bills 2,406 input tokens with 2,928 cached), so it is
kept in ``extra["cached_tokens"]``, not taken for a part of the billed input: genai-prices prices
Cohere from the billed units alone too. A Rerank answer is billed per search (``search_units``),
not per token: it is read with its usage unknown (unpriced) and its searches in ``extra``. The
body does not name its model: the logged request's, or ``tokenomy import --model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import Usage
from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import (
    Extracted,
    embedding_usage,
    get_int,
    get_str,
    inclusive,
    items,
    join_text,
    mapping,
)

NAME: Final = "cohere.chat"


def _usage_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object that holds ``billed_units``: v2's ``usage``, v1's and Embed's ``meta``."""
    for key in ("usage", "meta"):
        found = mapping(body.get(key))
        if found is not None and mapping(found.get("billed_units")) is not None:
            return found
    return None


def matches(body: Mapping[str, Any]) -> bool:
    """True for a Cohere body: its ``billed_units`` (no other provider reports them)."""
    return _usage_of(body) is not None


def cohere_usage(holder: Mapping[str, Any] | None) -> Usage:
    """The buckets of a Cohere ``usage`` (or ``meta``) object (see the module docstring)."""
    billed = mapping((holder or {}).get("billed_units"))
    if billed is None:
        return Usage()
    return inclusive(
        input_total=get_int(billed, "input_tokens"),
        cache_read=None,
        cache_write_5m=None,
        cache_write_1h=None,
        output_total=get_int(billed, "output_tokens"),
        reasoning=None,
    )


def _text(body: Mapping[str, Any]) -> str | None:
    message = mapping(body.get("message"))
    if message is not None:
        return join_text([get_str(part, "text") or "" for part in items(message.get("content"))]) or None
    return get_str(body, "text")


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Cohere Chat or Embed body."""
    holder = _usage_of(body)
    billed = mapping((holder or {}).get("billed_units")) or {}
    if "search_units" in billed and "input_tokens" not in billed:  # Rerank: billed per search, not per token
        return _rerank(body, billed)
    # Embed: its vectors, or (a logged usage alone) billed input with no output and no answer
    embeddings = "embeddings" in body or not (
        {"output_tokens"} & set(billed) or {"message", "text"} & set(body)
    )
    usage = cohere_usage(holder)
    cached = get_int(holder, "cached_tokens")
    if embeddings and usage.output_total is None:
        usage = embedding_usage(usage.input_total)
    return Extracted(
        usage=usage,
        provider="cohere",
        api="embeddings" if embeddings else "chat",
        adapter=NAME,
        response_id=get_str(body, "id") or get_str(body, "response_id") or get_str(body, "generation_id"),
        finish_reason=get_str(body, "finish_reason"),
        completion_text=None if embeddings else _text(body),
        extra={} if cached is None else {"cached_tokens": cached},
    )


def _rerank(body: Mapping[str, Any], billed: Mapping[str, Any]) -> Extracted:
    """A Rerank answer: no tokens billed (its usage is unknown, so it is unpriced, not $0), its
    search units kept in ``extra``."""
    return Extracted(
        usage=Usage(),
        provider="cohere",
        api="rerank",
        adapter=NAME,
        response_id=get_str(body, "id"),
        extra={"search_units": get_int(billed, "search_units")},
    )


ADAPTER: Final = Adapter(
    name=NAME,
    provider="cohere",
    api="chat",
    matches=matches,
    extract=extract,
    expects="a Cohere chat or embed response (usage.billed_units or meta.billed_units)",
)
