"""The prompt caches: OpenAI automatic prefixes and Anthropic breakpoints, with TTLs on a fake clock."""

from __future__ import annotations

import itertools

from tokenomy.mockllm.cache import CacheUse, PromptCache
from tokenomy.mockllm.prompt import Breakpoint


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chain(*segments: str) -> list[int]:
    """Prefix keys the way the planner builds them."""
    keys = itertools.accumulate((hash(s) for s in segments), lambda a, b: hash((a, b)), initial=hash("model"))
    return list(keys)[1:]


def prefix(cache: PromptCache, keys: list[int], cumulative: list[int]) -> CacheUse:
    return cache.prefix(keys, cumulative, ttl_s=300, min_tokens=1024, block=128)


def test_openai_first_call_misses_then_repeats_hit_in_128_token_blocks() -> None:
    cache = PromptCache(Clock(), 100)
    keys, cumulative = chain("system", "user"), [1500, 2000]
    assert prefix(cache, keys, cumulative) == CacheUse()
    assert prefix(cache, keys, cumulative) == CacheUse(read=1920)


def test_openai_shared_prefix_hits_up_to_the_common_part() -> None:
    cache = PromptCache(Clock(), 100)
    prefix(cache, chain("system", "first question"), [1300, 1400])
    assert prefix(cache, chain("system", "another question"), [1300, 1390]) == CacheUse(read=1280)


def test_openai_short_prefixes_are_never_cached() -> None:
    cache = PromptCache(Clock(), 100)
    keys = chain("system", "user")
    prefix(cache, keys, [500, 1000])
    assert prefix(cache, keys, [500, 1000]) == CacheUse()
    assert len(cache) == 0


def test_openai_entries_expire_after_the_ttl_and_are_refreshed_by_use() -> None:
    clock = Clock()
    cache = PromptCache(clock, 100)
    keys, cumulative = chain("long system prompt"), [2048]
    prefix(cache, keys, cumulative)
    clock.now += 299
    assert prefix(cache, keys, cumulative).read == 2048  # hit, and the hit refreshes the TTL
    clock.now += 299
    assert prefix(cache, keys, cumulative).read == 2048
    clock.now += 301
    assert prefix(cache, keys, cumulative).read == 0


def test_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = PromptCache(Clock(), 2)
    for name in ("a", "b", "c"):
        prefix(cache, chain(name), [2000])
    assert len(cache) == 2
    assert prefix(cache, chain("a"), [2000]).read == 0
    assert prefix(cache, chain("c"), [2000]).read == 1920


def marks(*pairs: tuple[int, float]) -> list[Breakpoint]:
    return [Breakpoint(i, ttl) for i, ttl in pairs]


def test_anthropic_breakpoint_writes_then_reads() -> None:
    cache = PromptCache(Clock(), 100)
    keys, cumulative = chain("tools", "system", "q1"), [800, 2100, 2150]
    first = cache.breakpoints(keys, cumulative, marks((1, 300)), min_tokens=1024)
    assert first == CacheUse(write_5m=2100)
    second = cache.breakpoints(keys, cumulative, marks((1, 300)), min_tokens=1024)
    assert second == CacheUse(read=2100)


def test_anthropic_no_breakpoint_no_caching_and_short_prefix_not_written() -> None:
    cache = PromptCache(Clock(), 100)
    keys = chain("system", "q")
    assert cache.breakpoints(keys, [900, 950], [], min_tokens=1024) == CacheUse()
    assert cache.breakpoints(keys, [900, 950], marks((0, 300)), min_tokens=1024) == CacheUse()
    assert len(cache) == 0


def test_anthropic_mixed_ttls_split_the_write_and_later_turns_read_the_longest_prefix() -> None:
    cache = PromptCache(Clock(), 100)
    keys, cumulative = chain("tools", "system", "turn1"), [1200, 3000, 3500]
    use = cache.breakpoints(keys, cumulative, marks((0, 3600), (2, 300)), min_tokens=1024)
    assert use == CacheUse(write_1h=1200, write_5m=2300)
    longer = chain("tools", "system", "turn1", "turn2")
    use = cache.breakpoints(longer, [*cumulative, 3900], marks((0, 3600), (3, 300)), min_tokens=1024)
    assert use == CacheUse(read=3500, write_5m=400)


def test_anthropic_5m_entry_expires_but_1h_entry_survives() -> None:
    clock = Clock()
    cache = PromptCache(clock, 100)
    keys, cumulative = chain("tools", "system"), [1200, 3000]
    cache.breakpoints(keys, cumulative, marks((0, 3600), (1, 300)), min_tokens=1024)
    clock.now += 600
    use = cache.breakpoints(keys, cumulative, marks((0, 3600), (1, 300)), min_tokens=1024)
    assert use == CacheUse(read=1200, write_5m=1800)


def test_anthropic_lookback_is_limited_to_20_blocks_before_a_breakpoint() -> None:
    cache = PromptCache(Clock(), 100)
    names = [f"block{i}" for i in range(30)]
    cumulative = [1100 + 10 * i for i in range(30)]
    cache.breakpoints(chain(*names[:1]), cumulative[:1], marks((0, 300)), min_tokens=1024)
    near = cache.breakpoints(chain(*names[:20]), cumulative[:20], marks((19, 300)), min_tokens=1024)
    assert near.read == 1100
    cache.clear()
    cache.breakpoints(chain(*names[:1]), cumulative[:1], marks((0, 300)), min_tokens=1024)
    far = cache.breakpoints(chain(*names[:30]), cumulative[:30], marks((29, 300)), min_tokens=1024)
    assert far == CacheUse(write_5m=cumulative[29])
