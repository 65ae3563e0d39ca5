"""Google Gemini ``generateContent`` (AI Studio and Vertex AI): bodies and stream chunks, and the
usage of the Live API's messages.

Convention (``usageMetadata``):

- The JSON omits zero-valued counts, so inside a present ``usageMetadata`` an absent count is
  0 (a body without ``usageMetadata`` has unknown usage).
- ``promptTokenCount`` *includes* ``cachedContentTokenCount`` (cache reads);
  ``toolUsePromptTokenCount`` (tool results fed back, e.g. search grounding) is input on top
  of it. ``input_uncached = promptTokenCount + toolUsePromptTokenCount - cachedContentTokenCount``.
- Gemini bills no per-token cache writes (explicit caches are billed by storage time), so the
  cache-write buckets are 0.
- ``thoughtsTokenCount`` comes *on top of* ``candidatesTokenCount``: reasoning is the former,
  output_visible the latter.
- ``totalTokenCount`` is checked against input plus output (``TOTAL_MISMATCH``).
- Modalities: ``promptTokensDetails``, ``cacheTokensDetails``, ``toolUsePromptTokensDetails`` and
  ``candidatesTokensDetails`` list ``{modality, tokenCount}``. AUDIO, IMAGE and VIDEO are kept in
  :attr:`Usage.modalities`; DOCUMENT (PDF pages, read as images) counts as image, as genai-prices
  bills it; TEXT is the rest. The prompt details include the cached content and the cache details
  are its split, so ``input_uncached.<m>`` = prompt + tool-use prompt - cached tokens of that
  modality and ``cache_read.<m>`` the cached ones (without cache details the shared rule of
  :func:`tokenomy.usage.base.split_input_modalities` applies). Output modalities are
  ``output_visible.<m>``; thoughts are text.
- Search grounding: each ``groundingMetadata.webSearchQueries`` entry is one ``google_search``
  tool use. ``server_tools["web_searches"]`` (genai-prices' unit, priced per use) counts what
  Google bills: Gemini 3 and later bill each search query, so it is the number of queries;
  Gemini 1.x and 2.x bill per grounded prompt, so a response with any query counts 1 however
  many queries it ran (a model version that is not reported is counted per query).
- The Live API's ``usageMetadata`` names the output ``responseTokenCount`` and
  ``responseTokensDetails``: they are read as ``candidatesTokenCount`` and
  ``candidatesTokensDetails`` (the API's own names win when both are given).

Python SDK dumps (google-genai's ``model_dump()``, google-generativeai's ``to_dict()``) write the
fields with Python names (``usage_metadata``, ``prompt_token_count``, ``model_version``,
``finish_reason``): :func:`api_names` gives them the REST API's (camelCase) names before anything is
read, except inside the caller's own data (function-call arguments and results), and drops the None
of a field the dump left unset. A field given in both spellings keeps the API's.

Service tier: ``usageMetadata.serviceTier`` (AI Studio); Vertex reports its pay-as-you-go tiers
in ``trafficType`` instead, and ``ON_DEMAND_FLEX`` / ``ON_DEMAND_PRIORITY`` are the service tiers
``flex`` / ``priority`` (the raw value is kept in ``extra["traffic_type"]``).

Streams (``streamGenerateContent?alt=sse``): every chunk carries the usage so far, so the last
``usageMetadata`` wins (a running chunk's counts may differ from the last one's: a recorded Gemini
2.0 stream counts 169 prompt tokens first and 79 at the end); parts are concatenated per
candidate. The stream is complete when every candidate has its ``finishReason``, or when the
prompt was blocked (``promptFeedback.blockReason``, no candidate). A running chunk may count only
the prompt (Gemini 2.0 sends ``promptTokenCount`` and ``totalTokenCount`` alone before the last
chunk): for a stream cut after such a chunk the output is unknown (None), not 0, though text
arrived. A stream cut after a chunk that counted the output keeps that count: what was generated
up to the cut.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from tokenomy.schema import Quality, ToolUse, Usage
from tokenomy.usage.adapter import Adapter, EventAccumulator, Extractor
from tokenomy.usage.base import (
    Extracted,
    call_text,
    check_total,
    from_iso,
    get_int,
    get_str,
    items,
    join_text,
    keyed,
    mapping,
    slot,
    split_input_modalities,
    tool_use,
    with_modalities,
)

NAME: Final = "gemini.generate_content"
_HEAD_KEYS: Final = ("modelVersion", "responseId", "createTime")
_PER_PROMPT: Final = re.compile(r"gemini-[12]\.", re.IGNORECASE)
"""Gemini versions that bill search grounding per grounded prompt rather than per query."""
_TRAFFIC_TIERS: Final = {"ON_DEMAND_FLEX": "flex", "ON_DEMAND_PRIORITY": "priority"}
"""Vertex ``trafficType`` values that are pay-as-you-go service tiers with their own rates."""
_MODALITY: Final = {"AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}
"""Gemini's non-text modalities and the tokenomy modality each is billed as (TEXT is the rest)."""
_OPAQUE: Final = frozenset({"args", "partialArgs", "response", "parsed", "automaticFunctionCallingHistory"})
"""Fields whose values are the caller's data (function-call arguments and results, a parsed answer),
not the API's: the names inside them are kept as written."""
_LIVE: Final = (
    ("responseTokenCount", "candidatesTokenCount"),
    ("responseTokensDetails", "candidatesTokensDetails"),
)
"""The Live API's ``usageMetadata`` output counts and the ``generateContent`` names they are read as."""


