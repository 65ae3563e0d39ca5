"""A client of a running collector's read API (``GET /api/v1/...``, docs/server.md), for commands
that read what ``tokenomy serve`` stores while it owns the store file (DuckDB allows one writing
process, so the file cannot be opened beside it).

The standard library's ``http.client`` is enough for a handful of GETs and keeps the CLI free of
an HTTP dependency. It follows no redirect, so the bearer token only ever goes to the URL given;
the token is never printed. Every request has a timeout. Every failure is a
:class:`CollectorError` whose message names the URL and what to do: the collector is not running,
the token is missing or wrong (``TOKENOMY_SERVER_TOKEN``), the answer is not JSON...
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlencode, urlsplit

from tokenomy import __version__
from tokenomy.errors import TokenomyError
from tokenomy.server.settings import TOKEN_ENV

SERVER_ENV: Final = "TOKENOMY_SERVER"
"""The environment variable ``--server`` falls back to."""
TIMEOUT_S: Final = 30.0
"""Seconds to wait for the connection, and then for each read of an answer."""
_SHOWN_BODY: Final = 160
"""Characters of an unexpected answer quoted in an error (enough to recognize an HTML page)."""
_SHOWN_TEXT: Final = 200
"""Characters of a route shown in an error (a route holds the id asked for, which may be tens of
thousands of characters long), and of the start of a collector's message longer than
:data:`_SHOWN_MESSAGE`."""
_SHOWN_MESSAGE: Final = 1_000
"""Characters of the collector's own error message shown whole. Its messages run to about 250
characters (a list of what a parameter takes, advice at the end) plus any value they repeat; one
longer than this repeats a long value (an id, a path), and shows its start and its last clause."""
_ADVICE: Final = "; "
"""What sets off the last clause of a collector's message: what to do instead (``...; use one of:
...``, ``...; see /openapi.json for the routes``), kept when the message is cut."""
_NO_ROUTE: Final = "no route "
"""How the collector's 404 for a path it does not serve begins (a wrong URL, not a missing record)."""


class CollectorError(TokenomyError):
    """The collector could not be reached, refused the request, or answered something unreadable."""


class NotFoundError(CollectorError):
    """The collector answered 404 for a record it does not hold (an unknown session or call). A 404
    for a route it does not have (a wrong path in ``--server``), or from something that is not a
    collector, is a plain :class:`CollectorError`: the URL is wrong, not the id."""


