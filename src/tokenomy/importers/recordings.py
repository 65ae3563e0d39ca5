"""HTTP recordings of LLM traffic: VCR cassettes (YAML) and HAR archives (JSON).

Teams record real provider traffic for their tests (vcrpy and its descendants write YAML
cassettes) and browsers or proxies export HAR files. Each recorded exchange whose response an
LLM usage adapter can read becomes one call, read exactly like a logged request/response pair
(:func:`tokenomy.importers.provider.record_to_call`): the request URL names the provider, the
request body gives the requested model and the prompt's shape, the response body (JSON or a
captured SSE stream) gives the usage. Exchanges with other endpoints (model lists, file uploads,
token counting) are skipped and listed in a note of the file, never stored as calls.

Cassette bodies may be text (``body: '...'`` or ``body: {string: '...'}``), bytes (``!!binary``)
or already parsed (``parsed_body``); HAR bodies are ``postData.text`` and ``content.text`` (base64
when its ``encoding`` says so). A response body in bytes is decoded from its ``Content-Encoding``
(vcrpy without ``decode_compressed_response`` keeps gzip bodies as it got them; a HAR may carry
the compressed bytes in base64): gzip, deflate (zlib-wrapped or raw) and br when a Brotli module
(``brotli`` or ``brotlicffi``) is installed. Bytes that already read as a JSON or SSE body are
taken as they are: HAR tools store the decoded body beside the original header. A body that
cannot be decoded rejects its exchange, saying why. Content-Encoding is the only header read, and
no header is stored, so recorded keys never leave the file.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Final
from urllib.parse import unquote

import yaml

from tokenomy.compression import brotli_module
from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.hosts import HOSTS, host_of
from tokenomy.importers.provider import record_to_call
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import guarded
from tokenomy.importers.results import ImportOptions, Item, Note
from tokenomy.native import FieldError
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
    "/api/chat",  # Ollama's own API
    "/api/generate",
    "/api/embed",
)
"""URL path endings (lower-cased, query removed) of the endpoints whose responses carry usage."""
COHERE_PATHS: Final = ("/v1/chat", "/v2/chat", "/v1/embed", "/v2/embed", "/v1/rerank", "/v2/rerank")
"""Cohere's endpoints, LLM calls on Cohere's hosts only (other services' ``/v1/rerank`` are not)."""
_CODINGS: Final = "content_encoding"
"""The key under which a reader leaves the response's content codings for :func:`_call` to undo."""
_IDENTITY: Final = frozenset({"", "identity"})
_DECODED: Final = (b"{", b"[", b"data:", b"event:", b":")
"""How a body that needs no decoding starts (JSON, or an SSE stream): HAR tools store it so."""


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
            elif not _is_llm(exchange["request"].get("url")):
                endpoint = _endpoint(exchange["request"])
                skipped[endpoint] = skipped.get(endpoint, 0) + 1
            else:
                try:
                    yield from guarded(source, number, _call, exchange, options)
                except NotACallError:
                    endpoint = f"{_endpoint(exchange['request'])} (a model load)"
                    skipped[endpoint] = skipped.get(endpoint, 0) + 1
        if skipped:
            listed = ", ".join(f"{endpoint} x{n}" if n > 1 else endpoint for endpoint, n in skipped.items())
            yield Note(
                f"{sum(skipped.values())} recorded exchange(s) skipped, not LLM calls with usage: {listed}"
            )


def _call(exchange: Mapping[str, Any], options: ImportOptions) -> list[Call]:
    """The exchange's call, its response body decoded from its content codings first.

    Raises:
        FieldError: The body cannot be decoded, or the provider reader rejects the exchange.
    """
    response = dict(exchange["response"])
    codings = response.pop(_CODINGS, [])
    response["body"] = _parsed(_decoded(response.get("body"), codings))
    if _not_a_call(response["body"]):
        raise NotACallError
    return [record_to_call({**exchange, "response": response}, options)]


class NotACallError(Exception):
    """Raised by :func:`_call` for an exchange with an LLM endpoint whose answer is no call (a model
    load): skipped and listed like the other endpoints' exchanges."""


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
        "response": {
            "status_code": status,
            "body": _vcr_body(response, raw=True),
            _CODINGS: _codings(_mapping(response.get("headers")).items()),
        },
    }


