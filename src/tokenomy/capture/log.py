"""Rate-limited warnings: capture problems are logged once per kind and interval, never raised.

A target that is down would otherwise log every second from the sink's thread, and a bug in
reading a response would log on every call. Each kind of problem is logged the first time,
then at most once per ``interval`` seconds with the number of times it happened meanwhile.
Messages name what failed and what to do; they never hold prompt content or credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

LOGGER: Final = logging.getLogger("tokenomy.capture")


BRIEF: Final = 300
"""The characters of an exception's message a log line keeps."""


def brief(exc: BaseException) -> str:
    """An exception for a log line: its type and the start of its message, never its ``repr``,
    which for a ``UnicodeError`` holds the whole text it was encoding (a batch of records, a prompt)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:BRIEF]}{'...' if len(text) > BRIEF else ''}"


class RateLimitedLog:
    """Logs each kind of problem at most once per ``interval`` seconds (see the module docstring)."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def note(self, kind: str, message: str) -> bool:
        """Log ``message`` unless ``kind`` was logged less than ``interval`` ago; True when logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            skipped = self._suppressed.pop(kind, 0)
        suffix = f" ({skipped} more like this since the last message)" if skipped else ""
        LOGGER.warning("%s%s", message, suffix)
        return True

    def after_fork(self) -> None:
        """Start fresh in a forked child."""
        self._lock = threading.Lock()
