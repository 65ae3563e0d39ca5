"""Building a Call from a captured call, on the sink's thread.

Usage: a plain response's usage is read by the usage adapters exactly as reported. A stream is
read by the stream accumulators; when its final usage never arrived (no ``include_usage``, cut
by an error, abandoned) the missing totals are counted locally and the usage is marked
estimated (:mod:`tokenomy.capture.estimate`). A call the provider refused with an HTTP error
status used no tokens (zeros, as the importers record it); a call that failed without an answer
(connection error, timeout, cancelled before the answer) has unknown usage. An answer whose usage
was never read (a raw response whose body the caller never read, or read by ``iter_raw`` past
tokenomy; a 2xx answer the SDK raised over, its body not being JSON) has its prompt counted locally
and its output unknown, marked estimated.

The provider is the client's (``azure`` for Azure clients), else the one its base URL's host
names (the importers' host table), else the SDK's own.

The common cases take shorter roads to the very same Call: a plain OpenAI chat completion is
read directly (:mod:`tokenomy.usage.openai_plain`, inside the chat adapter), a chat stream's
text chunks are fed by their fields (the route's ``events`` feeder), and the prompt's tools,
system prompt and earlier messages are counted once per distinct text
(:mod:`tokenomy.capture.shapes`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from tokenomy.capture.captured import ABANDONED, UNREAD, Captured
from tokenomy.capture.client import ClientState
from tokenomy.capture.estimate import fill_missing, text_prompt_tokens
from tokenomy.capture.ids import new_span_id, new_trace_id
from tokenomy.capture.runtime import RUNTIME, Redact
from tokenomy.errors import TokenomyError, UsageError
from tokenomy.importers.hosts import provider_of_host
from tokenomy.importers.messages import render, request_messages
from tokenomy.importers.provider import NOT_BILLED
from tokenomy.importers.shape import Shape
from tokenomy.providers import thinks_unseen
from tokenomy.schema import Call, Content, Kind, Status, Usage
from tokenomy.usage import Extracted, extract, stream_accumulator
from tokenomy.usage.ids import distinct_id
from tokenomy.usage.openai_responses import FAILURE

_MAX_TOKENS: Final = ("max_completion_tokens", "max_output_tokens", "max_tokens")
_MAX_TOKENS_KEYS: Final = frozenset(_MAX_TOKENS)
_EPOCH: Final = datetime(1970, 1, 1)


def build_call(captured: Captured) -> Call:
    """Read a captured call into a :class:`Call` (see the module docstring)."""
    state, route = captured.client, captured.route
    request = captured.body or {}
    model = request.get("model") if isinstance(request.get("model"), str) else None
    keep = state.keeps_content(captured.content)
    extracted = _extracted(captured, keep)
    messages = request_messages(request) if route.prompt else []
    shape = _shape(messages, state.adapter.tools(request), model) if route.prompt else None
    started = utc_milliseconds(captured.started_ns)
    latency_ms = None if captured.latency_ns is None else captured.latency_ns / 1e6
    attribution = captured.keyed_attribution()
    trace_id = captured.trace_id = captured.trace_id or new_trace_id()
    span_id = captured.span_id = captured.span_id or new_span_id()
    return Call(
        id=(distinct_id(extracted.response_id) if extracted else None) or f"{trace_id}:{span_id}",
        provider=provider_of(state),
        request_model=model,
        response_model=extracted.response_model if extracted else None,
        operation=route.operation,
        api=route.api,
        started_at=started,
        ended_at=None if latency_ms is None else started + timedelta(milliseconds=latency_ms),
        latency_ms=latency_ms,
        ttft_ms=_ttft_ms(captured),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=captured.parent_span_id,
        session_id=captured.session_id,
        step=captured.step,
        streamed=captured.items is not None or request.get("stream") is True,  # (a raw stream never read)
        service_tier=(extracted.service_tier if extracted else None)
        or str_or_none(request.get("service_tier")),
        usage=_usage(captured, extracted, shape, model),
        max_output_tokens=max_tokens_of(request),
        **_result(captured, extracted),
        **(shape.fields() if shape else {}),
        attribution=attribution,
        provider_reported_cost=extracted.provider_reported_cost if extracted else None,
        content=_content(state.redaction(captured.content), messages, extracted) if keep else None,
        source="sdk",
    )


def provider_of(state: ClientState) -> str:
    """The provider a client's calls are billed by (see the module docstring)."""
    if state.provider is not None:
        return state.provider
    return provider_of_host(state.host or "") or state.adapter.provider


