"""POSTs to a collector over HTTP/1.1 with keep-alive, from the sink's thread (standard library only).

Success is a 2xx answer. A connection error, a timeout, 408, 429 or a 5xx is worth retrying, and so
are 401 (the token is missing or wrong: fixed by the operator, a rotated token say) and 404 (no
such path: a proxy in front of the collector mid-deploy, or a wrong URL): the batch is not what was
refused, and setting it aside would lose it for good once the setting is fixed. A 403 stays a
refusal: a firewall in front of a collector answers it for one payload (a prompt it takes for an
attack), and retrying that batch would hold every later one behind it. Any other status
means the collector refused the payload itself; 413 (the body is over the collector's size limit)
raises :class:`TooLargeError`, so that the target can send the batch again in smaller parts. A
request sent on a kept-alive connection that the server had already closed is retried once on a
fresh connection, since that is how keep-alive connections normally end.
"""

from __future__ import annotations

import http.client
from typing import Final
from urllib.parse import urlsplit

from tokenomy.errors import ConfigError, SinkError

_RETRYABLE: Final = frozenset({401, 404, 408, 429})
_REFUSED_TOKEN: Final = 401
_TOO_LARGE: Final = 413
_SNIPPET: Final = 200


class TooLargeError(SinkError):
    """The collector answered 413: the body is over its size limit (a smaller one may be taken)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class Poster:
    """POSTs bodies to paths under one base URL.

    Args:
        base_url: ``http://host:port`` or ``https://host:port``, optionally with a path prefix.
        token: Sent as ``Authorization: Bearer <token>`` when given (never logged).
        timeout: Seconds to wait for the connection and for the answer.

    Raises:
        ConfigError: The URL is not an http(s) URL with a host.
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"sink URL {base_url!r} is not http://host:port or https://host:port")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._connection: http.client.HTTPConnection | None = None
        self.description = (
            f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{self._prefix}"
        )

    def post(self, path: str, body: bytes, content_type: str) -> bytes:
        """POST ``body`` to ``path``; returns the answer's body.

        Raises:
            SinkError: No 2xx answer (``retryable`` as the module docstring says).
        """
        reused = self._connection is not None
        try:
            return self._exchange(path, body, content_type)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if not reused:
                raise self._failed(path, exc) from exc
        try:  # the kept-alive connection had been closed by the server: once more, on a fresh one
            return self._exchange(path, body, content_type)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._failed(path, exc) from exc

    def _failed(self, path: str, exc: BaseException) -> SinkError:
        return SinkError(f"{self.description}{path}: cannot deliver ({type(exc).__name__}: {exc})")

    def _exchange(self, path: str, body: bytes, content_type: str) -> bytes:
        connection = self._connection or self._connect()
        self._connection = connection
        headers = {**self._headers, "Content-Type": content_type, "Content-Length": str(len(body))}
        connection.request("POST", self._prefix + path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        if answer.will_close:
            self.close()
        if 200 <= answer.status < 300:
            return data
        retryable = answer.status in _RETRYABLE or answer.status >= 500
        snippet = data[:_SNIPPET].decode("utf-8", "replace")
        message = f"{self.description}{path} answered {answer.status}: {snippet}"
        if answer.status == _REFUSED_TOKEN:
            message += " (the token sent: TOKENOMY_SERVER_TOKEN for tokenomy serve)"
        if answer.status == _TOO_LARGE:
            raise TooLargeError(message)
        raise SinkError(message, retryable=retryable)

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def after_fork(self) -> None:
        """Drop the parent's connection without touching its socket."""
        self._connection = None
