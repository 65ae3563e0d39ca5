"""Each try of a call the SDK retries is recorded: the failed ones as calls of their own.

Both SDKs retry inside ``client.request`` (the method instrumenting wraps): a 429, a 5xx, a timeout
or a dropped connection is tried again up to ``max_retries`` times, with a wait between tries. Seen
from the wrapper alone, a call that failed twice and then succeeded is one call, whose latency holds
the failed tries and the waits, and the failures are nowhere; the gateway, which sees each request
the SDK sends, records three. So the SDK's wait between tries (``_sleep_for_retry``, on the client
object, as ``request`` is) is wrapped too: before it waits, the try that failed is recorded as a
call of its own (copied from the call's facts, with its error and its own latency, no budget
ticket: the call settles once), and after it the call's clocks start again, so the call that is
finally recorded times its last try alone.

The call being made is known to the wait through a context variable the request wrapper sets
(:data:`CURRENT`), which follows the call into the SDK's code on its thread or task. An SDK without
the method (an older one) keeps the earlier reading: one call for all its tries.
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from tokenomy.capture.captured import FAILED, Captured
from tokenomy.capture.log import brief
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sdk.base import ErrorInfo, body_kind
from tokenomy.capture.sink.core import Sink
from tokenomy.schema import Status

CURRENT: Final[ContextVar[tuple[Captured, Sink] | None]] = ContextVar("tokenomy_capture_call", default=None)
"""The call the SDK is making on this thread or task, and the sink it goes to (set by the wrapper)."""
HOOK: Final = "_sleep_for_retry"
"""The SDKs' method that waits between two tries of a call."""


def wrap_retries(client: Any) -> None:
    """Set the client's wait between tries (when it has one) to one that records the failed try."""
    original = getattr(client, HOOK, None)
    if not callable(original):
        return
    if inspect.iscoroutinefunction(original):
        setattr(client, HOOK, _async_wait(original))
    else:
        setattr(client, HOOK, _sync_wait(original))


def _sync_wait(original: Callable[..., Any]) -> Callable[..., Any]:
    def wait(*args: Any, **kwargs: Any) -> Any:
        current = _tried(kwargs.get("response"))
        result = original(*args, **kwargs)
        _again(current)
        return result

    return wait


def _async_wait(original: Callable[..., Any]) -> Callable[..., Any]:
    async def wait(*args: Any, **kwargs: Any) -> Any:
        current = _tried(kwargs.get("response"))
        result = await original(*args, **kwargs)
        _again(current)
        return result

    return wait


def _tried(response: Any) -> Captured | None:
    """Record the try that failed of the call being made, if any (never raises: this runs inside the
    SDK's retry loop); that call, whose clocks restart after the wait (:func:`_again`)."""
    current = CURRENT.get()
    if current is None:
        return None
    captured, sink = current
    try:
        attempt = copy.copy(captured)
        attempt.ticket = None  # the call's reservation settles once, with its last try
        attempt.latency_ns = time.perf_counter_ns() - captured.t0
        attempt.end = FAILED
        attempt.error = _error(captured, response)
        sink.submit(attempt)
    except Exception as exc:
        RUNTIME.log.note("capture", f"tokenomy capture: could not record a retried try ({brief(exc)})")
    return captured


def _error(captured: Captured, response: Any) -> ErrorInfo:
    """Why the try failed: its answer's status and error type (read as the gateway reads them), else
    the exception the SDK is handling (a timeout, a dropped connection)."""
    status = getattr(response, "status_code", None)
    if type(status) is int:
        content = getattr(response, "_content", None)  # read only when the SDK has read the body
        try:
            body = json.loads(content) if isinstance(content, bytes | str) else None
        except ValueError:
            body = None
        return ErrorInfo(Status.ERROR, body_kind(body) or f"http_{status}", status)
    handled = sys.exc_info()[1]
    if handled is None:
        return ErrorInfo(Status.ERROR, "retried", None)
    classes = {c.__name__ for c in type(handled).__mro__}
    if "TransportError" in classes:
        # The SDK retries on its HTTP client's own exception (httpx's ReadTimeout, RemoteProtocolError),
        # and raises it on the last try as its own: a try is named as the SDK names that one.
        if "TimeoutException" in classes:
            return ErrorInfo(Status.TIMEOUT, "APITimeoutError")
        return ErrorInfo(Status.ERROR, "APIConnectionError")
    return captured.client.adapter.classify(handled, request=True)


def _again(captured: Captured | None) -> None:
    """The next try starts now: the call's clocks start again."""
    if captured is None:
        return
    captured.started_ns = time.time_ns()
    captured.t0 = time.perf_counter_ns()
