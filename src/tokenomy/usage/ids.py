"""Whether a provider's response id can be a call's id (compiled with the metering path).

A call's id is its idempotency key: the same call seen twice (by the gateway and an import, a spool
replayed) is stored once, so the gateway and the SDK's capture take the provider's response id as
the call's id. Hosted APIs draw long random ids (``chatcmpl-`` and 29 characters, ``msg_`` and 24,
a UUID); some self-hosted servers do not (Ollama's OpenAI layer gives ``chatcmpl-`` and a number
below 1,000), and two calls with one id would be stored as one. Compiled
(:mod:`tokenomy.compiled`): it runs once a call in the gateway's build, where an interpreted
function called from compiled code cost about 5,800 instructions.
"""

from __future__ import annotations

from typing import Final

DISTINCT_ID: Final = 12
"""Fewest characters past its prefix a provider's response id needs to be a call's id."""


def distinct_id(response_id: str | None) -> str | None:
    """``response_id`` when it can tell calls apart, else None (the caller then derives an id).

    An id counts when it keeps at least :data:`DISTINCT_ID` characters past its first ``-`` or
    ``_`` (the prefix: ``chatcmpl-``, ``msg_``), or has that many in all when what comes before its
    first separator is not all letters (``8f0e2c1a9b3d4e5f-us``), or when it has no separator.
    """
    if response_id is None:
        return None
    head = response_id.find("-")
    under = response_id.find("_")
    if head < 0 or 0 <= under < head:
        head = under
    size = len(response_id)
    if size - head - 1 >= DISTINCT_ID:  # the usual id: enough past its prefix (or in all, without one)
        return response_id
    if head > 0 and not response_id[:head].isalpha():  # no prefix of letters: the whole id counts
        return response_id if size >= DISTINCT_ID else None
    return None
