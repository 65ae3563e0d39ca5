"""The content hook as the builder calls it: its answer checked, its failures logged.

A ``redact`` hook runs on the sink's thread, on each captured prompt and completion. The builder
keeps a call without content when the hook raises, but it took any answer as the text: a hook that
returned something other than a string (bytes, a list, a number) put that into the record, and the
store then refused the whole batch it travelled in, every call of it lost (counted as ``rejected``).
And a hook that raised lost the content without a word. :class:`CheckedRedact` wraps the
application's hook once, where it is configured (never per call): a string passes, None means no
text, anything else raises, so the call is kept without content, and every failure is logged on the
``tokenomy.capture`` logger, once per minute.

``tokenomy serve`` and ``tokenomy import`` take a hook by name (``MODULE:FUNCTION``, loaded once by
:func:`load_hook`) and apply it to each call's two texts as the builder does
(:meth:`CheckedRedact.texts`): the call keeps both answers, or no text at all.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from typing import Final, cast

from tokenomy.capture.log import RateLimitedLog
from tokenomy.errors import ConfigError

_LOG: Final = RateLimitedLog()
_DOTTED: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
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
        except BaseException as exc:  # even SystemExit: a hook must not stop the thread it runs on
            _LOG.note(
                f"redact:{self._name()}",  # each hook said once a minute, not one for all
                f"tokenomy capture: the redact hook {self._name()} raised {type(exc).__name__}; "
                "the call is kept without its content",
            )
            if isinstance(exc, Exception):
                raise
            raise RuntimeError(f"redact hook raised {type(exc).__name__}") from exc
        if isinstance(answer, str) and _writable(answer):
            return answer
        if answer is None:  # no text, as the hook asked (the builder keeps None as None)
            return cast(str, None)
        kind = "a string that is not valid Unicode" if isinstance(answer, str) else type(answer).__name__
        _LOG.note(
            f"redact:{self._name()}",
            f"tokenomy capture: the redact hook {self._name()} returned {kind}, "
            "not a string; the call is kept without its content",
        )
        raise TypeError(f"redact hook returned {kind}, not str")

    def texts(self, prompt: str | None, completion: str | None) -> tuple[str | None, str | None] | None:
        """``prompt`` and ``completion`` through the hook (None stays None); None when the hook fails
        on either, so that the call is kept without content rather than with unredacted text."""
        try:
            return (
                None if prompt is None else self(prompt),
                None if completion is None else self(completion),
            )
        except Exception:  # logged by __call__; never let unredacted text through
            return None

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


def _writable(text: str) -> bool:
    """True when ``text`` can be stored as UTF-8 (a lone surrogate cannot: the whole batch would fail)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def checked(hook: Callable[[str], str] | None) -> Callable[[str], str] | None:
    """``hook`` wrapped in a :class:`CheckedRedact` (once: a wrapped hook is returned as it is)."""
    if hook is None or isinstance(hook, CheckedRedact):
        return hook
    return CheckedRedact(hook)


def load_hook(spec: str) -> CheckedRedact:
    """The hook that ``spec`` (``MODULE:FUNCTION``, as ``mycompany.privacy:scrub``) names, imported once
    and wrapped in a :class:`CheckedRedact`: how ``tokenomy serve`` and ``tokenomy import`` take the
    ``redact`` setting. ``FUNCTION`` may be dotted (``module:Scrubber.scrub``).

    Raises:
        ConfigError: ``spec`` is not ``MODULE:FUNCTION``, the module cannot be imported (the error it
            raised is named), or the attribute is missing or cannot be called.
    """
    module_name, sep, attribute = spec.strip().partition(":")
    if not sep or _DOTTED.fullmatch(module_name) is None or _DOTTED.fullmatch(attribute) is None:
        raise ConfigError(
            f"redact hook {spec!r} is not MODULE:FUNCTION: give an importable module's dotted path and "
            "a function in it, as mycompany.privacy:scrub"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not f"{module_name}.".startswith(f"{exc.name}."):  # one of its own imports
            raise _import_failed(spec, module_name, exc) from exc
        raise ConfigError(
            f"redact hook {spec!r}: no module named {exc.name!r} here; install it, or put the folder that "
            "holds it on PYTHONPATH"
        ) from exc
    except Exception as exc:  # the module's own code failed: its syntax, or any error it raised
        raise _import_failed(spec, module_name, exc) from exc
    hook: object = module
    for name in attribute.split("."):
        if not hasattr(hook, name):
            raise ConfigError(
                f"redact hook {spec!r}: {module_name}:{attribute} does not exist (no attribute {name!r}); "
                f"name a function defined in {module_name}"
            )
        hook = getattr(hook, name)
    if not callable(hook):
        raise ConfigError(
            f"redact hook {spec!r}: {module_name}:{attribute} is a value of type {type(hook).__name__}, "
            "not a function; name a function that takes a string and returns a string"
        )
    return CheckedRedact(cast(Callable[[str], str], hook))


def _import_failed(spec: str, module_name: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"redact hook {spec!r}: importing {module_name} failed ({type(exc).__name__}: {exc}); fix the module"
    )


def configured_hook(spec: str | None, *, capture_content: bool, named: bool) -> CheckedRedact | None:
    """The hook a command runs with: ``spec`` loaded (:func:`load_hook`) when content is captured; None
    when no hook is set, or when one is set in ``tokenomy.toml`` or ``TOKENOMY_REDACT`` while capture
    is off (there is no text for it then).

    Args:
        spec: The resolved ``redact`` setting.
        capture_content: Whether the command keeps text.
        named: True when the hook was named on the command line (``--redact``).

    Raises:
        ConfigError: ``--redact`` without content capture (the hook would silently see nothing), or
            see :func:`load_hook`.
    """
    if spec is None:
        return None
    if not capture_content:
        if named:
            raise ConfigError(
                f"--redact {spec} needs content capture, which is off: add --capture-content (without it "
                "no text is kept, so the hook would never run)"
            )
        return None
    return load_hook(spec)
