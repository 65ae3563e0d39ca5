"""OpenHands LLM call logs: one JSON file per model call, grouped into sessions by their conversation.

Each log holds the request (``messages``, ``tools``, ``kwargs``), the model's ``context_window``,
the LiteLLM ``response`` (with ``usage``), LiteLLM's ``cost``, the ``timestamp`` when the call
returned and ``latency_sec``. Logs of calls made without native function calling also keep the
conversation before conversion (``raw_messages``) and the unparsed reply (``raw_response``).

Mapping: the id is the response id; usage is the response's LiteLLM usage object
(:mod:`tokenomy.importers.litellm_usage`); ``cost`` is kept as ``provider_reported_cost``; the
call ended at ``timestamp`` and started ``latency_sec`` before. The provider and model come from
the ``model:`` tag of ``kwargs.extra_body.metadata`` (``litellm_proxy/anthropic/claude-...``), else
from the response's model; the other tags become attribution tags (``agent:`` the agent).

Sessions: the logs of one conversation carry no shared id, but every call after the first
repeats the conversation's first user turn and first reply (with its tool-call ids). The
session id is a hash of that anchor (:func:`tokenomy.importers.conversation.anchor`), computed
from each file alone, so a directory's logs group into their conversations in any order and two
runs of the same task stay apart. The step is the number of replies already in the prompt, plus one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from tokenomy.importers.base import RecordImporter
from tokenomy.importers.conversation import anchor
from tokenomy.importers.ids import content_id
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.importers.messages import Message, normalize, render, text_of, tool_uses_of
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import (
    from_epoch,
    guarded,
    opt_int,
    opt_number,
    opt_str,
    reported_cost,
    require_object,
    tags_from,
)
from tokenomy.importers.results import ImportOptions, Item
from tokenomy.importers.shape import shape_of
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Attribution, Call, Content, Usage

_KEYS: Final = frozenset({"messages", "response"})
_HINTS: Final = frozenset({"latency_sec", "context_window", "cost", "timestamp", "kwargs"})
_PROXY_PREFIX: Final = "litellm_proxy/"


class OpenHandsImporter(RecordImporter):
    """OpenHands per-call LLM logs."""

    name: ClassVar[str] = "openhands"
    summary: ClassVar[str] = "OpenHands LLM call logs (one JSON per call), grouped into sessions."

    def sniff(self, sample: Sample) -> float:
        """Sure for an object with messages, a response and OpenHands' timing and cost fields."""
        doc = sample.first if sample.kind == "json" else None
        if not isinstance(doc, Mapping) or not set(doc) >= _KEYS:
            return 0.0
        hints = len(_HINTS & set(doc))
        return 0.95 if hints >= 3 else 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """The call the log records."""
        yield from guarded(source, 1, _one, source, options)


def _one(source: Source, options: ImportOptions) -> list[Call]:
    return [log_to_call(source.document(), options)]


def log_to_call(document: Any, options: ImportOptions) -> Call:
    """Convert one OpenHands LLM log to a Call.

    Raises:
        FieldError: The log lacks a response object or a field has the wrong type.
    """
    log = require_object(document, "an OpenHands LLM log")
    response = log.get("response")
    if not isinstance(response, Mapping):
        raise FieldError("response", "expected the model's response object")
    kwargs: Mapping[str, Any] = log["kwargs"] if isinstance(log.get("kwargs"), Mapping) else {}
    sent = _messages(log, "messages")
    conversation = _messages(log, "raw_messages") or sent
    reply = _reply(response)
    tags = _tags(kwargs)
    provider, model = from_model_prefix(tags.pop("model", None) or _strip(opt_str(response, "model")))
    provider = provider or provider_of_model(model)
    usage = response.get("usage")
    ended = from_epoch(t) if (t := opt_number(log, "timestamp")) is not None else None
    latency = (s * 1000) if (s := opt_number(log, "latency_sec")) is not None else None
    tools = None if "raw_messages" in log else (kwargs.get("tools") or log.get("tools"))
    return Call(
        id=opt_str(response, "id") or content_id("openhands", log),
        provider=provider,
        request_model=model,
        response_model=_strip(opt_str(response, "model")),
        api="chat",
        started_at=_minus_ms(ended, latency),
        ended_at=ended,
        latency_ms=latency,
        session_id=content_id("openhands", anchor([*conversation, reply])),
        step=1 + sum(1 for m in conversation if m.get("role") == "assistant"),
        usage=litellm_usage(usage) if isinstance(usage, Mapping) else Usage(),
        context_window=opt_int(log, "context_window"),
        max_output_tokens=_max_tokens(kwargs),
        finish_reason=_finish_reason(response),
        tool_uses=tool_uses_of(reply),
        attribution=Attribution(agent=tags.get("agent"), tags=tags),
        provider_reported_cost=reported_cost(log, "cost"),
        content=_content(sent, reply) if options.capture_content else None,
        **shape_of(sent, tools if isinstance(tools, list) else None, model).fields(),
    )


def _messages(log: Mapping[str, Any], key: str) -> list[Message]:
    value = log.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(key, "expected a list of chat messages")
    return [normalize(m) for m in value if isinstance(m, Mapping)]


def _reply(response: Mapping[str, Any]) -> Message:
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        message = choices[0].get("message")
        if isinstance(message, Mapping):
            return normalize({**message, "role": "assistant"})
    return {"role": "assistant", "content": ""}


def _finish_reason(response: Mapping[str, Any]) -> str | None:
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return opt_str(choices[0], "finish_reason")
    return None


def _tags(kwargs: Mapping[str, Any]) -> dict[str, str]:
    extra = kwargs.get("extra_body")
    metadata = extra.get("metadata") if isinstance(extra, Mapping) else None
    tags = tags_from(metadata.get("tags")) if isinstance(metadata, Mapping) else {}
    if "model" in tags:
        tags["model"] = _strip(tags["model"]) or tags["model"]
    return tags


def _strip(model: str | None) -> str | None:
    if model and model.startswith(_PROXY_PREFIX):
        return model[len(_PROXY_PREFIX) :]
    return model


def _max_tokens(kwargs: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = opt_int(kwargs, key, field=f"kwargs.{key}")
        if value is not None:
            return value
    return None


def _minus_ms(end: datetime | None, ms: float | None) -> datetime | None:
    if end is None or ms is None:
        return None
    return end - timedelta(milliseconds=ms)


def _content(sent: list[Message], reply: Message) -> Content:
    return Content(prompt=render(sent), completion=text_of(reply.get("content")) or None)
