"""Prompt caching: how each call's input splits into uncached, cache-read and cache-write tokens.

The rule is the same for every provider, with its parameters read from the provider's entry in
:data:`tokenomy.simulate.catalog.PROVIDERS`:

* A call can reuse the prefix it shares with the previous successful call of the same agent run:
  that call's whole prompt when the conversation simply continued, the same prompt when a step is
  re-asked, otherwise only the stable prefix (system prompt and tool definitions).
* The prefix is read from the cache when the previous call was less than the cache lifetime ago
  and the prefix reaches the model's minimum cacheable length. Automatic caches (OpenAI, Gemini,
  DeepSeek) count it in blocks of the provider's granularity.
* Explicit caches (Anthropic) bill writes: a conversation caches its whole prompt (the breakpoint
  moves with the conversation), independent calls cache their stable prefix. Writes go to the
  1-hour bucket on routes that ask for it. A session injected with missed caching sends no
  cache markers, so it neither writes nor reads.

Failed calls report no usage and neither read nor refresh the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import segments
from tokenomy.simulate.attempts import OK
from tokenomy.simulate.catalog import LONG_CACHE_TTL_MS
from tokenomy.simulate.plan import Sessions
from tokenomy.simulate.steps import Steps
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]


def split(tables: Tables, sessions: Sessions, steps: Steps, calls: dict[str, Array]) -> dict[str, Array]:
    """The input buckets of each call, and the facts the truth needs about its cache."""
    row, ok = calls["row"], calls["status"] == OK
    model, route = steps.model[row], steps.route[row]
    prompt = steps.base_input[row] + calls["note"]
    first = steps.first[row] & (calls["attempt"] == 0)
    prev = segments.last_where(ok, first)
    reusable = _reusable(steps, row, prev)
    explicit = tables.model_explicit_cache[model]
    long_cache = explicit & tables.route_long_cache[route]
    ttl = np.where(long_cache, LONG_CACHE_TTL_MS, tables.model_cache_ttl[model])
    alive = (prev >= 0) & (calls["start_ms"] - calls["start_ms"][np.maximum(prev, 0)] <= ttl)
    minimum = tables.model_min_cache[model]
    enabled = ~explicit | ~(sessions.missed_cache[calls["sess"]] & ~steps.sub[row])
    hit = ok & enabled & alive & (reusable >= minimum)
    granularity = tables.model_granularity[model]
    read = np.where(hit, (reusable // granularity) * granularity, 0)
    writable = np.where(tables.agent_conversation[steps.agent[row]], prompt, steps.stable_prefix[row])
    write = np.where(ok & explicit & enabled & (writable >= minimum), np.maximum(writable - read, 0), 0)
    return {
        "input": prompt,
        "cache_read": read,
        "cache_write_5m": np.where(long_cache, 0, write),
        "cache_write_1h": np.where(long_cache, write, 0),
        "input_uncached": prompt - read - write,
        "resent_within_ttl": ok & alive,
    }


def _reusable(steps: Steps, row: Array, prev: Array) -> Array:
    """Tokens a call shares, as a prefix, with the previous successful call of its agent run."""
    safe = np.maximum(prev, 0)
    same_step = (prev >= 0) & (row[safe] == row)
    base = steps.base_input
    previous_step = base[np.maximum(row - 1, 0)]
    shared = np.where(
        same_step, base[row], np.where(steps.cont[row], previous_step, steps.stable_prefix[row])
    )
    return np.where(prev >= 0, shared, 0)
