"""Metering's compiled modules: which they are, and when their compiled form is used.

The modules that only metering runs (reading an answer, counting a prompt's shape, pricing) can be
compiled with mypyc (``make install`` does it when mypy and a C compiler are at hand:
``scripts/compile-metering``). The compiled module sits next to its source, and Python prefers it.
A checkout edited since it was compiled would then run the old code, so :func:`install` puts a
finder in front that loads all of them from their sources when any one is older than its source,
missing while others are there, or when ``TOKENOMY_INTERPRETED`` is set (to ``1``). All or none:
compiled modules call each other directly, so a compiled module must never meet a class of a
module loaded from its source.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

MODULES: Final = (
    "tokenomy.gateway.metering",
    "tokenomy.gateway.building",
    "tokenomy.usage.openai_plain",
    "tokenomy.usage.ids",
    "tokenomy.pricing.compute",
    "tokenomy.capture.shapes",
    "tokenomy.capture.build",
    "tokenomy.ascii_tokens",
)
"""The compiled modules (``scripts/compile-metering`` compiles exactly these). Not ``pricing.pricer``:
a compiled class cannot be subclassed in Python, and users subclass :class:`~tokenomy.pricing.Pricer`."""
INTERPRETED_ENV: Final = "TOKENOMY_INTERPRETED"
_SUFFIXES: Final = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_BUILT: Final = _SUFFIXES[0]
"""The suffix the build gives (the interpreter's own, first in the list)."""


def source_of(name: str, root: Path) -> Path:
    """The source file of module ``name`` under ``root`` (the directory that holds ``tokenomy``)."""
    return root.joinpath(*name.split(".")).with_suffix(".py")


def compiled_of(name: str, root: Path) -> Path | None:
    """The compiled form of module ``name`` under ``root``, if there is one."""
    source = source_of(name, root)
    for suffix in _SUFFIXES:
        found = source.with_name(source.stem + suffix)
        if found.exists():
            return found
    return None


def why_interpreted(root: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the modules load from their sources (None: compiled, every one of them up to date).

    ``""`` when none is compiled (nothing to say); otherwise the reason, for the warning.
    """
    if environ.get(INTERPRETED_ENV, "") not in {"", "0"}:
        return f"{INTERPRETED_ENV} is set"
    built = {name: _mtime(name, root, _BUILT) for name in MODULES}  # one stat each (import time)
    if not any(built.values()):
        return ""
    missing = [name for name, when in built.items() if when is None]
    if missing:
        return f"not compiled: {', '.join(missing)}"
    stale = [name for name, when in built.items() if (_mtime(name, root, ".py") or 0.0) > (when or 0.0)]
    if stale:
        return f"edited since compiled: {', '.join(stale)}"
    return None


def _mtime(name: str, root: Path, suffix: str) -> float | None:
    try:
        return os.stat(os.path.join(root, *name.split(".")) + suffix).st_mtime
    except FileNotFoundError:
        return None


class _FromSource:
    """A finder that gives the compiled modules' sources instead of their compiled forms."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in MODULES:
            return None
        source = str(source_of(name, self.root))
        loader = importlib.machinery.SourceFileLoader(name, source)
        return importlib.util.spec_from_file_location(name, source, loader=loader)


def install(root: Path | None = None) -> bool:
    """Load the compiled modules from their sources when they must be (see the module); True if so."""
    root = Path(__file__).resolve().parent.parent if root is None else root
    if any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        return True
    reason = why_interpreted(root)
    if not reason:  # compiled and up to date, or nothing compiled
        return False
    if not reason.startswith(INTERPRETED_ENV):
        warnings.warn(
            f"tokenomy runs its metering interpreted ({reason}); run `make install` to compile it again",
            RuntimeWarning,
            stacklevel=2,
        )
    sys.meta_path.insert(0, _FromSource(root))
    return True


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from its compiled form."""
    return str(getattr(module, "__file__", "")).endswith(_SUFFIXES)
