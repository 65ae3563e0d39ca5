"""Which records of a provider file are the events of one stream, and which are separate answers.

A file of records (JSON lines, or a JSON list: ``streamGenerateContent`` without ``alt=sse``
answers with a list) is either one stream, read whole into one call (:func:`is_stream`), or a log of
answers, one call each; in a log, the consecutive chunks of one Gemini stream are one call too
(:func:`runs`). Gemini's chunks are complete bodies whose counts grow, so each chunk read alone
counts the prompt again, and the last chunks, which carry the final counts, were dropped as
duplicates of the first when they repeat its id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from tokenomy.errors import RecordError
from tokenomy.importers.reading import Sample
from tokenomy.usage import detect
from tokenomy.usage.gemini import NAME as GEMINI
from tokenomy.usage.gemini import api_names
from tokenomy.usage.ids import distinct_id
from tokenomy.usage.ollama import is_error_line
from tokenomy.usage.stream import stream_kind

_SAMPLED: Final = 8
"""How many items of a JSON list the stream test looks at (as many as of JSON lines)."""
_PROMPT_COUNTS: Final = ("promptTokenCount", "cachedContentTokenCount", "toolUsePromptTokenCount")
_GROWING_COUNTS: Final = ("candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount")


def sampled(sample: Sample) -> tuple[Any, ...]:
    """The first records of a JSON-lines file or of a JSON list, for the stream test (else none)."""
    if sample.kind == "jsonl":
        return sample.records
    if sample.kind == "json" and isinstance(sample.first, list):
        return tuple(sample.first[:_SAMPLED])
    return ()


def is_stream(records: tuple[Any, ...]) -> bool:
    """True when records are the events of one stream rather than separate responses.

    Chunks and typed events (``message_start``, ``response.created``) are events, and so are
    Bedrock's: bare, or wrapped (``{"messageStart": {...}}``) with nothing beside the wrapper. A
    wrapper is a key that makes an event whatever it holds; one beside other keys is a log row's
    field, not an event (LiteLLM's logging payloads have a ``metadata`` field, Bedrock a
    ``metadata`` event). Complete bodies are not events: Gemini's chunks are bodies, grouped by
    :func:`runs`. Azure's first chunk, which carries only its prompt filter results, is passed over.
    """
    first = next((event_of(r) for r in records if not _filter_results(r)), None)
    if first is None:
        return False
    if _is_chunk(first) or str(first.get("type", "message")) != "message":
        return True
    if detect(first) is None:
        wrappers = [key for key in first if stream_kind({key: {}}) is not None]
        return not wrappers or len(wrappers) == len(first)
    return False


def _filter_results(record: Any) -> bool:
    """Azure's chunk before a stream's first (empty ``choices``, no id): its prompt's content filter."""
    return isinstance(record, Mapping) and "prompt_filter_results" in record and not record.get("choices")


def _is_chunk(event: Mapping[str, Any]) -> bool:
    choices = event.get("choices")
    deltas = isinstance(choices, list) and any(isinstance(c, Mapping) and "delta" in c for c in choices)
    return event.get("object") == "chat.completion.chunk" or deltas


def is_error(event: Mapping[str, Any]) -> bool:
    """Anthropic's ``{"type": "error", "error": {...}}``, an ``error`` object in a chat chunk, a Responses
    ``error`` event (``code`` at the top), or Ollama's line ``{"error": "<message>"}`` (its only key)."""
    return event.get("type") == "error" or isinstance(event.get("error"), Mapping) or is_error_line(event)


def event_of(value: Any, errors: bool = False) -> Mapping[str, Any] | None:
    """A stream event: a bare event object, or the decoded data of an ``{event, data}`` wrapper; with
    ``errors`` (the values are known to be one stream's), an error event too: as a file's first
    line, an error body begins a log of separate answers, not a stream."""
    if not isinstance(value, Mapping):
        return None
    if "data" in value and set(value) <= {"event", "data", "id", "retry"}:
        data = value["data"]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                return None
        value = data if isinstance(data, Mapping) else {}
    return value if value and (stream_kind(value) is not None or (errors and is_error(value))) else None


def runs(records: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, list[Any] | RecordError]]:
    """A log's records, each alone, except the consecutive chunks of one Gemini stream, together.

    Yields ``(number of the first record, records)``, or a line that is not JSON as it came (it
    ends a stream: one cut short). A chunk continues the one before it (:func:`_continues`) when
    both carry one response id that tells calls apart; without ids, when the one before was still
    running (no finish reason, no blocked prompt), both name one ``modelVersion``, the prompt's
    counts are unchanged and the output's did not shrink. An error line after a running chunk ends
    its stream (a failed one).
    """
    held: list[Any] = []  # Gemini chunks only
    start = 0
    for number, record in records:
        gemini = not isinstance(record, RecordError) and _is_gemini(record)  # (detected once a record)
        if held and not isinstance(record, RecordError) and _continues(held[-1], record, gemini=gemini):
            held.append(record)
            continue
        if held:
            yield start, held
            held = []
        if isinstance(record, RecordError):
            yield number, record
        elif gemini:
            start, held = number, [record]  # a chunk: held until the next record says if it continues
        else:
            yield number, [record]
    if held:
        yield start, held


def _is_gemini(record: Any) -> bool:
    return isinstance(record, Mapping) and detect(record) == GEMINI


def _continues(before: Mapping[str, Any], record: Any, *, gemini: bool) -> bool:
    """True when ``record`` (``gemini``: a Gemini body) is the next chunk of the stream the Gemini chunk
    ``before`` belongs to (the rule: :func:`runs`)."""
    if not isinstance(record, Mapping):
        return False
    before = api_names(before)  # a Python SDK's dump: its names as the API's
    if not gemini:
        return is_error(record) and _running(before)
    record = api_names(record)
    ids = distinct_id(_str(before, "responseId")), distinct_id(_str(record, "responseId"))
    if ids != (None, None):
        return ids[0] == ids[1]
    return (
        _running(before)
        and before.get("modelVersion") == record.get("modelVersion")
        and _grows(_counts(before), _counts(record))
    )


def _running(chunk: Mapping[str, Any]) -> bool:
    """True for a chunk before a stream's last: it has candidates, none has finished, and the prompt
    was not blocked. A record with no candidate (usage alone, a Live API message) is no running chunk."""
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, Mapping) and feedback.get("blockReason") is not None:
        return False
    candidates = chunk.get("candidates")
    listed = [c for c in candidates if isinstance(c, Mapping)] if isinstance(candidates, list) else []
    return bool(listed) and not any(c.get("finishReason") is not None for c in listed)


def _grows(before: Mapping[str, int], after: Mapping[str, int]) -> bool:
    """True when every count of the chunk before is in the next one, the prompt's the same (one
    stream counts one prompt) and the output's not smaller."""
    return all(
        key in after and (after[key] == value if key in _PROMPT_COUNTS else after[key] >= value)
        for key, value in before.items()
    )


def _counts(chunk: Mapping[str, Any]) -> dict[str, int]:
    meta = chunk.get("usageMetadata")
    if not isinstance(meta, Mapping):
        return {}
    found = ((key, meta.get(key)) for key in (*_PROMPT_COUNTS, *_GROWING_COUNTS))
    return {key: value for key, value in found if isinstance(value, int) and not isinstance(value, bool)}


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None