def _ttft_ms(captured: Captured) -> float | None:
    """The time to first token: taken on the caller's path, or, for a stream kept as its bytes with
    each event's arrival (:class:`tokenomy.capture.streams.ChunkWatch`, :mod:`tokenomy.capture.raw`),
    the first event carrying output's."""
    if captured.ttft_ns is not None:
        return captured.ttft_ns / 1e6
    times, items, is_output = captured.times, captured.items, captured.route.is_output
    if not times or not items:
        return None
    for item, at in zip(items, times, strict=False):
        try:
            found = is_output is None or is_output(item)
        except Exception:  # an odd event is not output
            found = False
        if found:
            return (at - captured.t0) / 1e6
    return None


def _extracted(captured: Captured, keep_text: bool) -> Extracted | None:
    """What the response (or the stream's events) reported, or None when nothing arrived."""
    route, state = captured.route, captured.client
    if captured.items is not None:
        if route.event is None:
            return None
        accumulator = stream_accumulator(None)
        if route.events is not None:
            route.events(captured.items, accumulator)
        else:
            for item in captured.items:
                accumulator.feed(route.event(item))
        found = accumulator.result()
        if found is None:
            return None
        provider = provider_of(state)
        return found if found.provider == provider else dataclasses.replace(found, provider=provider)
    if captured.response is None:
        return None
    body = _raw_body(captured.response)
    if body is None:
        body = route.body(captured.response, keep_text)
    try:
        return extract(body, provider=provider_of(state), api=route.api)
    except UsageError:
        return None


def _raw_body(response: Any) -> dict[str, Any] | None:
    """The JSON body of a raw-response wrapper (``with_raw_response``) when it has been read, or of a raw
    response's bytes."""
    content: Any = response  # the bytes of a raw response the caller read itself (tokenomy.capture.raw)
    if type(response) is not bytes:
        http = getattr(response, "http_response", None)
        if http is None:
            return None
        try:
            content = http.content
        except Exception:  # not read (a streamed raw response): the usage stays unknown
            return {}
    try:
        body = json.loads(content)
    except Exception:  # not JSON: the usage stays unknown
        return {}
    return body if isinstance(body, dict) else {}


def _shape(messages: list[dict[str, Any]], tools: list[Mapping[str, Any]], model: str | None) -> Shape | None:
    if not messages and not tools:
        return None
    try:
        return RUNTIME.shape_memo().shape(messages, tools or None, model)
    except TokenomyError:
        return None


def _usage(captured: Captured, extracted: Extracted | None, shape: Shape | None, model: str | None) -> Usage:
    if captured.end == UNREAD:  # the answer's usage was never seen
        return _unseen(captured, shape, model)
    error = captured.error
    if extracted is None:
        if error is not None:
            answered = error.http_status
            if answered is None:  # no answer: unknown
                return Usage()
            if answered < 400 and captured.items is None:  # answered, then the SDK could not read it
                return _unseen(captured, shape, model)
            return NOT_BILLED  # refused
        if captured.items is None:
            return Usage()
    usage = extracted.usage if extracted else Usage()
    if captured.items is None or (extracted is not None and extracted.extra.get("complete")):
        return usage
    text = extracted.completion_text if extracted else None
    served = extracted.response_model if extracted else None
    return fill_missing(
        usage,
        prompt_tokens=_prompt_tokens(captured, shape, model),
        text=text,
        model=model,
        tool_text=extracted.tool_text if extracted else None,
        reasons=thinks_unseen(captured.body or {}, served),
    )


def _unseen(captured: Captured, shape: Shape | None, model: str | None) -> Usage:
    """The usage of an answer that arrived but whose usage was never read: the prompt counted
    locally, the output unknown."""
    return Usage(input_total=_prompt_tokens(captured, shape, model), kind=Kind.ESTIMATED)


