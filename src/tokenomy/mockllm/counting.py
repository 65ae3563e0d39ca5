"""How the mock counts the input tokens of a request: tokenomy.tokens when present, else a cheap rule.

The mock's counts are its own ground truth: whatever it counts is what it reports and what
``/_mock/stats`` totals, so the only requirement is that the count be deterministic. When the
package's tokenizer (:mod:`tokenomy.tokens`) is importable and works, the mock uses it, so
OpenAI models get exact tiktoken counts. Otherwise it falls back to :func:`cheap_count`: one
token per word or punctuation mark, plus one per further six characters of a long word.
Counts are memoised per (text, model) in a bounded table because agents resend the same system
prompt and history over and over.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Final

Count = Callable[[str, str], int]

_WORD: Final = re.compile(r"\w+|[^\w\s]")
_MEMO_SIZE: Final = 8192


def cheap_count(text: str, model: str = "") -> int:
    """One token per word or punctuation mark, and one more per further 6 characters of a word."""
    total = 0
    for piece in _WORD.findall(text):
        total += 1 + (len(piece) - 1) // 6
    return total


def _tokens_module_count() -> Count | None:
    try:
        module: Any = importlib.import_module("tokenomy.tokens")
        count = module.count
        count("probe", "gpt-4o")
    except Exception:  # a missing or broken tokenizer must not stop the mock: fall back
        return None

    def exact(text: str, model: str) -> int:
        return int(count(text, model).tokens)

    return exact


class Counter:
    """Counts text for a model, memoising recent texts.

    Attributes:
        source: ``"tokenomy.tokens"`` or ``"cheap"``: which rule counts.
    """

    def __init__(self, count: Count | None = None) -> None:
        found = count or _tokens_module_count()
        self._count: Count = found or cheap_count
        self.source = "custom" if count else ("tokenomy.tokens" if found else "cheap")
        self._memo: dict[tuple[str, str], int] = {}

    def __call__(self, text: str, model: str) -> int:
        """The token count of ``text`` for ``model``."""
        if not text:
            return 0
        key = (text, model)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        try:
            tokens = self._count(text, model)
        except Exception:  # an unknown model in the tokenizer: count it the cheap way instead
            tokens = cheap_count(text, model)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = tokens
        return tokens
