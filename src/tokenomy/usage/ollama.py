"""Ollama: the native ``/api/chat`` and ``/api/generate`` answers of a local model server.

Convention: ``prompt_eval_count`` is the prompt tokens the server evaluated and ``eval_count`` the
tokens it generated; they are the input and output totals. Ollama reuses the prompt prefix it kept
from the previous request without counting it again, and says nothing of that reuse or of the
thinking tokens inside the output, so the buckets' split stays unknown and only the totals are
kept. Only the final object of an answer carries the counts (``"done": true``; a streamed answer's
last line): the intermediate lines of a stream are not answers. A stream (JSON lines, one object
a line, each with a piece of the text) is read by :class:`AnswerStream`, which joins the pieces
into the final object; a stream cut before that object has its counts unknown. A server that fails
mid-stream writes a line ``{"error": "<message>"}`` (its only key) and stops: that line is the stream's
error (the importers store the call as failed), not one of its pieces. Ollama's OpenAI-compatible
endpoint answers in OpenAI's shape and is read as such. A local model has no list price: its calls
are unpriced unless a price override names it (docs/pricing.md), and its latency is
``total_duration`` (nanoseconds, kept in ``extra["total_duration_ms"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from tokenomy.native import FieldError, parse_time
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import Extracted, embedding_usage, get_int, get_str, inclusive, items, mapping

NAME: Final = "ollama.chat"


def matches(body: Mapping[str, Any]) -> bool:
    """True for the final object of an Ollama answer (done, with its counts) or an ``/api/embed``
    answer (its vectors, with the count of the prompt)."""
    if "model" not in body:
        return False
    if "embeddings" in body:
        return "prompt_eval_count" in body
    return body.get("done") is True and ("eval_count" in body or "prompt_eval_count" in body)


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read an Ollama ``/api/chat``, ``/api/generate`` or ``/api/embed`` answer."""
    duration = get_int(body, "total_duration")
    extra = {} if duration is None else {"total_duration_ms": duration / 1e6}
    if "embeddings" in body and "done" not in body:
        return Extracted(
            usage=embedding_usage(get_int(body, "prompt_eval_count")),
            provider="ollama",
            api="embeddings",
            adapter=NAME,
            response_model=get_str(body, "model"),
            extra=extra,
        )
    usage = inclusive(
        input_total=get_int(body, "prompt_eval_count"),
        cache_read=None,
        cache_write_5m=None,
        cache_write_1h=None,
        output_total=get_int(body, "eval_count"),
        reasoning=None,
    )
    message = mapping(body.get("message"))
    text = get_str(message, "content") if message is not None else get_str(body, "response")
    return Extracted(
        usage=usage,
        provider="ollama",
        api="chat" if message is not None else "completions",
        adapter=NAME,
        response_model=get_str(body, "model"),
        finish_reason=get_str(body, "done_reason"),
        created_at=_time(get_str(body, "created_at")),
        completion_text=text or None,
        extra=extra,
    )


def _time(text: str | None) -> datetime | None:
    """Ollama's ``created_at`` (RFC 3339 with nanoseconds: ``2023-08-04T08:52:19.385406455-07:00``)
    as an aware UTC datetime (to the microsecond), or None when it does not read."""
    if not text:
        return None
    try:
        return parse_time(text, "created_at").replace(tzinfo=UTC)
    except FieldError:
        return None


def is_error_line(event: Mapping[str, Any]) -> bool:
    """True for the line an Ollama server writes when a stream fails: ``{"error": "<message>"}``, its
    only key (a stream's error, not one of its pieces)."""
    return len(event) == 1 and "error" in event


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for a line of an Ollama stream: a model, its time and a done flag; a running line with a
    message (``/api/chat``) or a piece of the response (``/api/generate``), the last one with its
    counts (with or without a message). A reply to a load or unload request (done, no counts) is
    no line of an answer."""
    done = event.get("done")
    if type(done) is not bool or not isinstance(event.get("model"), str) or "created_at" not in event:
        return False
    if done:
        return "eval_count" in event or "prompt_eval_count" in event
    return "message" in event or "response" in event


class AnswerStream(EventAccumulator):
    """Joins a stream's pieces of text (and of thinking, and its tool calls) into its last line."""

    __slots__ = ("_chat", "_extract", "_last", "_text", "_thinking", "_tools")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._last: Mapping[str, Any] | None = None
        self._chat = False
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._tools: list[Any] = []

    def _feed(self, event: Mapping[str, Any]) -> None:
        if is_error_line(event):  # the stream failed here: its error, read by the importers
            return
        message = mapping(event.get("message"))
        part = event if message is None else message
        self._chat = self._chat or message is not None
        self._text.append(get_str(part, "content" if message is not None else "response") or "")
        self._thinking.append(get_str(part, "thinking") or "")
        self._tools.extend(items(part.get("tool_calls")))
        self._last = event

    def result(self) -> Extracted | None:
        """The last line with the whole text, read by the extractor; None before any line."""
        if self._last is None:
            return None
        body = dict(self._last)
        text, thinking = "".join(self._text), "".join(self._thinking)
        if self._chat:
            message: dict[str, Any] = {**(mapping(body.get("message")) or {}), "content": text}
            if thinking:
                message["thinking"] = thinking
            if self._tools:
                message["tool_calls"] = self._tools
            body["message"] = message
        else:
            body["response"] = text
            if thinking:
                body["thinking"] = thinking
        return self.finish(self._extract(body), complete=body.get("done") is True)


ADAPTER: Final = Adapter(
    name=NAME,
    provider="ollama",
    api="chat",
    matches=matches,
    extract=extract,
    stream=AnswerStream,
    matches_event=matches_event,
    expects="an Ollama answer (done: true, with prompt_eval_count and eval_count; or embeddings)",
)
