"""Helpers for the mock's tests: build requests, run the app without sockets, read SSE."""

from __future__ import annotations

import json
from typing import Any

from tokenomy.mockllm.app import App
from tokenomy.mockllm.config import MockLLMConfig
from tokenomy.mockllm.counting import Counter, cheap_count
from tokenomy.mockllm.http import Request
from tokenomy.mockllm.reply import Drop, Reply, Stream

TOOLS_OPENAI: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
]


def request(
    path: str, body: Any = None, headers: dict[str, str] | None = None, method: str = "POST"
) -> Request:
    """A parsed request as the connection would hand it to the app."""
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    return Request(method, path, "", "HTTP/1.1", {k.lower(): v for k, v in (headers or {}).items()}, raw)


class Answer:
    """What the app answered, with the accounting callback already run (as a complete send)."""

    def __init__(self, status: int, headers: bytes, body: bytes, action: Reply | Stream | Drop) -> None:
        self.status, self.headers, self.body, self.action = status, headers, body, action

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[tuple[str | None, Any]]:
        return sse_events(self.body)

    def header(self, name: str) -> str | None:
        for line in self.headers.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key == name:
                return value
        return None


def answer(app: App, req: Request) -> Answer:
    """Run ``req`` through ``app`` and complete it as if every byte were written."""
    action = app.handle(req)
    if isinstance(action, Reply):
        action.done(True)
        return Answer(action.status, action.headers, action.body, action)
    if isinstance(action, Stream):
        action.done(len(action.frames), True)
        return Answer(200, action.headers, b"".join(f.data for f in action.frames), action)
    action.done()
    return Answer(0, b"", b"", action)


def post(app: App, path: str, body: Any, **headers: str) -> Answer:
    """POST ``body`` to ``path``; keyword headers use underscores for dashes (x_mock_error=...)."""
    return answer(app, request(path, body, {k.replace("_", "-"): v for k, v in headers.items()}))


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """Server-sent events as (event name, parsed data); ``[DONE]`` stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


def app(**config: Any) -> App:
    """An App with the cheap counter (fast, deterministic) and the given config."""
    return App(MockLLMConfig(**config), Counter(cheap_count))
