"""Budget admission on the request path: reserve, lower max_tokens, refuse in format, downgrade, settle."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, MutableMapping
from decimal import Decimal
from typing import Any

import pytest

from tests.gateway.support import asgi_call, calls_of, memory_sink
from tokenomy.budgets import BudgetGuard, DowngradeStep, Mode, Policy, Scope, Unit, Window, sdk
from tokenomy.budgets.admission import Reservation
from tokenomy.budgets.alerts import Alerter
from tokenomy.budgets.settings import BudgetSettings
from tokenomy.errors import TokenomyError
from tokenomy.gateway import Gateway, GatewayBudget, GatewaySettings, HandlerTransport, Route
from tokenomy.gateway.budget import Admitted
from tokenomy.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse
from tokenomy.schema import Attribution, Status

OUTPUT = 16


def _chat_reply(request: UpstreamRequest) -> UpstreamResponse:
    body = json.loads(request.body)
    usage = {"prompt_tokens": 10, "completion_tokens": OUTPUT, "total_tokens": 10 + OUTPUT}
    reply = {
        "id": f"chatcmpl-{len(request.body)}",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    return UpstreamResponse.of(200, json.dumps(reply).encode(), [(b"content-type", b"application/json")])


def _messages_reply(request: UpstreamRequest) -> UpstreamResponse:
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": OUTPUT},
    }
    return UpstreamResponse.of(200, json.dumps(reply).encode(), [(b"content-type", b"application/json")])


async def _answer(request: UpstreamRequest) -> UpstreamResponse:
    return _messages_reply(request) if request.url.endswith("/v1/messages") else _chat_reply(request)


def _gateway(*policies: Policy) -> tuple[Gateway, HandlerTransport]:
    guard = BudgetGuard(list(policies), alerter=Alerter(quiet=True))
    transport = HandlerTransport(_answer)
    settings = GatewaySettings(
        routes=(
            Route(("claude-*",), "anthropic", "http://anthropic.test"),
            Route(("*",), "openai", "http://openai.test/v1"),
        )
    )
    return Gateway(settings, transport=transport, budget=GatewayBudget(guard)), transport


def _chat(
    app: Gateway, max_tokens: int, team: str = "search", model: str = "gpt-4o"
) -> tuple[int, dict[str, object]]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", body, {"X-Tokenomy-Team": team}))
    return answer.status, answer.json()


def test_settled_requests_free_their_reservation() -> None:
    team = Policy("t", Decimal(2000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, _transport = _gateway(team)
    statuses = [_chat(app, 256)[0] for _ in range(40)]  # reserves ~270 each, settles ~26
    assert statuses == [200] * 40
    assert _chat(app, 256, team="ads")[0] == 200  # another team is not in this budget


def test_max_tokens_is_lowered_to_fit_then_the_request_is_refused_in_format() -> None:
    team = Policy("t", Decimal(600), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(team)
    status, _ = _chat(app, 1000)
    assert status == 200
    sent = json.loads(transport.requests[-1].body)
    assert 256 <= sent["max_tokens"] < 1000  # lowered to what is left (the smallest useful answer: 256)
    spent = 0
    while status == 200:
        status, body = _chat(app, 1000)
        spent += 1
    assert status == 429
    error = body["error"]
    assert error["type"] == "budget_exceeded"  # type: ignore[index]
    assert error["policy"] == "t"  # type: ignore[index]
    assert "budget 't'" in error["message"]  # type: ignore[index]
    assert 10 <= spent <= 25  # 600 tokens at 26 a request, stopped once 256 no longer fit
    assert app.metrics.budget_rejections == 1


@pytest.mark.parametrize("n", [4, "4", 4.0])  # as written, or as a lenient upstream reads it
def test_each_answer_a_request_asks_for_is_reserved(n: object) -> None:
    team = Policy("t", Decimal(5000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(team)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000, "n": n}
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 200
    sent = json.loads(transport.requests[-1].body)
    # four answers of 3,000 cannot fit in 5,000 tokens: each is lowered to what four of them leave
    assert sent["n"] == n  # sent on as given
    assert sent["max_tokens"] >= 1200
    assert 4 * sent["max_tokens"] < 5000  # (its input is a few tokens)
    single = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000}
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", single, {"X-Tokenomy-Team": "search"}))
    assert json.loads(transport.requests[-1].body)["max_tokens"] == 3000  # one answer fits as asked


def test_a_request_no_budget_applies_to_goes_upstream_unchanged() -> None:
    """Before, any budget made every request without an output limit go out with one as large as
    the model's context window less the input (127,992 for gpt-4o), which real APIs refuse."""
    other = Policy("o", Decimal(2000), Unit.TOKENS, Scope.TEAM, match="someoneelse", window=Window.DAY)
    app, transport = _gateway(other)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 200
    assert json.loads(transport.requests[-1].body) == body
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", body, {"X-Tokenomy-Team": "someoneelse"}))
    assert answer.status == 200
    bounded = json.loads(transport.requests[-1].body)
    assert 0 < bounded["max_tokens"] <= 2000  # under the budget, the limit bounds the spend as before


