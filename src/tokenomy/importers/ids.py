"""Stable identities for imported records: from the data itself, never from where the file lies.

A call keeps the id its source gave it (a provider response id, a span id, a log's request id)
so the same call arriving by two routes is stored once. When a record carries no id, its id is a
hash of its canonical content (sorted keys, compact JSON): importing the same data twice, or
from two copies of a file, gives the same ids. The file path and the line number never enter
an id.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

DIGEST_CHARS: Final = 32
"""Hex characters kept of a content hash (128 bits)."""


def canonical_json(value: Any) -> str:
    """Sorted-key, compact JSON; values JSON cannot hold are turned into strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(*parts: Any) -> str:
    """A hex sha256 of the canonical JSON of ``parts`` (the first 32 characters)."""
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def content_id(kind: str, *parts: Any) -> str:
    """An id for a record without one: ``<kind>:<hash of its content>``."""
    return f"{kind}:{digest(*parts)}"


def short_hash(value: str) -> str:
    """A 16-hex sha256 of a string (used for API keys: the key itself is never kept)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


_SHORT_COUNTER: Final = re.compile(r"(chat)?cmpl-\d{1,3}")
"""Ollama's OpenAI-compatible response ids: ``chatcmpl-`` (chat) or ``cmpl-`` (completions) and a
number below 1,000, drawn anew for each answer, so two answers of a log share one every few hundred
calls. (The SDK capture and the gateway take any id shorter than :data:`tokenomy.usage.ids.DISTINCT_ID`
past its prefix as no id; the importers keep the ids of records as logged, short test ids too.)"""


def provider_id(response_id: str | None) -> str | None:
    """A provider's response id as a call's id, or None when it cannot tell calls apart (Ollama's
    ``chatcmpl-749`` and ``cmpl-749``): the caller then derives one from the record's content, so a
    second answer with the same short id is a call of its own, not a duplicate of the first."""
    if response_id is None or _SHORT_COUNTER.fullmatch(response_id):
        return None
    return response_id
