"""The shape of a prompt, counted locally: messages, system, tools, latest user turn, history, prefix hashes.

These are the ``Call`` fields that say what a prompt was made of (DESIGN section 3), for the
efficiency metrics and the waste detectors. They are local counts with
:mod:`tokenomy.tokens` (exact for OpenAI encodings, estimates for other families), whatever the
provider reported as usage.

``prefix_hashes`` identify the stable start of a prompt without keeping its text: the hash of the
tool definitions and system messages, then of the prompt up to message 1, 2, 4, 8... (powers of
two, never the last message, which is the new turn). Two calls whose prompts share a prefix share
the hashes up to the cut where they diverge, which is what cache analysis needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tokenomy import tokens
from tokenomy.importers.ids import canonical_json
from tokenomy.importers.messages import Message
from tokenomy.schema import Kind

HASH_CHARS: Final = 16


@dataclass(frozen=True, slots=True)
class Shape:
    """What a prompt was made of, counted locally.

    Attributes:
        n_messages: Messages sent, system messages included.
        input_tokens: The whole prompt: messages with the chat overhead, plus tool definitions.
        system_tokens: System messages' text.
        tool_def_tokens: Tool definitions (always an estimate).
        user_tokens: The latest user message's text.
        history_tokens: Every other message (the conversation so far), with its overhead.
        kind: ``COUNTED`` when the message count is exact, else ``ESTIMATED``.
        prefix_hashes: Hashes of the prompt's stable prefix at the cut points.
    """

    n_messages: int
    input_tokens: int
    system_tokens: int
    tool_def_tokens: int
    user_tokens: int
    history_tokens: int
    kind: Kind
    prefix_hashes: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        """The Call fields this shape fills."""
        return dict(zip(CALL_FIELDS, self.call_values(), strict=True))

    def call_values(self) -> tuple[int, int, int, int, int, tuple[str, ...]]:
        """The values of :meth:`fields`, in the order :data:`CALL_FIELDS` (the Call's own order)."""
        return (
            self.n_messages,
            self.system_tokens,
            self.tool_def_tokens,
            self.user_tokens,
            self.history_tokens,
            self.prefix_hashes,
        )


CALL_FIELDS: Final = (
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
    "prefix_hashes",
)
"""The Call fields a shape fills, in the Call's order."""


def shape_of(
    messages: Sequence[Message], tool_defs: Sequence[Mapping[str, Any]] | None, model: str | None
) -> Shape:
    """Count a prompt's parts.

    Args:
        messages: Normalized chat messages (see :mod:`tokenomy.importers.messages`).
        tool_defs: The tool definitions sent with the prompt, if any.
        model: The model, which picks the tokenizer.

    Returns:
        The prompt's shape.
    """
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    last_user = _last_user_index(messages)
    history = [
        m for i, m in enumerate(messages) if m.get("role") not in ("system", "developer") and i != last_user
    ]
    whole = tokens.count_messages(list(messages), model)
    tool_defs = [t for t in tool_defs if isinstance(t, Mapping)] if tool_defs else None  # as the gateway
    tools = tokens.count_tools(tool_defs, model) if tool_defs else None
    user_text = messages[last_user].get("content", "") if last_user is not None else ""
    return Shape(
        n_messages=len(messages),
        input_tokens=whole.tokens + (tools.tokens if tools else 0),
        system_tokens=_text_tokens([m.get("content", "") for m in system], model),
        tool_def_tokens=tools.tokens if tools else 0,
        user_tokens=_text_tokens([user_text], model),
        history_tokens=tokens.count_messages(history, model).tokens if history else 0,
        kind=Kind.ESTIMATED if tools else whole.kind,
        prefix_hashes=prefix_hashes(messages, tool_defs),
    )


def prefix_hashes(
    messages: Sequence[Message], tool_defs: Sequence[Mapping[str, Any]] | None
) -> tuple[str, ...]:
    """Hashes of the prompt prefix: tools and system, then up to message 1, 2, 4, 8... (never the last)."""
    hasher = hashlib.sha256(canonical_json(list(tool_defs or [])).encode("utf-8"))
    start = 0
    while start < len(messages) and messages[start].get("role") in ("system", "developer"):
        hasher.update(canonical_json(messages[start]).encode("utf-8"))
        start += 1
    out = [hasher.hexdigest()[:HASH_CHARS]]
    cut = 1
    for index in range(start, len(messages) - 1):
        hasher.update(canonical_json(messages[index]).encode("utf-8"))
        if index - start + 1 == cut:
            out.append(hasher.hexdigest()[:HASH_CHARS])
            cut *= 2
    return tuple(out)


def _last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _text_tokens(texts: Sequence[Any], model: str | None) -> int:
    text = "\n".join(t for t in texts if isinstance(t, str) and t)
    return tokens.count(text, model).tokens if text else 0
