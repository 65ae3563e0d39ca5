"""Error bodies as OpenAI and Anthropic write them, status by status.

OpenAI: ``{"error": {"message", "type", "param", "code"}}``. Anthropic:
``{"type": "error", "error": {"type", "message"}, "request_id"}``. The SDKs map the HTTP status
to their exception classes (400 BadRequestError, 429 RateLimitError, 5xx InternalServerError,
Anthropic's 529 OverloadedError...), and show the message.
"""

from __future__ import annotations

from typing import Final

from tokenomy.mockllm.wire.base import dumps

_OPENAI: Final[dict[int, tuple[str, str | None, str]]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "You are not allowed to use this model."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("server_error", "timeout", "Request timed out."),
    409: ("invalid_request_error", "conflict", "Conflicting request."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", "timeout", "Gateway timeout."),
}

_ANTHROPIC: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


class OpenAIErrors:
    """OpenAI's error body."""

    def body(self, status: int, message: str, *, param: str | None, request_id: str) -> bytes:
        """``{"error": {...}}`` for ``status``."""
        kind, code, _ = _OPENAI.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, "")
        )
        return dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})

    def injected(self, status: int) -> str:
        """The provider's usual message for ``status``, marked as injected by the mock."""
        return f"{_OPENAI.get(status, ('', None, 'Error.'))[2]} (mock upstream: injected {status})"


class AnthropicErrors:
    """Anthropic's error body."""

    def body(self, status: int, message: str, *, param: str | None, request_id: str) -> bytes:
        """``{"type": "error", "error": {...}, "request_id": ...}`` for ``status``."""
        kind = _ANTHROPIC.get(status, ("api_error" if status >= 500 else "invalid_request_error", ""))[0]
        if param and param not in message:
            message = f"{param}: {message}"
        return dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})

    def injected(self, status: int) -> str:
        """The provider's usual message for ``status``, marked as injected by the mock."""
        return f"{_ANTHROPIC.get(status, ('', 'Error.'))[1]} (mock upstream: injected {status})"


OPENAI: Final = OpenAIErrors()
ANTHROPIC: Final = AnthropicErrors()
