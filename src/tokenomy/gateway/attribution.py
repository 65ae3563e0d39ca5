"""Attribution from request headers: ``X-Tokenomy-User``, ``-Session``, ``-Team``, ``-Feature``,
``-Intent``, ``-Agent``, ``-Project``, ``-Environment`` and ``-Tags`` (``k=v,k=v``).

A virtual key's attribution is the base; headers fill what the key leaves empty but never
override what it fixes (a key issued to team ``search`` cannot be re-labelled by a header), and
tags are merged with the key's winning. The ``X-Tokenomy-*`` headers are never sent upstream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

from tokenomy.gateway.upstream import Headers
from tokenomy.schema import Attribution

PREFIX: Final = b"x-tokenomy-"
_FIELDS: Final = {
    b"user": "user",
    b"team": "team",
    b"project": "project",
    b"feature": "feature",
    b"intent": "intent",
    b"environment": "environment",
    b"agent": "agent",
}
_MAX_VALUE: Final = 256
MAX_TAGS: Final = 64
"""Most tags one ``X-Tokenomy-Tags`` header gives a call."""
_NOBODY: Final = Attribution()


@dataclass(frozen=True, slots=True)
class Attributed:
    """What the headers said: the attribution and the session."""

    attribution: Attribution
    session_id: str | None


def parse_tags(text: str) -> dict[str, str]:
    """``k=v,k=v`` as a dict (blank items and items without ``=`` are skipped; each key and value cut
    at 256 characters, and the tags after the first :data:`MAX_TAGS` left out)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()[:_MAX_VALUE]] = value.strip()[:_MAX_VALUE]
            if len(out) >= MAX_TAGS:
                break
    return out


def from_headers(headers: Headers, base: Attribution | None = None) -> Attributed:
    """The attribution the ``X-Tokenomy-*`` headers give, on top of ``base`` (a key's)."""
    values: dict[str, str] = {}
    tags: dict[str, str] = {}
    session: str | None = None
    for name, raw in headers:
        if not name.startswith(PREFIX):
            continue
        suffix = name[len(PREFIX) :]
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            continue
        if suffix == b"tags":  # split first: each key and value is cut, not the list
            tags.update(parse_tags(text))
            if len(tags) > MAX_TAGS:  # several headers: the first MAX_TAGS tags of the request
                tags = dict(list(tags.items())[:MAX_TAGS])
            continue
        value = text[:_MAX_VALUE]
        if suffix == b"session":
            session = value
        elif suffix in _FIELDS:
            values[_FIELDS[suffix]] = value
    if base is None:
        if not values and not tags:
            return Attributed(_NOBODY, session)
        return Attributed(Attribution(**values, tags=tags), session)
    if not values and not tags:
        return Attributed(base, session)
    fills = {k: v for k, v in values.items() if getattr(base, k) is None}
    merged = {**tags, **base.tags}
    return Attributed(dataclasses.replace(base, **fills, tags=merged), session)
