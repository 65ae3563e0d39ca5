"""The error hierarchy. Every message says what went wrong, where, and what to do next.

::

    TokenomyError
    ├── ConfigError            a setting is missing or malformed
    ├── UsageError             a usage body cannot be read
    ├── PricingError           a price cannot be found or an overrides file is bad
    ├── TokenizerError         a tokenizer's data is missing or corrupt
    ├── StoreError             the store cannot be opened, migrated or written
    │   └── StoreLockedError   another process holds the store's file (path, holder's pid)
    ├── SinkError              the capture sink's target did not take a batch (never raised to callers)
    ├── PayloadError           a request sent to the collector cannot be accepted (HTTP status)
    ├── BudgetExceeded         a budget refused a call before it left the process (SDK enforcement)
    └── ImportFileError        an input file cannot be imported
        └── RecordError        one record of a file is bad (file, record number, field)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path


class TokenomyError(Exception):
    """Base of every error tokenomy raises on purpose.

    Every one pickles whole, whatever its ``__init__`` takes (a ``multiprocessing`` worker sends its
    errors to its parent): the pickle keeps the class, the message and the attributes, and rebuilds
    the error without calling ``__init__`` again.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(kind: type[TokenomyError], args: tuple[Any, ...], attributes: dict[str, Any]) -> TokenomyError:
    """An error again, from what :meth:`TokenomyError.__reduce__` kept."""
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(attributes)
    return error


class ConfigError(TokenomyError):
    """A setting is missing or malformed."""


class UsageError(TokenomyError):
    """A usage body cannot be read."""


class PricingError(TokenomyError):
    """A price cannot be found, or an overrides file is malformed."""


class TokenizerError(TokenomyError):
    """A tokenizer's data is missing or does not match its checksum."""


class StoreError(TokenomyError):
    """The store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process holds the store's file: DuckDB lets no other process open a file one writes.

    ``path`` is the file; ``pid`` and ``process`` (the program DuckDB names, often an
    interpreter's path) are the holder's, None when DuckDB does not say; ``reading`` is True when
    the holder has the file open read-only (then other readers may open it, and no writer can).
    The message says so and ends with ``advice``, what the caller should do next.
    """

    def __init__(
        self,
        path: Path,
        *,
        advice: str,
        pid: int | None = None,
        process: str | None = None,
        reading: bool = False,
    ) -> None:
        self.path = path
        self.pid = pid
        self.process = process
        self.reading = reading
        self.advice = advice
        super().__init__(
            f"{path} is open for {'reading' if reading else 'writing'} in {self.holder}; {advice}"
        )

    @property
    def holder(self) -> str:
        """The holder in words, for a message: ``another process (pid 4242: /usr/bin/python3.11)``."""
        pid = None if self.pid is None else f"pid {self.pid}"
        said = ": ".join(part for part in (pid, self.process) if part)
        return f"another process ({said})" if said else "another process"


class PayloadError(TokenomyError):
    """A request sent to the collector cannot be accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SinkError(TokenomyError):
    """The capture sink's target did not take a batch. The sink keeps it (spool) and counts it.

    ``retryable`` is False when the target refused the batch itself (a 4xx other than 401, 404,
    408 and 429),
    so sending it again cannot succeed.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class BudgetExceeded(TokenomyError):  # noqa: N818  (the public name the SDK raises, as documented)
    """A hard budget refused a call before it was sent (raised by instrumented SDK clients).

    ``rejection`` is the :class:`tokenomy.budgets.Rejection` with the policy, scope, limit,
    spent and reset time; ``status`` (429) and ``type`` (``budget_exceeded``) mirror the gateway's
    error.
    """

    def __init__(self, message: str, *, rejection: object = None, status: int = 429) -> None:
        super().__init__(message)
        self.rejection = rejection
        self.status = status
        self.type = "budget_exceeded"


