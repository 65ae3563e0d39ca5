"""What the mock writes: text of an exact token length, tool-call arguments, embedding vectors.

Output text is made of common English words that are each exactly one token in both OpenAI
encodings (cl100k and o200k), joined by single spaces, so ``n`` words are ``n`` tokens: a
gateway that counts a stream locally arrives at the number the mock reports.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

WORDS: Final = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "on",
    "was",
    "be",
    "at",
    "by",
    "this",
    "from",
    "or",
    "an",
    "are",
    "not",
    "we",
    "can",
    "all",
    "one",
    "more",
    "time",
    "data",
    "token",
    "model",
    "cost",
    "will",
    "use",
    "each",
    "new",
    "has",
    "but",
    "have",
    "may",
    "also",
    "how",
    "when",
    "what",
    "some",
    "other",
    "first",
    "work",
    "code",
    "run",
    "test",
    "step",
    "plan",
    "call",
    "tool",
    "file",
    "line",
    "user",
    "team",
    "read",
    "write",
    "list",
    "send",
    "find",
    "make",
    "take",
    "give",
    "show",
    "tell",
    "keep",
    "move",
    "hold",
    "turn",
    "open",
    "note",
)
_PIECES: Final = ("The", *(" " + w for w in itertools.islice(itertools.cycle(WORDS[1:]), 4095)))
_OFFSETS: Final = tuple(itertools.accumulate((len(p) for p in _PIECES), initial=0))
_TEXT: Final = "".join(_PIECES)


def text(tokens: int) -> str:
    """Text of exactly ``tokens`` one-token words."""
    if tokens <= len(_PIECES):
        return _TEXT[: _OFFSETS[tokens]]
    return "".join(pieces(tokens))


def pieces(tokens: int) -> list[str]:
    """The ``tokens`` one-token pieces that make :func:`text`, in order."""
    if tokens <= len(_PIECES):
        return list(_PIECES[:tokens])
    return [*_PIECES, *(" " + w for w in itertools.islice(itertools.cycle(WORDS), tokens - len(_PIECES)))]


def chunks(tokens: int, per_chunk: int) -> list[tuple[str, int]]:
    """:func:`text` as stream deltas of ``per_chunk`` tokens (the last may be shorter): (text, tokens)."""
    parts = pieces(tokens)
    if per_chunk == 1:
        return [(p, 1) for p in parts]
    return [
        ("".join(parts[i : i + per_chunk]), len(parts[i : i + per_chunk]))
        for i in range(0, len(parts), per_chunk)
    ]


def split_even(value: str, parts: int) -> list[str]:
    """``value`` cut into ``parts`` pieces of near-equal length (fewer when it is shorter)."""
    parts = max(1, min(parts, len(value)))
    size, extra = divmod(len(value), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(value[start:end])
        start = end
    return out


def arguments(schema: Mapping[str, Any]) -> str:
    """Compact JSON arguments that satisfy a tool's JSON schema: every property, a plain value each."""
    return json.dumps(_value(schema, depth=0), separators=(",", ":"))


def _value(schema: Any, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > 8:
        return "mock"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        return {k: _value(v, depth + 1) for k, v in props.items()} if isinstance(props, Mapping) else {}
    return _SCALARS.get(kind, "mock") if kind != "array" else [_value(schema.get("items"), depth + 1)]


_SCALARS: Final[dict[Any, Any]] = {
    "string": "mock",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "null": None,
}


def embedding(text: str, dims: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A deterministic unit vector for ``text`` (the same text always gets the same vector)."""
    seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    norm = float(np.linalg.norm(vector)) or 1.0
    return vector / np.float32(norm)


def embedding_base64(vector: np.ndarray[Any, np.dtype[np.float32]]) -> str:
    """The vector as OpenAI's ``encoding_format: base64`` sends it: little-endian float32 bytes."""
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
