"""SDK enforcement: instrumented clients refuse before sending, downgrade the request, settle real usage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import anthropic
import httpx2
import openai
import pytest

import tokenomy
from tests.budgets.conftest import policy
from tokenomy.budgets import BudgetGuard, BudgetRequest, Rejection, SdkBudget, Window
from tokenomy.budgets.admission import Reservation
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.sdk import (
    API_FIELDS,
    SdkTicket,
    changes,
    choices,
    input_tokens,
    requested,
)
from tokenomy.budgets.windows import span_of
from tokenomy.capture.budget import AdmitRequest
from tokenomy.capture.runtime import RUNTIME
from tokenomy.mockllm import MockLLMConfig, MockThread, run_in_thread
from tokenomy.providers import thinks_unseen
from tokenomy.schema import Attribution

HELLO: Any = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockThread]:
    with run_in_thread(MockLLMConfig(seed=5)) as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_capture_sink(mock: MockThread) -> None:
    """Budgets are enforced with capture off (the client gets a settling-only sink)."""
    RUNTIME.shutdown(5)
    mock.reset()


def today_key() -> str:
    """The ledger account of the global daily policy ``p`` today (UTC)."""
    return f"p:*:{span_of(Window.DAY, ZoneInfo('UTC'), datetime.now(UTC)).id}"


def served(mock: MockThread) -> dict[str, dict[str, int]]:
    return {
        model: {"requests": s["requests"], "output": s["output_tokens"]}
        for model, s in mock.stats()["models"].items()
    }


def test_a_hard_budget_raises_before_the_call_leaves(mock: MockThread) -> None:
    guard = BudgetGuard([policy(limit_tokens=300)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, max_tokens=1_000, extra_headers={"X-Mock-Output-Tokens": "40"}
    )
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 40
    spent = guard.ledger.usage([today_key()])[0]
    assert spent == (reply.usage.prompt_tokens + 40, 0)  # settled to what was used, at once
    with pytest.raises(tokenomy.BudgetExceeded) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=100_000)
    assert caught.value.status == 429
    assert caught.value.type == "budget_exceeded"
    assert isinstance(caught.value.rejection, Rejection)
    assert served(mock) == {"gpt-4o-mini": {"requests": 1, "output": 40}}  # the refused call never left


def test_max_tokens_is_lowered_in_the_request_sent(mock: MockThread) -> None:
    guard = BudgetGuard([policy(limit_tokens=600)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, max_tokens=5_000, extra_headers={"X-Mock-Output-Tokens": "5000"}
    )
    assert reply.usage is not None
    counted = input_tokens({"messages": HELLO}, [], "gpt-4o-mini")
    assert reply.usage.completion_tokens == 600 - counted  # max_tokens was lowered to what fitted
    assert reply.usage.total_tokens <= 600


def test_extra_body_is_judged_and_lowered_as_the_body_is(mock: MockThread) -> None:
    """The SDK lays extra_body over the body: its max_tokens was sent unseen (reserved 50, used 5,000)."""
    guard = BudgetGuard([policy(limit_tokens=600)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=HELLO,
        max_tokens=50,
        extra_body={"max_tokens": 5_000},
        extra_headers={"X-Mock-Output-Tokens": "5000"},
    )
    assert reply.usage is not None
    counted = input_tokens({"messages": HELLO}, [], "gpt-4o-mini")
    assert reply.usage.completion_tokens == 600 - counted  # lowered where it was asked: in extra_body
    assert guard.ledger.usage([today_key()])[0] == (reply.usage.total_tokens, 0)


def test_a_soft_budget_downgrades_model_and_max_tokens(mock: MockThread) -> None:
    soft = policy(
        limit_tokens=100_000,
        mode="soft",
        soft_threshold="0.0001",
        downgrade=[{"model": "gpt-4o-mini", "max_tokens": 30}],
    )
    guard = BudgetGuard([soft], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
    )
    headers = {"X-Mock-Output-Tokens": "200"}
    first = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, max_tokens=500, extra_headers=headers
    )
    second = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, max_tokens=500, extra_headers=headers
    )
    assert first.model == "gpt-4o"
    assert second.model == "gpt-4o-mini"
    assert served(mock) == {
        "gpt-4o": {"requests": 1, "output": 200},
        "gpt-4o-mini": {"requests": 1, "output": 30},
    }


def test_a_stream_settles_what_it_streamed(mock: MockThread) -> None:
    guard = BudgetGuard([policy(limit_tokens=100_000)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        anthropic.Anthropic(base_url=mock.base_url, api_key="k"), budget=SdkBudget(guard)
    )
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=2_000,
        messages=HELLO,
        extra_headers={"X-Mock-Output-Tokens": "77"},
    ) as stream:
        final = stream.get_final_message()
    used = final.usage.input_tokens + final.usage.output_tokens
    assert final.usage.output_tokens == 77
    assert guard.ledger.usage([today_key()]) == [(used, 0)]


def test_streams_dropped_unread_or_left_early_are_charged_their_bound(mock: MockThread) -> None:
    """The provider writes what it writes whether the caller reads it or not: ten streams dropped
    unread went through a 3,000-token budget charged their input alone, 10,000 output tokens billed."""
    guard = BudgetGuard([policy(limit_tokens=3_000)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0), budget=SdkBudget(guard)
    )
    admitted = 0
    for n in range(10):
        try:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=HELLO,
                max_tokens=1_000,
                stream=True,
                extra_headers={"X-Mock-Output-Tokens": "1000"},
            )
        except tokenomy.BudgetExceeded:
            break
        admitted += 1
        if n % 2:
            for _chunk in stream:
                break  # left after its first chunk
        stream.close()
    assert tokenomy.flush(30) is True
    billed = sum(s["output_tokens"] + s["input_tokens"] for s in mock.stats()["models"].values())
    assert admitted == 3  # each charged its input and 1,000 output tokens: the third lowered to fit
    assert billed <= 3_000
    charged = guard.ledger.usage([today_key()])[0]
    assert charged is not None
    assert charged[0] >= billed  # charged at least what was billed


def test_async_clients_are_enforced_too(mock: MockThread) -> None:
    guard = BudgetGuard([policy(limit_tokens=1_000)], alerter=Alerter(quiet=True))
    client = tokenomy.instrument(
        openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="k"), budget=SdkBudget(guard)
    )

    async def run() -> str:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, max_tokens=950, extra_headers={"X-Mock-Output-Tokens": "950"}
        )
        try:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5_000)
        except tokenomy.BudgetExceeded as exc:
            return str(exc)
        return "admitted"

    assert "budget 'p' (global, 1,000 tokens per day (UTC)) is exhausted" in asyncio.run(run())


def test_body_fields_per_api() -> None:
    guard = BudgetGuard([policy(limit_usd="100")])
    found = guard.reserve(BudgetRequest(model="gpt-4o-mini", max_tokens=50))
    assert isinstance(found, Reservation)
    chat = {"model": "gpt-4o-mini", "max_tokens": 9_999, "reasoning_effort": "high"}
    assert requested(chat, API_FIELDS["chat"]) == (9_999, "high")
    assert changes(chat, API_FIELDS["chat"], found) == {"max_tokens": 50}
    assert changes({"model": "gpt-4o-mini"}, API_FIELDS["chat"], found) == {"max_tokens": 50}
    # a limit given as "1000" or 1000.0 bounds the reservation, and goes out as the granted int
    for given in ("1000", 1000.0):
        assert requested({"max_tokens": given}, API_FIELDS["chat"]) == (1000, None)
    assert changes(
        {"model": "gpt-4o-mini", "max_tokens": "10", "max_completion_tokens": 99}, API_FIELDS["chat"], found
    ) == {
        "max_tokens": 10,
        "max_completion_tokens": 50,
    }
    found.reasoning_effort = "low"
    found.model = "o4-mini"
    responses = {"model": "gpt-4o-mini", "reasoning": {"effort": "high", "summary": "auto"}}
    assert requested(responses, API_FIELDS["responses"]) == (None, "high")
    assert changes(responses, API_FIELDS["responses"], found) == {
        "model": "o4-mini",
        "max_output_tokens": 50,
        "reasoning": {"effort": "low", "summary": "auto"},
    }
    assert changes({"model": "o4-mini", "max_tokens": 10}, API_FIELDS["messages"], found) == {
        "max_tokens": 50
    }


def test_input_is_counted_from_messages_system_and_tools() -> None:
    body = {"messages": [{"role": "user", "content": "hello there"}], "system": "be brief"}
    tools = [
        {"name": "lookup", "description": "find a thing", "parameters": {"type": "object", "properties": {}}}
    ]
    alone = input_tokens({"messages": body["messages"]}, [], "gpt-4o")
    assert alone > 0
    assert input_tokens(body, [], "gpt-4o") == alone + 2  # "be brief" is two tokens
    assert input_tokens(body, tools, "gpt-4o") > alone + 2
    assert input_tokens({"input": "hello there"}, [], "gpt-4o") == 2


def test_a_legacy_completions_prompt_list_is_counted() -> None:
    """Prompts as a list of strings or of token ids reserve their tokens (they reserved none)."""
    assert input_tokens({"prompt": "hello there"}, [], "gpt-4o") == 2
    assert input_tokens({"prompt": ["hello there", "be brief"]}, [], "gpt-4o") == 4
    assert input_tokens({"prompt": [15339, 1070, 11]}, [], "gpt-4o") == 3
    assert input_tokens({"prompt": [[15339, 1070], [11]]}, [], "gpt-4o") == 3


def test_anthropic_refused_before_sending_and_a_lower_effort_goes_on_the_wire(mock: MockThread) -> None:
    hard = BudgetGuard([policy(limit_tokens=50)], alerter=Alerter(quiet=True))
    claude = tokenomy.instrument(
        anthropic.Anthropic(base_url=mock.base_url, api_key="k"), budget=SdkBudget(hard)
    )
    with pytest.raises(tokenomy.BudgetExceeded) as caught:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=1_000, messages=HELLO)
    assert "budget 'p' (global, 50 tokens per day (UTC)) is exhausted" in str(caught.value)
    assert served(mock) == {}  # nothing left the process
    sent: list[dict[str, Any]] = []

    def keep(request: httpx2.Request) -> None:
        sent.append(json.loads(request.read()))

    soft = policy(
        limit_tokens=100_000,
        mode="soft",
        soft_threshold="0.0001",
        downgrade=[{"reasoning_effort": "low", "max_tokens": 64}],
    )
    guard = BudgetGuard([soft], alerter=Alerter(quiet=True))
    wire = httpx2.Client(event_hooks={"request": [keep]})
    client = tokenomy.instrument(
        openai.OpenAI(base_url=mock.openai_base_url, api_key="k", http_client=wire), budget=SdkBudget(guard)
    )
    for _ in range(2):
        client.chat.completions.create(
            model="o4-mini", messages=HELLO, max_completion_tokens=500, reasoning_effort="high"
        )
    assert [(b.get("reasoning_effort"), b.get("max_completion_tokens")) for b in sent] == [
        ("high", 500),
        ("low", 64),  # past the threshold: the step applied to what was sent
    ]


def test_several_answers_are_reserved_and_each_gets_its_share_of_max_tokens() -> None:
    assert choices({"n": 3}, API_FIELDS["chat"]) == 3
    assert choices({"n": 2, "best_of": 5}, API_FIELDS["completions"]) == 5  # best_of answers are all billed
    assert choices({"n": True}, API_FIELDS["chat"]) == 1
    assert choices({"n": 4}, API_FIELDS["messages"]) == 1  # no such field there
    # the forms a lenient (pydantic-based) server reads as eight answers are reserved as eight
    assert [choices({"n": n}, API_FIELDS["chat"]) for n in ("8", 8.0, " 8 ", "8.5", 8.5, "eight")] == [
        8,
        8,
        8,
        1,
        1,
        1,
    ]
    guard = BudgetGuard([policy(limit_tokens=2_000)], alerter=Alerter(quiet=True))
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 1_000, "n": 4}
    shown = AdmitRequest("openai", "chat", body, [], Attribution(), None)
    ticket = SdkBudget(guard).admit(shown)
    assert isinstance(ticket, SdkTicket)
    counted = input_tokens(body, [], "gpt-4o-mini")
    assert ticket.changes == {"max_tokens": (2_000 - counted) // 4}  # four answers fit what is left


def test_every_form_of_n_a_lax_server_reads_is_reserved_and_sent_as_that_number() -> None:
    """pydantic's lax mode reads "+8", "8.0" and "8_0" (80) too: reserved as one answer, one request
    spent twice to eighty times its reservation."""
    chat = API_FIELDS["chat"]
    forms = ["+8", "8.0", "8.", "8_0", " 8 ", "-1", "8.5", "_8", "8__0", "eight"]
    assert [choices({"n": n}, chat) for n in forms] == [8, 8, 8, 80, 8, 1, 1, 1, 1, 1]
    guard = BudgetGuard([policy(limit_tokens=40_000)], alerter=Alerter(quiet=True))
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 1_000, "n": "8_0"}
    ticket = SdkBudget(guard).admit(AdmitRequest("openai", "chat", body, [], Attribution(), None))
    assert isinstance(ticket, SdkTicket)
    counted = input_tokens(body, [], "gpt-4o-mini")
    assert ticket.changes == {"max_tokens": (40_000 - counted) // 80}  # eighty answers fit; n goes as given


def test_state_the_provider_keeps_is_told_from_the_body() -> None:
    from tokenomy.budgets.sdk import stored_input

    assert stored_input({"model": "gpt-4o", "input": "go on", "previous_response_id": "resp_1"})
    assert stored_input({"model": "gpt-4o", "input": "go on", "conversation": "conv_1"})
    assert stored_input({"model": "gpt-4o", "prompt": {"id": "pmpt_1", "version": "2"}})
    assert not stored_input({"model": "gpt-3.5-turbo-instruct", "prompt": "say hi"})  # a completion's text
    assert not stored_input({"model": "gpt-4o", "input": "hi", "previous_response_id": None})


def test_each_prompt_of_a_legacy_completion_is_reserved_its_answers() -> None:
    """A list of 20 prompts is answered 20 times (each n times): one answer's reservation let a team
    spend four times its hard budget in one request. A list of token ids is one prompt."""
    fields = API_FIELDS["completions"]
    assert choices({"prompt": ["a"] * 20}, fields) == 20
    assert choices({"prompt": ["a", "b"], "n": 3}, fields) == 6
    assert choices({"prompt": ["a", "b"], "n": 2, "best_of": 4}, fields) == 8
    assert choices({"prompt": [[1, 2], [3]]}, fields) == 2  # two prompts of token ids
    assert choices({"prompt": [1, 2, 3]}, fields) == 1  # one prompt of token ids
    assert choices({"prompt": "a"}, fields) == 1
    assert choices({"prompt": ["a"] * 20}, API_FIELDS["chat"]) == 1  # chat has no such field
    guard = BudgetGuard([policy(limit_tokens=15_000)], alerter=Alerter(quiet=True))
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": ["say hi"] * 20, "max_tokens": 1_000}
    shown = AdmitRequest("openai", "completions", body, [], Attribution(), None)
    ticket = SdkBudget(guard).admit(shown)
    assert isinstance(ticket, SdkTicket)
    counted = input_tokens(body, [], "gpt-3.5-turbo-instruct")
    assert ticket.changes == {"max_tokens": (15_000 - counted) // 20}  # twenty answers fit what is left


@pytest.mark.parametrize("limit", [0, -1, "0"])
def test_an_output_limit_below_one_is_refused_under_a_budget_and_sent_as_it_is_without(limit: object) -> None:
    """No answer can be bounded by 0 or -1, and a server that reads -1 as "no limit" would write past
    the budget: under a budget the call is refused (400) before it leaves; with no policy that
    applies, it goes out unchanged (the provider judges it)."""
    guard = BudgetGuard(
        [policy(limit_tokens=5_000, scope="team", match="search")], alerter=Alerter(quiet=True)
    )
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": limit}
    budget = SdkBudget(guard)
    for _ in range(3):  # refused each time, and its reservation released (else the third would not fit)
        with pytest.raises(tokenomy.BudgetExceeded) as refused:
            budget.admit(AdmitRequest("openai", "chat", body, [], Attribution(team="search"), None))
        assert refused.value.status == 400
        assert "must be 1 or more" in str(refused.value)
    whole_budget = {**body, "max_tokens": 5_000 - input_tokens(body, [], "gpt-4o-mini")}
    fits = budget.admit(AdmitRequest("openai", "chat", whole_budget, [], Attribution(team="search"), None))
    assert isinstance(fits, SdkTicket)  # nothing left held by the refused ones
    other = budget.admit(AdmitRequest("openai", "chat", body, [], Attribution(team="other"), None))
    assert isinstance(other, SdkTicket)
    assert other.changes == {}


def test_a_request_that_may_think_unseen_is_told_by_its_model_or_its_asking() -> None:
    unseen: list[dict[str, Any]] = [
        {"model": "o3-mini"},
        {"model": "gpt-5.1"},
        # named through a router or as a fine-tune, or reasoning by default with no field asking:
        # a cut stream of these was charged a dozen tokens while billed thousands
        {"model": "openai/o3-mini"},
        {"model": "ft:o4-mini-2025-04-16:acme::abc123"},
        {"model": "models/gemini-2.5-pro"},
        {"model": "gemini-2.5-flash"},
        {"model": "grok-3-mini"},
        {"model": "deepseek-reasoner"},
        {"model": "gpt-4o", "reasoning_effort": "low"},
        {"model": "gpt-4o", "reasoning": {"effort": "high"}},
        {"model": "claude-sonnet-4-5", "thinking": {"type": "enabled", "budget_tokens": 2048}},
        {"model": "claude-opus-4-8", "thinking": {"type": "adaptive"}},
    ]
    seen: list[dict[str, Any]] = [
        {"model": "gpt-4o"},
        {"model": "openai/gpt-4o-mini"},
        {"model": "gemini-2.0-flash"},
        {"model": "deepseek-chat"},
        {"model": "claude-haiku-4-5", "thinking": {"type": "disabled"}},
        {},
    ]
    assert [thinks_unseen(b) for b in unseen] == [True] * len(unseen)
    assert [thinks_unseen(b) for b in seen] == [False] * len(seen)


def test_a_thinking_budget_follows_max_tokens_down_or_is_turned_off_below_anthropics_least() -> None:
    """Lowered to 1,500, the thinking budget goes to 1,499; lowered to 50 (a downgrade step's limit,
    below any thinking answer), thinking goes out off; a client's own limit is left as sent."""
    guard = BudgetGuard([policy(limit_usd="100")])
    fields = API_FIELDS["messages"]
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 16_000,
        "thinking": {"type": "enabled", "budget_tokens": 10_000},
    }
    found = guard.reserve(BudgetRequest(model="gpt-4o-mini", max_tokens=1_500))
    assert isinstance(found, Reservation)
    assert changes(body, fields, found) == {
        "max_tokens": 1_500,
        "thinking": {"type": "enabled", "budget_tokens": 1_499},
    }
    small = guard.reserve(BudgetRequest(model="gpt-4o-mini", max_tokens=50))
    assert isinstance(small, Reservation)
    assert changes(body, fields, small) == {"max_tokens": 50, "thinking": {"type": "disabled"}}
    own = {**body, "max_tokens": 50, "thinking": {"type": "enabled", "budget_tokens": 1_024}}
    assert changes(own, fields, small) == {"max_tokens": 50}  # the client's own (invalid) request