class ImportFileError(TokenomyError):
    """An input file cannot be imported (unreadable, truncated, binary, or of unknown format)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message


class RecordError(ImportFileError):
    """One record of an input file is bad. Good records of the same file are still stored."""

    def __init__(self, path: str, record: int, field: str | None, message: str) -> None:
        where = f"record {record}" + (f", field '{field}'" if field else "")
        super().__init__(path, f"{where}: {message}")
        self.record = record
        self.field = field


def json_truncation(text: str, exc: json.JSONDecodeError) -> str | None:
    """Whether ``text`` failed to parse because it was cut short: None when not; else why, in words
    ("a string opened at column N never closes"), or "" when the value simply runs to the end."""
    end = len(text.rstrip())
    if exc.msg.startswith("Unterminated string") and exc.pos < end:
        return f"a string opened at column {exc.colno} never closes"
    return "" if exc.pos >= end else None


def not_utf8(line: bytes, exc: UnicodeDecodeError, offset: int = 0) -> str:
    """Why a line of a text file is not UTF-8, in words: where in the line and which byte (``exc`` from
    decoding a text that holds ``line`` from byte ``offset`` on)."""
    start, end = exc.start - offset, exc.end - offset
    return (
        f"not UTF-8 text at byte {start + 1} of the line ({line[start:end].hex(' ')}; a Latin-1 or Windows"
        " file? convert it to UTF-8)"
    )


def looks_binary(head: bytes, *, complete: bool) -> bool:
    """Whether the first bytes of a file look like binary data rather than text: a NUL byte, or more
    than a tenth of the bytes not UTF-8. A few bytes that are not UTF-8 (a Latin-1 name in one line)
    still make text, whose lines are read one by one; a character cut at the end of ``head`` counts
    as text unless ``head`` is the ``complete`` file."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return False
        replaced = head.decode("utf-8", errors="replace").count("\ufffd") - head.count("\ufffd".encode())
        return replaced * 10 > len(head)
    return False


ERROR_KIND_PATTERN: Final = "^[A-Za-z0-9_.:-]{1,64}$"
"""What a stored ``error_type`` may be: 1 to 64 ASCII letters, digits, ``_ . : -`` (no spaces).

Written for both Python's ``re`` (used with ``fullmatch``) and RE2 (the collector's columnar path
matches it with ``pyarrow.compute``); in RE2 ``$`` is the end of the text."""
KEY_PREFIX_PATTERN: Final = "(?i)^(sk[-_]|gsk_|xai-|hf_|aiza|akia|asia|gh[pousr]_|github_pat_|glpat-|pk-lf-)"
"""The prefixes of well-known secrets, in any case: OpenAI's, Anthropic's and many others' ``sk-``
(``sk_``), Groq's ``gsk_``, xAI's ``xai-``, Hugging Face's ``hf_``, Google's ``AIza``, AWS access
key ids, GitHub and GitLab tokens, Langfuse public keys. Never an error type."""
LONG_RUN_PATTERN: Final = "[A-Za-z0-9]{32,}"
"""A run of 32 letters and digits without a separator: with a digit in the value, the shape of a key
with no known prefix (Mistral's 32 characters, hex keys of 32 to 64), never of an error type."""
DIGIT_PATTERN: Final = "[0-9]"
_KIND: Final = re.compile(ERROR_KIND_PATTERN.strip("^$"))
_KEY: Final = re.compile(KEY_PREFIX_PATTERN)
_RUN: Final = re.compile(LONG_RUN_PATTERN)
_DIGIT: Final = re.compile(DIGIT_PATTERN)


def error_kind(value: object) -> str | None:
    """``value`` when it looks like an error classification (``rate_limit_error``, ``http_429``,
    ``RateLimitError``, ``DEADLINE_EXCEEDED``), else None.

    ``error_type`` is a low-cardinality label (OTel's ``error.type``), but senders often put free
    text there (an exception's message, a status message) that can hold prompt text or a provider
    key. Only a value matching :data:`ERROR_KIND_PATTERN` that does not look like a key (a known
    prefix, :data:`KEY_PREFIX_PATTERN`, or a long run of letters and digits with a digit,
    :data:`LONG_RUN_PATTERN`) is kept; callers fall back to a type of their own. The collector's
    columnar path and the store's SQL apply the same three patterns.
    """
    if not isinstance(value, str) or _KIND.fullmatch(value) is None or _KEY.search(value):
        return None
    return None if _RUN.search(value) and _DIGIT.search(value) else value


def error_object_kind(error: object) -> str | None:
    """The classification an API's ``error`` object names, by :func:`error_kind`'s rule: its ``type``
    (OpenAI, Anthropic), else its ``status`` when that is a name (Gemini's ``RESOURCE_EXHAUSTED``;
    its ``code`` is the HTTP status). None when ``error`` is not an object or names neither."""
    if not isinstance(error, Mapping):
        return None
    status = error.get("status")
    return error_kind(error.get("type")) or (error_kind(status) if isinstance(status, str) else None)
