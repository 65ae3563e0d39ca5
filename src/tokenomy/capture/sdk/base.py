"""What a client adapter is: how one SDK's client is recognised, routed and read.

The capture SDK wraps a client's single request method (both official SDKs send every API
call through ``client.request(cast_to, options, stream=..., stream_cls=...)``). An adapter
says which request paths are LLM calls (:class:`Route`), who the provider is, how the SDK's
response objects and stream events read as the provider's wire bodies (the dicts the usage
adapters of :mod:`tokenomy.usage` read), and how its exceptions map to a call status.
Differences between SDKs live in their adapter modules; the rest of the capture code never
branches on an SDK's name.

Readers run on the sink's thread. They use pydantic's ``model_dump`` (see :func:`dump`), except
for embeddings (whose vectors are left out) and the most frequent stream events (a text delta),
read by hand. A stream kept as its events' data text (``Route.raw``) is read from that text instead.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tokenomy.errors import error_object_kind
from tokenomy.schema import Status

Reader = Callable[[Any, bool], dict[str, Any]]
"""Reads an SDK response object as a wire body; the flag says whether to keep the output text."""

EventReader = Callable[[Any], dict[str, Any]]
"""Reads one SDK stream event as the wire event the provider sent."""

EventsFeeder = Callable[[Sequence[Any], Any], None]
"""Feeds all of a stream's SDK events to a usage stream accumulator, with the same effect as
feeding it each event read by the route's :data:`EventReader`, but cheaper. For a route whose
streams are kept raw (``Route.raw``) the events may also be their data text (``str``)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One LLM API path of an SDK.

    Attributes:
        api: The API surface (``chat``, ``responses``, ``embeddings``, ``completions``, ``messages``).
        operation: The OTel GenAI operation (``chat``, ``text_completion``, ``embeddings``).
        usage_kind: The usage adapter that reads its bodies and streams (``openai.chat``...).
        body: Reads a non-streamed response object.
        event: Reads a stream event (None when the API does not stream).
        is_output: True for a stream event that carries output (the first one sets ``ttft_ms``).
        prompt: Whether the request holds a chat prompt whose shape is counted (not embeddings).
        events: Feeds a whole stream's events at once (None: each through ``event``).
        raw: Whether a stream is kept as the bytes its SDK reads, when the SDK's stream object
            lets it be (:mod:`tokenomy.capture.streams`), rather than as the SDK's event objects:
            ``events`` and ``is_output`` then take its events' data text.
        text_prompt: The request field holding a plain prompt rather than chat messages (legacy
            completions: ``prompt``): counted locally as its own tokens, without the framing a chat
            message gets (:func:`tokenomy.capture.estimate.text_prompt_tokens`).
    """

    api: str
    operation: str
    usage_kind: str
    body: Reader
    event: EventReader | None = None
    is_output: Callable[[Any], bool] | None = None
    prompt: bool = True
    events: EventsFeeder | None = None
    raw: bool = False
    text_prompt: str | None = None


def data_events(decode: Callable[[str], Any], event: EventReader) -> EventsFeeder:
    """An :data:`EventsFeeder` for a raw route whose SDK turns each event's data text into an object
    by decoding it as JSON (the Responses and Messages streams).

    ``decode`` gives the decoded event the SDK yields for a data text, or None for one it yields
    nothing for (``[DONE]``, an empty or non-JSON text, a ping, an error event it raises instead);
    a data text is fed as what ``decode`` gives, an SDK object as ``event`` reads it, so a stream
    reads the same kept either way. None (an event without data text) is passed over.
    """

    def feed(items: Sequence[Any], accumulator: Any) -> None:
        take = accumulator.feed
        for item in items:
            if type(item) is str:
                found = decode(item)
                if found is not None:
                    take(found)
            elif item is not None:
                take(event(item))

    return feed


def json_or_none(data: str) -> Any:
    """``data`` decoded as JSON, or None when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


_TYPE: Final = '{"type":"'


