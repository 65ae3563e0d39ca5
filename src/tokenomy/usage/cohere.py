"""Cohere: Chat (v2 and v1) and Embed response bodies.

Convention: what Cohere bills is ``billed_units`` (``usage.billed_units`` in v2, ``meta.billed_units``
in v1 and Embed): ``input_tokens`` and ``output_tokens``, the counts its prices apply to. Its
``tokens`` counts also hold the prompt template Cohere adds around the messages, which is not
billed, so they are not read for the buckets. Cohere reports no cache writes and no reasoning
split: the input is its billed total and the output its total, their splits unknown. Its
``usage.cached_tokens`` counts prompt tokens served from its cache, but against the ``tokens``
counts, not the billed ones (a real answer bills 2,406 input tokens with 2,928 cached), so it is
kept in ``extra["cached_tokens"]``, not taken for a part of the billed input: genai-prices prices
Cohere from the billed units alone too. A Rerank answer is billed per search (``search_units``),
not per token: it is read with its usage unknown (unpriced) and its searches in ``extra``. The
body does not name its model: the logged request's, or ``tokenomy import --model``.

A streamed chat (:class:`ChatStream`) is read from its events: v2's typed events
(``message-start``, ``content-delta``..., ``message-end`` carrying the finish reason and the usage)
and v1's (``stream-start``, ``text-generation``..., ``stream-end`` carrying the whole answer). A
stream is complete once its end event brought the usage; cut before it, its usage is unknown. A
finish reason ``ERROR`` (with the message-end's ``error``), ``TIMEOUT``, or v1's ``ERROR_TOXIC`` or
``ERROR_LIMIT`` makes the call an error (``extra["failure"]``, as a failed Responses answer), body or
stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.errors import error_kind
from tokenomy.schema import Usage
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import (
    Extracted,
    embedding_usage,
    get_int,
    get_str,
    inclusive,
    items,
    join_text,
    mapping,
)
from tokenomy.usage.openai_responses import FAILURE

NAME: Final = "cohere.chat"
_FAILED: Final = {
    "ERROR": "error",
    "TIMEOUT": "timeout",
    "ERROR_TOXIC": "error_toxic",
    "ERROR_LIMIT": "error_limit",
}
"""Finish reasons of a generation that failed, and the call's error type when no error names one."""


def _usage_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object that holds ``billed_units``: v2's ``usage``, v1's and Embed's ``meta``."""
    for key in ("usage", "meta"):
        found = mapping(body.get(key))
        if found is not None and mapping(found.get("billed_units")) is not None:
            return found
    return None


def matches(body: Mapping[str, Any]) -> bool:
    """True for a Cohere body: its ``billed_units`` (no other provider reports them)."""
    return _usage_of(body) is not None


def cohere_usage(holder: Mapping[str, Any] | None) -> Usage:
    """The buckets of a Cohere ``usage`` (or ``meta``) object (see the module docstring)."""
    billed = mapping((holder or {}).get("billed_units"))
    if billed is None:
        return Usage()
    return inclusive(
        input_total=get_int(billed, "input_tokens"),
        cache_read=None,
        cache_write_5m=None,
        cache_write_1h=None,
        output_total=get_int(billed, "output_tokens"),
        reasoning=None,
    )


