"""Which adapter reads a client: the registry of supported SDKs, tried in order."""

from __future__ import annotations

from typing import Final

from tokenomy.capture.sdk import anthropic, openai
from tokenomy.capture.sdk.base import ClientAdapter
from tokenomy.errors import ConfigError

ADAPTERS: Final[tuple[ClientAdapter, ...]] = (openai.ADAPTER, anthropic.ADAPTER)


def adapter_for(client: object) -> ClientAdapter:
    """The adapter of ``client``'s SDK.

    Raises:
        ConfigError: ``client`` is not a client of a supported SDK.
    """
    for adapter in ADAPTERS:
        if adapter.matches(client):
            return adapter
    supported = "openai.OpenAI, AsyncOpenAI, AzureOpenAI, anthropic.Anthropic, AsyncAnthropic"
    if isinstance(client, type) and client.__module__.partition(".")[0] in ("openai", "anthropic"):
        raise ConfigError(  # instrument(OpenAI): the class, not a client made from it
            f"tokenomy.instrument needs a client, not the class {client.__module__}.{client.__name__} "
            f"itself: pass {client.__name__}(...)"
        )
    raise ConfigError(
        f"tokenomy.instrument cannot instrument an object of type {type(client).__module__}."
        f"{type(client).__name__}: it supports the official SDK clients ({supported}). Pass one of "
        "those, or send the calls through the tokenomy gateway instead."
    )
