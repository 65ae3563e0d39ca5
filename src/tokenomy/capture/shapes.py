"""The prompt's shape with what a prompt repeats counted once: bounded memos of prefixes and conversations.

Agents resend the same tool definitions and system prompt with every call, and the same
conversation so far: counting all of it with the tokenizer on every call is most of what a
prompt's shape costs (:func:`tokenomy.importers.shape.shape_of`). :class:`ShapeMemo` gives the
very same :class:`Shape`, but keeps, per distinct prefix (model, tool definitions and leading
system messages), the prefix's counts and the prefix hash's state; per distinct message its
token count; and per conversation so far (a *run*: the messages after the prefix) the prefix
hash's state after them, the cut hashes among them and each one's count (:class:`_Chain`).

A prompt with two or more messages after its prefix looks its run up, then the runs one to
:data:`_PROBES` messages shorter: an agent's next step is the last prompt plus a few messages (the
answer, tool results, a new turn), and prompts that share a history and differ in their last turn
find the history. Only the messages after the run found are hashed and counted, and the whole
run is kept for the next step, so an agent's message goes through the tokenizer once, not at
every step; a prompt whose run is known but for its last message (a shared history and a new
turn) has that message counted and keeps nothing new. Runs are keyed by Python's own hash of
each message (:func:`_item`), not by digests: a message whose keys and values are all strings (or
null) by the hash of its ``(key, value)`` pairs, which Python computes in C (where every earlier
message used to cost its canonical JSON and SHA-256), any other message by the hash of its
canonical JSON. Equal keys mean equal canonical JSON but for a collision of 64-bit hashes keyed
by the process's random seed (about one chance in 10^19 for a lookup), hence the shape counted in
full. A prompt with a system message after its first other message (whose text is counted with
the leading ones) takes the general path.

All memos are bounded (least recently used entries go first). The prefix and message memos hold
counts, hash states and keys that are SHA-256 digests of the canonical JSON: never prompt text, a
fixed size per entry however large a message (an image, a tool output) is. Two prompts equal as
JSON share an entry; requests are JSON bodies, so equal JSON means equal counts. The runs hold no
prompt text either (a hash, a count and a cut hash per message), and are bounded by entries
(:data:`CHAINS`) and by the UTF-8 size of the canonical JSON of the messages they stand for
(:data:`CHAIN_CHARS`); a run that a step extends is forgotten at once, and a new conversation
keeps two: its history and its whole run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain as _joined
from typing import Any, Final, Generic, TypeVar, cast

from tokenomy import ascii_tokens, tokens
from tokenomy.importers.messages import Message
from tokenomy.importers.shape import HASH_CHARS, Shape, shape_of
from tokenomy.schema import Kind, positional_maker

_SYSTEM: Final = ("system", "developer")
PREFIXES: Final = 256
"""Distinct prefixes (tools plus system prompt, per model) remembered."""
MESSAGES: Final = 8192
"""Distinct messages (per model) whose counts are remembered."""
CHAINS: Final = 2048
"""Runs (conversations so far, per prefix and model) remembered."""
CHAIN_CHARS: Final = 32_000_000
"""The remembered runs' size at most: the UTF-8 bytes of their messages' canonical JSON, summed."""
_PROBES: Final = 4
"""Shorter runs looked up after a prompt's own: a step that adds more messages counts them afresh."""

_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
"""The encoder of :func:`tokenomy.importers.ids.canonical_json`, made once (making it is most of its cost)."""
_KEYED_BY_VALUE: Final = frozenset((str, type(None)))
"""The types of the values that let a message be keyed by its own values (see :func:`_item`)."""
_NO_TOOLS: Final = "[]"
_NO_PREFIX: Final = hashlib.sha256(_NO_TOOLS.encode("utf-8")).digest()
"""The prefix key's digest for a prompt with neither tools nor leading system messages."""

_new_shape: Final = cast("type[Shape]", positional_maker(Shape))
"""``Shape(*all fields)`` without its ``__init__`` (see :func:`tokenomy.schema.positional_maker`)."""

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


@dataclass(frozen=True, slots=True)
class _Chain:
    """A run of messages after a prefix: what hashing and counting them left."""

    items: tuple[int, ...]  # each message's key (:func:`_item`), the entry's key with the prefix's
    hasher: Any  # the prefix hash's state after them (hashlib object, copied before extending)
    hashes: tuple[str, ...]  # the cut hashes among them (at 1, 2, 4... messages)
    raws: tuple[int, ...]  # each message's tokens (tokens.message_tokens)
    exact: bool  # whether all of them are exact
    chars: int  # the UTF-8 size of their canonical JSON, the entry's weight