def type_of(data: str) -> str | None:
    """The ``type`` of an event given as its data text, read without decoding it, when the text is
    written as the Responses and Messages APIs write it (compact JSON, ``type`` its first member);
    None for text written otherwise (or a type holding an escape). Whether the rest is valid JSON
    is not checked."""
    if not data.startswith(_TYPE):
        return None
    end = data.find('"', 9)
    kind = data[9:end] if end > 9 else None
    return None if kind is None or "\\" in kind else kind


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """How a failed call ended: its status, the exception's class name and the HTTP status."""

    status: Status
    error_type: str | None
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class ClientAdapter:
    """One SDK.

    Attributes:
        name: ``openai`` or ``anthropic``.
        matches: True for a client object of this SDK (checked without importing the SDK).
        is_async: True for the SDK's async clients.
        provider: The canonical provider the SDK bills by default (``openai``, ``anthropic``).
        client_provider: The provider a client's class names, when it does (Azure clients), else
            None: the base URL's host then decides (Groq, DeepSeek... through the OpenAI SDK).
        routes: LLM paths by the ``options.url`` the SDK builds (``/chat/completions``...).
        timeouts: The SDK's timeout exception classes (read lazily, so nothing is imported).
        tools: The request's tool definitions as sent (:func:`request_tools`).
    """

    name: str
    matches: Callable[[object], bool]
    is_async: Callable[[object], bool]
    provider: str
    client_provider: Callable[[object], str | None]
    routes: Mapping[str, Route]
    timeouts: Callable[[], tuple[type[BaseException], ...]]
    tools: Callable[[Mapping[str, Any]], list[Mapping[str, Any]]]

    def classify(self, exc: BaseException, *, request: bool = False, answered: object = None) -> ErrorInfo:
        """The status a call that raised ``exc`` ended with.

        Args:
            exc: What the SDK raised.
            request: ``exc`` came out of the SDK's request (not out of a stream being read): an error
                raised over an answer that had arrived (a 200 whose body is not JSON) carries that
                answer's HTTP status (:func:`answered_status`).
            answered: The HTTP status of the answer being read when ``exc`` came out of it (a stream's
                response): an error that names none (OpenAI's in-stream error event, an event the SDK
                cannot decode) carries it, as Anthropic's in-stream errors do.
        """
        name = type(exc).__name__
        kind = body_kind(getattr(exc, "body", None))  # the provider's own, as the gateway records it
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return ErrorInfo(Status.ERROR, kind or f"http_{status}", status)
        if isinstance(exc, _CANCELLATIONS):  # (a task cancelled while it read a stream: its answer's status)
            return ErrorInfo(Status.CANCELLED, name, answered if type(answered) is int else None)
        if isinstance(exc, self.timeouts()):
            return ErrorInfo(Status.TIMEOUT, name)
        if request:
            return ErrorInfo(Status.ERROR, kind or name, answered_status(exc))
        classes = {c.__name__ for c in type(exc).__mro__}
        if kind is None and _CUT & classes and "TimeoutException" not in classes:  # (a read timeout: named)
            kind = STREAM_CUT  # the connection broke while the stream was read, as the importers say
        return ErrorInfo(Status.ERROR, kind or name, answered if type(answered) is int else None)


def answered_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer the SDK had received when it raised ``exc``, or None (no answer).

    Both SDKs' request method keeps the HTTP response it received in a local named ``response``
    (None until one arrives, and again at each retry), and reads the answer's body from there: an
    exception raised while reading it (a body that is not JSON) carries no status of its own, so it
    is read from the frames the exception passed through. Runs on failures only.
    """
    trace = exc.__traceback__
    while trace is not None:
        try:
            found = trace.tb_frame.f_locals.get("response")
        except Exception:  # a frame that cannot be read: look further
            found = None
        status = getattr(found, "status_code", None)
        if type(status) is int:
            return status
        trace = trace.tb_next
    return None


_CANCELLATIONS: Final = (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit)
_CUT: Final = frozenset({"APIConnectionError", "TransportError"})
"""Classes (in an exception's MRO) of a connection that broke: the SDKs' own, and httpx's."""
STREAM_CUT: Final = "stream_cut"
"""The ``error_type`` of a stream whose connection broke while it was read (every path's)."""


def body_kind(body: object) -> str | None:
    """The error classification an SDK exception's ``body`` names, read as the gateway reads an error
    body, its ``error`` object's ``type`` (or ``status``: :func:`tokenomy.errors.error_object_kind`),
    never its ``code`` or message. Anthropic's body is the whole answer (``{"type": "error", "error":
    {...}}``); OpenAI's SDK keeps the ``error`` object alone."""
    if not isinstance(body, Mapping):
        return None
    return error_object_kind(body.get("error", body))


def dump(obj: Any) -> dict[str, Any]:
    """An SDK object as the wire dict it was read from: pydantic's ``model_dump`` of the fields the
    answer held, by their wire names (``by_alias``, ``exclude_unset``: what the SDKs' own ``to_dict``
    gives). A plain ``model_dump`` would add every field the SDK's model declares and the answer left
    out, as None (a Responses web search's ``action`` gains ``queries`` and ``sources``), so that what
    is read from it (a tool use's arguments hash) would differ from the gateway's and the importers'
    reading of the same answer's JSON.

    Measured against reading attributes by hand (docs/capture.md), ``model_dump`` is the cheaper
    way to copy a whole response (pydantic serialises in Rust, and a missing attribute costs a
    raised AttributeError on a pydantic model); hand-written readers win only for the tiny, most
    frequent stream events, which the adapters special-case. Pydantic's serializer warnings (an
    SDK object holding a type its union field does not list, as a web search item in a Responses
    event) are not printed: they would reach the application's output from the sink's thread.
    """
    model_dump = getattr(obj, "model_dump", None)
    if model_dump is None:
        return dict(obj) if isinstance(obj, Mapping) else {}
    try:
        found = model_dump(by_alias=True, exclude_unset=True, warnings=False)
    except TypeError:  # a model_dump without the argument (pydantic v1 compatibility layers)
        found = model_dump()
    return found if isinstance(found, dict) else {}


def request_tools(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tool definitions of a request body as sent (the objects of its ``tools`` list), whatever
    the provider's form of a tool: what the gateway and the importers count and hash for the prompt's
    shape (``tool_def_tokens``, ``prefix_hashes``) and the budget's estimate, so that the same request
    reads the same on every path."""
    tools = request.get("tools")
    return [t for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []


def attr(obj: Any, name: str) -> Any:
    """``obj.name``, or None when the object has no such attribute."""
    return getattr(obj, name, None)


def installed_class(module: str, *names: str) -> tuple[type, ...]:
    """The classes ``names`` of an already imported module (empty when it was never imported).

    Adapters recognise clients this way, so that instrumenting an OpenAI client never imports
    the anthropic package, and the other way round.
    """
    loaded = sys.modules.get(module)
    if loaded is None:
        return ()
    found = (getattr(loaded, n, None) for n in names)
    return tuple(c for c in found if isinstance(c, type))
