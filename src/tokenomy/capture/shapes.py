"""The prompt's shape with its stable prefix counted once: a bounded memo of the tools and system part.

Agents resend the same tool definitions and system prompt with every call, and the same
conversation so far: counting all of it with the tokenizer on every call is most of what a
prompt's shape costs (:func:`tokenomy.importers.shape.shape_of`). :class:`ShapeMemo` gives the
very same :class:`Shape`, but keeps, per distinct prefix (model, tool definitions and leading
system messages), the prefix's counts and the prefix hash's state; and per distinct earlier
message its token count. Only what is new in a call (its last message, and anything not seen
before) goes through the tokenizer.

Both memos are bounded (least recently used entries go first) and hold counts, hash states and
keys that are SHA-256 digests of the canonical JSON (the text the prefix hashes are made of
anyway): never prompt text, and a fixed size per entry however large a message (an image, a tool
output) is. Two prompts equal as JSON share an entry; requests are JSON bodies, so equal JSON
means equal counts. A prompt with
a system message after its first other message (whose text is counted with the leading ones)
takes the general path.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Generic, TypeVar

from tokenomy import tokens
from tokenomy.importers.messages import Message
from tokenomy.importers.shape import HASH_CHARS, Shape, shape_of
from tokenomy.schema import Kind

_SYSTEM: Final = ("system", "developer")
PREFIXES: Final = 256
"""Distinct prefixes (tools plus system prompt, per model) remembered."""
MESSAGES: Final = 8192
"""Distinct earlier messages (per model) whose counts are remembered."""

_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
"""The encoder of :func:`tokenomy.importers.ids.canonical_json`, made once (making it is most of its cost)."""
_NO_TOOLS: Final = "[]"
_NO_PREFIX: Final = hashlib.sha256(_NO_TOOLS.encode("utf-8")).digest()
"""The prefix key's digest for a prompt with neither tools nor leading system messages."""

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small thread-safe least-recently-used map (the sink's thread and request paths share it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key``, forgetting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class _Prefix:
    """What one prefix (tool definitions and leading system messages) counts to."""

    tool_tokens: int | None
    system_raw: int
    system_exact: bool
    system_tokens: int
    hasher: Any  # the prefix hash's state after the tools and system messages (hashlib object)
    first_hash: str  # its hex digest, cut to the hashes' length (the first of every prompt's hashes)


class ShapeMemo:
    """Computes prompt shapes, remembering prefixes and earlier messages (see the module docstring).

    Args:
        prefixes: How many distinct prefixes to remember.
        messages: How many distinct earlier messages to remember.
    """

    def __init__(self, prefixes: int = PREFIXES, messages: int = MESSAGES) -> None:
        self.prefixes: Lru[tuple[str | None, bytes], _Prefix] = Lru(prefixes)
        self.messages: Lru[tuple[str | None, bytes], tuple[int, bool]] = Lru(messages)

    def shape(
        self, messages: Sequence[Message], tool_defs: Sequence[Mapping[str, Any]] | None, model: str | None
    ) -> Shape:
        """What :func:`tokenomy.importers.shape.shape_of` returns for the same arguments."""
        start = 0
        while start < len(messages) and messages[start].get("role") in _SYSTEM:
            start += 1
        for message in messages[start:]:
            if message.get("role") in _SYSTEM:
                return shape_of(messages, tool_defs, model)
        tools_json = canonical_json(list(tool_defs)) if tool_defs else _NO_TOOLS
        system_json = tuple(canonical_json(m) for m in messages[:start])
        if system_json or tool_defs:
            digest = hashlib.sha256(tools_json.encode("utf-8"))
            for text in system_json:
                digest.update(b"\x00" + text.encode("utf-8"))
            key = (model, digest.digest())
        else:
            key = (model, _NO_PREFIX)
        prefix = self.prefixes.get(key)
        if prefix is None:
            prefix = self.prefixes.put(
                key, _prefix(messages[:start], tool_defs, model, tools_json, system_json)
            )
        return self._rest(messages, start, prefix, model)

    def _rest(self, messages: Sequence[Message], start: int, prefix: _Prefix, model: str | None) -> Shape:
        """The shape from a known prefix: the other messages are counted (or remembered) here."""
        last_user = _last_user_index(messages)
        cut, last = 1, len(messages) - 1
        hasher: Any = prefix.hasher.copy() if start < last else None  # only earlier messages extend it
        hashes = [prefix.first_hash]
        whole_raw, exact = prefix.system_raw, prefix.system_exact
        history_raw, history = 0, False
        user_tokens: int | None = None
        for index in range(start, len(messages)):
            message = messages[index]
            if index < last:
                data = canonical_json(message).encode("utf-8")
                hasher.update(data)
                if index - start + 1 == cut:
                    hashes.append(hasher.hexdigest()[:HASH_CHARS])
                    cut *= 2
                raw, message_exact = self._earlier(data, message, model)
            elif index == last_user and _plain_text(message):
                raw, user_tokens = _turn_tokens(message["role"], message["content"], model)
                message_exact = True
            else:
                raw, message_exact = tokens.message_tokens(message, model)
            whole_raw += raw
            exact = exact and message_exact
            if index != last_user:
                history_raw += raw
                history = True
        whole = tokens.messages_count(whole_raw, exact, model)
        if user_tokens is None:
            user_text = messages[last_user].get("content", "") if last_user is not None else ""
            user_tokens = _text_tokens(user_text, model)
        has_tools = prefix.tool_tokens is not None
        return Shape(
            n_messages=len(messages),
            input_tokens=whole.tokens + (prefix.tool_tokens or 0),
            system_tokens=prefix.system_tokens,
            tool_def_tokens=prefix.tool_tokens or 0,
            user_tokens=user_tokens,
            history_tokens=tokens.messages_count(history_raw, True, model).tokens if history else 0,
            kind=Kind.ESTIMATED if has_tools else whole.kind,
            prefix_hashes=tuple(hashes),
        )

    def _earlier(self, data: bytes, message: Message, model: str | None) -> tuple[int, bool]:
        """An earlier message's count, remembered by the digest of its canonical JSON (``data``)."""
        key = (model, hashlib.sha256(data).digest())
        found = self.messages.get(key)
        if found is None:
            found = self.messages.put(key, tokens.message_tokens(message, model))
        return found


def _prefix(
    system: Sequence[Message],
    tool_defs: Sequence[Mapping[str, Any]] | None,
    model: str | None,
    tools_json: str,
    system_json: tuple[str, ...],
) -> _Prefix:
    hasher = hashlib.sha256(tools_json.encode("utf-8"))
    raw, exact = 0, True
    for message, text in zip(system, system_json, strict=True):
        hasher.update(text.encode("utf-8"))
        message_raw, message_exact = tokens.message_tokens(message, model)
        raw += message_raw
        exact = exact and message_exact
    joined = "\n".join(t for t in (m.get("content", "") for m in system) if isinstance(t, str) and t)
    return _Prefix(
        tool_tokens=tokens.count_tools(tool_defs, model).tokens if tool_defs else None,
        system_raw=raw,
        system_exact=exact,
        system_tokens=tokens.count(joined, model).tokens if joined else 0,
        hasher=hasher,
        first_hash=hasher.hexdigest()[:HASH_CHARS],
    )


def canonical_json(value: Any) -> str:
    """The same text as :func:`tokenomy.importers.ids.canonical_json` (sorted keys, compact)."""
    return _CANONICAL.encode(value)


def _plain_text(message: Message) -> bool:
    """True for a message of a string role and string content only (a plain user turn)."""
    return len(message) == 2 and type(message.get("content")) is str and type(message.get("role")) is str


@lru_cache(maxsize=1024)
def _overhead(role: str, model: str | None) -> tuple[int, Any, tokens.Tokenizer]:
    """A plain message's tokens besides its content, the encoding and the tokenizer for ``model``."""
    tokenizer = tokens.tokenizer_for(model)
    raw, _ = tokens.message_tokens({"role": role, "content": ""}, model)
    return raw, tokens.get_encoding(tokenizer.encoding), tokenizer


def _turn_tokens(role: str, content: str, model: str | None) -> tuple[int, int]:
    """A plain last user turn's :func:`tokens.message_tokens` and its content's count, from one encoding.

    The same numbers as ``tokens.message_tokens(message, model)[0]`` and
    ``tokens.count(content, model).tokens``: the message adds its fixed overhead to its content's
    tokens in the basis encoding, which the model's tokenizer scales for the content's count.
    """
    overhead, encoding, tokenizer = _overhead(role, model)
    raw = len(encoding.encode_ordinary(content)) if content else 0
    return overhead + raw, tokenizer.scale(raw)


def _last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _text_tokens(text: Any, model: str | None) -> int:
    return tokens.count(text, model).tokens if isinstance(text, str) and text else 0
