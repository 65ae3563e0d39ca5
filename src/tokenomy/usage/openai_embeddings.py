"""OpenAI (and compatible) embeddings responses.

Convention: ``usage.prompt_tokens`` is the whole input. Embeddings read no prompt cache and
produce no output tokens, so cache buckets and output buckets are 0 by the nature of the
operation, not by omission. ``total_tokens`` is checked against the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import Extracted, check_total, embedding_usage, get_int, get_str, items, mapping

NAME: Final = "openai.embeddings"


def matches(body: Mapping[str, Any]) -> bool:
    """True for an embeddings list, or a usage with prompt tokens only."""
    if body.get("object") == "list" and any(d.get("object") == "embedding" for d in items(body.get("data"))):
        return True
    usage = mapping(body.get("usage"))
    if usage is None or "choices" in body:
        return False
    return "prompt_tokens" in usage and "total_tokens" in usage and "completion_tokens" not in usage


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read an embeddings response body."""
    usage = mapping(body.get("usage"))
    result = embedding_usage(get_int(usage, "prompt_tokens"))
    return Extracted(
        usage=check_total(result, get_int(usage, "total_tokens")),
        provider="openai",
        api="embeddings",
        adapter=NAME,
        response_model=get_str(body, "model"),
    )


ADAPTER: Final = Adapter(
    name=NAME,
    provider="openai",
    api="embeddings",
    matches=matches,
    extract=extract,
    expects="an embeddings response (object 'list' of embeddings, usage.prompt_tokens)",
)
