"""Counting ``o200k_base`` and ``cl100k_base`` tokens of ASCII text without a regex engine, compiled.

tiktoken cuts a text into pieces with its encoding's pattern and looks each piece up in the
vocabulary (a piece not in it is merged byte pair by byte pair). Both patterns have a look-ahead,
so they run in a backtracking regex engine: most of the cost of counting a short prompt. On ASCII
text their classes are plain ranges (letters A-Z and a-z, digits 0-9, whitespace
``\\t\\n\\v\\f\\r`` and space, everything else "other"), and their alternatives, tried in
order at each position, reduce to a scan.

``o200k_base`` (:func:`_piece_o200k`):

1. a word: an optional leading character (anything but CR, LF, a letter or a digit) before a
   letter, the run of capitals, the run of small letters after it, and an optional English
   contraction (``'s 't 're 've 'm 'll 'd``, any case);
2. one to three digits;
3. an optional space, a run of "other" characters, and any CR, LF or ``/`` after them;
4. whitespace up to its last line break;
5. a run of whitespace but its last character when something follows it (which then leads the
   next piece), the whole run at the end of the text, or a single whitespace character.

``cl100k_base`` (:func:`_piece_cl100k`):

1. a contraction (``'s 'd 'm 't 'll 've 're``, any case), a piece of its own;
2. a word: an optional leading character as above, then the run of letters, whatever their case;
3. one to three digits;
4. an optional space, a run of "other" characters, and any CR or LF after them;
5. whitespace that runs to the end of the text, else up to its last line break, else all but its
   last character, or a single whitespace character.

:func:`count` gives what ``len(encoding.encode_ordinary(text))`` gives (tests compare them on
hundreds of thousands of generated texts and on real prompts), and -1 for text that is not ASCII
or is long (:data:`LONGEST`), which :func:`length` then counts with tiktoken. :mod:`tokenomy.compiled`
compiles this module with the metering path; run by the interpreter it is slower than tiktoken,
so :func:`tokenomy.tokens.ascii_plan` offers it only compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

_UPPER: Final = 1
_LOWER: Final = 2
_DIGIT: Final = 3
_SPACE: Final = 4  # whitespace that is not a line break
_BREAK: Final = 5  # CR or LF
_OTHER: Final = 6


def _classes() -> bytes:
    table = bytearray([_OTHER]) * 128
    for code in range(65, 91):
        table[code] = _UPPER
    for code in range(97, 123):
        table[code] = _LOWER
    for code in range(48, 58):
        table[code] = _DIGIT
    for code in (9, 11, 12, 32):
        table[code] = _SPACE
    table[10] = table[13] = _BREAK
    return bytes(table)


_CLASS: Final = _classes()
"""Each ASCII code's class."""


def _contraction(data: bytes, at: int, size: int) -> int:
    """The length of the contraction starting at ``at`` (an apostrophe), or 0."""
    if at + 1 >= size or data[at] != 39:
        return 0
    first = data[at + 1] | 32  # the letter, made small (a non-letter stays no letter of the set)
    if first in (115, 116, 109, 100):  # s t m d
        return 2
    if at + 2 < size:
        second = data[at + 2] | 32
        if (first in (114, 118) and second == 101) or (first == 108 and second == 108):  # re ve ll
            return 3
    return 0


def _word_start(kinds: bytes, data: bytes, at: int, size: int) -> int:
    """Where the letters of a word piece starting at ``at`` start, or -1 when no word starts there."""
    kind = kinds[data[at]]
    if kind in (_UPPER, _LOWER):
        return at
    if kind not in (_BREAK, _DIGIT) and at + 1 < size and kinds[data[at + 1]] in (_UPPER, _LOWER):
        return at + 1  # led by one character that is no line break, letter or digit
    return -1


def _piece_o200k(kinds: bytes, data: bytes, at: int, size: int) -> int:
    """Where the ``o200k_base`` piece that starts at ``at`` ends."""
    end = _word_start(kinds, data, at, size)
    if end < 0:
        return _other_end(kinds, data, at, size, False)
    while end < size and kinds[data[end]] == _UPPER:  # a word: the capitals, then the small letters,
        end += 1
    while end < size and kinds[data[end]] == _LOWER:
        end += 1
    return end + _contraction(data, end, size)  # then a contraction


