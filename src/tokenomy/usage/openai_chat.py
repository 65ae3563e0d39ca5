"""OpenAI Chat Completions (and legacy Completions): response bodies and streamed chunks.

Convention (``usage``):

- ``prompt_tokens`` is the whole input and *includes* ``prompt_tokens_details.cached_tokens``
  (cache reads) and, where reported, ``prompt_tokens_details.cache_write_tokens`` (cache
  writes, kept as ``cache_write_5m``). ``input_uncached = prompt_tokens - cached - written``.
- OpenAI does not bill cache writes separately, so the cache-write buckets are 0 unless the
  body reports a write count. Without ``prompt_tokens_details`` the cache reads are unknown:
  ``input_total = prompt_tokens`` and ``input_uncached = cache_read = None``.
- ``completion_tokens`` *includes* ``completion_tokens_details.reasoning_tokens``;
  ``output_visible = completion_tokens - reasoning``. Without the details both stay None and
  ``output_total = completion_tokens``.
- Except where the body itself says otherwise: xAI's API counts reasoning *on top of*
  ``completion_tokens`` (``total_tokens = prompt + completion + reasoning``). When the reported
  reasoning is above zero and ``total_tokens`` is exactly that sum, which under OpenAI's
  convention would need zero reasoning, the completion count is the visible output and
  ``output_total = completion_tokens + reasoning`` (what genai-prices bills for xAI too).
- Modalities: ``prompt_tokens_details.audio_tokens`` / ``image_tokens`` are part of
  ``prompt_tokens`` (cache included). Where ``prompt_tokens_details.cached_tokens_details``
  (``{text_tokens, audio_tokens, image_tokens}``, the realtime shape) splits the cache reads, that
  split is used; otherwise the shared rule of :func:`tokenomy.usage.base.split_input_modalities`
  places them. ``completion_tokens_details.audio_tokens`` / ``image_tokens`` are visible output
  (``output_visible.<m>``).
- ``total_tokens`` is checked against input plus output (``TOTAL_MISMATCH`` when it differs:
  some OpenAI-compatible servers, Gemini's, count hidden reasoning only there, without saying
  how much of it is reasoning).

Streams: with ``stream_options.include_usage`` the last chunk has ``choices: []`` and the
usage; Groq's older streams put it under ``x_groq.usage``. Without either the usage is unknown.
A stream is complete when it carried a usage and every choice its finish reason: a server that
sends the usage so far on every chunk (vLLM's ``continuous_usage_stats``) and is cut keeps that
running count, with ``complete`` False.
The shared pieces (:func:`chat_usage`, :func:`build`, :class:`ChatStream`) also serve the
OpenAI-compatible surfaces of DeepSeek and OpenRouter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C string scanner, untyped
from typing import Any, Final

from tokenomy.schema import Usage
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import (
    Extracted,
    call_text,
    check_total,
    detail_modalities,
    from_unix,
    get_int,
    get_str,
    inclusive,
    items,
    mapping,
    reported_cost,
    slot,
    tool_use,
    with_modalities,
)
from tokenomy.usage.openai_plain import plain_chat

NAME: Final = "openai.chat"
_CHAT_OBJECTS: Final = frozenset({"chat.completion", "chat.completion.chunk", "text_completion"})
_PROVIDER_MARKERS: Final = {"x_groq": "groq"}
"""Top-level keys only one OpenAI-compatible provider sends, and that provider's id."""
_HEAD_KEYS: Final = ("id", "model", "created", "service_tier", "system_fingerprint", "provider", "x_groq")
_PLAIN_DELTA: Final = frozenset({"content", "role"})
"""Delta keys of a plain text chunk; anything else (tool calls, refusals) takes the slower path."""


def chat_usage(usage: Mapping[str, Any] | None) -> Usage:
    """The exclusive buckets of a Chat Completions ``usage`` object (see the module docstring)."""
    if usage is None:
        return Usage()
    prompt_details = mapping(usage.get("prompt_tokens_details"))
    written = get_int(prompt_details, "cache_write_tokens")
    prompt, completion = get_int(usage, "prompt_tokens"), get_int(usage, "completion_tokens")
    reasoning, total = (
        get_int(usage, "completion_tokens_details", "reasoning_tokens"),
        get_int(usage, "total_tokens"),
    )
    output = completion
    if (
        reasoning
        and prompt is not None
        and completion is not None
        and total == prompt + completion + reasoning
    ):
        output = completion + reasoning  # reasoning on top of the completion count (xAI)
    result = inclusive(
        input_total=prompt,
        cache_read=get_int(prompt_details, "cached_tokens"),
        cache_write_5m=0 if written is None else written,
        cache_write_1h=0,
        output_total=output,
        reasoning=reasoning,
    )
    found = detail_modalities(usage, "prompt_tokens_details", "completion_tokens_details", result)
    result = with_modalities(result, found)
    return check_total(result, total)


