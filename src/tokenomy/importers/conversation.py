"""Calls recovered from a conversation that recorded no usage: one per assistant turn, counted locally.

Transcripts and agent trajectories keep the messages but not what each model call cost. Each
assistant message is the output of one call whose input was every message before it; both are
counted with :mod:`tokenomy.tokens` (exact for OpenAI encodings, an estimate otherwise). The input
side is a total whose cache split is unknown (a transcript does not say what was cached); the
output side is the visible text and tool calls, with reasoning unknown.

This module also names conversations: the *anchor* of a conversation is its messages up to and
including the first assistant turn, the part every later call of the same conversation repeats,
so calls logged separately (one file per call) can be grouped into one session.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenomy import tokens
from tokenomy.importers.messages import Message, text_of, tool_calls_of
from tokenomy.importers.shape import Shape, shape_of
from tokenomy.schema import Kind, Usage


@dataclass(frozen=True, slots=True)
class Turn:
    """One assistant turn and the prompt it answered."""

    step: int
    index: int
    """The reply's position in the conversation."""
    prompt: list[Message]
    reply: Message
    shape: Shape
    output_tokens: int
    kind: Kind

    def usage(self) -> Usage:
        """The counted usage: input total with the split unknown, visible output, reasoning unknown."""
        return Usage.of(
            input_total=self.shape.input_tokens,
            output_visible=self.output_tokens,
            output_total=self.output_tokens,
            kind=self.kind,
        )


def turns(
    messages: Sequence[Message],
    tool_defs: Sequence[Mapping[str, Any]] | None,
    model: str | None,
    *,
    skip: Sequence[bool] | None = None,
) -> Iterator[Turn]:
    """Each assistant message that answered a prompt, as a counted turn.

    Args:
        messages: The normalized conversation.
        tool_defs: Tool definitions sent with every prompt, if known.
        model: The model, which picks the tokenizer (None: an estimate).
        skip: Per message, True for assistant messages that were not model calls (demonstrations).
    """
    step = 0
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or index == 0 or (skip is not None and skip[index]):
            continue
        step += 1
        yield make_turn(
            step, index=index, prompt=list(messages[:index]), reply=message, tool_defs=tool_defs, model=model
        )


def make_turn(
    step: int,
    *,
    index: int,
    prompt: list[Message],
    reply: Message,
    tool_defs: Sequence[Mapping[str, Any]] | None,
    model: str | None,
) -> Turn:
    """Count one prompt and its reply."""
    shape = shape_of(prompt, tool_defs, model)
    out = output_count(reply, model)
    kind = Kind.ESTIMATED if model is None else max(shape.kind, out.kind, key=_ORDER.index)
    return Turn(step, index, prompt, reply, shape, out.tokens, kind)


_ORDER = [Kind.REPORTED, Kind.COUNTED, Kind.ESTIMATED]


def output_count(message: Mapping[str, Any], model: str | None) -> tokens.TokenCount:
    """The tokens of an assistant message's visible output: its text and its tool calls.

    Tool calls are counted as their function name and JSON arguments (an estimate: providers
    add an undocumented wrapper).
    """
    text = text_of(message.get("content"))
    calls = tool_calls_of(message)
    parts = [text] + [c["function"]["name"] + c["function"]["arguments"] for c in calls]
    counted = tokens.count("".join(parts), model)
    if calls and counted.kind is Kind.COUNTED:
        return tokens.TokenCount(counted.tokens, Kind.ESTIMATED, counted.encoding, model)
    return counted


def anchor(messages: Sequence[Mapping[str, Any]]) -> list[Any]:
    """What identifies a conversation: its first user turn and first assistant reply.

    Each message is reduced to its role, its text (whitespace-trimmed) and its tool-call ids,
    so that the same turn logged in two shapes (text or text parts, with or without extra
    fields) gives the same anchor.
    """
    out: list[Any] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        ids = sorted(str(c.get("id")) for c in tool_calls_of(message) if c.get("id"))
        out.append([role, text_of(message.get("content")).strip(), ids])
        if role == "assistant":
            break
    return out
