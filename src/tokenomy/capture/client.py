"""What an instrumented client carries: its adapter, provider, key hash, and its own capture settings.

One :class:`ClientState` is made per instrumented client (and per copy made with
``with_options``/``copy``). Settings left as None defer to the process's (``tokenomy.configure``),
those in force when each call is made, so configuring after instrumenting works.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from tokenomy.capture.budget import Enforcer, settling_sink
from tokenomy.capture.redaction import checked
from tokenomy.capture.runtime import RUNTIME, ContentSettings, Redact
from tokenomy.capture.sdk.base import ClientAdapter, Route
from tokenomy.capture.sink.core import Sink


@dataclass(frozen=True, slots=True)
class ClientState:
    """One instrumented client.

    Attributes:
        adapter: Its SDK's adapter.
        provider: The provider its class names (``azure``), or None.
        host: Its base URL's host (the provider is read from it on the sink's thread).
        api_key_id: A hash of its API key (never the key), for attribution by key.
        sink: Its own sink, or None for the process's.
        capture_content: Its own content setting, or None for the process's.
        redact: Its own redaction hook, or None for the process's.
        budget: Its budget enforcer (capture/budget.py), or None.
        budget_sink: Where its calls are built to settle budget tickets when capture is off.
    """

    adapter: ClientAdapter
    provider: str | None = None
    host: str | None = None
    api_key_id: str | None = None
    sink: Sink | None = None
    capture_content: bool | None = None
    redact: Redact | None = None
    budget: Enforcer | None = None
    budget_sink: Sink | None = None

    @property
    def routes(self) -> Mapping[str, Route]:
        """The SDK's LLM paths."""
        return self.adapter.routes

    def active_sink(self) -> Sink | None:
        """Where this client's calls go now (None: capture is off and no budget is enforced)."""
        return self.sink or RUNTIME.sink or self.budget_sink

    def keeps_content(self, process: ContentSettings) -> bool:
        """Whether prompt and completion text are captured for this client's call made under ``process``."""
        return process.capture_content if self.capture_content is None else self.capture_content

    def redaction(self, process: ContentSettings) -> Redact | None:
        """The redaction hook for this client's call made under ``process``."""
        return self.redact or process.redact


def state_for(
    client: object,
    adapter: ClientAdapter,
    sink: Sink | None = None,
    capture_content: bool | None = None,
    redact: Redact | None = None,
    *,
    budget: Enforcer | None = None,
) -> ClientState:
    """The state of a newly instrumented client (its key is hashed here and never kept)."""
    host = getattr(getattr(client, "base_url", None), "host", None)
    return ClientState(
        adapter,
        adapter.client_provider(client),
        host if isinstance(host, str) else None,
        key_id(getattr(client, "api_key", None)),
        sink,
        capture_content,
        checked(redact),
        budget,
        settling_sink() if budget is not None else None,
    )


def key_id(key: object) -> str | None:
    """A 16-hex sha256 of an API key, as the importers hash keys (``importers.ids.short_hash``)."""
    if not isinstance(key, str) or not key:
        return None
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