def _har_exchange(entry: Mapping[str, Any]) -> dict[str, Any]:
    request = _mapping(entry.get("request"))
    response = _mapping(entry.get("response"))
    content = _mapping(response.get("content"))
    text = content.get("text")
    body: Any = text
    if isinstance(text, str) and content.get("encoding") == "base64":
        body = _unbase64(text)
    headers = response.get("headers")
    named = (
        [(h.get("name"), h.get("value")) for h in headers if isinstance(h, Mapping)]
        if isinstance(headers, list)
        else []
    )
    url = request.get("url")
    return {
        "request": {
            "method": request.get("method"),
            "url": url,
            "headers": {},
            "body": _with_model(_parsed(_mapping(request.get("postData")).get("text")), url),
        },
        "response": {"status_code": response.get("status"), "body": body, _CODINGS: _codings(named)},
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


def _vcr_body(part: Mapping[str, Any], *, raw: bool = False) -> Any:
    """A cassette body, parsed; ``raw``: bytes kept as bytes, for :func:`_call` to decode."""
    if "parsed_body" in part:
        return part["parsed_body"]
    body = part.get("body")
    if isinstance(body, Mapping):
        body = body.get("string")
    if raw:
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    return _parsed(body)


def _codings(headers: Iterable[tuple[Any, Any]]) -> list[str]:
    """The content codings a response's headers name (a cassette's values are lists), in the order
    they were applied."""
    found: list[str] = []
    for name, value in headers:
        if not isinstance(name, str) or name.lower() != "content-encoding":
            continue
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str):
                found += [c.strip().lower() for c in one.split(",") if c.strip().lower() not in _IDENTITY]
    return found


def _decoded(body: Any, codings: list[str]) -> Any:
    """A body in bytes as text, decoded from ``codings`` unless it already reads as a body.

    Raises:
        FieldError: The body is not in the codings it claims, or one of them is not decoded here.
    """
    if not isinstance(body, bytes):
        return body
    if codings and not body.lstrip().startswith(_DECODED):
        for coding in reversed(codings):  # the last coding applied is the first undone
            body = _undo(coding, body, "+".join(codings))
    return body.decode("utf-8", errors="replace")


def _undo(coding: str, data: bytes, named: str) -> bytes:
    """``data`` decoded from one content coding.

    Raises:
        FieldError: The bytes are not in it, or it is not decoded here.
    """
    try:
        if coding in ("gzip", "x-gzip"):
            return gzip.decompress(data)
        if coding == "deflate":
            try:
                return zlib.decompress(data)
            except zlib.error:
                return zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
        if coding == "br":
            brotli = brotli_module()
            if brotli is not None:
                return bytes(brotli.decompress(data))
            reason = "br needs the brotli (or brotlicffi) module, which is not installed"
        else:
            reason = f"{coding!r} is not decoded here (gzip, deflate and br are)"
    except Exception as exc:  # gzip's, zlib's and the Brotli module's own errors
        reason = f"the bytes are not {coding}: {_first_line(exc)}"
    raise FieldError(
        "response.body", f"the body's Content-Encoding is {named} and it cannot be decoded: {reason}"
    )


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


def _unbase64(text: str) -> bytes | str:
    """The bytes a base64 text holds (decoded by :func:`_call`), or the text when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text


def _is_llm(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    path = url.split("?", 1)[0].lower().rstrip("/")
    if path.endswith(LLM_PATHS):
        return True
    host = host_of(url)
    return path.endswith(COHERE_PATHS) and host is not None and HOSTS.get(host) == "cohere"


def _not_a_call(body: Any) -> bool:
    """True for an answer that is no LLM call: Ollama's reply to a request that only loads or unloads
    a model (``"done": true``, ``done_reason`` load or unload, no counts)."""
    return isinstance(body, Mapping) and body.get("done") is True and body.get("done_reason") in _LOADS


_LOADS: Final = ("load", "unload")


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
