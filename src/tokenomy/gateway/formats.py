"""The wire formats the gateway speaks: one adapter per provider family, and the metered paths.

A :class:`WireFormat` knows what differs between OpenAI's and Anthropic's HTTP APIs for a proxy:
the shape of an error body (so a refusal, a timeout or a budget rejection reaches the SDK as the
provider's own error), where the client's key travels, how the upstream key is sent, and how a
path joins a route's base URL. A :class:`Surface` is one metered path (chat completions,
Responses, embeddings, legacy completions, Messages) with the names the records use.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from tokenomy.gateway.upstream import Headers

_OPENAI_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_OPENAI_SHAPES: Final[dict[str, tuple[str, str | None]]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "server_error": ("server_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "model_not_found": ("invalid_request_error", "model_not_found"),
    "not_found_error": ("invalid_request_error", None),
}
"""OpenAI's ``type`` and ``code`` for a gateway's error kind, as OpenAI writes its own: a bad body
``invalid_request_error`` with ``code: null``, a bad key ``invalid_api_key`` and an unknown model
``model_not_found`` as codes of an ``invalid_request_error``, a path not served as OpenAI's
``Invalid URL`` (``invalid_request_error``, no code). Other kinds (``budget_exceeded``,
``upstream_error``, ``timeout``...) are both, as OpenAI's ``insufficient_quota`` is."""
_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class WireFormat:
    """What a proxy must know of one provider family's HTTP API.

    Attributes:
        name: ``openai`` or ``anthropic``.
        key_header: The header the client's key travels in (``authorization`` or ``x-api-key``).
        kinds: Route kinds that speak this format upstream.
        strip_prefix: Removed from the request path before joining the route's base URL.
    """

    name: str
    key_header: bytes
    kinds: tuple[str, ...]
    strip_prefix: str

    def error_type(self, status: int) -> str:
        """The provider's error type for an HTTP status."""
        table = _OPENAI_TYPES if self.name == "openai" else _ANTHROPIC_TYPES
        return table.get(status, "server_error" if self.name == "openai" else "api_error")

    def error_body(self, status: int, message: str, error_type: str | None = None, **extra: Any) -> bytes:
        """An error body in this format (``extra`` fields go inside the error object)."""
        kind = error_type or self.error_type(status)
        if self.name == "openai":
            shown, code = _OPENAI_SHAPES.get(kind, (kind, kind))
            error: dict[str, Any] = {"message": message, "type": shown, "param": None, "code": code}
            error.update(extra)
            return json.dumps({"error": error}).encode()
        inner: dict[str, Any] = {"type": kind, "message": message}
        inner.update(extra)
        body = {"type": "error", "error": inner, "request_id": f"req_gw{secrets.token_hex(10)}"}
        return json.dumps(body).encode()

    def client_key(self, headers: Headers) -> str | None:
        """The key the client sent (``Bearer`` removed), or None."""
        for name, value in headers:
            if name == self.key_header or name in (b"authorization", b"x-api-key"):
                return bearer(value).decode("latin-1")
        return None

    def auth_headers(self, key: str) -> Headers:
        """The headers that carry ``key`` upstream."""
        if self.name == "openai":
            return [(b"authorization", b"Bearer " + key.encode("latin-1"))]
        return [(b"x-api-key", key.encode("latin-1"))]

    def upstream_url(self, base_url: str, path: str) -> str:
        """The URL ``path`` (as the client sent it, ``/v1/...``) has behind ``base_url``."""
        if self.strip_prefix and path.startswith(self.strip_prefix + "/"):
            path = path[len(self.strip_prefix) :]
        return base_url + path


OPENAI: Final = WireFormat("openai", b"authorization", ("openai", "openai-compatible"), "/v1")
ANTHROPIC: Final = WireFormat("anthropic", b"x-api-key", ("anthropic",), "")


@dataclass(frozen=True, slots=True)
class Surface:
    """One metered path.

    Attributes:
        wire: Its wire format.
        api: The record's ``api`` (``chat``, ``responses``, ``embeddings``, ``completions``, ``messages``).
        operation: The record's ``operation`` (``chat``, ``embeddings``, ``text_completion``).
        stream_kind: The usage stream accumulator for its streams.
        output_markers: Byte strings that show a stream chunk carries output (time to first token).
        asks_usage: True when a stream reports usage only if asked (OpenAI chat and completions).
    """

    wire: WireFormat
    api: str
    operation: str
    stream_kind: str
    output_markers: tuple[bytes, ...]
    asks_usage: bool = False


_CHAT_OUT: Final = (b'"content":"', b'"arguments":"', b'"refusal":"', b'"reasoning_content":"')
_CHAT_EMPTY: Final = b'"content":""'

SURFACES: Final[dict[str, Surface]] = {
    "/v1/chat/completions": Surface(OPENAI, "chat", "chat", "openai.chat", _CHAT_OUT, asks_usage=True),
    "/v1/completions": Surface(OPENAI, "completions", "text_completion", "openai.chat", (b'"text":"',), True),
    "/v1/responses": Surface(OPENAI, "responses", "chat", "openai.responses", (b'.delta"',)),
    "/v1/embeddings": Surface(OPENAI, "embeddings", "embeddings", "openai.embeddings", ()),
    "/v1/messages": Surface(ANTHROPIC, "messages", "chat", "anthropic.messages", (b'_delta"',)),
}
"""Metered paths by request path."""


def carries_output(surface: Surface, chunk: bytes) -> bool:
    """True when a stream chunk carries output tokens (for the time to first token)."""
    for marker in surface.output_markers:
        at = chunk.find(marker)
        while at >= 0:
            if not (marker == b'"content":"' and chunk.startswith(_CHAT_EMPTY, at)):
                return True
            at = chunk.find(marker, at + 1)
    return False


def bearer(value: bytes) -> bytes:
    """A key header's value without its ``Bearer`` scheme (an ``x-api-key`` value is the key itself)."""
    text = value.strip()
    return text[7:].strip() if text[:7].lower() == b"bearer " else text


def wire_for_path(path: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> WireFormat:
    """The wire format of an unmetered path: Anthropic's for the ``/v1/messages...`` family and for
    a request with an ``anthropic-version`` header (the Anthropic SDK's, on every request: its
    ``/v1/models`` is Anthropic's, not OpenAI's path of the same name), else OpenAI's."""
    if path.startswith("/v1/messages"):
        return ANTHROPIC
    return ANTHROPIC if any(name == b"anthropic-version" for name, _ in headers) else OPENAI
