"""HTTP recordings of LLM traffic: VCR cassettes (YAML) and HAR archives (JSON).

Teams record real provider traffic for their tests (vcrpy and its descendants write YAML
cassettes) and browsers or proxies export HAR files. Each recorded exchange whose response an
LLM usage adapter can read becomes one call, read exactly like a logged request/response pair
(:func:`tokenomy.importers.provider.record_to_call`): the request URL names the provider, the
request body gives the requested model and the prompt's shape, the response body (JSON or a
captured SSE stream) gives the usage. Exchanges with other endpoints (model lists, file uploads,
token counting) are skipped and listed in a note of the file, never stored as calls.

Cassette bodies may be text (``body: '...'`` or ``body: {string: '...'}``) or already parsed
(``parsed_body``); HAR bodies are ``postData.text`` and ``content.text`` (base64 when its
``encoding`` says so). Headers are never read, so recorded keys never leave the file.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Final
from urllib.parse import unquote

import yaml

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.provider import record_to_call
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import guarded
from tokenomy.importers.results import ImportOptions, Item, Note
from tokenomy.schema import Call

LLM_PATHS: Final = (
    "/chat/completions",
    "/completions",
    "/responses",
    "/embeddings",
    "/messages",
    ":generatecontent",
    ":streamgeneratecontent",
    "/converse",
    "/converse-stream",
)
"""URL path endings (lower-cased, query removed) of the endpoints whose responses carry usage."""


class RecordingImporter(RecordImporter):
    """VCR cassettes and HAR archives of provider traffic."""

    name: ClassVar[str] = "recording"
    summary: ClassVar[str] = "HTTP recordings of provider traffic: VCR cassettes (YAML) and HAR files."

    def sniff(self, sample: Sample) -> float:
        """Sure for a cassette's ``interactions:`` or a HAR document's ``log.entries``."""
        if sample.kind == "text":
            return 0.9 if sample.text.lstrip().startswith("interactions:") else 0.0
        first = sample.first
        if sample.kind == "json" and isinstance(first, Mapping):
            log = first.get("log")
            if isinstance(log, Mapping) and isinstance(log.get("entries"), list):
                return 0.9
            if isinstance(first.get("interactions"), list):
                return 0.9
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """One call per recorded LLM exchange, in recording order."""
        skipped: dict[str, int] = {}
        for number, exchange in enumerate(_exchanges(_document(source), source.name), start=1):
            if isinstance(exchange, RecordError):
                yield exchange
            elif _is_llm(exchange["request"].get("url")):
                yield from guarded(source, number, _call, exchange, options)
            else:
                endpoint = _endpoint(exchange["request"])
                skipped[endpoint] = skipped.get(endpoint, 0) + 1
        if skipped:
            listed = ", ".join(f"{endpoint} x{n}" if n > 1 else endpoint for endpoint, n in skipped.items())
            yield Note(
                f"{sum(skipped.values())} recorded exchange(s) skipped, not LLM calls with usage: {listed}"
            )


def _call(exchange: Mapping[str, Any], options: ImportOptions) -> list[Call]:
    return [record_to_call(exchange, options)]


def _document(source: Source) -> Mapping[str, Any]:
    text = source.text()
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ImportFileError(
            source.name, f"not a readable cassette or HAR file: {_first_line(exc)}"
        ) from exc
    if not isinstance(document, Mapping):
        raise ImportFileError(
            source.name, "expected a cassette (interactions:) or a HAR document (log.entries)"
        )
    return document


def _exchanges(document: Mapping[str, Any], name: str) -> Iterator[Mapping[str, Any] | RecordError]:
    """The recorded exchanges, each as a logged request/response pair (a bad one as a RecordError).

    Raises:
        ImportFileError: The document holds neither ``interactions`` nor ``log.entries``.
    """
    log = document.get("log")
    reader: Callable[[Mapping[str, Any]], dict[str, Any]]
    if isinstance(log, Mapping) and isinstance(log.get("entries"), list):
        reader, items = _har_exchange, log["entries"]
    elif isinstance(document.get("interactions"), list):
        reader, items = _vcr_exchange, document["interactions"]
    else:
        keys = ", ".join(sorted(str(k) for k in document)[:8]) or "none"
        raise ImportFileError(
            name,
            "not a cassette (an 'interactions' list) or a HAR document (a 'log.entries' list): "
            f"its keys are {keys}; pass another --format",
        )
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            yield RecordError(name, number, None, "expected a recorded exchange (an object)")
            continue
        yield reader(item)


def _vcr_exchange(item: Mapping[str, Any]) -> dict[str, Any]:
    request = _mapping(item.get("request"))
    response = _mapping(item.get("response"))
    status = _mapping(response.get("status")).get("code")
    url = request.get("uri")
    return {
        "request": {
            "method": request.get("method"),
            "url": url,
            "headers": {},
            "body": _with_model(_vcr_body(request), url),
        },
        "response": {"status_code": status, "body": _vcr_body(response)},
    }


def _har_exchange(entry: Mapping[str, Any]) -> dict[str, Any]:
    request = _mapping(entry.get("request"))
    response = _mapping(entry.get("response"))
    content = _mapping(response.get("content"))
    text = content.get("text")
    if isinstance(text, str) and content.get("encoding") == "base64":
        text = _unbase64(text)
    url = request.get("url")
    return {
        "request": {
            "method": request.get("method"),
            "url": url,
            "headers": {},
            "body": _with_model(_parsed(_mapping(request.get("postData")).get("text")), url),
        },
        "response": {"status_code": response.get("status"), "body": _parsed(text)},
        "started_at": entry.get("startedDateTime"),
        "latency_ms": entry.get("time"),
    }


def _with_model(body: Any, url: Any) -> Any:
    """The request body, given the model named in the URL when the body names none (Gemini, Bedrock)."""
    if not isinstance(body, Mapping) or "model" in body or not isinstance(url, str):
        return body
    path = url.split("?", 1)[0]
    for marker in ("/models/", "/model/"):
        if marker in path:
            name = path.split(marker, 1)[1].split(":", 1)[0].split("/", 1)[0]
            return {**body, "model": unquote(name)} if name else body
    return body


def _vcr_body(part: Mapping[str, Any]) -> Any:
    if "parsed_body" in part:
        return part["parsed_body"]
    body = part.get("body")
    if isinstance(body, Mapping):
        body = body.get("string")
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    return _parsed(body)


def _parsed(text: Any) -> Any:
    """JSON text as an object; SSE or other text as it is (the provider reader handles streams)."""
    if not isinstance(text, str):
        return text
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _unbase64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return text


def _is_llm(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    path = url.split("?", 1)[0].lower().rstrip("/")
    return path.endswith(LLM_PATHS)


def _endpoint(request: Mapping[str, Any]) -> str:
    """``METHOD /path`` of a request (no host, no query), for the note on skipped exchanges."""
    url = request.get("url")
    path = url.split("?", 1)[0] if isinstance(url, str) else "(no url)"
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    method = request.get("method")
    return f"{method} {path}" if isinstance(method, str) else path


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
