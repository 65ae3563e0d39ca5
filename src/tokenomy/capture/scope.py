"""Attribution scopes: ``tokenomy.context(...)`` says whose and which work the calls inside it are.

A scope is a :class:`contextvars.ContextVar` value, so it follows the code that runs inside it:
nested ``with`` blocks, the functions they call, and asyncio tasks created inside it (each task
copies the context it was created in). Nested scopes merge: the inner one's fields win, tags
are merged. Threads do not inherit context variables: pass the scope explicitly with
``tokenomy.run_in_context(tokenomy.context.current(), fn, ...)``, or run the function with
``contextvars.copy_context().run(fn)`` (``asyncio.to_thread`` does the latter by itself).

Tracing: the outermost scope starts a trace (or joins the application's current OpenTelemetry
span, when there is one). A scope that names a new ``agent`` opens an agent span: the calls made
inside it are children of that span, and a sub-agent's span is a child of its parent agent's
span, so a sub-agent's calls link back to the agent that started it (``parent_span_id``). The
agent span itself is exported by the OTLP target as an ``invoke_agent`` span.

Sessions: every call made in a scope with a ``session`` is numbered (``step`` 1, 2, 3...) in the
order the calls start, across all the scopes of that session in this process.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from contextvars import Context, ContextVar, Token, copy_context
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Never, ParamSpec, TypeVar, cast

from tokenomy.capture.ids import new_span_id, new_trace_id
from tokenomy.capture.otel import current_span
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.runtime import RUNTIME
from tokenomy.schema import Attribution, utc_now

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Scope:
    """What a scope attributes its calls to (the merged fields of every enclosing scope).

    Attributes:
        attribution: User, team, project, feature, intent, environment, agent and tags.
        session_id: The session (conversation or agent run) the calls belong to.
        trace_id: The trace the calls join (W3C hex).
        span_id: The innermost agent span, the parent of the calls made in the scope.
    """

    attribution: Attribution = field(default_factory=Attribution)
    session_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


SCOPE: Final[ContextVar[Scope | None]] = ContextVar("tokenomy_scope", default=None)
"""The context variable holding the current scope (``SCOPE.get()`` is :func:`current` without the call)."""


def current() -> Scope | None:
    """The scope the caller runs in, or None outside every ``tokenomy.context``."""
    return SCOPE.get()


def run_in_context(scope: Scope | None, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn(*args, **kwargs)`` inside ``scope`` (for work handed to another thread).

    Example::

        scope = tokenomy.context.current()
        pool.submit(tokenomy.run_in_context, scope, summarize, document)
    """
    token = SCOPE.set(scope)
    try:
        return fn(*args, **kwargs)
    finally:
        SCOPE.reset(token)


@dataclass(frozen=True, slots=True)
class _Opened:
    token: Token[Scope | None]
    scope: Scope
    parent_span_id: str | None = None
    agent: str | None = None
    started_at: datetime | None = None
    ended: list[bool] = field(default_factory=list)
    """Not empty once its end was handled (its agent span sent once, however many ways it ends)."""


