"""The provider recordings under the real-data folder, unwrapped into bodies and event lists.

The recordings come in the formats of the SDK test suites that made them (openai-python's
JSONL snapshots, anthropic-sdk-python's recorded request/response pairs and SSE fixtures,
pydantic-ai's VCR cassettes). Unwrapping those formats is test code; raw SSE text, which is
also what teams log, is decoded with the product's own parser.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REAL_DATA
from tokenomy.usage import iter_json_events

ROOT = REAL_DATA / "provider-responses"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LLM_PATHS = ("/chat/completions", "/responses", "/messages?", ":generateContent", ":streamGenerateContent")


@dataclass(frozen=True)
class Recording:
    """One recorded response: a body, or a stream's decoded events."""

    source: str
    """``<file name>#<index>``: stable, used to pin hand-checked values."""
    body: Mapping[str, Any] | None = None
    events: tuple[Mapping[str, Any], ...] = ()
    status: int = 200

    @property
    def streamed(self) -> bool:
        return self.body is None


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _openai_python() -> Iterator[Recording]:
    folder = ROOT / "openai-python"
    for name in ("chat_completions_recorded.jsonl", "responses_recorded.jsonl"):
        for i, row in enumerate(_jsonl(folder / name)):
            yield Recording(f"{name}#{i}", body=row["response"])
    for path in sorted((folder / "chat-streams-include-usage").glob("*.jsonl")):
        events = tuple(row["data"] for row in _jsonl(path) if isinstance(row["data"], dict))
        yield Recording(f"{path.name}#0", events=events)


def _from_http(source: str, status: int, content_type: str, body: Any) -> Recording:
    if "text/event-stream" in content_type:
        return Recording(source, events=tuple(iter_json_events(str(body))), status=status)
    parsed = json.loads(body) if isinstance(body, str) else body
    return Recording(source, body=parsed, status=status)


def _anthropic_sdk() -> Iterator[Recording]:
    folder = ROOT / "anthropic-sdk-python"
    for path in sorted((folder / "recorded-http").glob("*.json")):
        for i, pair in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            response = pair["response"]
            content_type = response["headers"].get("content-type", "")
            yield _from_http(f"{path.name}#{i}", response["status_code"], content_type, response["body"])
    for path in sorted((folder / "streams").glob("*.jsonl")):
        yield Recording(f"{path.name}#0", events=tuple(row["data"] for row in _jsonl(path)))


def _cassette_body(response: Mapping[str, Any]) -> Any:
    if "parsed_body" in response:
        return response["parsed_body"]
    return (response.get("body") or {}).get("string")


def _pydantic_ai() -> Iterator[Recording]:
    for path in sorted((ROOT / "pydantic-ai-cassettes").glob("*.yaml")):
        cassette = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        for i, exchange in enumerate(cassette["interactions"]):
            if not any(p in exchange["request"]["uri"] for p in _LLM_PATHS):
                continue
            response = exchange["response"]
            content_type = " ".join(response["headers"].get("content-type", []))
            yield _from_http(
                f"{path.name}#{i}", response["status"]["code"], content_type, _cassette_body(response)
            )


@functools.cache
def _load() -> tuple[Recording, ...]:
    return (*_openai_python(), *_anthropic_sdk(), *_pydantic_ai())


def all_recordings() -> list[Recording]:
    """Every LLM response recording, or an empty list when the real-data folder is absent."""
    return list(_load()) if ROOT.exists() else []


def by_source(source: str) -> Recording:
    """The recording named ``source``."""
    for recording in all_recordings():
        if recording.source == source:
            return recording
    raise KeyError(source)
