"""``tokenomy.instrument(client)``: record every LLM call an official SDK client makes.

Both SDKs send every API call through one method, ``client.request(cast_to, options, *,
stream, stream_cls)``, with the request path in ``options.url`` and the JSON body in
``options.json_data``. Instrumenting sets that method, on the client object only, to a wrapper;
the client's class, its resources, helpers (``.parse``, ``.stream``, ``with_raw_response``)
and every attribute are unchanged, and ``isinstance`` still holds. ``client.copy()`` and
``client.with_options()`` return instrumented copies. Instrumenting twice changes nothing.

The wrapper's work on the caller's path is a dictionary lookup when capture is off, and, for an
LLM path, a few clock readings, the scope's attribution, a shallow copy of the body's top level and
one queue append (ids are drawn later); the Call is built later on the sink's thread
(:mod:`tokenomy.capture.calls`). An exception from the SDK is re-raised as it is (same object,
same traceback) after the failure is recorded; a problem in tokenomy's own bookkeeping is logged
(rate-limited) and never reaches the caller.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from tokenomy.capture.api import checked_options
from tokenomy.capture.budget import AdmitRequest, Enforcer, Ticket
from tokenomy.capture.captured import DONE, FAILED, Captured
from tokenomy.capture.client import ClientState, state_for
from tokenomy.capture.log import brief
from tokenomy.capture.otel import current_span
from tokenomy.capture.raw import watch_raw
from tokenomy.capture.retries import CURRENT, wrap_retries
from tokenomy.capture.runtime import RUNTIME, Redact
from tokenomy.capture.scope import SCOPE as _SCOPE
from tokenomy.capture.sdk.base import ErrorInfo, Route
from tokenomy.capture.sdk.registry import adapter_for
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import settings_from_config, spool_for, target_for
from tokenomy.capture.streams import watch_stream
from tokenomy.config import load
from tokenomy.errors import BudgetExceeded, ConfigError
from tokenomy.schema import Status

ClientT = TypeVar("ClientT")

_OTEL: Final = "opentelemetry.trace"  # looked up only once someone else imported it (capture/otel.py)

MARK: Final = "_tokenomy_capture"
"""The attribute an instrumented client carries (its :class:`ClientState`)."""


def instrument(
    client: ClientT,
    *,
    sink: Sink | str | None = None,
    capture_content: bool | None = None,
    redact: Redact | None = None,
    budget: Enforcer | None = None,
) -> ClientT:
    """Record the LLM calls ``client`` makes; returns the same client object.

    Args:
        client: An ``openai.OpenAI``, ``AsyncOpenAI``, ``AzureOpenAI``, ``anthropic.Anthropic`` or
            ``AsyncAnthropic`` client.
        sink: This client's own sink (a :class:`Sink` or a sink URL); None uses the process's
            (``tokenomy.configure``, or ``TOKENOMY_SINK``).
        capture_content: Keep prompt and completion text for this client (None: the process's
            setting, off by default).
        redact: Applied to captured text before it leaves the process (None: the process's).
        budget: Enforce budgets before each call (``tokenomy.budgets.SdkBudget``): a hard budget
            raises ``tokenomy.BudgetExceeded`` before the call is sent, a soft one downgrades it
            (capture/budget.py).

    Returns:
        ``client`` itself, instrumented (an already instrumented client is returned unchanged, when
        no setting given differs from those it was instrumented with; a sink URL always differs, as
        it would make a new sink).

    Raises:
        ConfigError: ``client`` is not a supported SDK client, or an argument is one ``configure``
            refuses (``sink`` not a valid URL or Sink, ``redact`` not callable, ``capture_content``
            not true or false), ``budget`` is not an enforcer (no ``admit`` and ``aadmit``), or
            ``client`` is already instrumented with other settings than those given; the client is
            left unchanged.
    """
    capture_content = checked_options("instrument", sink, capture_content, redact)
    if budget is not None and not all(callable(getattr(budget, name, None)) for name in ("admit", "aadmit")):
        raise ConfigError(
            f"instrument: budget must be a budget enforcer (tokenomy.budgets.SdkBudget), got {budget!r}"
        )
    state = getattr(client, "__dict__", {}).get(MARK)
    if isinstance(state, ClientState):
        _same_settings(state, sink, capture_content, redact, budget)
        return client
    adapter = adapter_for(client)
    if isinstance(sink, str):
        config = load()
        settings = settings_from_config(config)
        target = target_for(sink, config, timeout=settings.send_timeout)
        sink = Sink(target, settings, spool=spool_for(target, settings))
    if sink is not None:
        RUNTIME.track(sink)
    RUNTIME.configure_from_environment()
    RUNTIME.preload()
    _patch(client, state_for(client, adapter, sink, capture_content, redact, budget=budget))
    return client


def _same_settings(
    state: ClientState, sink: object, capture_content: bool | None, redact: object, budget: object
) -> None:
    """Refuse to instrument a client again with settings of its own it does not have: they would be
    ignored (a budget not enforced, content kept or not), so the second call says so instead."""
    asked = {"sink": sink, "capture_content": capture_content, "redact": redact, "budget": budget}
    differ = [  # a sink URL would make a new sink: never the one the client has
        name
        for name, value in asked.items()
        if value is not None and (isinstance(value, str) or value != getattr(state, name))
    ]
    if differ:
        raise ConfigError(
            f"instrument: this client is already instrumented, with other {', '.join(differ)}; "
            "instrument a new client for other settings (a copy made with with_options() keeps these)"
        )


def _patch(client: Any, state: ClientState) -> None:
    original = client.request
    wrap = _async_request if state.adapter.is_async(client) else _sync_request
    client.request = wrap(original, state)
    wrap_retries(client)
    setattr(client, MARK, state)
    for name in ("copy", "with_options"):
        make_copy = getattr(client, name, None)
        if callable(make_copy):
            setattr(client, name, _copying(make_copy, state))


def _copying(make_copy: Callable[..., Any], state: ClientState) -> Callable[..., Any]:
    def copy(*args: Any, **kwargs: Any) -> Any:
        made = make_copy(*args, **kwargs)
        if not isinstance(getattr(made, "__dict__", {}).get(MARK), ClientState):
            copied = state_for(
                made, state.adapter, state.sink, state.capture_content, state.redact, budget=state.budget
            )
            _patch(made, copied)
        return made

    return copy


def _sync_request(original: Callable[..., Any], state: ClientState) -> Callable[..., Any]:
    routes = state.routes

    def request(cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        sink = state.sink or RUNTIME.sink or state.budget_sink
        route = routes.get(options.url) if sink is not None else None
        if route is None or sink is None:
            return original(cast_to, options, stream=stream, stream_cls=stream_cls)
        try:
            captured = _facts(state, route, options)
        except Exception as exc:
            _not_begun(exc)
            return original(cast_to, options, stream=stream, stream_cls=stream_cls)
        if state.budget is not None:
            _take(captured, options, _admit(state.budget.admit, captured, sink))
        making = CURRENT.set((captured, sink))  # a retried try is recorded by the wait (capture/retries.py)
        try:
            result = original(cast_to, options, stream=stream, stream_cls=stream_cls)
        except BaseException as exc:
            _failed(captured, exc, sink)
            raise
        finally:
            CURRENT.reset(making)
        _done(captured, result, stream, sink, is_async=False)
        return result

    return request


def _async_request(original: Callable[..., Any], state: ClientState) -> Callable[..., Any]:
    routes = state.routes

    async def request(cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        sink = state.sink or RUNTIME.sink or state.budget_sink
        route = routes.get(options.url) if sink is not None else None
        if route is None or sink is None:
            return await original(cast_to, options, stream=stream, stream_cls=stream_cls)
        try:
            captured = _facts(state, route, options)
        except Exception as exc:
            _not_begun(exc)
            return await original(cast_to, options, stream=stream, stream_cls=stream_cls)
        if state.budget is not None:
            _take(captured, options, await _aadmit(state.budget.aadmit, captured, sink))
        making = CURRENT.set((captured, sink))
        try:
            result = await original(cast_to, options, stream=stream, stream_cls=stream_cls)
        except BaseException as exc:
            _failed(captured, exc, sink)
            raise
        finally:
            CURRENT.reset(making)
        _done(captured, result, stream, sink, is_async=True)
        return result

    return request


def _admit_request(captured: Captured) -> AdmitRequest:
    """What the budget enforcer is shown (the provider is read like the sink's thread reads it)."""
    from tokenomy.capture.build import provider_of  # noqa: PLC0415  (heavy: only clients with a budget)

    state, body = captured.client, captured.body or {}
    tools = state.adapter.tools(body)
    return AdmitRequest(
        provider_of(state), captured.route.api, body, tools, captured.keyed_attribution(), captured.session_id
    )


def _admit(admit: Callable[[AdmitRequest], Ticket | None], captured: Captured, sink: Sink) -> Ticket | None:
    """Ask the budget; a refusal is recorded (``rejected_budget``) and raised before anything is sent."""
    try:
        return admit(_admit_request(captured))
    except BudgetExceeded as exc:
        _refused(captured, exc, sink)
        raise
    except Exception as exc:
        RUNTIME.log.note("budget", f"tokenomy budget: could not check the budget ({brief(exc)}); call sent")
        return None


async def _aadmit(
    admit: Callable[[AdmitRequest], Awaitable[Ticket | None]], captured: Captured, sink: Sink
) -> Ticket | None:
    """:func:`_admit` for async clients."""
    try:
        return await admit(_admit_request(captured))
    except BudgetExceeded as exc:
        _refused(captured, exc, sink)
        raise
    except Exception as exc:
        RUNTIME.log.note("budget", f"tokenomy budget: could not check the budget ({brief(exc)}); call sent")
        return None


def _take(captured: Captured, options: Any, ticket: Ticket | None) -> None:
    """Keep the ticket (settled when the call is built) and apply its body changes to the request
    (to ``extra_body`` too where it names the same fields: laid over the body, it would undo them)."""
    if ticket is None:
        return
    captured.ticket = ticket
    changes = ticket.changes
    if changes and isinstance(options.json_data, dict):
        options.json_data = {**options.json_data, **changes}
        captured.body = {**(captured.body or {}), **changes}
        extra = getattr(options, "extra_json", None)
        if isinstance(extra, dict) and extra.keys() & changes.keys():
            options.extra_json = {**extra, **{k: v for k, v in changes.items() if k in extra}}


def _refused(captured: Captured, exc: BudgetExceeded, sink: Sink) -> None:
    """Record a call a budget refused; never raises (the caller gets the BudgetExceeded)."""
    try:
        captured.latency_ns = time.perf_counter_ns() - captured.t0
        captured.end = FAILED
        captured.error = ErrorInfo(Status.REJECTED_BUDGET, type(exc).__name__, exc.status)
        sink.submit(captured)
    except Exception as problem:
        RUNTIME.log.note("capture", f"tokenomy capture: could not record a refused call ({brief(problem)})")


def _not_begun(exc: Exception) -> None:
    """Reading the facts before a call failed: logged, and the call goes ahead unrecorded."""
    RUNTIME.log.note("capture", f"tokenomy capture: could not start recording a call ({brief(exc)})")


def _facts(state: ClientState, route: Route, options: Any) -> Captured:
    """The facts known before the call: body, scope, step, ids, clocks (no call that can be saved:
    this runs between the SDK's own thousands, on caches they have cooled)."""
    body = options.json_data
    if type(body) is dict:  # the SDK's own dict; its lists are copied in case the caller reuses them
        extra = options.extra_json  # extra_body: the SDK lays it over the body when it sends
        copied = {**body, **extra} if extra else body.copy()
        for key, value in copied.items():
            if type(value) is list:
                copied[key] = value.copy()
        body = copied
    captured = Captured(state, route, body if isinstance(body, dict) else None)
    scope = _SCOPE.get()
    if scope is not None:
        captured.attribution = scope.attribution
        session = captured.session_id = scope.session_id
        if session is not None:
            captured.step = RUNTIME.steps.take(session)
    if scope is not None and scope.span_id is not None:
        captured.trace_id, captured.parent_span_id = scope.trace_id or "", scope.span_id
    else:
        otel = current_span() if _OTEL in sys.modules else None
        if otel is not None:
            captured.trace_id, captured.parent_span_id = otel
        elif scope is not None:
            captured.trace_id = scope.trace_id or ""
    # A call's own span id (and a trace id when nothing names one) are drawn on the sink's thread.
    captured.started_ns = time.time_ns()
    captured.t0 = time.perf_counter_ns()
    return captured


def _done(captured: Captured, result: Any, stream: bool, sink: Sink, *, is_async: bool) -> None:
    """Hand a finished call (or a stream to watch) over; never raises."""
    try:
        if stream and watch_stream(result, captured, sink, is_async=is_async):
            return
        if watch_raw(result, captured, sink, stream=stream, is_async=is_async):
            return  # recorded when the caller reads it (tokenomy.capture.raw)
        captured.latency_ns = time.perf_counter_ns() - captured.t0
        captured.response = result
        captured.end = DONE
        sink.submit(captured.settled())
    except Exception as exc:
        RUNTIME.log.note(
            "capture", f"tokenomy capture: could not record a call ({brief(exc)}); the call itself succeeded"
        )


def _failed(captured: Captured, exc: BaseException, sink: Sink) -> None:
    """Record a call that raised; never raises itself (the caller gets the SDK's exception)."""
    try:
        captured.latency_ns = time.perf_counter_ns() - captured.t0
        captured.end = FAILED
        captured.error = captured.client.adapter.classify(exc, request=True)
        answer = getattr(exc, "completion", None)  # openai's finish-reason errors carry the billed answer
        if answer is not None and getattr(answer, "usage", None) is not None:
            captured.response = answer  # its usage, id and finish reason are recorded (and priced)
        sink.submit(captured.settled())
    except Exception as problem:
        RUNTIME.log.note("capture", f"tokenomy capture: could not record a failed call ({brief(problem)})")