def _prompt_tokens(captured: Captured, shape: Shape | None, model: str | None) -> int | None:
    """The prompt counted locally: a plain text prompt as its own tokens (legacy completions), else
    the shape's count of the chat messages and tools."""
    field = captured.route.text_prompt
    if field is not None:
        return text_prompt_tokens((captured.body or {}).get(field), model)
    return shape.input_tokens if shape else None


def _result(captured: Captured, extracted: Extracted | None) -> dict[str, Any]:
    """status, error_type, http_status, finish_reason and tool_uses."""
    error = captured.error
    status = Status.CANCELLED if captured.end == ABANDONED else Status.OK
    out: dict[str, Any] = {"status": error.status if error else status}
    if error is not None:
        out["error_type"], out["http_status"] = error.error_type, error.http_status
    elif captured.end == UNREAD:  # the SDK hands a raw response back on a success status only
        out["http_status"] = 200
    if extracted is not None:
        out["finish_reason"], out["tool_uses"] = extracted.finish_reason, extracted.tool_uses
        if error is None:  # an answer the SDK read: it raises on every status but a success, and the
            out["http_status"] = 200  # LLM routes answer one with 200 (the gateway records the same)
        failure = extracted.extra.get(FAILURE)
        if error is None and isinstance(failure, str):  # a Responses answer that failed, or its error event
            # the SDK read it as an answer: it came with a success status (OpenAI's 200), kept as a
            # stream failed by an error the SDK raises keeps it (ErrorInfo's answered status)
            out["status"], out["error_type"], out["http_status"] = Status.ERROR, failure, 200
    return out


def _content(
    redact: Redact | None, messages: list[dict[str, Any]], extracted: Extracted | None
) -> Content | None:
    """Prompt and completion text, through the redaction hook; None when the hook fails."""
    prompt = render(messages) if messages else None
    completion = extracted.completion_text if extracted else None
    if redact is None:
        return Content(prompt=prompt, completion=completion)
    try:
        return Content(
            prompt=None if prompt is None else redact(prompt),
            completion=None if completion is None else redact(completion),
        )
    except Exception:  # never let unredacted text out because the hook failed
        return None


def max_tokens_of(request: Mapping[str, Any]) -> int | None:
    """The output-token cap a request asks for, under whichever name its API uses."""
    if _MAX_TOKENS_KEYS.isdisjoint(request):  # the usual request: no cap
        return None
    for key in _MAX_TOKENS:
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def str_or_none(value: Any) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def utc_milliseconds(ns: int) -> datetime:
    """A naive UTC time to the millisecond: the native form's precision, so every path stores the same.

    The epoch plus whole milliseconds: exactly ``datetime.fromtimestamp(ms / 1000, UTC)`` without
    its zone (the float's error is far below the half microsecond it is rounded to), at a third
    of its cost. The second's time is kept from the last call (one per second is made), and the
    millisecond's step is one of a thousand kept ``timedelta``: one addition, where making a
    ``timedelta`` costs four times as much.
    """
    whole = ns // 1_000_000
    second = whole // 1000
    millisecond = whole - second * 1000  # divmod's pair without its tuple (compiled: three integer steps)
    last = _last_second
    base = last[1] if last[0] == second else _new_second(second)
    step = _MILLISECONDS.get(millisecond)
    if step is None:
        step = _MILLISECONDS[millisecond] = timedelta(0, 0, 0, millisecond)
    return base + step


def _new_second(second: int) -> datetime:
    global _last_second  # noqa: PLW0603  (a memo of one entry, replaced whole: safe across threads)
    base = _EPOCH + timedelta(0, second)
    _last_second = (second, base)
    return base


_last_second: tuple[int, datetime] = (0, _EPOCH)
"""The last second :func:`utc_milliseconds` made, and its time."""
_MILLISECONDS: Final[dict[int, timedelta]] = {}
"""``timedelta(milliseconds=n)`` by ``n`` (0 to 999), made on first use."""
