"""The gateway's request body limit: 413 past it, however the body arrives, in the provider's format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from tokenomy.gateway.proxy import RefusedError, read_body


def _receiving(parts: list[bytes]) -> Any:
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    return receive


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ([b"x" * 10], None),  # at the limit: taken
        ([b"x" * 11], 413),  # one message past the limit
        ([b"x" * 6, b"x" * 5], 413),  # past it only once the parts add up
        ([b"x" * 4, b"x" * 6], None),
    ],
)
def test_a_body_past_the_limit_is_refused_with_413(parts: list[bytes], status: int | None) -> None:
    if status is None:
        assert asyncio.run(read_body(_receiving(parts), limit=10)) == b"".join(parts)
        return
    with pytest.raises(RefusedError) as refused:
        asyncio.run(read_body(_receiving(parts), limit=10))
    assert refused.value.status == status
    assert "larger than 10 bytes" in str(refused.value)


def test_the_limit_is_32_mib_and_answers_in_each_provider_s_format() -> None:
    from tests.gateway.support import asgi_call
    from tokenomy.gateway import Gateway, GatewaySettings, Route
    from tokenomy.gateway.proxy import MAX_BODY

    assert MAX_BODY == 32 * 1024 * 1024
    settings = GatewaySettings(
        routes=(
            Route(("claude-*",), "anthropic", "http://upstream.test"),
            Route(("*",), "openai", "http://upstream.test/v1"),
        )
    )
    app = Gateway(settings)
    padding = "x" * (MAX_BODY + 1)
    openai = asyncio.run(asgi_call(app, "/v1/chat/completions", {"model": "gpt-4o", "pad": padding}))
    claude = asyncio.run(asgi_call(app, "/v1/messages", {"model": "claude-haiku-4-5", "pad": padding}))
    assert (openai.status, openai.json()["error"]["type"]) == (413, "invalid_request_error")
    assert (claude.status, claude.json()["error"]["type"]) == (413, "request_too_large")
    assert json.loads(claude.body)["type"] == "error"


def test_an_unmetered_path_refuses_a_body_past_the_limit_with_413_not_a_crash() -> None:
    """``/v1/files`` and the other forwarded paths read their body under the same limit; the refusal
    is answered (it was an exception out of the app: uvicorn's 500 and a traceback in the log)."""
    from tests.gateway.support import asgi_call
    from tokenomy.gateway import Gateway, GatewaySettings, Route
    from tokenomy.gateway.proxy import MAX_BODY

    settings = GatewaySettings(
        routes=(
            Route(("claude-*",), "anthropic", "http://upstream.test"),
            Route(("*",), "openai", "http://upstream.test/v1"),
        ),
        other_paths="pass",
    )
    app = Gateway(settings)
    padding = b"x" * (MAX_BODY + 1)
    openai = asyncio.run(asgi_call(app, "/v1/files", padding))
    claude = asyncio.run(
        asgi_call(app, "/v1/messages/batches", padding, headers={"anthropic-version": "2023-06-01"})
    )
    assert openai.status == 413
    assert (
        openai.json()["error"]["message"]
        == f"the request body is larger than {MAX_BODY} bytes; send a smaller one"
    )
    assert (claude.status, claude.json()["error"]["type"]) == (413, "request_too_large")