@pytest.mark.parametrize(("sent", "status"), [(True, 504), (False, 504)])
def test_a_request_that_timed_out_after_it_left_is_charged_in_full_and_one_that_never_left_is_not(
    sent: bool, status: int
) -> None:
    """The provider has a prompt that reached it and may answer it to the end after the gateway
    stopped waiting, and bill that: its reservation is charged in full, as the SDK charges it."""

    async def late(request: UpstreamRequest) -> UpstreamResponse:
        raise UpstreamError("timeout", "no answer in time", sent=sent)

    team = Policy("t", Decimal(300), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, _transport = _gateway(team)
    app.proxy.transport = HandlerTransport(late)
    statuses = [_chat(app, 16)[0] for _ in range(60)]
    if sent:  # about 8 input and 16 output tokens charged each time: the budget runs out
        assert statuses[0] == status
        assert 429 in statuses
        assert 9 <= statuses.index(429) <= 14
    else:  # connecting timed out: nothing left, nothing charged, never refused
        assert statuses == [status] * 60


@pytest.mark.parametrize("ending", ["cut", "malformed", "hangup", "web page"])
def test_an_answer_that_began_or_never_came_is_charged_in_full_and_a_web_page_its_input(ending: str) -> None:
    """A 200 whose body is cut or is not JSON was billed by the provider, its usage unknown: the
    reservation (the counted input and every answer's max_tokens) is charged in full, not released,
    and so is a connection closed after the request left, with no answer (the provider may answer it
    to the end). A web page answered with 200 (a misrouted host: no provider billed an answer) is
    charged its counted input."""

    async def broken(request: UpstreamRequest) -> UpstreamResponse:
        if ending == "hangup":
            raise UpstreamError("protocol", "the upstream closed the connection", sent=True)

        async def body() -> AsyncIterator[bytes]:
            yield b"<html>sign in</html>" if ending == "web page" else b'{"id": "chatcmpl-1", "choices": ['
            if ending == "cut":
                raise UpstreamError("protocol", "the upstream closed the connection mid-body")

        kind = b"text/html" if ending == "web page" else b"application/json"
        return UpstreamResponse(200, [(b"content-type", kind)], body())

    team = Policy("t", Decimal(300), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, _transport = _gateway(team)
    app.proxy.transport = HandlerTransport(broken)
    statuses = [_chat(app, 16)[0] for _ in range(60)]
    assert statuses[0] == 502
    refused = statuses.index(429)
    if ending == "web page":  # about 8 input tokens a request
        assert 25 <= refused <= 40
    else:  # about 8 input and 16 output tokens a request
        assert 9 <= refused <= 14
    assert set(statuses[:refused]) == {502}


def _sse(*events: object) -> bytes:
    return b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events)


@pytest.mark.parametrize(
    ("ending", "model"),
    [
        ("cut", "o3-mini"),
        ("left", "o3-mini"),
        ("no usage", "o3-mini"),
        ("whole", "o3-mini"),
        ("cut", "gpt-4o"),
        ("left", "gpt-4o"),
        ("no usage", "gpt-4o"),
    ],
)
def test_a_stream_ended_before_its_usage_is_charged_its_output_at_its_bound(ending: str, model: str) -> None:
    """A reasoning model thinks before its first visible token, unseen: a stream cut, or left by its
    client, before its usage arrived, or ended by an upstream that sends none, is charged every
    answer's max_tokens, not the one token of text that came (else a client could stop reading just
    before the usage and be charged the text alone). So is any model's stream cut or left before
    its output ended (the provider bills what it generated, read or not). A stream that ends with
    its usage is charged that usage; another model's read to its end without usage, what came."""
    head = {"id": "chatcmpl-9", "object": "chat.completion.chunk"}
    text = _sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "x"}}]})
    usage = {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9}
    end = _sse({**head, "choices": [], "usage": usage}) + b"data: [DONE]\n\n"

    async def stream(request: UpstreamRequest) -> UpstreamResponse:
        async def body() -> AsyncIterator[bytes]:
            yield text
            if ending == "cut":
                raise UpstreamError("protocol", "the upstream closed the connection mid-stream")
            yield b"data: [DONE]\n\n" if ending == "no usage" else end

        return UpstreamResponse(200, [(b"content-type", b"text/event-stream")], body())

    async def leaving(app: Gateway, body: dict[str, object]) -> int | str:
        """One request whose client goes at the answer's first chunk (its socket fails): "left", or
        the status of an answer that is not a stream (a refusal)."""
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "query_string": b"",
            "headers": [(b"x-tokenomy-team", b"search")],
        }
        raw = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]
        status = [0]

        async def receive() -> MutableMapping[str, Any]:
            if raw:
                return raw.pop()
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message.get("body") and status[0] == 200:
                raise OSError("the client closed its connection")

        await app(scope, receive, send)
        return "left" if status[0] == 200 else status[0]

    team = Policy("t", Decimal(300), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, _transport = _gateway(team)
    app.proxy.transport = HandlerTransport(stream)
    request = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 16,
        "stream": True,
    }
    statuses: list[int | str] = []
    for _ in range(60):
        if ending == "left":
            statuses.append(asyncio.run(leaving(app, request)))
            continue
        call = asgi_call(app, "/v1/chat/completions", request, {"X-Tokenomy-Team": "search"})
        try:
            statuses.append(asyncio.run(call).status)
        except UpstreamError:  # the gateway closes the client's connection as the upstream did
            statuses.append("cut")
    if ending != "whole" and (model == "o3-mini" or ending in ("cut", "left")):  # ~8 in, 16 out a request
        assert 9 <= statuses.index(429) <= 14
        assert set(statuses[: statuses.index(429)]) == {ending if ending in ("cut", "left") else 200}
    else:  # 9 tokens a request, as reported or counted from what came
        assert statuses[:30] == [ending if ending in ("cut", "left") else 200] * 30


