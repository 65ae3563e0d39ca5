"""Found by driving the capture API as an application would: context arguments, shared scopes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.capture.support import MemoryTarget
from tokenomy import capture
from tokenomy.capture.instrumenting import MARK
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.scope import Scope
from tokenomy.errors import ConfigError
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"session": 123}, "session"),
        ({"user": 42}, "user"),
        ({"agent": 7}, "agent"),
        ({"team": b"core"}, "team"),
        ({"tags": "tier=gold"}, "tags"),
        ({"tags": ["tier", "gold"]}, "tags"),
    ],
)
def test_a_wrongly_typed_context_argument_raises_at_the_call_site(
    arguments: dict[str, object], named: str
) -> None:
    # Accepted before, such a value reached the store and made it refuse the whole batch, the
    # calls made outside the scope included.
    with pytest.raises(ValueError, match=named):
        capture.context(**arguments)  # type: ignore[arg-type]
    assert capture.context.current() is None


def test_empty_names_mean_unknown_and_inherit_the_outer_scope(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    outer = capture.context(session="s-outer", team="core")
    with outer, capture.context(session="", user="", team="", tags={"k": 1}) as inner:
        assert (inner.session_id, inner.attribution.user, inner.attribution.team) == ("s-outer", None, "core")
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with capture.context(user="", feature="") as alone:
        assert (alone.attribution.user, alone.attribution.feature) == (None, None)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert capture.flush(10)
    calls = [r for r in recorded.records if isinstance(r, Call)]
    assert [
        (c.session_id, c.attribution.user, c.attribution.team, dict(c.attribution.tags)) for c in calls
    ] == [
        ("s-outer", None, "core", {"k": "1"}),
        (None, None, None, {}),
    ]


def test_one_context_object_entered_by_tasks_that_end_in_any_order(recorded: MemoryTarget) -> None:
    shared = capture.context(team="shared", agent="worker")

    async def work(delay: float) -> tuple[str | None, str | None]:
        async with shared as scope:
            await asyncio.sleep(delay)
            now = capture.context.current()
            assert now is scope
            return now.attribution.team, now.span_id

    async def main() -> tuple[tuple[str | None, str | None], ...]:
        # The first task to enter ends first: not the reverse order of the entries.
        return await asyncio.gather(work(0.01), work(0.02), work(0.03))

    results = asyncio.run(main())
    assert [team for team, _ in results] == ["shared", "shared", "shared"]
    assert capture.context.current() is None
    assert capture.flush(10)
    spans = [r for r in recorded.records if isinstance(r, AgentSpan)]
    assert sorted(s.span_id for s in spans) == sorted(span or "" for _, span in results)
    assert len({span for _, span in results}) == 3
    assert all(s.name == "worker" for s in spans)


def test_one_context_object_entered_twice_in_one_thread_still_unwinds_in_order() -> None:
    shared = capture.context(team="a")
    with shared as outer:
        with shared as inner:
            assert capture.context.current() is inner
        assert capture.context.current() is outer
    assert capture.context.current() is None


@pytest.mark.parametrize("given", ["path", "number"])
def test_configure_refuses_a_sink_that_is_not_a_url_instead_of_writing_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    # A Path (or anything not a URL) used to be ignored: the calls went to ./tokenomy.duckdb.
    monkeypatch.chdir(tmp_path)
    before = RUNTIME.sink
    sink = tmp_path / "usage.duckdb" if given == "path" else 123
    with pytest.raises(ConfigError, match="sink URL"):
        capture.configure(sink)  # type: ignore[arg-type]
    assert RUNTIME.sink is before
    assert list(tmp_path.iterdir()) == []


def test_configure_refuses_a_redact_hook_that_cannot_be_called(tmp_path: Path) -> None:
    before = RUNTIME.sink
    with pytest.raises(ConfigError, match="redact"):
        capture.configure(f"duckdb:{tmp_path / 'x.duckdb'}", redact="[card]")  # type: ignore[arg-type]
    assert RUNTIME.sink is before


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"sink": 123}, "sink must be a sink URL"),
        ({"sink": Path("usage.duckdb")}, "sink must be a sink URL"),
        ({"redact": "[card]"}, "redact must be a function"),
        ({"capture_content": "maybe"}, "'capture_content' must be true or false"),
        ({"capture_content": 1}, "'capture_content' must be true or false"),
    ],
)
def test_instrument_refuses_what_configure_refuses_before_changing_the_client(
    options: dict[str, object], refusal: str
) -> None:
    # Accepted before: every call of the client was then lost on the sink's thread, or its text kept.
    client = OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match=refusal):
        capture.instrument(client, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=refusal):
        capture.configure(**options)  # type: ignore[arg-type]
    assert MARK not in vars(client)
    assert "request" not in vars(client)


@pytest.mark.parametrize("budget", ["x", 5, object()])
def test_instrument_refuses_a_budget_that_is_no_enforcer_before_changing_the_client(budget: object) -> None:
    """Accepted before, it raised AttributeError into every call of the client, none of them sent."""
    client = OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match=r"budget must be a budget enforcer \(tokenomy.budgets.SdkBudget\)"):
        capture.instrument(client, budget=budget)  # type: ignore[arg-type]
    assert MARK not in vars(client)
    assert "request" not in vars(client)


def test_instrument_reads_capture_content_as_configure_does() -> None:
    client = OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    capture.instrument(client, capture_content="off")  # type: ignore[arg-type]
    assert vars(client)[MARK].capture_content is False


def test_one_context_object_entered_from_several_threads_at_once() -> None:
    shared = capture.context(team="pool")
    inside = threading.Barrier(4)
    seen: dict[int, Scope | None] = {}

    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with shared as scope:
                inside.wait(timeout=30)  # every thread has entered before any leaves
                seen[index] = capture.context.current()
                assert seen[index] is scope
            assert capture.context.current() is None
        except BaseException as exc:  # a thread's exception would not fail the test by itself
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(seen) == [0, 1, 2, 3]
    assert {s.attribution.team for s in seen.values() if s is not None} == {"pool"}
    assert len({id(s) for s in seen.values()}) == 4


def test_a_parse_cut_by_its_length_limit_keeps_the_billed_answer_s_usage(
    mock: MockThread, recorded: MemoryTarget
) -> None:
    """``.parse`` raises LengthFinishReasonError after a 2xx answer the provider billed in full."""
    from openai import LengthFinishReasonError
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    with pytest.raises(LengthFinishReasonError) as raised:
        client.chat.completions.parse(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            response_format=Answer,
            max_tokens=5,
            extra_headers={"X-Mock-Output-Tokens": "50"},
        )
    billed = raised.value.completion
    assert billed.usage is not None
    assert capture.flush(10)
    [call] = [r for r in recorded.records if isinstance(r, Call)]
    assert (call.id, call.status.value, call.error_type) == (billed.id, "error", "LengthFinishReasonError")
    assert (call.finish_reason, call.usage.input_total, call.usage.output_total) == (
        "length",
        billed.usage.prompt_tokens,
        billed.usage.completion_tokens,
    )
    assert call.usage.output_total == 5


def test_a_decorated_generator_runs_its_steps_in_its_scope_and_leaves_the_caller_outside() -> None:
    seen: list[tuple[str, str | None]] = []

    @capture.context(team="stream", session="s-gen")
    def answer(n: int) -> Generator[int, str | None, None]:
        try:
            for i in range(n):
                now = capture.context.current()
                seen.append(("inside", now.attribution.team if now else None))
                received = yield i
                if received is not None:
                    seen.append(("sent", str(received)))
        finally:
            now = capture.context.current()
            seen.append(("closing", now.attribution.team if now else None))

    gen = answer(3)
    assert next(gen) == 0
    seen.append(("caller", None if capture.context.current() is None else "leaked"))
    assert gen.send("x") == 1
    gen.close()  # abandoned early: the generator's finally still runs in its scope
    assert seen == [
        ("inside", "stream"),
        ("caller", None),
        ("sent", "x"),
        ("inside", "stream"),
        ("closing", "stream"),
    ]
    assert list(answer(2)) == [0, 1]
    assert capture.context.current() is None


def test_a_decorated_async_generator_runs_its_steps_in_its_scope() -> None:
    seen: list[tuple[str, str | None]] = []

    @capture.context(team="stream", session="s-agen")
    async def answer(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            now = capture.context.current()
            seen.append(("inside", now.attribution.team if now else None))
            yield i

    async def consume() -> list[int]:
        got = []
        async for item in answer(2):
            now = capture.context.current()
            seen.append(("caller", now.attribution.team if now else None))
            got.append(item)
        return got

    assert asyncio.run(consume()) == [0, 1]
    assert seen == [("inside", "stream"), ("caller", None), ("inside", "stream"), ("caller", None)]


def test_an_exception_thrown_into_a_decorated_generator_reaches_it() -> None:
    @capture.context(team="t")
    def answer() -> Generator[str, None, None]:
        try:
            yield "first"
        except KeyError as exc:
            now = capture.context.current()
            yield f"caught {exc.args[0]} in {now.attribution.team if now else None}"

    gen = answer()
    assert next(gen) == "first"
    assert gen.throw(KeyError("k")) == "caught k in t"


def test_a_tag_whose_value_is_none_is_left_out_rather_than_stored_as_the_text_none() -> None:
    with capture.context(tags={"region": "eu", "tier": None}) as scope:
        assert dict(scope.attribution.tags) == {"region": "eu"}
        made = capture.charge("0.5", "search_api", tags={"k": None, "n": 3})
    assert dict(made.attribution.tags) == {"region": "eu", "n": "3"}