def matches(body: Mapping[str, Any]) -> bool:
    """True for a chat completion, a legacy completion, or a chunk of either."""
    if get_str(body, "object") in _CHAT_OBJECTS:
        return True
    usage = mapping(body.get("usage"))
    if usage is not None and "prompt_tokens" in usage and "completion_tokens" in usage:
        return True
    return any("message" in c or "delta" in c for c in items(body.get("choices")))


def matches_event(event: Mapping[str, Any]) -> bool:
    """True for a streamed chat (or legacy completion) chunk."""
    if get_str(event, "object") in _CHAT_OBJECTS:
        return True
    return any("delta" in c for c in items(event.get("choices")))


def _message_text(choice: Mapping[str, Any]) -> str | None:
    if isinstance(choice.get("text"), str):  # legacy completions
        text: str = choice["text"]
        return text
    message = mapping(choice.get("message")) or {}
    content = message.get("content")
    if isinstance(content, list):  # some compatible servers return content parts
        content = "".join(get_str(p, "text") or "" for p in items(content))
    if isinstance(content, str) and content:
        return content
    return get_str(message, "refusal")


def _calls(choice: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """(name, arguments) of each tool call of a choice's message: function, custom, legacy function_call."""
    message = mapping(choice.get("message")) or {}
    found: list[tuple[Any, Any]] = []
    for call in items(message.get("tool_calls")):
        function, custom = mapping(call.get("function")), mapping(call.get("custom"))
        if function is not None:
            found.append((function.get("name"), function.get("arguments")))
        elif custom is not None:
            found.append((custom.get("name"), custom.get("input")))
    legacy = mapping(message.get("function_call"))
    if legacy is not None:
        found.append((legacy.get("name"), legacy.get("arguments")))
    return found


def provider_of(body: Mapping[str, Any], default: str) -> str:
    """The provider a marker key in ``body`` names, else ``default``."""
    for key, provider in _PROVIDER_MARKERS.items():
        if key in body:
            return provider
    return default


def build(
    body: Mapping[str, Any],
    usage: Usage,
    *,
    adapter: str,
    provider: str,
    cost: Decimal | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Extracted:
    """An Extracted for a chat-shaped body whose usage the caller already converted.

    Choices are read in index order: the finish reason is the first choice's, the text is
    every choice's text joined by newlines (each choice's tokens are billed), tool uses and
    tool text are all choices' calls (a stream's arguments as its fragments joined).
    """
    choices = sorted(items(body.get("choices")), key=lambda c: get_int(c, "index") or 0)
    texts = [t for t in (_message_text(c) for c in choices) if t]
    calls = [call for c in choices for call in _calls(c)]
    return Extracted(
        usage=usage,
        provider=provider,
        api="completions" if body.get("object") == "text_completion" else "chat",
        adapter=adapter,
        response_model=get_str(body, "model"),
        response_id=get_str(body, "id"),
        finish_reason=get_str(choices[0], "finish_reason") if choices else None,
        tool_uses=tuple(t for t in (tool_use(n, a) for n, a in calls) if t is not None),
        service_tier=get_str(body, "service_tier"),
        created_at=from_unix(body.get("created")),
        provider_reported_cost=cost,
        completion_text="\n".join(texts) if texts else None,
        tool_text=tuple(t for t in (call_text(n, a) for n, a in calls) if t is not None),
        extra=dict(extra or {}),
    )


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a Chat Completions (or legacy Completions) body (a plain one by :func:`plain_chat`)."""
    provider = provider_of(body, "openai")
    if provider == "openai":
        plain = plain_chat(body)
        if plain is not None:
            return plain
    return general_extract(body)


def general_extract(body: Mapping[str, Any]) -> Extracted:
    """:func:`extract` by the general rules alone (every body; the tests compare the two)."""
    usage = mapping(body.get("usage")) or mapping((mapping(body.get("x_groq")) or {}).get("usage"))
    return build(
        body, chat_usage(usage), adapter=NAME, provider=provider_of(body, "openai"), cost=reported_cost(usage)
    )


class _Call:
    __slots__ = ("args", "kind", "name")

    def __init__(self) -> None:
        self.name: str | None = None
        self.kind = "function"
        self.args: list[str] = []

    def take(self, call: Mapping[str, Any]) -> None:
        part = mapping(call.get("function"))
        if part is None and mapping(call.get("custom")) is not None:
            part, self.kind = mapping(call.get("custom")), "custom"
        part = part or {}
        name = part.get("name")
        if isinstance(name, str) and name and not self.name:
            self.name = name
        args = part.get("input" if self.kind == "custom" else "arguments")
        if isinstance(args, str):
            self.args.append(args)
        elif isinstance(args, Mapping):  # some compatible servers send the arguments parsed
            self.args = [json.dumps(args)]

    def rebuilt(self) -> dict[str, Any]:
        key = "input" if self.kind == "custom" else "arguments"
        return {"type": self.kind, self.kind: {"name": self.name, key: "".join(self.args)}}


class _Choice:
    __slots__ = ("calls", "finish", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.finish: str | None = None
        self.calls: dict[Any, _Call] = {}

    def take(self, choice: Mapping[str, Any]) -> None:
        delta = mapping(choice.get("delta")) or {}
        content = delta.get("content")
        if type(content) is str:  # the hot path: one text fragment per chunk
            self.text.append(content)
        if delta.keys() - _PLAIN_DELTA:
            self._rare(delta)
        if isinstance(choice.get("text"), str):  # legacy completions
            self.text.append(choice["text"])
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            self.finish = reason

    def _rare(self, delta: Mapping[str, Any]) -> None:
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])
        for call in items(delta.get("tool_calls")):
            index = get_int(call, "index")
            slot(self.calls, len(self.calls) if index is None else index, _Call).take(call)
        legacy = mapping(delta.get("function_call"))
        if legacy is not None:
            slot(self.calls, "function_call", _Call).take({"function": legacy})

    def rebuilt(self, index: int, legacy: bool) -> dict[str, Any]:
        text = "".join(self.text) or None
        if legacy:
            return {"index": index, "text": text, "finish_reason": self.finish}
        message: dict[str, Any] = {"role": "assistant", "content": text}
        message["refusal"] = "".join(self.refusal) or None
        if self.calls:
            message["tool_calls"] = [c.rebuilt() for c in self.calls.values()]
        return {"index": index, "message": message, "finish_reason": self.finish}


class ChatStream(EventAccumulator):
    """Accumulates chat chunks; rebuilds a chat completion body for ``extract``.

    Besides :meth:`feed`, cheaper ways in read the most frequent chunk, a plain text delta,
    without building or decoding its whole object, with the same effect as feeding it:
    :meth:`feed_delta` (its fields, as an SDK's chunk object holds them), :meth:`feed_raw` (its
    JSON text: a chunk that differs from the last fully decoded text delta only in its text, and
    in OpenAI's random ``obfuscation`` string, is read by that text alone) and :meth:`feed_raws`
    (a whole stream's texts in one loop).
    """

    __slots__ = ("_choices", "_extract", "_head", "_legacy", "_misses", "_synced", "_template", "_usage")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._head: dict[str, Any] = {}
        self._usage: Mapping[str, Any] | None = None
        self._choices: dict[int, _Choice] = {}
        self._legacy = False
        self._template: _Template | None = None
        # whether feeding the template's chunk again would change nothing but the text (False once
        # another chunk was fed: its head or finish reason may differ from the template's)
        self._synced = False
        # chunks decoded whole while templates were tried; past _GIVE_UP none is made any more
        # (chunks that vary beyond their text and obfuscation)
        self._misses = 0

    def _feed(self, event: Mapping[str, Any]) -> None:
        self._synced = False
        head = self._head
        for key in _HEAD_KEYS:
            value = event.get(key)
            if value is not None:
                head[key] = value
        self._legacy = self._legacy or event.get("object") == "text_completion"
        if event.get("usage") is not None or event.get("x_groq") is not None:
            usage = mapping(event.get("usage")) or mapping((mapping(event.get("x_groq")) or {}).get("usage"))
            self._usage = usage or self._usage
        for choice in items(event.get("choices")):
            index = get_int(choice, "index") or 0
            slot(self._choices, index, _Choice).take(choice)

    def feed_delta(
        self, head: tuple[Any, Any, Any, Any], index: int, content: str | None, finish: str | None
    ) -> None:
        """Feed a plain text chunk given by its fields, without building it.

        The same as ``feed({"id": ..., "object": "chat.completion.chunk", "model": ...,
        "created": ..., "service_tier": ..., "choices": [{"index": index, "delta": {"content":
        content}, "finish_reason": finish}]})`` with ``head`` the id, model, created and
        service tier, and ``index`` an int.
        """
        self.events += 1
        self._synced = False
        known = self._head
        for key, value in zip(_HEAD_KEYS[:4], head, strict=True):
            if value is not None:
                known[key] = value
        choice = slot(self._choices, index, _Choice)
        if type(content) is str:
            choice.text.append(content)
        if isinstance(finish, str):
            choice.finish = finish

    def feed_raw(self, data: str) -> None:
        """Feed one event's JSON text (empty data and ``[DONE]`` are skipped, bad JSON ignored).

        The same as ``feed(json.loads(data))``; a chunk made of the last decoded text delta's
        JSON text with only its text (and obfuscation string) changed is read by decoding that
        text alone.
        """
        template = self._template
        if template is not None:
            prefix, suffix, tail = template[0], template[1], template[2]
            start, end = len(prefix), len(data) - len(suffix)
            if end > start and data.startswith(prefix) and data[start] == '"':
                try:
                    text, stop = scanstring(data, start + 1)
                except ValueError:
                    stop = -1
                if (
                    (stop == end and data.endswith(suffix))
                    if tail is None
                    else (stop > 0 and _tail_matches(data, stop, suffix, tail))
                ):
                    self.events += 1
                    choice = self._choices[0]
                    choice.text.append(text)
                    self._misses = 0
                    if not self._synced:
                        self._sync(template, choice)
                    return
        self._decode(data)

    def feed_raws(
        self, datas: Sequence[Any], start: int = 0, skip: Callable[[str], bool] | None = None
    ) -> int:
        """Feed ``datas[start:]`` in order, each text as :meth:`feed_raw` would, in one loop.

        A text the template does not read and for which ``skip`` is True is passed over, and so is
        None. Returns the position of the first item that is neither a string nor None (the caller
        feeds it its own way), or ``len(datas)``.
        """
        at, count = start, len(datas)
        while at < count:
            template = self._template
            if template is not None:
                at = self._run(template, datas, at, count)
                if at >= count:
                    break
            data = datas[at]
            if type(data) is not str:
                if data is not None:
                    return at
                at += 1
                continue
            at += 1
            if skip is None or not skip(data):
                self._decode(data)
        return count

    def _run(self, template: _Template, datas: Sequence[Any], at: int, count: int) -> int:
        """Feed the chunks from ``datas[at]`` on that the template reads (:meth:`feed_raw`'s test,
        inlined); the position of the first one it does not read."""
        prefix, suffix, tail = template[0], template[1], template[2]
        begin, size = len(prefix), len(suffix)
        first = at
        texts: list[str] | None = None
        while at < count:
            data = datas[at]
            if (
                type(data) is not str
                or (end := len(data) - size) <= begin
                or not data.startswith(prefix)
                or data[begin] != '"'
            ):
                break
            try:
                text, stop = scanstring(data, begin + 1)
            except ValueError:
                break
            if tail is None:
                if stop != end or not data.endswith(suffix):
                    break
            else:  # _tail_matches, inlined
                after = stop + size
                if not data.startswith(suffix, stop) or data[after : after + 1] != '"':
                    break
                try:
                    close = scanstring(data, after + 1)[1]
                except ValueError:
                    break
                if close != len(data) - len(tail) or not data.endswith(tail):
                    break
            if texts is None:
                choice = self._choices[0]
                texts = choice.text
                if not self._synced:
                    self._sync(template, choice)
            texts.append(text)
            at += 1
        if at > first:
            self.events += at - first
            self._misses = 0
        return at

    def _sync(self, template: _Template, choice: _Choice) -> None:
        """Set what feeding the template's chunk sets besides its text (another chunk was fed since)."""
        event = template[3]
        head = self._head
        for key in _HEAD_KEYS:
            value = event.get(key)
            if value is not None:
                head[key] = value
        reason = event["choices"][0].get("finish_reason")
        if isinstance(reason, str):
            choice.finish = reason
        self._synced = True

    def _decode(self, data: str) -> None:
        """:meth:`feed_raw` of a text the template does not read: decoded and fed whole."""
        if not data or data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        odd = self.odd_events
        self.feed(event)
        if self.odd_events == odd and self._misses < _GIVE_UP:
            self._misses += 1
            made = _text_template(data, event)
            if made is not None:
                self._template = made
                self._synced = True  # the template's own chunk was fed last

    def result(self) -> Extracted | None:
        """The rebuilt completion read by the extractor, or None when no chunk was usable."""
        if not self._head and self._usage is None and not self._choices:
            return None
        body: dict[str, Any] = dict(self._head)
        body["object"] = "text_completion" if self._legacy else "chat.completion"
        body["choices"] = [c.rebuilt(i, self._legacy) for i, c in sorted(self._choices.items())]
        body["usage"] = self._usage
        return self.finish(self._extract(body), complete=self._usage is not None and self._finished())

    def _finished(self) -> bool:
        """True when every choice has its finish reason: a usage seen before that is a running one
        (servers that send the usage so far on every chunk), not the final count."""
        return all(c.finish is not None for c in self._choices.values())


_Template = tuple[str, str, "str | None", dict[str, Any]]
"""A text delta's JSON text around its text, and the chunk: (prefix, suffix, tail, chunk). With
``tail`` None the text is followed by ``suffix`` alone; otherwise by ``suffix``, the chunk's
obfuscation string (any JSON string) and ``tail``. The decoded chunk gives what feeding it sets
besides its text (:meth:`ChatStream._sync`)."""
_CONTENT_KEY: Final = '"delta":{"content":'
_OBFUSCATION_KEY: Final = '"obfuscation":'
_GIVE_UP: Final = 4
"""Chunks in a row decoded in full before :meth:`ChatStream.feed_raw` stops making templates."""


def _string_end(text: str, begin: int) -> int | None:
    """Where the JSON string that opens at ``text[begin]`` ends (just past its closing quote), or
    None when no well-formed string opens there."""
    if text[begin : begin + 1] != '"':
        return None
    end: int
    try:
        _, end = scanstring(text, begin + 1)
    except ValueError:
        return None
    return end


def _tail_matches(data: str, stop: int, suffix: str, tail: str) -> bool:
    """Whether ``data[stop:]`` is ``suffix``, one JSON string and ``tail``."""
    if not data.startswith(suffix, stop):
        return False
    end = _string_end(data, stop + len(suffix))
    return end == len(data) - len(tail) and data.endswith(tail)


def _obfuscation_split(suffix: str) -> tuple[str, str] | None:
    """A template's suffix cut around its one ``"obfuscation"`` string: (before it, after it)."""
    key = suffix.find(_OBFUSCATION_KEY)
    if key < 0 or suffix.find(_OBFUSCATION_KEY, key + 1) >= 0:
        return None
    begin = key + len(_OBFUSCATION_KEY)
    end = _string_end(suffix, begin)
    return None if end is None else (suffix[:begin], suffix[end:])


def _text_template(data: str, event: Any) -> _Template | None:
    """The template of a plain text delta's JSON text (chunk 0 only), or None for another chunk.

    Checked by decoding the template with other text (and obfuscation string): it must give the same
    chunk with only those changed, so a match in :meth:`ChatStream.feed_raw` is exactly that chunk.
    """
    if not isinstance(event, dict) or "error" in event:
        return None
    if event.get("usage") is not None or event.get("x_groq") is not None:
        return None
    choices = event.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if choice.get("index") != 0 or type(choice.get("index")) is not int or "text" in choice:
        return None
    if not isinstance(delta, dict) or set(delta) != {"content"} or type(delta["content"]) is not str:
        return None
    at = data.find(_CONTENT_KEY)
    if at < 0 or data.find(_CONTENT_KEY, at + 1) >= 0:
        return None
    start = at + len(_CONTENT_KEY)
    try:
        _, stop = scanstring(data, start + 1)
    except ValueError:
        return None
    prefix, suffix = data[:start], data[stop:]
    expected = {**event, "choices": [{**choice, "delta": {"content": "\u0001"}}]}
    tail = None
    # an obfuscation string after the text is read as any string; elsewhere it must stay the same
    split = _obfuscation_split(suffix) if type(event.get("obfuscation")) is str else None
    if split is not None:
        suffix, tail = split
        probe_text = f'{prefix}"\\u0001"{suffix}"\\u0002"{tail}'
        expected["obfuscation"] = "\u0002"
    else:
        probe_text = f'{prefix}"\\u0001"{suffix}'
    try:
        probe = json.loads(probe_text)
    except ValueError:
        return None
    return (prefix, suffix, tail, event) if probe == expected else None


ADAPTER: Final[Adapter] = Adapter(
    name=NAME,
    provider="openai",
    api="chat",
    matches=matches,
    extract=extract,
    stream=ChatStream,
    matches_event=matches_event,
    expects="an OpenAI chat completion (object 'chat.completion', usage.prompt_tokens)",
)
