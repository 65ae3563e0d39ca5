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


DISTINCT_ID: Final = 12
"""Fewest characters past its prefix a provider's response id needs to be a call's id."""


def distinct_id(response_id: str | None) -> str | None:
    """A provider's response id when it can tell calls apart, else None (the caller then derives one).

    The id is a call's idempotency key: the same call seen twice (by the gateway and an import, a
    spool replayed) is stored once. Hosted APIs draw long random ids (``chatcmpl-`` and 29
    characters, ``msg_`` and 24, a UUID); some self-hosted servers do not (Ollama's OpenAI layer
    gives ``chatcmpl-`` and a number below 1,000), and two calls with one id would be stored as one.
    An id counts when it keeps at least :data:`DISTINCT_ID` characters past a prefix of letters and
    a ``-`` or ``_``.
    """
    if response_id is None:
        return None
    head = len(response_id)
    for mark in "-_":
        at = response_id.find(mark)
        if 0 <= at < head:
            head = at
    rest = (
        response_id[head + 1 :]
        if 0 < head < len(response_id) and response_id[:head].isalpha()
        else response_id
    )
    return response_id if len(rest) >= DISTINCT_ID else None
