"""Which adapter reads a client, and how exceptions become a call status."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import APITimeoutError, AsyncOpenAI, AzureOpenAI, BadRequestError, OpenAI, RateLimitError

from tokenomy.capture.sdk import ErrorInfo, adapter_for
from tokenomy.errors import ConfigError
from tokenomy.schema import Status

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


@pytest.mark.parametrize(
    ("make", "name", "is_async", "provider"),
    [
        (lambda: OpenAI(api_key="k"), "openai", False, None),
        (lambda: AsyncOpenAI(api_key="k"), "openai", True, None),
        (
            lambda: AzureOpenAI(api_key="k", azure_endpoint="https://r.openai.azure.com", api_version="v"),
            "openai",
            False,
            "azure",
        ),
        (lambda: Anthropic(api_key="k"), "anthropic", False, None),
        (lambda: AsyncAnthropic(api_key="k"), "anthropic", True, None),
    ],
)
def test_each_sdk_client_finds_its_adapter(
    make: object, name: str, is_async: bool, provider: str | None
) -> None:
    client = make()  # type: ignore[operator]
    adapter = adapter_for(client)
    assert (adapter.name, adapter.is_async(client), adapter.client_provider(client)) == (
        name,
        is_async,
        provider,
    )


def test_other_objects_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"cannot instrument an object of type builtins\.dict: it supports"):
        adapter_for({})


def test_a_client_class_passed_instead_of_a_client_says_to_make_one() -> None:
    """``instrument(OpenAI)`` read "cannot instrument a builtins.type", which named neither."""
    with pytest.raises(
        ConfigError, match=r"needs a client, not the class openai\.OpenAI itself: pass OpenAI\(\.\.\.\)"
    ):
        adapter_for(OpenAI)


def test_exceptions_map_to_statuses() -> None:
    adapter = adapter_for(OpenAI(api_key="k"))
    limited = RateLimitError("slow down", response=httpx2.Response(429, request=REQUEST), body=None)
    assert adapter.classify(limited) == ErrorInfo(Status.ERROR, "http_429", 429)  # as the gateway: no body
    body = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
    named = RateLimitError("slow down", response=httpx2.Response(429, request=REQUEST), body=body)
    assert adapter.classify(named) == ErrorInfo(Status.ERROR, "requests", 429)  # the provider's own type
    coded = {"message": "The response was filtered", "type": None, "code": "content_filter"}  # Azure's
    filtered = BadRequestError("filtered", response=httpx2.Response(400, request=REQUEST), body=coded)
    assert adapter.classify(filtered) == ErrorInfo(Status.ERROR, "http_400", 400)  # a code is no type
    read = httpx2.ReadTimeout("timed out", request=REQUEST)  # while a stream is read: named, not a cut
    assert adapter.classify(read, answered=200) == ErrorInfo(Status.ERROR, "ReadTimeout", 200)
    broken = httpx2.RemoteProtocolError("peer closed", request=REQUEST)
    assert adapter.classify(broken, answered=200) == ErrorInfo(Status.ERROR, "stream_cut", 200)
    assert adapter.classify(APITimeoutError(request=REQUEST)).status is Status.TIMEOUT
    assert adapter.classify(asyncio.CancelledError()).status is Status.CANCELLED
    assert adapter.classify(ValueError("odd")).status is Status.ERROR