def _text(body: Mapping[str, Any]) -> str | None:
    message = mapping(body.get("message"))
    if message is not None:
        return join_text([get_str(part, "text") or "" for part in items(message.get("content"))]) or None
    return get_str(body, "text")


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Cohere Chat or Embed body."""
    holder = _usage_of(body)
    billed = mapping((holder or {}).get("billed_units")) or {}
    if "search_units" in billed and "input_tokens" not in billed:  # Rerank: billed per search, not per token
        return _rerank(body, billed)
    # Embed: its vectors, or (a logged usage alone) billed input with no output and no answer
    embeddings = "embeddings" in body or not (
        {"output_tokens"} & set(billed) or {"message", "text"} & set(body)
    )
    usage = cohere_usage(holder)
    cached = get_int(holder, "cached_tokens")
    if embeddings and usage.output_total is None:
        usage = embedding_usage(usage.input_total)
    extra: dict[str, Any] = {} if cached is None else {"cached_tokens": cached}
    finish = get_str(body, "finish_reason")
    if finish in _FAILED:  # the generation failed (or timed out): the call is an error
        extra[FAILURE] = error_kind(get_str(body, "error")) or _FAILED[finish]
    return Extracted(
        usage=usage,
        provider="cohere",
        api="embeddings" if embeddings else "chat",
        adapter=NAME,
        response_id=get_str(body, "id") or get_str(body, "response_id") or get_str(body, "generation_id"),
        finish_reason=finish,
        completion_text=None if embeddings else _text(body),
        extra=extra,
    )


def _rerank(body: Mapping[str, Any], billed: Mapping[str, Any]) -> Extracted:
    """A Rerank answer: no tokens billed (its usage is unknown, so it is unpriced, not $0), its
    search units kept in ``extra``."""
    return Extracted(
        usage=Usage(),
        provider="cohere",
        api="rerank",
        adapter=NAME,
        response_id=get_str(body, "id"),
        extra={"search_units": get_int(billed, "search_units")},
    )


_V2_EVENTS: Final = frozenset(
    {
        "message-start",
        "content-start",
        "content-delta",
        "content-end",
        "tool-plan-delta",
        "tool-call-start",
        "tool-call-delta",
        "tool-call-end",
        "citation-start",
        "citation-end",
        "message-end",
    }
)
_V1_EVENTS: Final = frozenset(
    {"stream-start", "text-generation", "tool-calls-chunk", "tool-calls-generation", "stream-end"}
)


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for an event of a streamed Cohere chat: v2's hyphenated ``type`` or v1's ``event_type``."""
    kind, old = event.get("type"), event.get("event_type")
    return (type(kind) is str and kind in _V2_EVENTS) or (
        type(old) is str and old in _V1_EVENTS and type(event.get("is_finished")) is bool
    )


class ChatStream(EventAccumulator):
    """Joins a streamed chat's text and keeps its id, end and usage; rebuilds the answer's body."""

    __slots__ = ("_end", "_extract", "_head", "_text")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._head: dict[str, Any] = {}
        self._text: list[str] = []
        self._end: Mapping[str, Any] | None = None  # v2's message-end delta, or v1's whole answer

    def _feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type") or event.get("event_type")
        for key in ("id", "generation_id", "response_id"):
            if isinstance(event.get(key), str):
                self._head.setdefault(key, event[key])
        if kind == "content-delta":
            self._text.append(get_str(event, "delta", "message", "content", "text") or "")
        elif kind == "text-generation":
            self._text.append(get_str(event, "text") or "")
        elif kind == "message-end":
            self._end = mapping(event.get("delta")) or {}
        elif kind == "stream-end":
            self._end = {
                "finish_reason": event.get("finish_reason"),
                **(mapping(event.get("response")) or {}),
            }

    def result(self) -> Extracted | None:
        """The rebuilt answer read by the extractor; None before any event with an id or text."""
        if not self._head and not self._text and self._end is None:
            return None
        text = "".join(self._text)
        body: dict[str, Any] = {**self._head, **(self._end or {})}
        if "text" not in body and "message" not in body:
            body["message"] = {"role": "assistant", "content": [{"type": "text", "text": text}]}
        complete = self._end is not None and _usage_of(body) is not None
        return self.finish(self._extract(body), complete=complete)


ADAPTER: Final = Adapter(
    name=NAME,
    provider="cohere",
    api="chat",
    matches=matches,
    extract=extract,
    stream=ChatStream,
    matches_event=matches_event,
    expects="a Cohere chat or embed response (usage.billed_units or meta.billed_units)",
)