def matches(body: Mapping[str, Any]) -> bool:
    """True for a ``GenerateContentResponse`` (whole or a stream chunk), also as a Python SDK dumps it."""
    if "usageMetadata" in body or "modelVersion" in body:
        return True
    meta = mapping(body.get("usage_metadata"))
    if meta is not None and any(str(key).endswith("_token_count") for key in meta):
        return True  # an SDK dump (LangChain's usage_metadata counts input_tokens, output_tokens)
    return any(
        "content" in c or "finishReason" in c or "finish_reason" in c for c in items(body.get("candidates"))
    )


def api_names(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` with the REST API's field names: a Python SDK dump's ``usage_metadata``,
    ``prompt_token_count``, ``finish_reason``... as ``usageMetadata``, ``promptTokenCount``,
    ``finishReason``... (see the module docstring); a body that has them already is returned as is."""
    if not any(isinstance(key, str) and "_" in key for key in body):
        return body  # the API's own names (a dump writes its unset fields too: usage_metadata, ...)
    found = _camel(body)
    return found if isinstance(found, Mapping) else body


def api_usage(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``usageMetadata`` with ``generateContent``'s names: an SDK dump's in camelCase, and the Live
    API's ``responseTokenCount`` / ``responseTokensDetails`` as the candidates' counts."""
    meta = api_names(meta)
    if not any(live in meta and name not in meta for live, name in _LIVE):
        return meta
    out = dict(meta)
    for live, name in _LIVE:
        if live in out and name not in out:
            out[name] = out[live]
    return out


def _camel(value: Any) -> Any:
    """``value`` with every key in camelCase (but inside :data:`_OPAQUE` fields), the same object
    when nothing changes."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            name = _camel_name(key) if isinstance(key, str) and "_" in key else key
            if name != key and (item is None or name in value):
                changed = True  # unset in the dump, or given also under the API's own name
                continue
            new = item if name in _OPAQUE else _camel(item)
            changed = changed or name != key or new is not item
            out[name] = new
        return out if changed else value
    if isinstance(value, list):
        found = [_camel(v) for v in value]
        return found if any(a is not b for a, b in zip(found, value, strict=True)) else value
    return value


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def gemini_usage(meta: Mapping[str, Any] | None, server_tools: Mapping[str, int]) -> Usage:
    """The exclusive buckets of a ``usageMetadata`` object (see the module docstring)."""
    if meta is None:
        return Usage.of(server_tools=server_tools)
    meta = api_usage(meta)

    def count(key: str) -> int:
        return get_int(meta, key) or 0

    prompt, cached = count("promptTokenCount"), count("cachedContentTokenCount")
    flags = (Quality.CACHE_EXCEEDS_INPUT,) if cached > prompt else ()
    usage = Usage.of(
        input_uncached=prompt + count("toolUsePromptTokenCount") - cached,
        cache_read=cached,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=count("candidatesTokenCount"),
        reasoning=count("thoughtsTokenCount"),
        server_tools=server_tools,
        quality=flags,
    )
    usage = with_modalities(usage, _modalities(meta, usage))
    return check_total(usage, get_int(meta, "totalTokenCount"))


def modality_details(details: Any) -> dict[str, int]:
    """Non-text token counts by modality of a ``*TokensDetails`` list (entries of one modality add up)."""
    out: dict[str, int] = {}
    for entry in items(details):
        modality = _MODALITY.get(get_str(entry, "modality") or "")
        n = get_int(entry, "tokenCount")
        if modality is not None and n:
            out[modality] = out.get(modality, 0) + n
    return out


def _modalities(meta: Mapping[str, Any], usage: Usage) -> dict[str, int]:
    prompt = modality_details(meta.get("promptTokensDetails"))
    for modality, n in modality_details(meta.get("toolUsePromptTokensDetails")).items():
        prompt[modality] = prompt.get(modality, 0) + n
    cached = modality_details(meta.get("cacheTokensDetails")) if "cacheTokensDetails" in meta else None
    found = split_input_modalities(prompt, usage, cached)
    return {**found, **keyed("output_visible", modality_details(meta.get("candidatesTokensDetails")))}


def bills_per_grounded_prompt(model: str) -> bool:
    """True for the Gemini versions whose search grounding is billed per grounded prompt (1.x, 2.x).

    ``model`` is a ``modelVersion`` (``gemini-2.5-flash-preview-05-20``), possibly with a resource
    path (``models/gemini-2.0-flash``, ``publishers/google/models/gemini-2.5-pro``).
    """
    return _PER_PROMPT.match(model.rsplit("/", 1)[-1]) is not None


def _part_tool(part: Mapping[str, Any]) -> ToolUse | None:
    call = mapping(part.get("functionCall"))
    if call is not None:
        return tool_use(call.get("name"), call.get("args") or {})
    code = mapping(part.get("executableCode"))
    if code is not None:
        return tool_use("code_execution", code.get("code"), server=True)
    return None


def _candidate(
    cand: Mapping[str, Any], texts: list[str], tools: list[ToolUse], calls: list[tuple[str, Any]]
) -> None:
    for part in items((mapping(cand.get("content")) or {}).get("parts")):
        text = part.get("text")
        if isinstance(text, str) and text and not part.get("thought"):
            texts.append(text)
        found = _part_tool(part)
        if found is not None:
            tools.append(found)
            call = mapping(part.get("functionCall"))
            written = None if call is None else call_text(call.get("name"), call.get("args") or {})
            if written is not None:  # a function call's name and arguments (JSON), as the model wrote them
                calls.append(written)
    grounding = mapping(cand.get("groundingMetadata")) or {}
    for query in grounding.get("webSearchQueries") or []:
        found = tool_use("google_search", query, server=True)
        if found is not None:
            tools.append(found)


def extract(body: Mapping[str, Any]) -> Extracted:
    """Read a ``GenerateContentResponse`` (or a Live API message's usage), with either names."""
    body = api_names(body)
    candidates = items(body.get("candidates"))
    texts: list[str] = []
    tools: list[ToolUse] = []
    calls: list[tuple[str, Any]] = []
    for cand in candidates:
        _candidate(cand, texts, tools, calls)
    model = get_str(body, "modelVersion")
    searches = sum(1 for t in tools if t.name == "google_search")
    if searches and model is not None and bills_per_grounded_prompt(model):
        searches = 1
    meta = mapping(body.get("usageMetadata"))
    extra = {"traffic_type": get_str(meta, "trafficType")} if get_str(meta, "trafficType") else {}
    return Extracted(
        usage=gemini_usage(meta, {"web_searches": searches} if searches else {}),
        provider="google",
        api="generate_content",
        adapter=NAME,
        response_model=model,
        response_id=get_str(body, "responseId"),
        finish_reason=get_str(candidates[0], "finishReason") if candidates else None,
        tool_uses=tuple(tools),
        service_tier=_TRAFFIC_TIERS.get(get_str(meta, "trafficType") or "") or get_str(meta, "serviceTier"),
        created_at=from_iso(body.get("createTime")),
        completion_text=join_text(texts),
        tool_text=tuple(calls),
        extra=extra,
    )


class _Candidate:
    __slots__ = ("finish", "grounding", "parts")

    def __init__(self) -> None:
        self.parts: list[Mapping[str, Any]] = []
        self.finish: str | None = None
        self.grounding: Mapping[str, Any] | None = None

    def take(self, cand: Mapping[str, Any]) -> None:
        self.parts.extend(items((mapping(cand.get("content")) or {}).get("parts")))
        self.finish = get_str(cand, "finishReason") or self.finish
        self.grounding = mapping(cand.get("groundingMetadata")) or self.grounding

    def rebuilt(self, index: int) -> dict[str, Any]:
        cand: dict[str, Any] = {"index": index, "content": {"role": "model", "parts": self.parts}}
        cand["finishReason"] = self.finish
        if self.grounding is not None:
            cand["groundingMetadata"] = self.grounding
        return cand


class GenerateContentStream(EventAccumulator):
    """Keeps the last ``usageMetadata`` and every candidate's parts; rebuilds one response."""

    __slots__ = ("_blocked", "_candidates", "_extract", "_head", "_meta")

    def __init__(self, extract: Extractor) -> None:
        super().__init__()
        self._extract = extract
        self._head: dict[str, Any] = {}
        self._meta: Mapping[str, Any] | None = None
        self._candidates: dict[int, _Candidate] = {}
        self._blocked = False  # the prompt was blocked: the answer ends there, with no output

    def _feed(self, event: Mapping[str, Any]) -> None:
        event = api_names(event)
        for key in _HEAD_KEYS:
            if event.get(key) is not None:
                self._head[key] = event[key]
        meta = mapping(event.get("usageMetadata"))
        self._meta = api_usage(meta) if meta else self._meta
        self._blocked = self._blocked or get_str(event, "promptFeedback", "blockReason") is not None
        for cand in items(event.get("candidates")):
            slot(self._candidates, get_int(cand, "index") or 0, _Candidate).take(cand)

    def result(self) -> Extracted | None:
        """The rebuilt response read by the extractor, or None when no chunk was usable."""
        if not self._head and self._meta is None and not self._candidates:
            return None
        body: dict[str, Any] = dict(self._head)
        body["candidates"] = [c.rebuilt(i) for i, c in sorted(self._candidates.items())]
        if self._meta is not None:
            body["usageMetadata"] = self._meta
        finished = bool(self._candidates) and all(c.finish for c in self._candidates.values())
        complete = finished or (self._blocked and not self._candidates)
        found = self._extract(body)
        counted = ("candidatesTokenCount", "thoughtsTokenCount")
        if not complete and all(get_int(self._meta, key) is None for key in counted):
            # A running chunk that has not counted the output yet: its absence is no 0. One that
            # counted the thoughts (cut while thinking) keeps them, and its visible output so far.
            found = dataclasses.replace(found, usage=_output_unknown(found.usage))
        return self.finish(found, complete=complete)


def _output_unknown(usage: Usage) -> Usage:
    """``usage`` with its output side unknown (a cut stream whose last chunk counted no output).

    The grand total cannot be checked without the output, so a mismatch found against an output
    of 0 is dropped, as :func:`check_total` flags nothing when a side is unknown.
    """
    quality = tuple(q for q in usage.quality if q is not Quality.TOTAL_MISMATCH)
    return dataclasses.replace(usage, output_visible=None, reasoning=None, output_total=None, quality=quality)


ADAPTER: Final = Adapter(
    name=NAME,
    provider="google",
    api="generate_content",
    matches=matches,
    extract=extract,
    stream=GenerateContentStream,
    matches_event=matches,
    expects="a Gemini GenerateContentResponse (usageMetadata, candidates)",
)