@pytest.mark.parametrize(
    ("model", "status", "charged"),
    [
        ("o3-mini", "error", 4_008),
        ("o3-mini", "cancelled", 4_008),
        ("gpt-4o", "error", 4_008),
        ("gpt-4o", "cancelled", 4_008),
        ("gpt-4o", "timeout", 4_008),
        ("o3-mini", "ok", 4_008),
        ("gpt-4o", "ok", 10),
    ],
)
def test_the_sdk_settles_a_stream_ended_before_its_usage_as_the_gateway_does(
    model: str, status: str, charged: int
) -> None:
    """A stream failed or left by the caller before its usage (8 tokens in, 2 counted from the text
    that came): charged its output at its bound (4,000 max_tokens), whatever the model (the provider
    may have written all of it after what the caller read; a caller stopping just before the usage
    would else pay for the text alone); so is a reasoning model's stream read to its end without
    usage (``include_usage`` not asked for), and another model's such stream is charged what came."""
    from tokenomy.schema import Call, Kind, Status, Usage

    guard = BudgetGuard([policy(limit_tokens=100_000)], alerter=Alerter(quiet=True))
    body = {"model": model, "messages": HELLO, "max_tokens": 4_000, "stream": True}
    ticket = SdkBudget(guard).admit(AdmitRequest("openai", "chat", body, [], Attribution(), None))
    assert isinstance(ticket, SdkTicket)
    counted = Usage(input_total=8, output_total=2, kind=Kind.ESTIMATED)
    call = Call(
        id="c", provider="openai", request_model=model, streamed=True, status=Status(status), usage=counted
    )
    ticket.settle(call)
    held = [h.key for h in ticket.admitted.held]  # type: ignore[union-attr]
    assert guard.ledger.usage(held) == [(charged, 0)]  # 8 in and the bound, or 8 in and 2 out


