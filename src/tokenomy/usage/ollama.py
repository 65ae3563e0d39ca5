"""Ollama: the native ``/api/chat`` and ``/api/generate`` answers of a local model server.

Convention: ``prompt_eval_count`` is the prompt tokens the server evaluated and ``eval_count`` the
tokens it generated; they are the input and output totals. Ollama reuses the prompt prefix it kept
from the previous request without counting it again, and says nothing of that reuse or of the
thinking tokens inside the output, so the buckets' split stays unknown and only the totals are
kept. Only the final object of an answer carries the counts (``"done": true``; a streamed answer's
last line): the intermediate lines of a stream are not answers. Ollama's OpenAI-compatible
endpoint answers in OpenAI's shape and is read as such. A local model has no list price: its calls
are unpriced unless a price override names it (docs/pricing.md), and its latency is
``total_duration`` (nanoseconds, kept in ``extra["total_duration_ms"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from tokenomy.native import FieldError, parse_time
from tokenomy.usage.adapter import Adapter
from tokenomy.usage.base import Extracted, get_int, get_str, inclusive, mapping

NAME: Final = "ollama.chat"


def matches(body: Mapping[str, Any]) -> bool:
    """True for the final object of an Ollama answer: done, with its counts."""
    return (
        body.get("done") is True and ("eval_count" in body or "prompt_eval_count" in body) and "model" in body
    )


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read an Ollama ``/api/chat`` or ``/api/generate`` answer."""
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
    duration = get_int(body, "total_duration")
    return Extracted(
        usage=usage,
        provider="ollama",
        api="chat" if message is not None else "completions",
        adapter=NAME,
        response_model=get_str(body, "model"),
        finish_reason=get_str(body, "done_reason"),
        created_at=_time(get_str(body, "created_at")),
        completion_text=text or None,
        extra={} if duration is None else {"total_duration_ms": duration / 1e6},
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


ADAPTER: Final = Adapter(
    name=NAME,
    provider="ollama",
    api="chat",
    matches=matches,
    extract=extract,
    expects="an Ollama answer (done: true, with prompt_eval_count and eval_count)",
)
