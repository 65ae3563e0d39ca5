"""Attribution scopes: nesting, decorators, asyncio tasks, threads, sessions and agent spans."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanContext

import tokenomy
from tests.analysis import builders
from tests.capture.support import MemoryTarget, sink_with
from tokenomy import capture
from tokenomy.analysis.sessions import top_sessions
from tokenomy.capture.ids import is_span_id, is_trace_id
from tokenomy.capture.otel import current_span
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.scope import Scope, current
from tokenomy.config import Config
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call
from tokenomy.store import open_store


@pytest.fixture
def spans() -> Iterator[MemoryTarget]:
    target = MemoryTarget()
    RUNTIME.configure(sink_with(target), config=Config())
    yield target
    RUNTIME.shutdown(10)


def test_outside_every_scope_there_is_none() -> None:
    assert capture.context.current() is None
    assert current() is None


def test_nested_scopes_merge_inner_fields_win_and_tags_merge() -> None:
    with capture.context(session="s", user="ana", team="core", tags={"a": 1, "b": "x"}):
        with capture.context(team="search", intent="lookup", tags={"b": "y", "c": True}) as inner:
            assert inner.attribution.user == "ana"
            assert inner.attribution.team == "search"
            assert inner.attribution.intent == "lookup"
            assert dict(inner.attribution.tags) == {"a": "1", "b": "y", "c": "True"}
            assert inner.session_id == "s"
        outer = capture.context.current()
        assert outer is not None
        assert outer.attribution.team == "core"
        assert dict(outer.attribution.tags) == {"a": "1", "b": "x"}
    assert capture.context.current() is None


def test_a_decorator_opens_a_fresh_scope_per_call_for_sync_and_async_functions() -> None:
    scoped = capture.context(feature="summaries")

    @scoped
    def sync_work(x: int) -> tuple[int, Scope | None]:
        return x * 2, capture.context.current()

    @scoped
    async def async_work(x: int) -> tuple[int, Scope | None]:
        await asyncio.sleep(0)
        return x + 1, capture.context.current()

    value, seen = sync_work(4)
    assert value == 8
    assert seen is not None
    assert seen.attribution.feature == "summaries"
    value, seen = asyncio.run(async_work(4))
    assert value == 5
    assert seen is not None
    assert seen.attribution.feature == "summaries"
    assert sync_work.__name__ == "sync_work"
    assert capture.context.current() is None


def test_asyncio_tasks_keep_the_scope_they_were_created_in() -> None:
    async def read(delay: float) -> str | None:
        await asyncio.sleep(delay)
        scope = capture.context.current()
        return None if scope is None else scope.attribution.user

    async def main() -> list[str | None]:
        tasks = []
        for user in ("ana", "bo"):
            with capture.context(user=user):
                tasks.append(asyncio.create_task(read(0.01)))
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == ["ana", "bo"]


def test_threads_get_the_scope_only_when_it_is_passed() -> None:
    def user() -> str | None:
        scope = capture.context.current()
        return None if scope is None else scope.attribution.user

    with capture.context(user="ana"), ThreadPoolExecutor(max_workers=1) as pool:
        scope = capture.context.current()
        assert pool.submit(user).result() is None  # threads do not inherit context variables
        assert pool.submit(capture.run_in_context, scope, user).result() == "ana"
        assert pool.submit(contextvars.copy_context().run, user).result() == "ana"
    seen: list[str | None] = []
    with capture.context(user="bo"):
        thread = threading.Thread(target=lambda: seen.append(capture.run_in_context(None, user)))
        thread.start()
        thread.join()
    assert seen == [None]


def test_a_new_agent_opens_a_span_whose_parent_is_the_parent_agent(spans: MemoryTarget) -> None:
    with capture.context(session="run-1", agent="planner") as planner:
        with capture.context(user="ana") as same_agent:
            assert same_agent.span_id == planner.span_id  # no new agent: no new span
        with capture.context(agent="researcher") as researcher:
            pass
    assert planner.trace_id is not None
    assert is_trace_id(planner.trace_id)
    assert planner.span_id is not None
    assert is_span_id(planner.span_id)
    assert researcher.trace_id == planner.trace_id
    assert researcher.span_id not in (None, planner.span_id)
    assert capture.flush(10) is True
    finished = [r for r in spans.records if isinstance(r, AgentSpan)]
    assert [(s.name, s.span_id, s.parent_span_id) for s in finished] == [
        ("researcher", researcher.span_id, planner.span_id),
        ("planner", planner.span_id, None),
    ]
    assert all(s.session_id == "run-1" and s.ended_at >= s.started_at for s in finished)


def test_scopes_join_the_applications_current_opentelemetry_span() -> None:
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=False
    )
    with trace.use_span(NonRecordingSpan(parent)), capture.context(agent="worker") as scope:
        assert scope.trace_id == "0af7651916cd43dd8448eb211c80319c"
    with capture.context() as plain:
        assert plain.trace_id != "0af7651916cd43dd8448eb211c80319c"
    assert scope.span_id != "b7ad6b7169203331"


def test_steps_number_themselves_per_session_across_scopes() -> None:
    with capture.context(session="numbered"):
        first = RUNTIME.steps.take("numbered")
    with capture.context(session="numbered"):
        second = RUNTIME.steps.take("numbered")
    assert (first, second) == (1, 2)
    assert RUNTIME.steps.knows("numbered") is True
    assert RUNTIME.steps.knows("never-opened") is False


def test_a_call_outside_every_scope_joins_the_current_opentelemetry_span_and_only_that() -> None:
    parent = SpanContext(trace_id=0x1F, span_id=0x2E, is_remote=False)
    assert current_span() is None  # nothing attached to OpenTelemetry's context: no span to join
    with trace.use_span(NonRecordingSpan(parent)):
        assert current_span() == ("0" * 30 + "1f", "0" * 14 + "2e")
        with trace.use_span(NonRecordingSpan(INVALID_SPAN_CONTEXT)):
            assert current_span() is None  # a span is attached, but it is not a valid one
    assert current_span() is None


def test_instrumented_calls_take_their_parent_from_the_opentelemetry_span_they_run_in(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="sk-otel", max_retries=0))
    chat: Any = [{"role": "user", "content": "Hi"}]
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0x00F067AA0BA902B7, is_remote=True
    )
    with trace.use_span(NonRecordingSpan(parent)):
        client.chat.completions.create(model="gpt-4o-mini", messages=chat)
    client.chat.completions.create(model="gpt-4o-mini", messages=chat)
    assert capture.flush(30) is True
    inside, outside = [r for r in recorded.records if isinstance(r, Call)]
    assert (inside.trace_id, inside.parent_span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "00f067aa0ba902b7",
    )
    assert outside.parent_span_id is None
    assert outside.trace_id != inside.trace_id


def test_a_decorator_without_its_parentheses_says_how_to_write_it() -> None:
    with pytest.raises(TypeError, match=r"write @tokenomy.context\(...\) with its parentheses"):

        @tokenomy.context  # type: ignore[arg-type]
        def handler() -> None:
            """Never run."""

    with pytest.raises(TypeError, match=r"by name .* not 'chat-42'"):
        tokenomy.context("chat-42")  # type: ignore[arg-type]


def test_a_class_or_a_value_cannot_be_decorated() -> None:
    """A class became a function (``isinstance`` and subclassing then failed far from the cause)."""
    with pytest.raises(TypeError, match=r"decorates functions and methods, not the class Planner"):

        @tokenomy.context(agent="planner")
        class Planner:
            """Never made."""

    with pytest.raises(TypeError, match=r"not 'planner'"):
        tokenomy.context(agent="planner")("planner")  # type: ignore[arg-type]


def test_a_session_opened_inside_a_workers_scope_has_a_trace_of_its_own(tmp_path: Path) -> None:
    """A worker's scope around many requests kept one trace for all of them: reports gave its
    session-less calls (a nightly job's) the alphabetically first session of that trace, 50 times
    that session's own cost."""
    with capture.context(team="support") as worker:
        with capture.context(session="zeta-req") as zeta, capture.context(session="zeta-req") as again:
            assert again.trace_id == zeta.trace_id  # the same session: the same trace
        with capture.context(session="alpha-req") as alpha:
            pass
    assert len({worker.trace_id, zeta.trace_id, alpha.trace_id}) == 3
    store = open_store(tmp_path / "t.duckdb")
    store.insert_calls(
        [
            builders.call("z", session_id="zeta-req", trace_id=worker.trace_id, cost=builders.cost("0.01")),
            builders.call("a", session_id="alpha-req", trace_id=worker.trace_id, cost=builders.cost("0.02")),
            builders.call("job", trace_id=worker.trace_id, cost=builders.cost("5")),  # no session's
        ]
    )
    listed = top_sessions(store, top=10)
    assert {s.session_id: s.llm_cost for s in listed.rows} == {
        "alpha-req": Decimal("0.02"),
        "zeta-req": Decimal("0.01"),
    }
    assert listed.no_session_calls == 1


def test_the_decorator_scopes_the_work_a_plain_function_returns_to_run_later() -> None:
    """An object whose __call__ is async, an async function behind a sync functools.wraps wrapper, and
    a function returning a generator all ran with no attribution: the scope had closed when their
    work ran."""
    seen: list[str | None] = []

    def team() -> None:
        scope = capture.context.current()
        seen.append(scope.attribution.team if scope else None)

    class Handler:
        async def __call__(self) -> str:
            team()
            return "done"

    async def work() -> int:
        await asyncio.sleep(0)
        team()
        return 7

    @functools.wraps(work)
    def sync_wrapper() -> Any:
        return work()

    def numbers() -> Iterator[int]:
        def gen() -> Iterator[int]:
            for n in (1, 2):
                team()
                yield n

        return gen()

    handler = capture.context(team="obj")(Handler())
    wrapped = capture.context(team="wrapped")(sync_wrapper)
    returned = capture.context(team="gen")(numbers)

    async def main() -> tuple[str, int]:
        first = await handler()
        assert capture.context.current() is None
        return first, await wrapped()

    assert asyncio.run(main()) == ("done", 7)
    produced = returned()
    assert capture.context.current() is None  # the caller's code after the call is outside the scope
    assert list(produced) == [1, 2]
    assert seen == ["obj", "wrapped", "gen", "gen"]


def test_a_decorated_generator_takes_the_scope_it_was_made_in_not_the_one_it_is_read_in() -> None:
    """A streaming handler makes the generator inside the request's scope and the server reads it
    after the handler returned: the call inside lost its session, team and user."""

    @capture.context(intent="stream-answer")
    def answer() -> Iterator[Scope | None]:
        yield capture.context.current()

    with capture.context(session="req-1", team="search"):
        stream = answer()
    (inside,) = list(stream)
    assert inside is not None
    assert (inside.session_id, inside.attribution.team, inside.attribution.intent) == (
        "req-1",
        "search",
        "stream-answer",
    )


def test_with_blocks_that_end_out_of_order_are_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two generators that each hold a with block across their yields, read in turn: the blocks end
    out of order, and calls after them were attributed to the wrong scope with nothing said."""
    monkeypatch.setattr(RUNTIME, "log", type(RUNTIME.log)())  # a fresh rate limit

    def held(team: str) -> Iterator[None]:
        with capture.context(team=team):
            yield
            yield

    def interleaved() -> None:  # in a context of its own: the out-of-order ends leave a scope behind
        a, b = held("a"), held("b")
        next(a), next(b)
        for rest in (a, b):
            list(rest)

    with caplog.at_level("WARNING", logger="tokenomy"):
        contextvars.copy_context().run(interleaved)
    assert capture.context.current() is None
    assert [
        r.getMessage() for r in caplog.records if "ended while a scope opened inside it" in r.getMessage()
    ]


def test_a_session_opened_inside_an_agent_or_an_application_trace_stays_in_it(spans: MemoryTarget) -> None:
    """A sub-agent with a session of its own was put in a new trace with no parent, and a session
    opened under the application's OpenTelemetry span left that trace."""
    planner_scope = capture.context(agent="planner", session="run-1")
    with (
        planner_scope as planner,
        capture.context(agent="researcher", session="run-1/researcher") as researcher,
    ):
        pass
    assert researcher.trace_id == planner.trace_id
    capture.flush(10)
    parents = {s.name: s.parent_span_id for s in spans.records if isinstance(s, AgentSpan)}
    assert parents["researcher"] == planner.span_id
    context = SpanContext(0xABC, 0xDEF, is_remote=False)
    with (
        trace.use_span(NonRecordingSpan(context)),
        capture.context(team="web"),
        capture.context(session="req-9") as request,
    ):
        pass
    assert (request.trace_id, request.span_id) == (f"{0xABC:032x}", None)


def test_an_agent_whose_returned_work_never_runs_still_sends_its_span(spans: MemoryTarget) -> None:
    """A decorated function returning a generator that is never read sent no agent span."""
    import gc

    @capture.context(agent="planner")
    def plan() -> Iterator[int]:
        return iter(range(3))

    @capture.context(agent="drafter")
    def draft() -> Iterator[int]:
        return (n for n in range(3))

    assert list(plan()) == [0, 1, 2]
    unread = draft()
    del unread
    gc.collect()
    capture.flush(10)
    assert sorted(s.name for s in spans.records if isinstance(s, AgentSpan)) == ["drafter", "planner"]


def test_an_agent_under_a_scope_of_attribution_alone_is_a_child_of_the_applications_span(
    spans: MemoryTarget,
) -> None:
    """A middleware's scope (a team) under the application's span, then an agent with its session:
    the agent span was a second root of the application's trace; a worker's scope opened before the
    application's span put the session in a trace of its own, apart from its calls."""
    app_span = SpanContext(0xABC, 0xDEF, is_remote=False)
    with (
        trace.use_span(NonRecordingSpan(app_span)),
        capture.context(team="web"),
        capture.context(agent="planner", session="req-1") as inside,
    ):
        pass
    with (
        capture.context(team="worker"),
        trace.use_span(NonRecordingSpan(app_span)),
        capture.context(agent="drafter", session="req-2") as later,
    ):
        pass
    with (
        capture.context(team="worker"),
        trace.use_span(NonRecordingSpan(app_span)),
        capture.context(agent="checker"),  # no session of its own: it stayed in the worker's trace
    ):
        pass
    capture.flush(10)
    parents = {s.name: (s.trace_id, s.parent_span_id) for s in spans.records if isinstance(s, AgentSpan)}
    app = (f"{0xABC:032x}", f"{0xDEF:016x}")
    assert parents == {"planner": app, "drafter": app, "checker": app}
    assert inside.trace_id == later.trace_id == f"{0xABC:032x}"