def _piece_cl100k(kinds: bytes, data: bytes, at: int, size: int) -> int:
    """Where the ``cl100k_base`` piece that starts at ``at`` ends."""
    end = _contraction(data, at, size)  # a contraction first (the same seven as o200k_base's)
    if end:
        return at + end
    end = _word_start(kinds, data, at, size)
    if end < 0:
        return _other_end(kinds, data, at, size, True)
    while end < size and kinds[data[end]] in (_UPPER, _LOWER):  # a word: its letters, whatever their case
        end += 1
    return end


def _other_end(kinds: bytes, data: bytes, at: int, size: int, cl100k: bool) -> int:
    """Where a piece that is no word (nor, for ``cl100k_base``, a contraction) ends: digits, other
    characters, whitespace."""
    kind = kinds[data[at]]
    end = at + 1
    if kind == _DIGIT:
        while end < size and end - at < 3 and kinds[data[end]] == _DIGIT:
            end += 1
        return end
    if kind == _OTHER or (data[at] == 32 and end < size and kinds[data[end]] == _OTHER):
        while end < size and kinds[data[end]] == _OTHER:
            end += 1
        # then CR and LF (and, for o200k_base, "/")
        while end < size and (kinds[data[end]] == _BREAK or (data[end] == 47 and not cl100k)):
            end += 1
        return end
    last_break = -1
    end = at
    while end < size and kinds[data[end]] in (_SPACE, _BREAK):
        if kinds[data[end]] == _BREAK:
            last_break = end
        end += 1
    # whitespace: to its last line break (for cl100k_base, to the end of the text first), else all
    # but its last character, or the whole run at the end of the text or when it is one character
    if last_break >= 0 and not (cl100k and end == size):
        return last_break + 1
    return end if end == size or end - at == 1 else end - 1


LONGEST: Final = 4096
"""Longer texts are left to tiktoken (-1), which lets other threads run while it counts: compiled,
this scan holds the interpreter's lock throughout (4,096 characters take about 0.25 ms), and
``tokens.acount`` counts in a worker thread so that an event loop keeps running."""


def count(
    text: str,
    ranks: dict[bytes, int],
    merge: Callable[[bytes], list[int]],
    cl100k: bool = False,
    longest: int = LONGEST,
) -> int:
    """The number of ``o200k_base`` tokens of ``text`` (``cl100k_base`` ones with ``cl100k``), or
    -1 when it is not ASCII or longer than ``longest`` characters.

    Args:
        text: The text.
        ranks: The encoding's vocabulary (each entry one token).
        merge: The encoding's byte-pair merge of one piece (tiktoken's ``encode_single_piece``),
            for a piece that is not in ``ranks``.
        cl100k: Count as ``cl100k_base`` cuts its pieces (else as ``o200k_base``).
        longest: The longest text counted here.
    """
    if len(text) > longest or not text.isascii():
        return -1
    data = text.encode("ascii")
    size = len(data)
    kinds = _CLASS
    tokens = 0
    at = 0
    while at < size:
        end = _piece_cl100k(kinds, data, at, size) if cl100k else _piece_o200k(kinds, data, at, size)
        piece = data[at:end]
        tokens += 1 if piece in ranks else len(merge(piece))
        at = end
    return tokens


def length(
    text: str,
    plan: tuple[dict[bytes, int], Callable[[bytes], list[int]], bool] | None,
    encode: Callable[[str], list[int]],
    encoding: Any,
) -> int:
    """``len(encoding.encode_ordinary(text))``: by :func:`count` with ``plan`` (its vocabulary,
    merge and pattern; None: not here), else by ``encode`` (the encoding's ``encode_ordinary``, or
    its core's own, which raises on a lone surrogate: then the encoding's own method, which
    replaces it)."""
    if plan is not None:
        found = count(text, plan[0], plan[1], plan[2])
        if found >= 0:
            return found
    try:
        return len(encode(text))
    except UnicodeEncodeError:
        return len(encoding.encode_ordinary(text))