def test_a_thinking_budget_is_lowered_with_max_tokens_and_never_below_anthropics_least() -> None:
    """Anthropic refuses a thinking budget at or above max_tokens: lowered to fit, max_tokens takes the
    thinking budget down with it; when less than a thinking answer (1,025 tokens) is left, the request
    is refused here rather than sent with a limit no thinking request can have."""
    team = Policy("t", Decimal(7000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(team)
    body = {
        "model": "claude-x",
        "max_tokens": 16000,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    statuses = []
    for _ in range(12):
        answer = asyncio.run(asgi_call(app, "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
        statuses.append(answer.status)
        if answer.status == 200:
            sent = json.loads(transport.requests[-1].body)
            assert 1025 <= sent["max_tokens"] < 7000
            assert sent["thinking"] == {"type": "enabled", "budget_tokens": sent["max_tokens"] - 1}
    # each answer settles 26 tokens (10 in, 16 out): twelve leave far more than a thinking answer needs
    assert statuses == [200] * 12
    tight = Policy("t", Decimal(1000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    refused = asyncio.run(asgi_call(_gateway(tight)[0], "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
    assert refused.status == 429  # 990 tokens left: no thinking answer fits (1,025 output tokens)
    assert "(1025 output tokens)" in refused.json()["error"]["message"]
    small = {**body, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1500}}
    answer = asyncio.run(asgi_call(app, "/v1/messages", small, {"X-Tokenomy-Team": "search"}))
    sent = json.loads(transport.requests[-1].body)
    assert (answer.status, sent["max_tokens"], sent["thinking"]["budget_tokens"]) == (
        200,
        2000,
        1500,
    )  # fits as asked


def test_anthropic_refusal_is_in_anthropics_format_with_retry_after() -> None:
    team = Policy("a", Decimal(100), Unit.TOKENS, Scope.TEAM, window=Window.DAY)
    app, transport = _gateway(team)
    body = {"model": "claude-x", "max_tokens": 512, "messages": [{"role": "user", "content": "hi"}]}
    answer = asyncio.run(asgi_call(app, "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 429
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "budget_exceeded"
    assert int(answer.headers[b"retry-after"]) > 0
    assert transport.requests == []


def test_soft_budget_downgrades_the_model() -> None:
    app, transport = _gateway(_soft_to("gpt-4o-mini"))
    assert _chat(app, 100)[0] == 200
    assert _chat(app, 100)[0] == 200
    models = [json.loads(r.body)["model"] for r in transport.requests]
    assert models == ["gpt-4o", "gpt-4o-mini"]


def _soft_to(model: str) -> Policy:
    """A soft team budget of 10,000 tokens that downgrades to ``model`` from its first 10 tokens."""
    return Policy(
        "s",
        Decimal(10_000),
        Unit.TOKENS,
        Scope.TEAM,
        window=Window.DAY,
        mode=Mode.SOFT,
        soft_threshold=Decimal("0.001"),
        downgrade=(DowngradeStep(model=model),),
    )


def test_a_downgrade_goes_to_the_route_of_the_model_it_downgrades_to() -> None:
    guard = BudgetGuard([_soft_to("gpt-4o-mini")], alerter=Alerter(quiet=True))
    transport = HandlerTransport(_answer)
    settings = GatewaySettings(
        routes=(
            Route(("gpt-4o",), "openai-compatible", "https://my-team.openai.azure.com/openai/v1"),
            Route(("*",), "openai", "http://openai.test/v1"),
        )
    )
    app = Gateway(settings, transport=transport, budget=GatewayBudget(guard))
    assert _chat(app, 100)[0] == 200
    assert _chat(app, 100)[0] == 200
    sent = [(r.url, json.loads(r.body)["model"]) for r in transport.requests]
    assert sent == [
        ("https://my-team.openai.azure.com/openai/v1/chat/completions", "gpt-4o"),
        ("http://openai.test/v1/chat/completions", "gpt-4o-mini"),  # before: to the Azure route
    ]


def test_a_downgraded_call_records_the_model_asked_for_and_the_model_that_served_it() -> None:
    guard = BudgetGuard([_soft_to("gpt-4o-mini")], alerter=Alerter(quiet=True))
    sink, target = memory_sink()
    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://openai.test/v1"),))
    app = Gateway(settings, transport=HandlerTransport(_answer), sink=sink, budget=GatewayBudget(guard))
    assert _chat(app, 100)[0] == 200
    assert _chat(app, 100)[0] == 200
    calls = calls_of(sink, target, expect=2)
    assert [(c.request_model, c.response_model) for c in calls] == [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o", "gpt-4o-mini"),  # before: ("gpt-4o-mini", "gpt-4o-mini"), the downgrade invisible
    ]
    sink.shutdown(5)


def test_a_downgrade_to_a_model_this_api_cannot_reach_is_refused_and_sends_nothing() -> None:
    app, transport = _gateway(_soft_to("gpt-4o-mini"))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    first = asyncio.run(asgi_call(app, "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
    assert first.status == 200
    second = asyncio.run(asgi_call(app, "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
    assert second.status == 400
    assert (
        "downgrades this request to 'gpt-4o-mini', which no route of the messages API serves"
        in (second.json()["error"]["message"])
    )
    assert [json.loads(r.body)["model"] for r in transport.requests] == ["claude-sonnet-4-5"]


def _embed(app: Gateway, text: str) -> int:
    body = {"model": "text-embedding-3-small", "input": text}
    return asyncio.run(asgi_call(app, "/v1/embeddings", body, {"X-Tokenomy-Team": "search"})).status


def test_embeddings_reserve_their_input_and_settle_the_real_usage() -> None:
    team = Policy("e", Decimal(10), Unit.TOKENS, Scope.TEAM, window=Window.DAY)
    app, _transport = _gateway(team)
    sent: list[dict[str, object]] = []

    async def vectors(request: UpstreamRequest) -> UpstreamResponse:
        sent.append(json.loads(request.body))
        usage = {"prompt_tokens": 6, "total_tokens": 6}  # more than counted: settled at 6 each
        body = {"object": "list", "data": [], "model": "text-embedding-3-small", "usage": usage}
        return UpstreamResponse.of(200, json.dumps(body).encode())

    app.proxy.transport = HandlerTransport(vectors)
    assert _embed(app, "a b") == 200  # spent 0, reserves the 2 counted tokens
    assert _embed(app, "a b") == 200  # spent 6 (settled), 6 + 2 <= 10
    assert _embed(app, "a b") == 429  # spent 12: the hard budget refuses embeddings too
    assert sent == [{"model": "text-embedding-3-small", "input": "a b"}] * 2  # no max_tokens added


def test_embeddings_input_lists_are_counted() -> None:
    team = Policy("e", Decimal(3), Unit.TOKENS, Scope.TEAM, window=Window.DAY)
    app, _transport = _gateway(team)
    body = {"model": "text-embedding-3-small", "input": ["alpha beta", "gamma delta"]}
    answer = asyncio.run(asgi_call(app, "/v1/embeddings", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 429  # 4 counted tokens > 3 (they counted as 0 before)


def test_an_uncountable_input_reserves_its_byte_length(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*_args: object) -> int:
        raise TokenomyError("no tokenizer for this model")

    monkeypatch.setattr(sdk, "input_tokens", fails)
    guard = BudgetGuard(
        [Policy("b", Decimal(10**6), Unit.TOKENS, Scope.TEAM, window=Window.DAY)], alerter=Alerter(quiet=True)
    )
    budget = GatewayBudget(guard)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "héllo wörld"}], "max_tokens": 5}
    admitted = asyncio.run(
        budget.admit("chat", body, provider="openai", attribution=Attribution(team="x"), session_id=None)
    )
    assert isinstance(admitted, Admitted)
    expected = len(
        json.dumps({"messages": body["messages"]}, ensure_ascii=False, separators=(",", ":")).encode()
    )
    res = admitted.admission
    assert isinstance(res, Reservation)
    assert res.input_tokens == expected  # was 0 before
    assert admitted.bounded is True
    assert budget.bounded == 1
    assert b"tokenomy_gateway_budget_input_bounds_total 1\n" in budget.render_metrics()


def test_a_counted_input_is_not_marked_as_a_bound() -> None:
    guard = BudgetGuard(
        [Policy("b", Decimal(10**6), Unit.TOKENS, Scope.TEAM, window=Window.DAY)], alerter=Alerter(quiet=True)
    )
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}
    admitted = asyncio.run(
        GatewayBudget(guard).admit(
            "chat", body, provider="openai", attribution=Attribution(), session_id=None
        )
    )
    assert isinstance(admitted, Admitted)
    assert admitted.bounded is False
    res = admitted.admission
    assert isinstance(res, Reservation)
    assert res.input_tokens > 0


def test_a_refused_request_is_recorded_as_rejected_budget() -> None:
    sink, target = memory_sink()
    guard = BudgetGuard(
        [Policy("r", Decimal(50), Unit.TOKENS, Scope.TEAM, window=Window.DAY)], alerter=Alerter(quiet=True)
    )
    settings = GatewaySettings(routes=(Route(("*",), "openai", "http://openai.test/v1"),))
    app = Gateway(settings, transport=HandlerTransport(_answer), sink=sink, budget=GatewayBudget(guard))
    status, _ = _chat(app, 512)
    [call] = calls_of(sink, target)
    sink.shutdown(2)
    assert status == 429
    assert call.status is Status.REJECTED_BUDGET
    assert call.http_status == 429
    assert call.error_type == "budget_exceeded"
    assert call.usage.input_total == 0
    assert call.usage.output_total == 0
    assert call.attribution.team == "search"


def test_a_request_running_past_the_reservation_ttl_keeps_its_hold() -> None:
    """Without renewal the first request's reservation expired while it ran and the second was
    admitted: two worst cases (2 x 264 tokens) against a 400-token hard budget."""
    now = [time.time()]
    team = Policy("long", Decimal(400), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    settings = BudgetSettings(reservation_ttl=2.0, contention_wait=0)
    guard = BudgetGuard([team], settings=settings, alerter=Alerter(quiet=True), clock=lambda: now[0])
    during: list[int] = []

    async def slow(request: UpstreamRequest) -> UpstreamResponse:
        if not during:  # the first request, while it is upstream: 60 s pass, another comes in
            during.append(0)
            now[0] += 60.0
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256}
            second = await asgi_call(app, "/v1/chat/completions", body, {"X-Tokenomy-Team": "search"})
            during.append(second.status)
        return await _answer(request)

    routes = (Route(("*",), "openai", "http://openai.test/v1"),)
    app = Gateway(
        GatewaySettings(routes=routes), transport=HandlerTransport(slow), budget=GatewayBudget(guard)
    )
    assert _chat(app, 256)[0] == 200
    assert during == [0, 429]
    assert guard.holds.live == {}  # settled: nothing left to keep


def test_a_long_tool_result_is_reserved_and_refused_before_it_leaves() -> None:
    """Before, the tool result's text was not counted: 16 tokens were reserved and the request sent."""
    team = Policy("tools", Decimal(2_000), Unit.TOKENS, Scope.TEAM, window=Window.DAY)
    app, transport = _gateway(team)
    result = " ".join(f"row{i} value{i}" for i in range(1_000))
    messages = [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": result}]},
    ]
    body = {"model": "claude-x", "max_tokens": 256, "messages": messages}
    answer = asyncio.run(asgi_call(app, "/v1/messages", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 429
    assert answer.json()["error"]["type"] == "budget_exceeded"
    assert transport.requests == []


def test_a_gateway_closing_closes_its_budgets() -> None:
    """At shutdown the guard is closed: a ledger that kept settlements while it was unreachable sends
    them then (they used to wait for the next reservation, which a stopped gateway never makes)."""
    app, _ = _gateway(Policy("t", Decimal(5000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY))
    assert app.budget is not None
    closed: list[str] = []
    ledger = app.budget.guard.ledger
    real = ledger.close

    def close() -> None:
        closed.append("ledger")
        real()

    ledger.close = close  # type: ignore[method-assign]
    asyncio.run(app.aclose())
    assert closed == ["ledger"]


@pytest.mark.parametrize("limit", [0, -1])
def test_an_output_limit_below_one_is_a_400_under_a_budget_and_passes_without(limit: int) -> None:
    """0 or -1 bounds no answer (a server reading -1 as "no limit" would write past the budget): a
    team under a budget gets a 400 in the provider's format, nothing is sent, nothing stays reserved;
    another team's request goes out as it was sent."""
    team = Policy("t", Decimal(300), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(team)
    for _ in range(3):
        status, answer = _chat(app, limit)
        assert status == 400
        assert "must be 1 or more" in str(answer)
    assert transport.requests == []
    assert _chat(app, 250)[0] == 200  # the refused ones hold nothing: 250 of the 300 still fit
    status, answer = _chat(app, limit)  # the budget now nearly spent: still a bad request, not a 429
    error = answer["error"]
    assert isinstance(error, dict)
    assert (status, error["type"]) == (400, "invalid_request_error")
    assert app.proxy.metrics.budget_rejections == 0  # no budget refusal among them
    assert _chat(app, limit, team="other")[0] == 200
    assert json.loads(transport.requests[-1].body)["max_tokens"] == limit


def test_a_responses_request_continuing_a_stored_conversation_is_refused_where_it_cannot_be_bounded() -> None:
    """The provider bills the stored conversation as input: reserved at the request's own 60 tokens,
    one such request settled 100,060 against a 20,000-token budget."""
    team = Policy("t", Decimal(20_000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(team)
    body = {
        "model": "gpt-4o",
        "input": "continue",
        "previous_response_id": "resp_abc",
        "max_output_tokens": 50,
    }
    answer = asyncio.run(asgi_call(app, "/v1/responses", body, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 429
    assert "128,050 tokens needed" in answer.json()["error"]["message"]
    assert transport.requests == []  # nothing reached the upstream
    fresh = {key: value for key, value in body.items() if key != "previous_response_id"}
    answer = asyncio.run(asgi_call(app, "/v1/responses", fresh, {"X-Tokenomy-Team": "search"}))
    assert answer.status == 200  # its own input is all it is billed: it fits
