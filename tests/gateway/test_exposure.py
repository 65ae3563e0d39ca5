"""Who may use the gateway: binding beyond loopback, the gateway token, and unmetered /v1/ paths."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.gateway.support import asgi_call, chat_completion
from tokenomy.budgets import BudgetGuard, Policy, Scope, Unit, Window
from tokenomy.budgets.alerts import Alerter
from tokenomy.cli.gateway import command
from tokenomy.config import load
from tokenomy.errors import ConfigError
from tokenomy.gateway import Gateway, GatewayBudget, GatewaySettings, HandlerTransport, KeyBook, Route
from tokenomy.gateway.keys import VirtualKey, hash_key
from tokenomy.gateway.run import serve
from tokenomy.gateway.settings import check_exposure, load_gateway
from tokenomy.gateway.setup import sink_for
from tokenomy.gateway.upstream import UpstreamRequest, UpstreamResponse
from tokenomy.schema import Attribution

TOKEN = "gw-token-0123456789abcdef"
KEY = "tk-the-search-teams-key"
ROUTES = (Route(("*",), "openai", "http://openai.test/v1", api_key="sk-route"),)


async def _ok(request: UpstreamRequest) -> UpstreamResponse:
    reply = chat_completion("c1", "gpt-4o", content="x", prompt=3, completion=2)
    if request.url.endswith("/models"):
        reply = {"object": "list", "data": []}
    return UpstreamResponse.of(200, json.dumps(reply).encode(), [(b"content-type", b"application/json")])


def _gateway(budget: GatewayBudget | None = None, **changes: object) -> tuple[Gateway, HandlerTransport]:
    settings = GatewaySettings(routes=ROUTES, **changes)  # type: ignore[arg-type]
    keys = KeyBook(keys=[VirtualKey(hash_key(KEY), Attribution(team="search"))])
    transport = HandlerTransport(_ok)
    return Gateway(settings, transport=transport, keys=keys, budget=budget), transport


def _status(app: Gateway, path: str, headers: dict[str, str] | None = None, method: str = "POST") -> int:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]} if method == "POST" else None
    return asyncio.run(asgi_call(app, path, body, headers, method=method)).status


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gateway.internal"])
def test_an_open_gateway_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_exposure(GatewaySettings(routes=ROUTES), host)
    assert f"refusing to listen on {host} with no authentication" in str(caught.value)
    assert "require_keys = true" in str(caught.value)
    assert "TOKENOMY_GATEWAY_TOKEN" in str(caught.value)


def test_keys_or_a_token_make_any_interface_acceptable() -> None:
    check_exposure(GatewaySettings(routes=ROUTES), "127.0.0.1")
    check_exposure(GatewaySettings(routes=ROUTES), "localhost")
    check_exposure(GatewaySettings(routes=ROUTES, require_keys=True), "0.0.0.0")
    check_exposure(GatewaySettings(routes=ROUTES, token=TOKEN), "0.0.0.0")
    with pytest.raises(ConfigError, match="too short to be a secret"):
        check_exposure(GatewaySettings(routes=ROUTES, token="short"), "127.0.0.1")


def test_serve_checks_before_binding() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0"):
        serve(Gateway(GatewaySettings(routes=ROUTES)), "0.0.0.0", 0)


def test_the_command_refuses_an_open_public_bind(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.delenv("TOKENOMY_GATEWAY_TOKEN", raising=False)
    result = CliRunner().invoke(command, ["--host", "0.0.0.0", "--port", "0", "--sink", "none"])
    assert result.exit_code != 0
    assert "refusing to listen on 0.0.0.0 with no authentication" in str(result.exception or result.output)


def test_the_token_comes_from_the_environment(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))
    assert load_gateway(env={"TOKENOMY_GATEWAY_TOKEN": TOKEN}).token == TOKEN
    assert load_gateway(env={}).token is None
    assert TOKEN not in repr(load_gateway(env={"TOKENOMY_GATEWAY_TOKEN": TOKEN}))


def test_metrics_need_the_token_when_one_is_set() -> None:
    app, _ = _gateway(token=TOKEN)
    assert _status(app, "/metrics", method="GET") == 401
    assert _status(app, "/metrics", {"Authorization": "Bearer nope-nope-nope-nope"}, method="GET") == 401
    assert _status(app, "/metrics", {"Authorization": f"Bearer {TOKEN}"}, method="GET") == 200
    assert _status(app, "/healthz", method="GET") == 200
    open_app, _ = _gateway()
    assert _status(open_app, "/metrics", method="GET") == 200


def test_with_a_token_v1_paths_need_it_or_a_virtual_key() -> None:
    app, transport = _gateway(token=TOKEN)
    assert _status(app, "/v1/chat/completions") == 401
    assert _status(app, "/v1/chat/completions", {"Authorization": "Bearer sk-someone"}) == 401
    assert _status(app, "/v1/models", method="GET") == 401
    assert _status(app, "/v1/chat/completions", {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert _status(app, "/v1/chat/completions", {"X-Tokenomy-Token": TOKEN}) == 200
    assert _status(app, "/v1/chat/completions", {"Authorization": f"Bearer {KEY}"}) == 200
    assert len(transport.requests) == 3  # the refused ones never went upstream
    sent = dict(transport.requests[1].headers)
    assert sent[b"authorization"] == b"Bearer sk-route"
    assert b"x-tokenomy-token" not in sent  # the token is not sent upstream


def test_other_paths_check_the_virtual_key_like_metered_ones() -> None:
    app, transport = _gateway(require_keys=True, other_paths="pass")
    assert _status(app, "/v1/models", method="GET") == 401
    assert _status(app, "/v1/models", {"Authorization": "Bearer tk-unknown"}, method="GET") == 401
    assert _status(app, "/v1/models", {"Authorization": "Bearer sk-not-virtual"}, method="GET") == 401
    assert transport.requests == []
    assert _status(app, "/v1/models", {"Authorization": f"Bearer {KEY}"}, method="GET") == 200
    assert [r.url for r in transport.requests] == ["http://openai.test/v1/models"]


def test_the_anthropic_sdks_other_paths_go_to_the_anthropic_route() -> None:
    """``GET /v1/models`` is both APIs' path: the Anthropic SDK's (it sends ``anthropic-version`` on
    every request) goes to the Anthropic route, with its key header, and is refused in its format."""
    routes = (
        Route(("gpt-*",), "openai", "http://openai.test/v1", api_key="sk-route"),
        Route(("claude-*",), "anthropic", "http://anthropic.test", api_key="sk-ant-route"),
    )
    transport = HandlerTransport(_ok)
    app = Gateway(GatewaySettings(routes=routes, other_paths="pass"), transport=transport)
    claude = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    assert asyncio.run(asgi_call(app, "/v1/models", None, claude, method="GET")).status == 200
    assert (
        asyncio.run(asgi_call(app, "/v1/models", None, {"Authorization": "Bearer k"}, method="GET")).status
        == 200
    )
    assert [r.url for r in transport.requests] == [
        "http://anthropic.test/v1/models",
        "http://openai.test/v1/models",
    ]
    assert (b"x-api-key", b"sk-ant-route") in transport.requests[0].headers
    only_openai = Gateway(GatewaySettings(routes=routes[:1], other_paths="pass"), transport=transport)
    refused = asyncio.run(asgi_call(only_openai, "/v1/models", None, claude, method="GET"))
    assert refused.status == 404
    assert refused.json()["type"] == "error"  # Anthropic's error format
    assert "no route serves it" in refused.json()["error"]["message"]


def _budget(*policies: Policy) -> GatewayBudget:
    return GatewayBudget(BudgetGuard(list(policies), alerter=Alerter(quiet=True)))


def test_other_paths_are_refused_under_a_hard_budget() -> None:
    hard = Policy("h", Decimal(1000), Unit.TOKENS, Scope.TEAM, match="search", window=Window.DAY)
    app, transport = _gateway(_budget(hard), other_paths="pass")
    answer = asyncio.run(asgi_call(app, "/v1/models", None, {"Authorization": f"Bearer {KEY}"}, method="GET"))
    error = answer.json()["error"]
    assert answer.status == 403
    assert "GET /v1/models" in error["message"]
    assert "other_paths" in error["message"]
    assert error["type"] == "permission_error"
    # another team is not under that budget: its unmetered request passes
    assert _status(app, "/v1/models", {"X-Tokenomy-Team": "ads"}, method="GET") == 200
    assert len(transport.requests) == 1


def test_other_paths_are_refused_by_default_when_budgets_are_configured() -> None:
    policy = Policy("s", Decimal(1000), Unit.TOKENS, Scope.TEAM, window=Window.DAY)
    with_budget, _ = _gateway(_budget(policy))
    without, _ = _gateway()
    assert with_budget.other_paths == "refuse"
    assert _status(with_budget, "/v1/models", method="GET") == 404
    assert without.other_paths == "pass"
    assert _status(without, "/v1/models", method="GET") == 200


def test_a_bad_key_is_refused_before_the_body_is_read_and_a_body_not_utf8_is_named() -> None:
    app, transport = _gateway(require_keys=True)
    unkeyed = asyncio.run(asgi_call(app, "/v1/chat/completions", b"{not json"))
    assert unkeyed.status == 401  # the key first: nothing about the body is said without one
    keyed = {"Authorization": f"Bearer {KEY}"}
    latin = asyncio.run(
        asgi_call(app, "/v1/chat/completions", '{"model": "caf\xe9"}'.encode("latin-1"), keyed)
    )
    assert latin.status == 400
    assert "not UTF-8 text (byte 14)" in latin.json()["error"]["message"]
    assert transport.requests == []
    body = b"\xef\xbb\xbf" + json.dumps({"model": "gpt-4o", "messages": []}).encode()
    bom = asyncio.run(asgi_call(app, "/v1/chat/completions", body, keyed))
    assert bom.status == 200  # a UTF-8 byte order mark is still read, as json.loads(bytes) read it


def test_an_unknown_gateway_sink_names_every_accepted_form(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        sink_for("bogus:x", load(None, env={}))
    assert all(
        form in str(caught.value) for form in ("duckdb:PATH", "http://", "otlp+http://", "none", "off")
    )


def test_requests_the_proxy_does_not_meter_are_counted_too() -> None:
    """Refused for want of the token, unmetered paths (under one label) and the wrong method on a
    metered path all show in ``tokenomy_gateway_requests_total``."""
    app, _ = _gateway(token=TOKEN, other_paths="pass")
    asyncio.run(asgi_call(app, "/v1/chat/completions", {"model": "gpt-4o"}))  # no token: 401
    asyncio.run(asgi_call(app, "/v1/models", None, {"Authorization": f"Bearer {TOKEN}"}, method="GET"))
    asyncio.run(asgi_call(app, "/v1/files/abc", None, {"Authorization": f"Bearer {TOKEN}"}, method="GET"))
    asyncio.run(asgi_call(app, "/v1/batches", None, method="GET"))  # no token: 401
    metrics = asyncio.run(
        asgi_call(app, "/metrics", None, {"Authorization": f"Bearer {TOKEN}"}, method="GET")
    ).body.decode()
    assert 'tokenomy_gateway_requests_total{path="/v1/chat/completions",status="401"} 1' in metrics
    assert 'tokenomy_gateway_requests_total{path="other",status="200"} 2' in metrics
    assert 'tokenomy_gateway_requests_total{path="other",status="401"} 1' in metrics
