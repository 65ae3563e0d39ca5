"""The mock's prompt caches: OpenAI's automatic prefix cache and Anthropic's cache_control breakpoints.

A prompt is a chain of segments; ``keys[i]`` identifies the prefix through segment ``i`` (a
hash chain over the segments' contents and the model) and ``cumulative[i]`` is its length in
tokens. Both caches map a prefix key to its expiry time and TTL, hold at most ``max_entries``
keys (the least recently used go first) and refresh an entry's expiry each time it is read.

OpenAI style: every prefix of a request of at least ``min_tokens`` is cached; a later request
reads the longest prefix it shares with one seen within the TTL, reported in whole
``block``-token multiples. Anthropic style: only the prefixes that end at a ``cache_control``
breakpoint are written (with that breakpoint's TTL, 5 minutes or 1 hour); a later request
reads the longest written prefix that ends at one of its block boundaries within 20 blocks
before one of its breakpoints, and writes the rest up to its last breakpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from tokenomy.mockllm.prompt import Breakpoint

LOOKBACK_BLOCKS: Final = 20
"""Anthropic checks for a hit at most this many block boundaries before each breakpoint."""
ONE_HOUR: Final = 3600.0


@dataclass(slots=True)
class CacheUse:
    """What one request read from and wrote to the cache, in tokens."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0


NO_USE: Final = CacheUse()


class PromptCache:
    """A TTL cache of prompt prefixes, bounded and least-recently-used first out."""

    def __init__(self, clock: Callable[[], float], max_entries: int) -> None:
        self._clock = clock
        self._max = max(max_entries, 1)
        self._entries: dict[int, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every cached prefix."""
        self._entries.clear()

    def prefix(
        self, keys: Sequence[int], cumulative: Sequence[int], *, ttl_s: float, min_tokens: int, block: int
    ) -> CacheUse:
        """OpenAI-style automatic caching: read the longest live prefix, then cache every prefix."""
        now = self._clock()
        hit = 0
        for i in range(len(keys) - 1, -1, -1):
            if cumulative[i] < min_tokens:
                break
            if self._live(keys[i], now):
                hit = cumulative[i]
                break
        for key, tokens in zip(keys, cumulative, strict=True):
            if tokens >= min_tokens:
                self._put(key, now + ttl_s, ttl_s)
        return CacheUse(read=hit // block * block) if hit >= min_tokens else NO_USE

    def breakpoints(
        self, keys: Sequence[int], cumulative: Sequence[int], marks: Sequence[Breakpoint], *, min_tokens: int
    ) -> CacheUse:
        """Anthropic-style caching: read the longest live prefix, write up to the last breakpoint."""
        if not marks:
            return NO_USE
        now = self._clock()
        read_at = self._longest_hit(keys, marks, now)
        read = cumulative[read_at] if read_at >= 0 else 0
        written = {300.0: 0, ONE_HOUR: 0}
        done = read
        for mark in sorted(marks, key=lambda m: m.index):
            tokens = cumulative[mark.index]
            if tokens <= done or tokens < min_tokens:
                continue
            ttl = ONE_HOUR if mark.ttl_s >= ONE_HOUR else 300.0
            written[ttl] += tokens - done
            done = tokens
            self._put(keys[mark.index], now + ttl, ttl)
        return CacheUse(read=read, write_5m=written[300.0], write_1h=written[ONE_HOUR])

    def _longest_hit(self, keys: Sequence[int], marks: Sequence[Breakpoint], now: float) -> int:
        candidates: set[int] = set()
        for mark in marks:
            candidates.update(range(max(mark.index - LOOKBACK_BLOCKS + 1, 0), mark.index + 1))
        for i in sorted(candidates, reverse=True):
            if self._live(keys[i], now):
                return i
        return -1

    def _live(self, key: int, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        expiry, ttl = entry
        if expiry <= now:
            del self._entries[key]
            return False
        self._put(key, now + ttl, ttl)
        return True

    def _put(self, key: int, expiry: float, ttl: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (expiry, ttl)
        if len(self._entries) > self._max:
            del self._entries[next(iter(self._entries))]
