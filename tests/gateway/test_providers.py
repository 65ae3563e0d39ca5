"""Which provider a route's calls are billed by: configured, known from the upstream's host, or the kind's."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.gateway.support import asgi_call, calls_of, chat_completion, memory_sink
from tokenomy.errors import ConfigError
from tokenomy.gateway import (
    Gateway,
    GatewaySettings,
    HandlerTransport,
    Route,
    UpstreamRequest,
    UpstreamResponse,
    load_gateway,
)
from tokenomy.pricing import Pricer


@pytest.mark.parametrize(
    ("kind", "base_url", "provider", "billed_by"),
    [
        ("openai", "https://api.openai.com/v1", None, "openai"),
        ("openai-compatible", "https://api.x.ai/v1", None, "x-ai"),
        ("openai-compatible", "https://api.groq.com/openai/v1", None, "groq"),
        ("openai-compatible", "https://api.deepseek.com", None, "deepseek"),
        ("openai", "https://my-team.openai.azure.com/openai/v1", None, "azure"),
        ("anthropic", "https://api.anthropic.com", None, "anthropic"),
        ("anthropic", "http://127.0.0.1:9000", None, "anthropic"),
        ("openai-compatible", "http://127.0.0.1:8000/v1", None, "openai"),  # self-hosted: the kind's
        ("openai-compatible", "http://127.0.0.1:8000/v1", "xAI", "x-ai"),  # configured, canonical name
        ("openai", "https://api.openai.com/v1", "mistral", "mistral"),  # configured wins over the host
    ],
)
def test_a_route_is_billed_by_its_configured_provider_else_its_host_s_else_its_kind_s(
    kind: str, base_url: str, provider: str | None, billed_by: str
) -> None:
    assert Route(("*",), kind, base_url, provider=provider).billed_by == billed_by


def test_the_provider_is_read_from_the_route_table(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(
        '[[gateway.route]]\nmodels = "grok-*"\nkind = "openai-compatible"\nbase_url = "https://x.example/v1"\n'
        'provider = "xai"\n'
    )
    [route] = load_gateway(path, env={}).routes
    assert (route.provider, route.billed_by) == ("xai", "x-ai")


@pytest.mark.parametrize("value", ['""', "7", '"  "'])
def test_a_provider_that_names_nothing_is_refused_with_where_and_what(tmp_path: Path, value: str) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(f'[[gateway.route]]\nbase_url = "https://api.x.ai/v1"\nprovider = {value}\n')
    with pytest.raises(ConfigError) as raised:
        load_gateway(path, env={})
    assert "field 'provider' must name a provider" in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_call_through_an_xai_route_is_recorded_and_priced_as_xai_s() -> None:
    """Before, every non-Anthropic route billed by 'openai': a Grok model was then never priced."""
    answer = chat_completion("x-1", "grok-3-mini", prompt=32, completion=9)
    answer["usage"] = {
        "prompt_tokens": 32,
        "completion_tokens": 9,
        "total_tokens": 135,
        "prompt_tokens_details": {"cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 94},
    }

    async def upstream(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse.of(200, json.dumps(answer).encode(), [(b"content-type", b"application/json")])

    transport = HandlerTransport(upstream)
    sink, target = memory_sink()
    route = Route(("grok-*",), "openai-compatible", "https://api.x.ai/v1", api_key="xai-route")
    app = Gateway(GatewaySettings(routes=(route,)), transport=transport, sink=sink, pricer=Pricer())
    body = {"model": "grok-3-mini", "messages": [{"role": "user", "content": "hi"}]}
    got = asyncio.run(asgi_call(app, "/v1/chat/completions", body))
    assert (got.status, got.json()) == (200, answer)
    [sent] = transport.requests
    assert sent.url == "https://api.x.ai/v1/chat/completions"
    [call] = calls_of(sink, target)
    assert (call.provider, call.response_model) == ("x-ai", "grok-3-mini")
    assert (call.usage.output_visible, call.usage.reasoning, call.usage.quality) == (9, 94, ())
    assert call.cost is not None
    assert call.cost.total == Decimal("0.00005975")
    sink.shutdown(5)
