"""What a request asks for, read out of any wire format: the one shape the planner works on.

Each wire adapter turns its body into a :class:`Prompt`: the model, the prompt as ordered
*segments* (tool definitions, system text, one per message or content block) with the tokens
each one costs, the cache breakpoints it marks, the output limit, streaming flags, tools and
whether it asks for reasoning. The planner never looks at the raw body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CacheStyle = Literal["prefix", "breakpoints", "none"]

# Built for every request: slotted but not frozen (a frozen dataclass costs ~4x to construct).


class InvalidRequestError(Exception):
    """The body is not a valid request; the server answers 400 in the endpoint's own error format.

    Never leaves the server: it is how an adapter says "reject this" from deep inside parsing.
    """

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(slots=True)
class Segment:
    """One piece of the prompt, in order.

    Attributes:
        key: A string that identifies the piece's content (role plus text), used for cache lookups.
        text: The text whose tokens are counted.
        extra: Tokens added on top of the text (per-message framing, fixed image cost).
        fields: Further texts counted each on its own (a chat message's role and name, as OpenAI
            counts every field of a message by itself).
    """

    key: str
    text: str
    extra: int = 0
    fields: tuple[str, ...] = ()


@dataclass(slots=True)
class Breakpoint:
    """An Anthropic ``cache_control`` mark: the prefix through segment ``index`` is cacheable."""

    index: int
    ttl_s: float


@dataclass(slots=True)
class Tool:
    """A function the request offers: its name and JSON-schema parameters."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Prompt:
    """A request, read out of its wire format.

    Attributes:
        model: The model asked for.
        segments: The prompt, in order.
        cache: ``"prefix"`` (OpenAI automatic prefix caching), ``"breakpoints"`` (Anthropic
            cache_control) or ``"none"`` (embeddings).
        breakpoints: The cache_control marks, in prompt order.
        max_output: The output limit (max_tokens, max_completion_tokens, max_output_tokens).
        stream: Whether the answer is streamed.
        include_usage: OpenAI chat/completions: send the final usage chunk.
        tools: Tools offered.
        tool_choice: ``"none"``, ``"auto"``, ``"required"`` or the name of a forced tool.
        reasoning: True when the request asks for reasoning (thinking enabled, an effort level),
            False when it turns it off, None when it does not say.
        thinking_budget: Anthropic's ``budget_tokens`` cap on thinking.
        generates: False for requests that produce no output tokens (embeddings).
        body: The parsed request body, for adapters that echo request fields back.
        counted: The cumulative token count after each segment, once the planner has counted it.
    """

    model: str
    segments: tuple[Segment, ...]
    cache: CacheStyle = "prefix"
    breakpoints: tuple[Breakpoint, ...] = ()
    max_output: int | None = None
    stream: bool = False
    include_usage: bool = False
    tools: tuple[Tool, ...] = ()
    tool_choice: str = "auto"
    reasoning: bool | None = None
    thinking_budget: int | None = None
    generates: bool = True
    body: Mapping[str, Any] = field(default_factory=dict)
    counted: list[int] | None = None


def require_model(body: Mapping[str, Any]) -> str:
    """The body's ``model``, or a 400 naming the field."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            "you must provide a model parameter: 'model' is missing or not a string", "model"
        )
    return model


def optional_int(body: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` present in ``body`` as a positive whole number, or None."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(f"'{name}' must be an integer >= 1, got {value!r}", name)
        return value
    return None


def text_of(content: Any) -> str:
    """The text inside a message content: a string, or a list of parts with ``text`` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part_text(part) for part in content)
    return ""


def part_text(part: Any) -> str:
    """The text of one content part (text, tool result, tool input), or "" for media parts."""
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return ""
    for key in ("text", "thinking", "refusal", "arguments"):
        value = part.get(key)
        if isinstance(value, str):
            return value
    if "content" in part:
        return text_of(part["content"])
    if "input" in part:
        return _canonical(part["input"])
    return ""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