_ChainKey = tuple[tuple[str | None, bytes], tuple[int, ...]]


class _Chains(Lru[_ChainKey, _Chain]):
    """The conversations' LRU, bounded by entries and by the size of what they stand for."""

    def __init__(self, size: int, chars: int) -> None:
        super().__init__(size)
        self.limit, self.chars = chars, 0

    def keep(self, key: _ChainKey, chain: _Chain, replaces: _ChainKey | None) -> None:
        """Remember ``chain``, forgetting the run it extends (``replaces``) and the least recent."""
        with self._lock:
            if replaces is not None:
                self._forget(replaces)
            self._forget(key)
            if chain.chars > self.limit:
                return
            self._entries[key] = chain
            self.chars += chain.chars
            while len(self._entries) > self.size or self.chars > self.limit:
                self.chars -= self._entries.popitem(last=False)[1].chars

    def _forget(self, key: _ChainKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.chars -= old.chars


class ShapeMemo:
    """Computes prompt shapes, remembering prefixes and earlier messages (see the module docstring).

    Args:
        prefixes: How many distinct prefixes to remember.
        messages: How many distinct earlier messages to remember.
        chains: How many runs (conversations so far) to remember.
        chain_chars: How large they may be together (see :data:`CHAIN_CHARS`).
    """

    def __init__(
        self,
        prefixes: int = PREFIXES,
        messages: int = MESSAGES,
        chains: int = CHAINS,
        chain_chars: int = CHAIN_CHARS,
    ) -> None:
        self.prefixes: Lru[tuple[str | None, bytes], _Prefix] = Lru(prefixes)
        self.messages: Lru[tuple[str | None, bytes], tuple[int, bool]] = Lru(messages)
        self.chains = _Chains(chains, chain_chars)
        self._turns: dict[str | None, _TurnPlan] = {}
        """:func:`_turn_plan` by model."""

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
        return self._rest(messages, start, prefix, key, model)

    def user_turn(self, content: str, model: str | None) -> Shape:
        """``shape([{"role": "user", "content": content}], None, model)``: a single-turn prompt
        without tools or system prompt, whose prefix is the same for every model, in fewer steps.

        What such a shape takes besides the content's tokens is worked out once per model
        (:func:`_turn_plan`): the prompt's fixed tokens (the message's role and overhead, the
        reply's priming), the encoding and, for a model whose count is scaled, its tokenizer.
        """
        fixed, raw, tokenizer, kind = self._turn_count(content, model)
        if tokenizer is None:  # counted as it is (the exact OpenAI encodings)
            return _new_shape(1, fixed + raw, 0, 0, raw, 0, kind, _BARE_HASHES)
        return _new_shape(1, tokenizer.scale(fixed + raw), 0, 0, tokenizer.scale(raw), 0, kind, _BARE_HASHES)

    def user_turn_values(self, content: str, model: str | None) -> TurnValues:
        """``user_turn(content, model)``'s :meth:`~Shape.call_values` followed by its
        ``input_tokens``, without making the Shape: the gateway's every single-turn call."""
        fixed, raw, tokenizer, _ = self._turn_count(content, model)
        if tokenizer is None:
            return (1, 0, 0, raw, 0, _BARE_HASHES, fixed + raw)
        return (1, 0, 0, tokenizer.scale(raw), 0, _BARE_HASHES, tokenizer.scale(fixed + raw))

    def _turn_count(self, content: str, model: str | None) -> tuple[int, int, tokens.Tokenizer | None, Kind]:
        """The single turn's fixed tokens, its content's raw count, the tokenizer that scales them
        (None: none) and the count's kind."""
        plan = self._turns.get(model)
        if plan is None:
            if len(self._turns) >= _TURN_MODELS:
                self._turns.clear()
            plan = self._turns[model] = _turn_plan(model)
        fixed, ascii, encode, encoding, tokenizer, kind = plan
        raw = ascii_tokens.length(content, ascii, encode, encoding) if content else 0
        return fixed, raw, tokenizer, kind

    def _rest(
        self,
        messages: Sequence[Message],
        start: int,
        prefix: _Prefix,
        key: tuple[str | None, bytes],
        model: str | None,
    ) -> Shape:
        """The shape from a known prefix: the other messages are counted (or remembered) here."""
        last = len(messages) - 1
        if start < last:  # a conversation: its run of messages, remembered or extended
            return self._conversation(messages, start, prefix, key, model)
        last_user = _last_user_index(messages)
        whole_raw, exact = prefix.system_raw, prefix.system_exact
        history_raw, history = 0, False
        user_tokens: int | None = None
        if start == last:  # one message after the prefix
            message = messages[last]
            if last == last_user and _plain_text(message):
                raw, user_tokens = _turn_tokens(message["role"], message["content"], model)
                message_exact = True
            else:
                raw, message_exact = tokens.message_tokens(message, model)
            whole_raw += raw
            exact = exact and message_exact
            if last != last_user:
                history_raw, history = raw, True
        whole = tokens.messages_count(whole_raw, exact, model)
        if user_tokens is None:
            user_text = messages[last_user].get("content", "") if last_user is not None else ""
            user_tokens = _text_tokens(user_text, model)
        history_tokens = tokens.messages_count(history_raw, True, model).tokens if history else 0
        return _shape(
            prefix, whole, user_tokens, history_tokens, n_messages=len(messages), hashes=(prefix.first_hash,)
        )

    def _conversation(
        self,
        messages: Sequence[Message],
        start: int,
        prefix: _Prefix,
        key: tuple[str | None, bytes],
        model: str | None,
    ) -> Shape:
        """The shape of a prompt with two or more messages after its prefix, from their run."""
        chain = self._chain(messages[start:], prefix, key, model)
        raws, last = chain.raws, len(messages) - 1
        last_user = _last_user_index(messages)
        whole_raw, exact = sum(raws), chain.exact
        user_tokens: int | None = None
        last_raw = 0
        if start + len(raws) == last:  # a known history and a new last message: counted, not kept
            message = messages[last]
            if last == last_user and _plain_text(message):
                last_raw, user_tokens = _turn_tokens(message["role"], message["content"], model)
            else:
                last_raw, message_exact = tokens.message_tokens(message, model)
                exact = exact and message_exact
            whole_raw += last_raw
        if last_user is None:
            user_tokens, user_raw = 0, 0
        else:
            user_raw = raws[last_user - start] if last_user - start < len(raws) else last_raw
            if user_tokens is None:
                user_tokens = _user_tokens(messages[last_user], user_raw, model)
        whole = tokens.messages_count(prefix.system_raw + whole_raw, prefix.system_exact and exact, model)
        history_tokens = tokens.messages_count(whole_raw - user_raw, True, model).tokens
        # the cut hashes never reach the last message: those of the messages before it
        hashes = (prefix.first_hash, *chain.hashes[: (last - start).bit_length()])
        return _shape(prefix, whole, user_tokens, history_tokens, n_messages=len(messages), hashes=hashes)

    def _chain(
        self, run: Sequence[Message], prefix: _Prefix, key: tuple[str | None, bytes], model: str | None
    ) -> _Chain:
        """The ``run`` of messages: remembered, extended from a remembered shorter run, or new."""
        try:  # the common case, every value a string: made and hashed in C
            items: tuple[int, ...] = tuple([hash(tuple(m.items())) for m in run])
            found, done = self._find(key, items)
        except TypeError:  # a list or a mapping among the values (parts, tool calls)
            items = tuple([_item(m) for m in run])
            found, done = self._find(key, items)
        if found is not None and done >= len(items) - 1:
            return found  # the whole run, or all of it but a new last message (a shared history)
        kept: tuple[int, ...] = ()
        if found is None:
            hasher, hashes, raws, exact, chars = prefix.hasher.copy(), [], [], True, 0
        else:
            hasher, hashes, raws = found.hasher.copy(), list(found.hashes), list(found.raws)
            exact, chars, kept = found.exact, found.chars, found.items
        added: list[int] = []
        earlier: _Chain | None = None  # a new run's messages but the last, kept too (shared history)
        for index in range(done, len(run)):
            message = run[index]
            data = canonical_json(message).encode("utf-8")
            hasher.update(data)
            if index & (index + 1) == 0:  # a run of 1, 2, 4, 8... messages
                hashes.append(hasher.hexdigest()[:HASH_CHARS])
            raw, message_exact = self._earlier(data, message, model)
            raws.append(raw)
            exact = exact and message_exact
            chars += len(data)
            added.append(_item(message))
            if found is None and index == len(run) - 2:
                earlier = _Chain(tuple(added), hasher.copy(), tuple(hashes), tuple(raws), exact, chars)
        chain = _Chain(kept + tuple(added), hasher, tuple(hashes), tuple(raws), exact, chars)
        if earlier is not None:
            self.chains.keep((key, earlier.items), earlier, None)
        # a run extended by two or more messages is an agent's earlier step: forget it
        self.chains.keep((key, chain.items), chain, None if found is None else (key, found.items))
        return chain

    def _find(self, key: tuple[str | None, bytes], items: tuple[int, ...]) -> tuple[_Chain | None, int]:
        """The longest remembered run among ``items`` and the ones up to :data:`_PROBES` shorter."""
        for size in range(len(items), max(len(items) - _PROBES, 0), -1):
            found = self.chains.get((key, items if size == len(items) else items[:size]))
            if found is not None:
                return found, size
        return None, 0

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


_BARE: Final = _prefix((), None, None, _NO_TOOLS, ())
"""The prefix of a prompt with neither tools nor system messages (what the memo keeps for it)."""
_BARE_HASHES: Final = (_BARE.first_hash,)
_TURN_MODELS: Final = 1024
"""Models whose :func:`_turn_plan` a memo keeps (cleared when full)."""
_TurnPlan = tuple[int, "tokens.AsciiPlan | None", Any, Any, "tokens.Tokenizer | None", Kind]
TurnValues = tuple[int, int, int, int, int, tuple[str, ...], int]
"""A shape's :meth:`~Shape.call_values` and then its ``input_tokens`` (:meth:`ShapeMemo.user_turn_values`)."""


def _turn_plan(model: str | None) -> _TurnPlan:
    """What :meth:`ShapeMemo.user_turn` needs for ``model``: the prompt's tokens besides the
    content's (the message's overhead and the reply's priming: ``messages_count`` of a message
    with empty content, before scaling), what :mod:`tokenomy.ascii_tokens` counts ASCII text with
    when it may (:func:`tokens.ascii_plan`; None: it may not), the encoder of its basis encoding
    (its core's own ``encode_ordinary``, one Python call fewer: :func:`tokens.core_encoder`) and
    the encoding itself (which replaces what UTF-8 cannot encode), the tokenizer when its counts
    are scaled (None: used as they are), and the count's kind. :data:`_BARE` has no tools
    or system prompt, so that the shape's system and tool counts are 0 (a test holds it)."""
    overhead, encoding, tokenizer = _overhead("user", model)
    fixed = tokens.REPLY_PRIMING_TOKENS + overhead
    encode = tokens.core_encoder(encoding)
    scaled = None if tokenizer.unscaled else tokenizer
    return fixed, tokens.ascii_plan(encoding), encode, encoding, scaled, tokenizer.kind


def _shape(
    prefix: _Prefix,
    whole: tokens.TokenCount,
    user_tokens: int,
    history_tokens: int,
    *,
    n_messages: int,
    hashes: tuple[str, ...],
) -> Shape:
    """The shape from its parts' counts."""
    tool_tokens = prefix.tool_tokens
    return _new_shape(
        n_messages,
        whole.tokens + (tool_tokens or 0),
        prefix.system_tokens,
        tool_tokens or 0,
        user_tokens,
        history_tokens,
        Kind.ESTIMATED if tool_tokens is not None else whole.kind,
        hashes,
    )


def _user_tokens(message: Message, raw: int, model: str | None) -> int:
    """The last user turn's text tokens, from its message tokens (``raw``) when it is plain."""
    if _plain_text(message):
        content = message["content"]
        if not content:
            return 0
        overhead, _, tokenizer = _overhead(message["role"], model)
        return tokenizer.scale(raw - overhead)
    return _text_tokens(message.get("content", ""), model)


def _item(message: Message) -> int:
    """A message's key among a run's: the hash of its (key, value) pairs when each key and value is
    a string or null, else the hash of its canonical JSON.

    Equal pairs mean equal canonical JSON, so equal counts and hashes: a string equals only a
    string, and ``None`` only ``None`` (a number or a boolean would equal one of the other kind,
    ``1 == True``, so such a message is keyed by its JSON). The key holds no prompt text; two
    different messages share one only by a collision of Python's 64-bit hashes, which are keyed by
    the process's random seed.
    """
    if _KEYED_BY_VALUE.issuperset(map(type, _joined.from_iterable(message.items()))):
        return hash(tuple(message.items()))
    return hash(canonical_json(message))


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
    raw = tokens.encoded_length(encoding, content) if content else 0
    return overhead + raw, tokenizer.scale(raw)


def _last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _text_tokens(text: Any, model: str | None) -> int:
    return tokens.count(text, model).tokens if isinstance(text, str) and text else 0
