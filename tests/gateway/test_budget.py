"""Budget admission on the request path: reserve, lower max_tokens, refuse in format, downgrade, settle."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from tests.gateway.support import asgi_call, calls_of, memory_sink
from tokenomy.budgets import BudgetGuard, DowngradeStep, Mode, Policy, Scope, Unit, Window
from tokenomy.budgets.alerts import Alerter
from tokenomy.gateway import Gateway, GatewayBudget, GatewaySettings, HandlerTransport, Route
from tokenomy.gateway.upstream import UpstreamRequest, UpstreamResponse
from tokenomy.schema import Status

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
    soft = Policy(
        "s",
        Decimal(10_000),
        Unit.TOKENS,
        Scope.TEAM,
        window=Window.DAY,
        mode=Mode.SOFT,
        soft_threshold=Decimal("0.001"),
        downgrade=(DowngradeStep(model="gpt-4o-mini"),),
    )
    app, transport = _gateway(soft)
    assert _chat(app, 100)[0] == 200
    assert _chat(app, 100)[0] == 200
    models = [json.loads(r.body)["model"] for r in transport.requests]
    assert models == ["gpt-4o", "gpt-4o-mini"]


def test_embeddings_need_no_admission() -> None:
    team = Policy("e", Decimal(1), Unit.TOKENS, Scope.GLOBAL, window=Window.DAY)
    app, _transport = _gateway(team)

    async def vectors(request: UpstreamRequest) -> UpstreamResponse:
        body = {"object": "list", "data": [], "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2}}
        return UpstreamResponse.of(200, json.dumps(body).encode())

    app.proxy.transport = HandlerTransport(vectors)
    answer = asyncio.run(
        asgi_call(app, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "a b"})
    )
    assert answer.status == 200


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