def text_or_none(name: str, value: object, *, where: str = "tokenomy.context") -> str | None:
    """A name given to the capture API: a string, or None (an empty string means None: nothing is
    known). Anything else raises ValueError at the call: sent on, the store would refuse the batch."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: {name} must be a string or None, got {value!r}")
    return value


class context:  # noqa: N801  (a lower-case name: it reads as a function at the call site)
    """An attribution scope, used as ``with tokenomy.context(...):`` or as a decorator.

    Args:
        session: Session id (conversation or agent run); calls in it are numbered by step.
        user: End user the work is for.
        team: Team that owns the spend.
        project: Project.
        feature: Product feature.
        intent: What the work is for (``summarize``, ``triage``...).
        environment: ``production``, ``staging``...
        agent: Agent name; a new agent opens an agent span (see the module docstring).
        tags: Free key-value tags (values are turned into strings; a None value leaves the tag out).

    An empty string is taken as None (not known). The same object may decorate any number of
    functions, sync or async; each call of a decorated function opens its own scope. As a
    ``with`` block it returns the :class:`Scope`; several tasks may enter the same object at once.

    Raises:
        ValueError: A name is not a string (``session=123``), or ``tags`` is not a mapping.
        TypeError: A value given by position (``@tokenomy.context`` without parentheses).
    """

    current = staticmethod(current)

    def __init__(
        self,
        *given: Never,  # none: a value by position is refused, with how to write it
        session: str | None = None,
        user: str | None = None,
        team: str | None = None,
        project: str | None = None,
        feature: str | None = None,
        intent: str | None = None,
        environment: str | None = None,
        agent: str | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> None:
        if given:
            first: object = given[0]
            what = "a function" if callable(first) else repr(first)
            raise TypeError(
                f"tokenomy.context takes its fields by name (session=..., team=...), not {what}; as a "
                "decorator, write @tokenomy.context(...) with its parentheses"
            )
        names = {"user": user, "team": team, "project": project, "feature": feature, "intent": intent}
        names |= {"environment": environment, "agent": agent}
        fields = {name: text_or_none(name, value) for name, value in names.items()}
        if tags is not None and not isinstance(tags, Mapping):
            raise ValueError(f"tokenomy.context: tags must be a mapping, got {tags!r}")
        self._session = text_or_none("session", session)
        self._agent = fields["agent"]
        kept = {str(k): str(v) for k, v in (tags or {}).items() if v is not None}  # None: no value
        self._attribution = Attribution(**fields, tags=kept)
        self._open_blocks: list[_Opened] = []

    def __enter__(self) -> Scope:
        opened = self._open()
        self._open_blocks.append(opened)
        return opened.scope

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # The block this task or thread entered: the one whose scope is current here (the same
        # object may be entered by several tasks at once, which need not exit in reverse order).
        now = SCOPE.get()
        opened = next((o for o in reversed(self._open_blocks) if o.scope is now), self._open_blocks[-1])
        self._open_blocks.remove(opened)
        if opened.scope is not now:
            RUNTIME.log.note(
                "scope",
                "tokenomy.context: a with block ended while a scope opened inside it was still open "
                "(a with block around a yield, in generators read in turn?): calls after it may be "
                "attributed to the wrong scope; decorate the generator function instead",
            )
        self._close(opened)

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate a function (sync or async) so that each of its calls runs in a fresh scope.

        A generator function (sync or async: a streamed answer, say) gets a scope per generator,
        open from its first step to its end; its steps run in a context of their own, so the code
        that iterates it stays outside the scope between two items.

        Raises:
            TypeError: ``func`` is a class (it would become a function: ``isinstance`` and
                subclassing would break) or cannot be called.
        """
        if isinstance(func, type) or not callable(func):
            what = f"the class {func.__name__}" if isinstance(func, type) else repr(func)
            raise TypeError(
                f"@tokenomy.context(...) decorates functions and methods, not {what}; decorate the methods "
                "whose calls should run in the scope, or use it as a with block"
            )
        if inspect.isasyncgenfunction(func):
            return cast(Callable[P, R], self._async_generator(func))
        if inspect.isgeneratorfunction(func):
            return cast(Callable[P, R], self._generator(func))
        if inspect.iscoroutinefunction(func):
            run_async = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def scoped_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                opened = self._open()
                try:
                    return await run_async(*args, **kwargs)
                finally:
                    self._close(opened)

            return cast(Callable[P, R], scoped_async)

        @functools.wraps(func)
        def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
            opened = self._open()
            try:
                result = func(*args, **kwargs)
            except BaseException:
                self._close(opened)
                raise
            return cast(R, self._later(result, opened))

        return scoped

    def _later(self, result: Any, opened: _Opened) -> Any:
        """What a function that is none of the kinds :meth:`__call__` tells apart returned, with the
        scope closed here, and open again around the work it returned when that is still to run:
        a coroutine (an async function behind a sync wrapper, an object whose ``__call__`` is
        async), or a generator (a function that returns one). Anything else is returned as it is."""
        ctx = copy_context() if inspect.isgenerator(result) or inspect.isasyncgen(result) else None
        SCOPE.reset(opened.token)  # the caller's code after the call is outside the scope
        work: Any
        if inspect.iscoroutine(result):
            work = self._awaited(result, opened)
        elif ctx is not None and inspect.isgenerator(result):
            work = self._steps(ctx, lambda: result, opened)
        elif ctx is not None:
            work = self._async_steps(ctx, lambda: result, opened)
        else:
            self._ended(opened)
            return result
        weakref.finalize(work, self._ended, opened)  # work never run still ends (its agent span is sent)
        # still held at exit: ended before the sinks shut down (a finalizer may run after them)
        key = weakref.ref(work, _forget)
        RUNTIME.open_calls[key] = lambda _work: self._ended(opened)
        return work

    async def _awaited(self, work: Awaitable[Any], opened: _Opened) -> Any:
        token = SCOPE.set(opened.scope)
        try:
            return await work
        finally:
            SCOPE.reset(token)
            self._ended(opened)

    def _generator(
        self, func: Callable[..., Generator[Any, Any, Any]]
    ) -> Callable[..., Generator[Any, Any, Any]]:
        @functools.wraps(func)
        def scoped_generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            # The context the generator is made in (a request's), not the one it is first read in
            # (a streaming response is read after its handler returned): its scope merges with that.
            return self._steps(copy_context(), functools.partial(func, *args, **kwargs), None)

        return scoped_generator

    def _steps(
        self, ctx: Context, make: Callable[[], Generator[Any, Any, Any]], opened: _Opened | None
    ) -> Generator[Any, Any, Any]:
        """The generator ``make()`` gives, each of its steps run in ``ctx``, in the scope opened
        there at its first step (or ``opened``, already current in ``ctx``)."""
        if opened is None:
            opened = ctx.run(self._open)
        try:
            inner = ctx.run(make)
            step: Callable[[], Any] = functools.partial(inner.send, None)
            while True:
                try:
                    item = ctx.run(step)
                except StopIteration as stop:
                    return stop.value
                try:
                    sent = yield item
                except GeneratorExit:
                    ctx.run(inner.close)
                    raise
                except BaseException as exc:  # thrown in by the caller: passed to the generator
                    step = functools.partial(inner.throw, exc)
                else:
                    step = functools.partial(inner.send, sent)
        finally:
            self._ended(opened)

    def _async_generator(
        self, func: Callable[..., AsyncGenerator[Any, Any]]
    ) -> Callable[..., AsyncGenerator[Any, Any]]:
        @functools.wraps(func)
        def scoped_async_generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            return self._async_steps(copy_context(), functools.partial(func, *args, **kwargs), None)

        return scoped_async_generator

    async def _async_steps(
        self, ctx: Context, make: Callable[[], AsyncGenerator[Any, Any]], opened: _Opened | None
    ) -> AsyncGenerator[Any, Any]:
        """:meth:`_steps` for an async generator: each step a task in ``ctx``."""
        if opened is None:
            opened = ctx.run(self._open)
        try:
            inner = ctx.run(make)
            step: Callable[[], Awaitable[Any]] = functools.partial(inner.asend, None)
            while True:
                try:
                    item = await _in_context(ctx, step)
                except StopAsyncIteration:
                    return
                try:
                    sent = yield item
                except GeneratorExit:
                    await _in_context(ctx, inner.aclose)
                    raise
                except BaseException as exc:  # thrown in by the caller: passed to the generator
                    step = functools.partial(inner.athrow, exc)
                else:
                    step = functools.partial(inner.asend, sent)
        finally:
            self._ended(opened)

    def _open(self) -> _Opened:
        outer = SCOPE.get()
        attribution = outer.attribution.merged(self._attribution) if outer else self._attribution
        session = self._session or (outer.session_id if outer else None)
        if self._session:
            RUNTIME.steps.open(self._session)
        # the application's current OpenTelemetry span, where no agent span of tokenomy's is nearer
        otel = current_span() if outer is None or outer.span_id is None else None
        trace_id: str | None
        parent: str | None
        if outer is not None and outer.span_id is not None:
            trace_id, parent = outer.trace_id, outer.span_id  # under an agent: its trace, its span
        elif otel is not None:
            trace_id, parent = otel  # outermost, or under a scope of attribution alone: the app's span
        elif outer is None or (self._session and self._session != outer.session_id):
            # An outermost scope, or a session opened inside a scope of attribution alone (a
            # worker's, around many requests), starts a trace of its own: the worker's calls outside
            # it are no session's, where reports would give them their trace's one session.
            trace_id, parent = new_trace_id(), None
        else:
            trace_id, parent = outer.trace_id, None
        new_agent = self._agent is not None and (outer is None or outer.attribution.agent != self._agent)
        span_id = new_span_id() if new_agent else (outer.span_id if outer else None)
        scope = Scope(attribution, session, trace_id, span_id)
        token = SCOPE.set(scope)
        if not new_agent:
            return _Opened(token, scope)
        return _Opened(token, scope, parent, self._agent, utc_now())

    def _close(self, opened: _Opened) -> None:
        SCOPE.reset(opened.token)
        self._ended(opened)

    def _ended(self, opened: _Opened) -> None:
        """The scope's work is over: its agent span (if it opened one) is sent, once."""
        if opened.ended:
            return
        opened.ended.append(True)
        sink = RUNTIME.sink
        scope = opened.scope
        if opened.agent is None or sink is None or opened.started_at is None:
            return
        ended = utc_now()
        sink.submit(
            AgentSpan(
                trace_id=scope.trace_id or new_trace_id(),
                span_id=scope.span_id or new_span_id(),
                name=opened.agent,
                started_at=opened.started_at,
                ended_at=ended,
                parent_span_id=opened.parent_span_id,
                session_id=scope.session_id,
                attribution=scope.attribution,
            )
        )


def _forget(key: weakref.ref[Any]) -> None:
    """The work a scope returned is gone: no longer one to end at exit."""
    RUNTIME.open_calls.pop(key, None)


async def _in_context(ctx: Context, step: Callable[[], Awaitable[Any]]) -> Any:
    """Await ``step()`` with ``ctx`` as the current context (a task of its own: the only way an
    awaitable runs in a given context), as the step of a decorated async generator."""

    async def run() -> Any:
        return await step()

    return await asyncio.get_running_loop().create_task(run(), context=ctx)