class BadRequestError(CollectorError):
    """The collector answered 400; ``reason`` is its own message (which names the parameter)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CollectorClient:
    """GET requests to one collector, over one connection kept alive between them.

    Args:
        url: The collector's base URL (``http://127.0.0.1:4318``; a path prefix is kept, for a
            collector behind a reverse proxy).
        token: The bearer token to send, or None.
        timeout: Seconds for the connection and for each read.

    Raises:
        CollectorError: ``url`` is not an ``http://`` or ``https://`` URL with a host.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = TIMEOUT_S) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CollectorError(
                f"--server {url!r} is not a collector URL; give one like http://127.0.0.1:4318"
            )
        if parts.query or parts.fragment:
            raise CollectorError(f"--server {url!r} has a query or fragment; give the collector's base URL")
        try:
            port = parts.port
        except ValueError as exc:
            raise CollectorError(f"--server {url!r} has a bad port: {exc}") from exc
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port
        self._prefix = parts.path.rstrip("/")
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"{parts.scheme}://{host}{'' if port is None else f':{port}'}{self._prefix}"
        """The URL as errors show it (without any user or password it carried)."""
        self._timeout = timeout
        self._has_token = bool(token)
        self._headers = {"Accept": "application/json", "User-Agent": f"tokenomy/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def get(
        self, route: str, query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """The JSON object the collector answers to ``GET route?query`` (route from ``/api/v1/``;
        ``query`` as pairs when a parameter repeats).

        Raises:
            NotFoundError: The collector answered 404.
            BadRequestError: The collector answered 400.
            CollectorError: Anything else but a 200 with a JSON object (see the module docstring).
        """
        target = self._prefix + route + (f"?{urlencode(query)}" if query else "")
        status, media, body = self._exchange(target)
        if status == 200:
            return self._json(route, media, body)
        message, own = _error_message(body)
        if status in (401, 403):
            sent = (
                f"the token sent (from {TOKEN_ENV}, or server_token in tokenomy.toml) is wrong"
                if self._has_token
                else "the token is missing (none was sent)"
            )
            raise CollectorError(
                f"the collector at {self.url} refused GET {shown(route)} ({status}): {sent}; set {TOKEN_ENV} "
                "to the token the collector was started with"
            )
        if status == 404 and own and not message.startswith(_NO_ROUTE):
            raise NotFoundError(f"the collector at {self.url} answered 404 to GET {shown(route)}: {message}")
        answered = f"the collector at {self.url} answered {status} to GET {shown(route)}: {message}"
        raise BadRequestError(answered, message) if status == 400 else CollectorError(answered)

    def close(self) -> None:
        """Close the connection (the next request opens another)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _exchange(self, target: str) -> tuple[int, str, bytes]:
        """One GET: status, media type and body. A kept-alive connection the server has closed
        meanwhile is opened again once (a GET is safe to repeat)."""
        while True:
            reused = self._conn is not None
            conn = self._conn or self._connection()
            self._conn = conn
            try:
                conn.request("GET", target, headers=self._headers)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused:
                    continue
                raise CollectorError(
                    f"the collector at {self.url} closed the connection without answering ({exc}); "
                    "is it a tokenomy collector?"
                ) from exc
            except TimeoutError as exc:
                self.close()
                raise CollectorError(
                    f"the collector at {self.url} did not answer within {self._timeout:g} s"
                ) from exc
            except ConnectionRefusedError as exc:
                self.close()
                raise CollectorError(
                    f"cannot reach the collector at {self.url}: connection refused; is `tokenomy serve` "
                    f"running there? (--server or {SERVER_ENV} names it)"
                ) from exc
            except OSError as exc:
                self.close()
                raise CollectorError(
                    f"cannot reach the collector at {self.url}: {exc.strerror or exc}"
                ) from exc
            except http.client.HTTPException as exc:
                self.close()
                raise CollectorError(
                    f"{self.url} did not answer in HTTP ({type(exc).__name__}); is it a tokenomy collector?"
                ) from exc
            if response.will_close:
                self.close()
            media = (response.getheader("content-type") or "").split(";")[0].strip().lower()
            return response.status, media, body

    def _json(self, route: str, media: str, body: bytes) -> dict[str, Any]:
        try:
            found = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            found = None
        if not isinstance(found, dict):
            raise CollectorError(
                f"the collector at {self.url} answered GET {shown(route)} with something that is not a JSON "
                f"object ({media or 'no content type'}: {_quoted(body)}); is it a tokenomy collector?"
            )
        return found


def _error_message(body: bytes) -> tuple[str, bool]:
    """The message of the collector's error body (``{"error": {"message": ...}}``, shown by
    :func:`shown_message`) and True; else the body quoted and False."""
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _quoted(body), False
    error = found.get("error") if isinstance(found, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return (shown_message(str(message)), True) if message else (_quoted(body), False)


def shown_message(text: str) -> str:
    """The collector's own message as an error shows it: whole up to :data:`_SHOWN_MESSAGE`
    characters; longer (a long value repeated in it), its start and how long it is, then its last
    clause (after the last ``"; "``, what to do) when that is short, so the advice is not lost."""
    if len(text) <= _SHOWN_MESSAGE:
        return text
    head = shown(text)
    start, cut, advice = text.rpartition(_ADVICE)
    if cut and len(start) >= _SHOWN_TEXT and 0 < len(advice) <= _SHOWN_TEXT:
        return f"{head}{_ADVICE}{advice}"
    return head


def shown(text: str) -> str:
    """``text`` as an error shows it: whole, or its start and how long it is."""
    if len(text) <= _SHOWN_TEXT:
        return text
    return f"{text[:_SHOWN_TEXT]}... ({len(text):,} characters)"


def _quoted(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    if not text:
        return "an empty body"
    return repr(text if len(text) <= _SHOWN_BODY else text[:_SHOWN_BODY] + "...")