def test_a_downgraded_stream_is_judged_by_the_model_it_was_sent_to() -> None:
    """A soft budget downgrades o3-mini to gpt-4o-mini, which does not think unseen: its stream,
    read without usage, is charged the text that came (8 in, 2 out), as the gateway charges it,
    not gpt-4o-mini's whole max_tokens as if it were still a reasoning model's."""
    from tokenomy.budgets.admission import Downgrade
    from tokenomy.schema import Call, Kind, Status, Usage

    soft = policy(
        limit_tokens=100_000,
        mode="soft",
        soft_threshold="0.0001",
        downgrade=[{"model": "gpt-4o-mini", "max_tokens": 3000}],
    )
    guard = BudgetGuard([soft], alerter=Alerter(quiet=True))
    body = {"model": "o3-mini", "messages": HELLO, "max_completion_tokens": 4_000, "stream": True}
    first = SdkBudget(guard).admit(AdmitRequest("openai", "chat", body, [], Attribution(), None))
    assert first is not None
    first.settle(None)  # the whole reservation: past the soft threshold
    ticket = SdkBudget(guard).admit(AdmitRequest("openai", "chat", body, [], Attribution(), None))
    assert ticket is not None
    assert isinstance(ticket.admitted, Downgrade)
    assert ticket.changes["model"] == "gpt-4o-mini"
    held = [h.key for h in ticket.admitted.reservation.held]
    (spent,) = guard.ledger.usage(held)
    assert spent is not None
    counted = Usage(input_total=8, output_total=2, kind=Kind.ESTIMATED)
    sent = Call(id="c", provider="openai", request_model="o3-mini", response_model="gpt-4o-mini",
                streamed=True, status=Status.OK, usage=counted)  # fmt: skip
    ticket.settle(sent)
    (after,) = guard.ledger.usage(held)
    assert after is not None
    assert after[0] - spent[0] == 10


