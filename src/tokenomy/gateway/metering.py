"""Metering: what the gateway saw of one call, turned into a :class:`Call` off the request path.

The request path only fills an :class:`Exchange` (clock readings, the status, the plain body's
bytes or the stream's chunks as they passed) and, once the client has its last byte, hands it to
the :class:`~tokenomy.gateway.building.LoopBuilder`, which builds it off the request path.
:meth:`Exchange.build` does the JSON decoding, usage extraction (the same adapters that read
imported logs), local counts of the prompt's shape, pricing and the metrics' token and cost
counters. A stream whose usage never arrived (cut, abandoned, an upstream that ignored
``include_usage``) has its missing totals counted locally and is marked estimated.

The frequent cases cost less and give the same call: the adapter a route's answer needs is asked
directly (an OpenAI chat route's ``chat.completion``, read in one pass by
:mod:`tokenomy.usage.openai_plain`; an Anthropic route's ``message``), a chat stream's text chunks
are read by their text alone (:meth:`ChatStream.feed_raw`), a plain prompt is copied rather than
normalized (inside :func:`request_messages`), a single user turn is shaped directly
(:meth:`ShapeMemo.user_turn_values`), the prompt's prefix is counted once per distinct text (the proxy's
:class:`ShapeMemo`) and a usage with all six buckets is priced straight from the resolved rates,
in integers from their plan (:func:`tokenomy.pricing.compute.whole_usage_cost`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from random import getrandbits
from typing import Any, Final

from tokenomy.capture.build import max_tokens_of, str_or_none, utc_milliseconds
from tokenomy.capture.estimate import fill_missing, text_prompt_tokens
from tokenomy.capture.ids import new_span_id, new_trace_id
from tokenomy.capture.sdk.base import request_tools
from tokenomy.capture.shapes import ShapeMemo
from tokenomy.errors import TokenomyError, error_kind, error_object_kind
from tokenomy.gateway.formats import Surface
from tokenomy.importers.messages import request_messages
from tokenomy.importers.provider import NOT_BILLED
from tokenomy.importers.shape import shape_of
from tokenomy.pricing import Pricer
from tokenomy.pricing.compute import cost_of
from tokenomy.pricing.rates import Rates
from tokenomy.providers import thinks_unseen
from tokenomy.schema import Attribution, Call, Cost, Status, ToolUse, Usage, new_call
from tokenomy.usage import Extracted, SSEDecoder, extract, stream_accumulator
from tokenomy.usage.anthropic import extract as anthropic_extract
from tokenomy.usage.base import ToolText
from tokenomy.usage.ids import distinct_id
from tokenomy.usage.openai_chat import ChatStream
from tokenomy.usage.openai_plain import plain_chat_parts
from tokenomy.usage.openai_responses import FAILURE, failure_of

_IGNORED_FIELDS: Final = (b":", b"event:", b"id:", b"retry:")

OK: Final = "ok"
ERROR: Final = "error"
TIMEOUT: Final = "timeout"
CANCELLED: Final = "cancelled"
REJECTED: Final = "rejected_budget"
_STATUS: Final = {
    OK: Status.OK,
    ERROR: Status.ERROR,
    TIMEOUT: Status.TIMEOUT,
    CANCELLED: Status.CANCELLED,
    REJECTED: Status.REJECTED_BUDGET,
}


class Exchange:
    """One proxied call as the request path saw it (cheap to fill; built after the answer).

    A plain class with its own ``__init__`` rather than a dataclass: compiled (``make install``),
    a dataclass's generated ``__init__`` is Python that sets each of the 20 fields through the
    compiled class's attribute descriptors, about 6,700 instructions a request, metering on or off.

    Attributes:
        surface: The metered path.
        provider: The provider the route bills by.
        request: The JSON body sent upstream.
        attribution: Headers' and key's attribution.
        session_id: ``X-Tokenomy-Session``.
        started_ns: Wall clock (ns since the epoch) when the request arrived.
        streamed: True for a stream.
        status: The upstream's HTTP status (None: no answer).
        body: A plain answer's bytes.
        chunks: A stream's chunks as they passed.
        latency_ns: From arrival to the last byte.
        ttft_ns: From arrival to the first chunk that carried output.
        end: ``ok``, ``error``, ``timeout``, ``cancelled`` or ``rejected_budget`` (never sent).
        error_type: What went wrong, when something did.
        on_built: Called with the call once built (the metrics' counters).
        pricer: Prices the call as it is built (None: left unpriced).
        parsed: The plain answer's JSON, when the request path already decoded it.
        shapes: The gateway's memo of prompt prefixes (None: every shape counted in full).
        asked_model: The model the client asked for, when a budget's downgrade changed it (the
            call's ``request_model``; the served one is its ``response_model``).
        unsent: True when the request never reached the upstream (no connection).
    """

    __slots__ = (
        "asked_model",
        "attribution",
        "body",
        "chunks",
        "end",
        "error_type",
        "latency_ns",
        "on_built",
        "parsed",
        "pricer",
        "provider",
        "request",
        "session_id",
        "shapes",
        "started_ns",
        "status",
        "streamed",
        "surface",
        "ttft_ns",
        "unsent",
    )

    def __init__(  # noqa: PLR0917  (the fields, as the dataclass took them)
        self,
        surface: Surface,
        provider: str,
        request: Mapping[str, Any],
        attribution: Attribution,
        session_id: str | None,
        started_ns: int,
        streamed: bool = False,
        status: int | None = None,
        body: bytes | None = None,
        chunks: list[bytes] | None = None,
        latency_ns: int | None = None,
        ttft_ns: int | None = None,
        end: str = OK,
        error_type: str | None = None,
        on_built: Callable[[Call], None] | None = None,
        pricer: Pricer | None = None,
        parsed: Any = None,
        shapes: ShapeMemo | None = None,
        asked_model: str | None = None,
        unsent: bool = False,
    ) -> None:
        self.surface: Surface = surface
        self.provider: str = provider
        self.request: Mapping[str, Any] = request
        self.attribution: Attribution = attribution
        self.session_id: str | None = session_id
        self.started_ns: int = started_ns
        self.streamed: bool = streamed
        self.status: int | None = status
        self.body: bytes | None = body
        self.chunks: list[bytes] = [] if chunks is None else chunks
        self.latency_ns: int | None = latency_ns
        self.ttft_ns: int | None = ttft_ns
        self.end: str = end
        self.error_type: str | None = error_type
        self.on_built: Callable[[Call], None] | None = on_built
        self.pricer: Pricer | None = pricer
        self.parsed: Any = parsed
        self.shapes: ShapeMemo | None = shapes
        self.asked_model: str | None = asked_model
        self.unsent: bool = unsent

    def build(self) -> Call:
        """The call, priced (runs on the event loop, after the answer; see the module docstring)."""
        call = build_call(self, self.pricer)
        if self.on_built is not None:
            self.on_built(call)
        return call


def _asked_cost(  # noqa: PLR0917  (positional, as the pricer's own entry)
    pricer: Pricer,
    usage: Usage,
    model: str,
    provider: str,
    tier: str | None,
    latency_ms: float | None,
    started: datetime,
) -> Cost:
    """The cost the pricer gives (``price_usage(...)`` with these, positionally): ``price_on_day`` is
    given the start time too when it takes one (the base class's, a subclass's that passes its
    keywords on), a subclass's written against its six arguments only those."""
    day = started.date()
    if _takes_started(type(pricer).price_on_day):
        return pricer.price_on_day(usage, model, provider, day, tier, latency_ms, started=started)
    return pricer.price_on_day(usage, model, provider, day, tier, latency_ms)


_STARTED: Final[dict[Any, bool]] = {}
"""Per ``price_on_day`` function, whether it takes ``started`` (as a keyword, or ``**kwargs``)."""


def _takes_started(method: Any) -> bool:
    found = _STARTED.get(method)
    if found is None:
        if method is Pricer.price_on_day:
            found = True
        else:
            try:
                params = inspect.signature(method).parameters.values()
            except (TypeError, ValueError):  # no signature to read: the six arguments, as ever
                params = ()  # type: ignore[assignment]
            found = any(p.name == "started" or p.kind is p.VAR_KEYWORD for p in params)
        _STARTED[method] = found
    return found


def build_call(exchange: Exchange, pricer: Pricer | None = None) -> Call:
    """Read an exchange into a :class:`Call`, priced by ``pricer`` when one is given.

    Pricing happens before the (frozen, 39-field) Call is made, so it is made once: the cost is
    what ``pricer.price(call)`` gives, and a pricing error leaves the call unpriced. The Call is
    made with its fields in their declared order by :data:`tokenomy.schema.new_call`, at under
    half the cost of ``Call(...)`` with named fields.
    """
    request = exchange.request
    model = request.get("model")
    if not isinstance(model, str):
        model = None
    surface = exchange.surface
    reading = _reading(exchange) if exchange.status == 200 else None
    (
        usage,
        response_model,
        response_id,
        finish_reason,
        tool_uses,
        tier,
        reported_cost,
        text,
        calls,
        complete,
    ) = reading or _NO_READING
    n_messages, system_tokens, tool_def_tokens, user_tokens, history_tokens, prefix_hashes, prompt = (
        _shape_values(request, model, exchange.shapes) if surface.api != "embeddings" else _NO_SHAPE
    )
    started = utc_milliseconds(exchange.started_ns)
    latency_ns = exchange.latency_ns
    latency_ms = None if latency_ns is None else latency_ns / 1e6
    bits = getrandbits(192)  # the trace id's 128 bits and the span id's 64
    ids = hex(bits | _ID_TOP)  # "0x1" and the two ids' 48 hex digits
    trace_id, span_id = ids[3:35], ids[35:]
    if bits < _LOWEST_TRACE or span_id == _ZERO_SPAN:  # a zero id is not valid (W3C): drawn again
        trace_id, span_id = new_trace_id(), new_span_id()
    end, http_status = exchange.end, exchange.status
    status = _STATUS[end]
    if http_status is not None and http_status >= 400 and end != REJECTED:
        status = Status.ERROR
    if end == REJECTED or exchange.unsent or (http_status is not None and http_status >= 400):
        usage = NOT_BILLED  # refused, never sent (no connection) or answered with an error: nothing billed
    elif http_status is not None and exchange.streamed and not complete:
        if surface.api == "completions":  # a plain text prompt: its own tokens, no chat framing
            prompt = text_prompt_tokens(request.get("prompt"), model)
        reasons = thinks_unseen(request, response_model)
        usage = fill_missing(
            usage, prompt_tokens=prompt, text=text, model=model, tool_text=calls, reasons=reasons
        )
    if not tier:
        tier = str_or_none(request.get("service_tier"))
    cost = None
    priced = response_model or model
    if pricer is not None and priced:
        day, provider = started.date(), exchange.provider
        rates = pricer.asked.get((provider, priced, day, False, tier))  # price_on_day's own first step
        try:
            if type(rates) is Rates and type(pricer) is Pricer and not rates.notes:  # priced here: no
                # interpreted frame between two compiled ones (a subclass's own price_on_day is always
                # asked, and rates with a note may change during the day: priced at the start time)
                cost = cost_of(usage, rates, latency_ms)
            else:
                cost = _asked_cost(pricer, usage, priced, provider, tier, latency_ms, started)
        except TokenomyError:
            cost = None
    call = new_call(
        distinct_id(response_id) or f"{trace_id}:{span_id}",
        exchange.provider,
        exchange.asked_model or model,
        response_model,
        surface.operation,
        surface.api,
        started,
        None if latency_ns is None else started + _MICROSECOND * ((latency_ns + 500) // 1000),
        latency_ms,
        None if exchange.ttft_ns is None else exchange.ttft_ns / 1e6,
        trace_id,
        span_id,
        None,  # parent_span_id
        exchange.session_id,
        None,  # step
        exchange.streamed,
        False,  # batch
        tier,
        usage,
        None,  # context_window
        max_tokens_of(request),
        n_messages,
        system_tokens,
        tool_def_tokens,
        user_tokens,
        history_tokens,
        prefix_hashes,
        status,
        exchange.error_type,
        http_status,
        finish_reason,
        tool_uses,
        None,  # filler_tokens
        exchange.attribution,
        None,  # outcome
        cost,
        reported_cost,
        None,  # content
        "gateway",
    )
    if pricer is not None and cost is None and call.model is None:
        with contextlib.suppress(TokenomyError):
            call = dataclasses.replace(call, cost=pricer.price(call))  # unpriced, saying why
    return call


_MICROSECOND: Final = timedelta(0, 0, 1)
"""A call ends at its start plus its latency to the nearest microsecond: this times a whole number of
them (a ``timedelta`` made from a count parses its arguments, at several times the cost)."""
_ID_TOP: Final = 1 << 192
"""A bit above the draw's 192, so that ``hex`` gives all 48 digits (zeros included) after ``0x1``."""
_LOWEST_TRACE: Final = 1 << 64
"""A draw below this has a zero trace id."""
_ZERO_SPAN: Final = "0" * 16
_ShapeValues = tuple[int | None, int | None, int | None, int | None, int | None, tuple[str, ...], int | None]
_NO_SHAPE: Final[_ShapeValues] = (None, None, None, None, None, (), None)
"""The shape's six Call fields (:data:`tokenomy.importers.shape.CALL_FIELDS`) and its ``input_tokens``
when there is no shape."""


Reading = tuple[
    Usage,
    str | None,
    str | None,
    str | None,
    tuple[ToolUse, ...],
    str | None,
    Decimal | None,
    str | None,
    ToolText,
    bool,
]
"""What a call takes from its answer: usage, response model, response id, finish reason, tool uses,
service tier, the provider's own cost, the answer's text, its tool calls' text (for counting a
stream's output when its usage is unknown) and whether a stream's usage is complete
(a plain tuple: a record would be one more object a call)."""
_NO_READING: Final[Reading] = (Usage(), None, None, None, (), None, None, None, (), False)
"""The reading of a call without an answer (or one that could not be read)."""


def reading_of(found: Extracted) -> Reading:
    """The fields of an Extracted a call takes (see :data:`Reading`)."""
    return (
        found.usage,
        found.response_model,
        found.response_id,
        found.finish_reason,
        found.tool_uses,
        found.service_tier,
        found.provider_reported_cost,
        found.completion_text,
        found.tool_text,
        bool(found.extra.get("complete")),
    )


def _reading(exchange: Exchange) -> Reading | None:
    """What the call takes from a 200 answer, or None when there is nothing to read."""
    if exchange.streamed:
        accumulator = stream_accumulator(exchange.surface.stream_kind)
        datas = stream_data(exchange.chunks)
        failed = stream_error(datas)
        if failed is not None:  # an error event mid-stream: the call failed, whatever arrived before it
            exchange.end, exchange.error_type = ERROR, failed
        if isinstance(accumulator, ChatStream):
            for data in datas:
                accumulator.feed_raw(data)  # the same as _feed, text deltas read by their text
        else:
            for data in datas:
                _feed(accumulator, data)
        found = accumulator.result()
        return None if found is None else reading_of(found)
    try:
        body = exchange.parsed if exchange.parsed is not None else json.loads(exchange.body or b"")
        quick = _direct_reading(body, exchange.surface.api, exchange.provider)
        if quick is not None:
            return quick
        found = extract(body, provider=exchange.provider, api=exchange.surface.api)
        failed = found.extra.get(FAILURE)  # a Responses answer that failed (its usage is still billed)
        if isinstance(failed, str):
            exchange.end, exchange.error_type = ERROR, failed
        return reading_of(found)
    except (ValueError, TokenomyError):
        return None


def stream_data(chunks: list[bytes]) -> list[str]:
    """The data of each event of a stream, as :class:`SSEDecoder` reads it.

    The common stream (LF line ends, ``data:``/``event:``/``id:`` lines and comments only) is
    split on the whole bytes at once (bad UTF-8 replaced, as the decoder does); anything else
    (CR line ends, multi-line data, other fields) goes through the incremental decoder.
    """
    raw = b"".join(chunks)
    if b"\r" in raw:
        return _decoded(chunks)
    out: list[str] = []
    for block in raw.split(b"\n\n"):
        if block.startswith(b"data: ") and b"\n" not in block:  # the usual block: one data line
            out.append(block[6:].decode("utf-8", "replace"))
            continue
        data: bytes | None = None
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                if data is not None:
                    return _decoded(chunks)  # several data lines: joined with newlines
                data = line[6:] if line.startswith(b"data: ") else line[5:]
            elif line and not line.startswith(_IGNORED_FIELDS):
                return _decoded(chunks)
        if data is not None:
            out.append(data.decode("utf-8", "replace"))
    return out


def stream_error(datas: list[str]) -> str | None:
    """The type of the first error event of a stream's data, or None.

    OpenAI's chat and Anthropic's events carry a top-level ``error`` object (its ``type``; the SDKs
    raise it), and Gemini's its ``status``; a Responses stream's ``error`` event has its ``code`` at
    the top level, and its ``response.failed`` event a response whose ``error`` holds the code. A
    text that merely says "error" is escaped inside its JSON string, so only a real ``"error"`` key
    is decoded. A type that is not a classification (:func:`tokenomy.errors.error_kind`) is stored
    as ``stream_error``."""
    for data in datas:
        if '"error"' not in data:
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        error = event.get("error") if type(event) is dict else None
        if isinstance(error, dict) or (type(event) is dict and event.get("type") == "error"):
            # free text there (a prompt, a key) is not stored: a generic type instead
            kind = error_object_kind(error) if isinstance(error, dict) else error_kind(event.get("code"))
            return kind or "stream_error"
        if type(event) is dict and event.get("type") == "response.failed":  # a Responses answer that failed
            response = event.get("response")
            return (failure_of(response) if isinstance(response, dict) else None) or "failed"
    return None


def _decoded(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    events.extend(decoder.close())
    return [event.data for event in events]


def _feed(accumulator: Any, data: str) -> None:
    if not data or data == "[DONE]":
        return
    try:
        accumulator.feed(json.loads(data))
    except ValueError:
        return


def _direct_reading(body: Any, api: str, provider: str) -> Reading | None:
    """``reading_of(extract(body, provider=provider, api=api))`` for the frequent bodies, else None.

    With the hints of an OpenAI chat route the registry picks the chat adapter for any
    ``chat.completion`` body, and that adapter reads a body without another provider's marker
    with :func:`plain_chat` first (here its parts, without the Extracted; they are None for a body
    with a marker); with those of an
    Anthropic route it picks the Messages adapter for any ``message`` body. Asking them directly
    gives the same reading without the choice.
    """
    if type(body) is not dict:
        return None
    if api == "chat" and provider == "openai":
        parts = plain_chat_parts(body)  # None for a body with another provider's marker
        if parts is None:
            return None
        usage, choice, text = parts
        model, response_id = body.get("model"), body.get("id")
        tier, finish = body.get("service_tier"), choice.get("finish_reason")
        return (
            usage,
            model if isinstance(model, str) else None,
            response_id if isinstance(response_id, str) else None,
            finish if isinstance(finish, str) else None,
            (),
            tier if isinstance(tier, str) else None,
            None,
            text,
            (),  # a body with tool calls is not plain: it has no quick reading
            False,
        )
    if api == "messages" and provider == "anthropic" and body.get("type") == "message":
        return reading_of(anthropic_extract(body))
    return None


_NOT_ONE_TURN: Final = frozenset(
    (
        "system",
        "tools",
        "instructions",
        "systemInstruction",
        "system_instruction",
        "contents",
        "input",
        "prompt",
    )
)
"""Request fields that take a prompt past :meth:`ShapeMemo.user_turn_values` (a system prompt, tools, or a
prompt field :func:`request_messages` reads besides ``messages``)."""


def _shape_values(request: Mapping[str, Any], model: str | None, memo: ShapeMemo | None) -> _ShapeValues:
    """The prompt's shape as the Call's six fields and its ``input_tokens`` (:data:`_NO_SHAPE`: none)."""
    try:
        turn = request.get("messages")
        if memo is not None and type(turn) is list and len(turn) == 1 and _NOT_ONE_TURN.isdisjoint(request):
            message = turn[0]  # one user turn, as request_messages copies it: its shape directly
            if type(message) is dict and len(message) == 2 and message.get("role") == "user":
                content = message.get("content")
                if type(content) is str:
                    return memo.user_turn_values(content, model)  # without making the Shape
        messages = request_messages(request)
        tools = request_tools(request)
        if not messages and not tools:
            return _NO_SHAPE
        if memo is None:
            shape = shape_of(messages, tools or None, model)
        else:
            shape = memo.shape(messages, tools or None, model)
    except (TokenomyError, ValueError, TypeError):
        return _NO_SHAPE
    return (*shape.call_values(), shape.input_tokens)
