"""The gateway: an OpenAI- and Anthropic-compatible proxy that meters every call without slowing it.

Typical use (``tokenomy gateway`` does this)::

    from tokenomy.gateway import gateway_from_config, serve

    serve(gateway_from_config("tokenomy.toml"), port=8800)

Apps change their base URL (``OpenAI(base_url="http://127.0.0.1:8800/v1")``,
``Anthropic(base_url="http://127.0.0.1:8800")``) and add ``X-Tokenomy-*`` headers or a virtual
key for attribution. See docs/gateway.md.
"""

from __future__ import annotations

from tokenomy.gateway.app import Gateway, combine
from tokenomy.gateway.budget import GatewayBudget
from tokenomy.gateway.keys import KeyBook, VirtualKey
from tokenomy.gateway.metrics import GatewayMetrics
from tokenomy.gateway.run import serve
from tokenomy.gateway.settings import GatewaySettings, Route, load_gateway
from tokenomy.gateway.setup import gateway_from_config
from tokenomy.gateway.upstream import (
    HandlerTransport,
    PoolTransport,
    Transport,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)

__all__ = [
    "Gateway",
    "GatewayBudget",
    "GatewayMetrics",
    "GatewaySettings",
    "HandlerTransport",
    "KeyBook",
    "PoolTransport",
    "Route",
    "Transport",
    "UpstreamError",
    "UpstreamRequest",
    "UpstreamResponse",
    "VirtualKey",
    "combine",
    "gateway_from_config",
    "load_gateway",
    "serve",
]