def test_a_body_the_budget_cannot_read_is_refused_when_budgets_fail_closed() -> None:
    """A system block whose text is null made the counter raise, and the call went out unjudged:
    past every budget. Failing closed it is refused; failing open the error goes on, as before (the
    client logs it and sends the call)."""
    from tokenomy.budgets.settings import BudgetSettings, FailMode

    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
        "system": [{"type": "text", "text": None}],
    }
    shown = AdmitRequest("anthropic", "messages", body, [], Attribution(), None)
    closed = SdkBudget(BudgetGuard([policy(limit_tokens=1_000)], alerter=Alerter(quiet=True)))
    with pytest.raises(tokenomy.BudgetExceeded, match="could not judge this request") as refused:
        closed.admit(shown)
    assert refused.value.status == 400
    opened = BudgetGuard(
        [policy(limit_tokens=1_000)], settings=BudgetSettings(fail=FailMode.OPEN), alerter=Alerter(quiet=True)
    )
    with pytest.raises(TypeError):
        SdkBudget(opened).admit(shown)


def test_a_stream_left_after_its_finish_reason_is_charged_what_it_read() -> None:
    """OpenAI sends the usage chunk after the one with the finish reason: a caller that stops there
    read the whole answer, and was charged its bound (4,009 for 29 billed)."""
    from tokenomy.schema import Call, Kind, Status, Usage

    guard = BudgetGuard([policy(limit_tokens=100_000)], alerter=Alerter(quiet=True))
    body = {"model": "gpt-4o", "messages": HELLO, "max_tokens": 4_000, "stream": True}
    ticket = SdkBudget(guard).admit(AdmitRequest("openai", "chat", body, [], Attribution(), None))
    assert isinstance(ticket, SdkTicket)
    counted = Usage(input_total=8, output_total=20, kind=Kind.ESTIMATED)
    ended = Call(
        id="c",
        provider="openai",
        request_model="gpt-4o",
        streamed=True,
        status=Status.CANCELLED,
        finish_reason="stop",
        usage=counted,
    )
    ticket.settle(ended)
    assert guard.ledger.usage([h.key for h in ticket.admitted.held]) == [(28, 0)]  # type: ignore[union-attr]
