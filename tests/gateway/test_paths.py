"""Paths the gateway does not serve are answered in the provider's error format, so an SDK shows why."""

from __future__ import annotations

import asyncio

import pytest
from openai import NotFoundError, OpenAI

from tests.gateway.support import asgi_call, running
from tokenomy.gateway import Gateway, GatewaySettings, Route

ROUTES = (Route(("*",), "openai", "http://127.0.0.1:9/v1", api_key="sk-route"),)


def test_a_metered_path_without_v1_names_the_base_url_mistake() -> None:
    answer = asyncio.run(asgi_call(Gateway(GatewaySettings(routes=ROUTES)), "/chat/completions", {}))
    assert answer.status == 404
    assert answer.json() == {
        "error": {
            "message": "POST /chat/completions: this gateway serves /v1/... (the APIs), /healthz, /readyz "
            "and /metrics; did you mean /v1/chat/completions? (an OpenAI client's base_url ends in /v1)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_another_path_gets_a_404_in_the_anthropic_format_when_the_client_speaks_it() -> None:
    answer = asyncio.run(
        asgi_call(
            Gateway(GatewaySettings(routes=ROUTES)), "/v2/x", method="GET", headers={"anthropic-version": "1"}
        )
    )
    body = answer.json()
    assert answer.status == 404
    assert body["type"] == "error"
    assert body["error"] == {
        "type": "not_found_error",
        "message": "GET /v2/x: this gateway serves /v1/... (the APIs), /healthz, /readyz and /metrics",
    }


def test_a_post_to_a_health_path_is_a_405() -> None:
    answer = asyncio.run(asgi_call(Gateway(GatewaySettings(routes=ROUTES)), "/readyz", {}))
    assert answer.status == 405
    assert answer.json()["error"]["message"] == "POST is not allowed on /readyz; use GET or HEAD"
    assert answer.headers[b"allow"] == b"GET, HEAD"
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.integration
def test_the_openai_sdk_shows_the_message_of_a_wrong_base_url() -> None:
    with running(Gateway(GatewaySettings(routes=ROUTES))) as gateway:
        client = OpenAI(base_url=f"http://127.0.0.1:{gateway.port}", api_key="k", max_retries=0)
        with pytest.raises(NotFoundError) as refused:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "did you mean /v1/chat/completions?" in str(refused.value)
