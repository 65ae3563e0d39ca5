"""Deciding what one response will be: tokens in every bucket, the text or tool call, the timing.

The planner is the mock's ground truth. It counts the prompt, asks the prompt cache what is
read and written, draws output and reasoning lengths, applies the request's output cap and
turns the latency settings into delays. Wire adapters only render a :class:`Plan`; the ledger
only records what was sent of it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Final

from tokenomy.mockllm import generate
from tokenomy.mockllm.cache import NO_USE, CacheUse, PromptCache
from tokenomy.mockllm.config import MockLLMConfig
from tokenomy.mockllm.counting import Counter
from tokenomy.mockllm.overrides import Overrides
from tokenomy.mockllm.prompt import Prompt

_MS: Final = 0.001

# The records below are built for every request: slotted but not frozen, because a frozen
# dataclass costs about four times as much to construct. Nothing mutates them after creation.


@dataclass(slots=True)
class ToolCall:
    """The tool call a response makes."""

    call_id: str
    name: str
    arguments: str
    tokens: int


@dataclass(slots=True)
class Timing:
    """Delays of one response, in seconds."""

    ttft_s: float = 0.0
    gap_s: float = 0.0
    total_s: float | None = None

    def before_body(self, token_frames: int) -> float:
        """How long a non-streamed response waits before it is sent."""
        if self.total_s is not None:
            return self.total_s
        return self.ttft_s + self.gap_s * max(token_frames - 1, 0)

    def gap_for(self, token_frames: int) -> float:
        """The delay between token frames of a stream of ``token_frames`` such frames."""
        if self.total_s is None or token_frames < 2:
            return self.gap_s
        return max(self.total_s - self.ttft_s, 0.0) / (token_frames - 1)

    @property
    def instant(self) -> bool:
        """True when the response needs no waiting at all."""
        return self.ttft_s == 0 and self.gap_s == 0 and not self.total_s


@dataclass(slots=True)
class Plan:
    """Everything a response will contain, dialect-neutral.

    Attributes:
        request_id: The id sent back in ``x-request-id``.
        model: The model, as requested.
        created: Unix time of the response.
        input_tokens: All input tokens, cache reads and writes included.
        cache_read: Input tokens read from the prompt cache.
        cache_write_5m: Input tokens written to the cache with a 5-minute TTL.
        cache_write_1h: Input tokens written with a 1-hour TTL.
        output_tokens: Visible output tokens (text or tool call).
        reasoning_tokens: Hidden reasoning / thinking tokens.
        audio_input: Of ``input_tokens``, the audio tokens (cache included, as OpenAI counts them).
        audio_output: Of ``output_tokens``, the audio tokens.
        capped: The output was cut by the request's output limit.
        tool_call: The tool call made, if any.
        timing: The delays.
        chunk_tokens: Output tokens per stream delta.
        seq: The request's sequence number, for ids.
    """

    request_id: str
    model: str
    created: int
    input_tokens: int
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input: int = 0
    audio_output: int = 0
    capped: bool = False
    tool_call: ToolCall | None = None
    timing: Timing = field(default_factory=Timing)
    chunk_tokens: int = 1
    seq: int = 0

    @property
    def uncached_input(self) -> int:
        """Input tokens neither read from nor written to the cache."""
        return self.input_tokens - self.cache_read - self.cache_write_5m - self.cache_write_1h

    @property
    def total_output(self) -> int:
        """Visible plus reasoning output tokens."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def token_frames(self) -> int:
        """How many stream deltas carry the visible output."""
        return max(-(-self.output_tokens // self.chunk_tokens), 1)


class Planner:
    """Builds the :class:`Plan` of each request; holds the random generator and the caches."""

    def __init__(self, config: MockLLMConfig, counter: Counter) -> None:
        self.config = config
        self.count = counter
        self.rng = random.Random(config.seed)
        self.cache = PromptCache(config.clock, config.cache_entries)

    def reset(self) -> None:
        """Empty the prompt caches and restart the random sequence from the seed."""
        self.cache.clear()
        self.rng.seed(self.config.seed)

    def input_tokens(self, prompt: Prompt) -> list[int]:
        """The cumulative token count after each segment of ``prompt``."""
        count, model = self.count, prompt.model
        return list(
            itertools.accumulate(
                count(s.text, model) + s.extra + (sum(count(f, model) for f in s.fields) if s.fields else 0)
                for s in prompt.segments
            )
        )

    def plan(self, prompt: Prompt, over: Overrides, request_id: str, seq: int, now: int) -> Plan:
        """The plan of one request (draws from the random generator; reads and writes the cache)."""
        cumulative = prompt.counted
        if cumulative is None:
            cumulative = prompt.counted = self.input_tokens(prompt)
        total_in = cumulative[-1] if cumulative else 0
        cache = self._cache(prompt, cumulative) if over.cache else NO_USE
        tool = self._tool_call(prompt, over, seq)
        visible, reasoning, capped = self._output(prompt, over, tool)
        return Plan(
            request_id=request_id,
            model=prompt.model,
            created=now,
            input_tokens=total_in,
            cache_read=cache.read,
            cache_write_5m=cache.write_5m,
            cache_write_1h=cache.write_1h,
            output_tokens=visible,
            reasoning_tokens=reasoning,
            audio_input=min(over.audio_input_tokens, total_in),
            audio_output=min(over.audio_output_tokens, visible),
            capped=capped,
            tool_call=tool,
            timing=self._timing(over),
            chunk_tokens=self.config.chunk_tokens,
            seq=seq,
        )

    def _cache(self, prompt: Prompt, cumulative: list[int]) -> CacheUse:
        cfg = self.config
        if prompt.cache == "none" or not cumulative:
            return NO_USE
        if prompt.cache == "prefix" and cumulative[-1] < cfg.openai_cache_min_tokens:
            return NO_USE  # too short to read or write: skip hashing the prompt
        if prompt.cache == "breakpoints" and not prompt.breakpoints:
            return NO_USE
        keys = list(
            itertools.accumulate((hash(s.key) for s in prompt.segments), _chain, initial=hash(prompt.model))
        )
        keys = keys[1:]
        if prompt.cache == "prefix":
            return self.cache.prefix(
                keys,
                cumulative,
                ttl_s=cfg.openai_cache_ttl_s,
                min_tokens=cfg.openai_cache_min_tokens,
                block=cfg.openai_cache_block,
            )
        return self.cache.breakpoints(
            keys, cumulative, prompt.breakpoints, min_tokens=cfg.anthropic_min_cache(prompt.model)
        )

    def _tool_call(self, prompt: Prompt, over: Overrides, seq: int) -> ToolCall | None:
        if not prompt.tools or prompt.tool_choice == "none":
            return None
        names = {t.name: t for t in prompt.tools}
        forced = over.tool_call if over.tool_call in names else None
        if prompt.tool_choice in names:
            tool = names[prompt.tool_choice]
        elif forced or prompt.tool_choice == "required" or over.tool_call or self.config.auto_tool_call:
            tool = names[forced] if forced else prompt.tools[0]
        else:
            return None
        args = generate.arguments(tool.parameters)
        tokens = self.count(tool.name, prompt.model) + self.count(args, prompt.model)
        return ToolCall(f"call_mock{seq:016x}", tool.name, args, tokens)

    def _output(self, prompt: Prompt, over: Overrides, tool: ToolCall | None) -> tuple[int, int, bool]:
        cfg = self.config
        if not prompt.generates:
            return 0, 0, False
        if tool is not None:
            visible = tool.tokens
        elif over.output_tokens is not None:
            visible = over.output_tokens
        else:
            visible = cfg.output_tokens.draw(self.rng)
        reasoning = 0
        if over.reasoning_tokens is not None:
            reasoning = over.reasoning_tokens
        elif prompt.reasoning or (prompt.reasoning is None and cfg.is_reasoning_model(prompt.model)):
            reasoning = cfg.reasoning_tokens.draw(self.rng)
        if prompt.thinking_budget is not None:
            reasoning = min(reasoning, prompt.thinking_budget)
        cap = prompt.max_output
        if cap is None or reasoning + visible <= cap:
            return visible, reasoning, False
        if tool is not None:  # a tool call is never cut: the reasoning before it shrinks instead
            return visible, max(min(reasoning, cap - visible), 0), False
        reasoning = min(reasoning, cap)
        return cap - reasoning, reasoning, True

    def _timing(self, over: Overrides) -> Timing:
        lat = self.config.latency
        ttft = lat.ttft_ms if over.ttft_ms is None else over.ttft_ms
        gap = lat.inter_chunk_ms if over.chunk_delay_ms is None else over.chunk_delay_ms
        total = lat.total_ms if over.latency_ms is None else over.latency_ms
        return Timing(ttft * _MS, gap * _MS, None if total is None else total * _MS)


def _chain(previous: int, segment: int) -> int:
    return hash((previous, segment))
