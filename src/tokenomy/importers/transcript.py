"""OpenAI-format transcripts: a conversation without usage, one call per assistant turn, counted locally.

A file holds a JSON list of chat messages, an object with ``messages`` (and optionally
``model``, ``tools``, ``id``/``session_id``), a list of such objects, or one such object per line.
Each assistant message becomes a call whose input is the conversation before it and whose output
is the message itself, counted with :mod:`tokenomy.tokens`: ``Usage.kind`` is ``counted`` for
OpenAI models with an exact encoding and plain text, ``estimated`` otherwise (tool calls, other
families, no model). The model comes from ``--model`` or the object's ``model``.

The session is the object's ``session_id``/``id`` when it has one, else a hash of the
conversation's anchor (first user turn and first reply); each call's id is a hash of the session,
its prompt and its reply, so importing a longer version of the same transcript adds only the new
turns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final

from tokenomy.errors import RecordError
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.conversation import Turn, anchor, turns
from tokenomy.importers.ids import content_id
from tokenomy.importers.messages import normalize, render, text_of, tool_uses_of
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import guarded, iter_records, opt_str, sample_objects
from tokenomy.importers.results import ImportOptions, Item, Note
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Call, Content

_ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NOT_TRANSCRIPT: Final = frozenset(
    {"response", "choices", "usage", "history", "observations", "resourceSpans"}
)


class TranscriptImporter(RecordImporter):
    """Chat transcripts without usage (OpenAI message format)."""

    name: ClassVar[str] = "transcript"
    summary: ClassVar[str] = "OpenAI-format chat transcripts (messages, tool calls), counted locally."

    def sniff(self, sample: Sample) -> float:
        """Sure for a list of role-tagged messages or objects holding one under ``messages``."""
        if sample.kind == "json" and isinstance(sample.first, list) and _is_messages(sample.first):
            return 0.9
        objects = sample_objects(sample)
        # the first record and most of the sampled ones: a few bad conversations among good ones
        # are rejected records of a transcript file, not a reason to leave the file unrecognised
        found = sum(1 for o in objects if _is_conversation(o))
        if objects and _is_conversation(objects[0]) and 2 * found > len(objects):
            return 0.85
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """Every assistant turn of every conversation in the file."""
        sample = source.sample()
        if sample.kind == "json" and isinstance(sample.first, list) and _is_messages(sample.first):
            records: Iterator[tuple[int, Any]] = iter([(1, {"messages": sample.first})])
        else:
            records = iter_records(source)
        warned = False
        for number, record in records:
            if isinstance(record, RecordError):
                yield record
                continue
            yield from guarded(source, number, conversation_calls, record, options)
            if not warned and options.model is None and not _model_of(record):
                warned = True
                yield Note(
                    "no model recorded: counts are estimates and calls are unpriced; pass --model "
                    "the first time (importing the same file again skips its calls as duplicates)"
                )


def conversation_calls(record: Any, options: ImportOptions) -> list[Call]:
    """The calls of one conversation object.

    Raises:
        FieldError: The object has no list of messages.
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("messages"), list):
        raise FieldError("messages", "expected an object with a list of chat messages under 'messages'")
    for index, message in enumerate(record["messages"]):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            got = "an object without a role" if isinstance(message, Mapping) else type(message).__name__
            raise FieldError(f"messages[{index}]", f"expected a chat message with a 'role', got {got}")
    messages = [normalize(m) for m in record["messages"]]
    provider, model = from_model_prefix(options.model or _model_of(record))
    provider = provider or provider_of_model(model)
    tools = record.get("tools") if isinstance(record.get("tools"), list) else None
    session = (
        opt_str(record, "session_id") or opt_str(record, "id") or content_id("transcript", anchor(messages))
    )
    return [_turn_call(turn, provider, model, session, options) for turn in turns(messages, tools, model)]


def _turn_call(
    turn: Turn, provider: str | None, model: str | None, session: str, options: ImportOptions
) -> Call:
    content = None
    if options.capture_content:
        content = Content(prompt=render(turn.prompt), completion=text_of(turn.reply.get("content")) or None)
    return Call(
        id=content_id("transcript", session, turn.prompt, turn.reply),
        provider=provider,
        request_model=model,
        session_id=session,
        step=turn.step,
        usage=turn.usage(),
        tool_uses=tool_uses_of(turn.reply),
        finish_reason="tool_calls" if turn.reply.get("tool_calls") else None,
        content=content,
        **turn.shape.fields(),
    )


def _model_of(record: Any) -> str | None:
    return opt_str(record, "model") if isinstance(record, Mapping) else None


def _is_messages(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, Mapping) and v.get("role") in _ROLES for v in values)


def _is_conversation(obj: Mapping[str, Any]) -> bool:
    messages = obj.get("messages")
    return isinstance(messages, list) and _is_messages(messages) and not (_NOT_TRANSCRIPT & set(obj))
