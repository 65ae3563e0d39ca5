"""The content hook as the builder calls it: its answer checked, its failures logged.

A ``redact`` hook runs on the sink's thread, on each captured prompt and completion. The builder
keeps a call without content when the hook raises, but it took any answer as the text: a hook that
returned something other than a string (bytes, a list, a number) put that into the record, and the
store then refused the whole batch it travelled in, every call of it lost (counted as ``rejected``).
And a hook that raised lost the content without a word. :class:`CheckedRedact` wraps the
application's hook once, where it is configured (never per call): a string passes, None means no
text, anything else raises, so the call is kept without content, and every failure is logged on the
``tokenomy.capture`` logger, once per minute.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, cast

from tokenomy.capture.log import RateLimitedLog

_LOG: Final = RateLimitedLog()
os.register_at_fork(after_in_child=_LOG.after_fork)


class CheckedRedact:
    """An application's redaction hook whose answer must be a string or None (see the module docstring).

    It equals the hook it wraps (and any other wrapper of it), so instrumenting a client again with
    the same hook is still recognised as the same setting.
    """

    __slots__ = ("hook",)

    def __init__(self, hook: Callable[[str], str]) -> None:
        self.hook = hook

    def __call__(self, text: str) -> str:
        """The hook's text for ``text``; raises when the hook raises or answers anything but a string."""
        try:
            answer: object = self.hook(text)
        except Exception as exc:
            _LOG.note(
                f"redact:{self._name()}",  # each hook said once a minute, not one for all
                f"tokenomy capture: the redact hook {self._name()} raised {type(exc).__name__}; "
                "the call is kept without its content",
            )
            raise
        if isinstance(answer, str):
            return answer
        if answer is None:  # no text, as the hook asked (the builder keeps None as None)
            return cast(str, None)
        _LOG.note(
            f"redact:{self._name()}",
            f"tokenomy capture: the redact hook {self._name()} returned {type(answer).__name__}, "
            "not a string; the call is kept without its content",
        )
        raise TypeError(f"redact hook returned {type(answer).__name__}, not str")

    def _name(self) -> str:
        return getattr(self.hook, "__qualname__", None) or type(self.hook).__name__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CheckedRedact):
            return other.hook is self.hook
        return other is self.hook

    def __hash__(self) -> int:
        return hash(self.hook)

    def __repr__(self) -> str:
        return f"CheckedRedact({self.hook!r})"


def checked(hook: Callable[[str], str] | None) -> Callable[[str], str] | None:
    """``hook`` wrapped in a :class:`CheckedRedact` (once: a wrapped hook is returned as it is)."""
    if hook is None or isinstance(hook, CheckedRedact):
        return hook
    return CheckedRedact(hook)
