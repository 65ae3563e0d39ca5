"""The cheaper build (a single user turn's shape directly, the pricing plan, the reading's fewer
steps) gives the very Call of the general path, on varied answers, prompts, tiers and errors."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from tokenomy.capture.shapes import ShapeMemo
from tokenomy.gateway import metering
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.importers import messages as messages_module
from tokenomy.importers.messages import request_messages
from tokenomy.importers.shape import shape_of
from tokenomy.pricing import Pricer, Rates, compute
from tokenomy.schema import Attribution, Call
from tokenomy.usage import openai_chat
from tokenomy.usage.openai_plain import plain_chat_parts

CHAT = SURFACES["/v1/chat/completions"]
MODELS = ["gpt-4o-mini", "o3", "claude-sonnet-4-5", "gemini-1.5-pro", "my-own-model", None]
CONTENTS = [
    "Say hello in one line.",
    "",
    " ",
    "«ünïcode» ✓ 漢字 🙂",
    "a" * 3000,
    "<|endoftext|> hi",
    "line\nline",
]


def _request(model: str | None, **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"messages": [{"role": "user", "content": "Say hello in one line."}]}
    if model is not None:
        request["model"] = model
    request.update(fields)
    return request


ONE_TURN = [
    _request(m, messages=[{"role": "user", "content": c}]) for m, c in itertools.product(MODELS, CONTENTS)
]
OTHERS = [
    _request("gpt-4o", messages=[{"role": "system", "content": "Be terse."}]),
    _request("gpt-4o", messages=[{"role": "assistant", "content": "Hi"}]),
    _request("gpt-4o", messages=[{"role": "user", "content": "Hi", "name": "ann"}]),
    _request("gpt-4o", messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]),
    _request("gpt-4o", messages=[{"role": "user", "content": None}]),
    _request("gpt-4o", messages=[{"role": "user", "content": "Hi"}, {"role": "user", "content": "Go"}]),
    _request("gpt-4o", messages=[]),
    _request("gpt-4o", tools=[{"type": "function", "function": {"name": "run"}}]),
    _request("gpt-4o", tools=[]),
    _request("claude-sonnet-4-5", system="Be terse."),
    _request("claude-sonnet-4-5", system=""),
    _request("gpt-4o", instructions="Be terse."),
    _request("gpt-4o", prompt="Complete this"),
    _request("gpt-4o", messages="not a list"),
    _request("gpt-4o", messages=[["not", "a", "message"]]),
]
"""Prompts the single-turn road must leave to the general one."""


def _general_shape(request: dict[str, Any], model: str | None) -> Any:
    messages = request_messages(request)
    tools = request.get("tools")
    tool_defs = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    if not messages and not tool_defs:
        return metering._NO_SHAPE
    shape = shape_of(messages, tool_defs or None, model)
    return (*shape.call_values(), shape.input_tokens)


@pytest.mark.parametrize("request_", ONE_TURN + OTHERS, ids=range(len(ONE_TURN + OTHERS)))
def test_the_shape_is_the_general_one(request_: dict[str, Any]) -> None:
    model = request_.get("model")
    memo = ShapeMemo()
    try:
        general = _general_shape(request_, model)
    except (ValueError, TypeError):
        general = metering._NO_SHAPE
    assert metering._shape_values(request_, model, memo) == general
    assert metering._shape_values(request_, model, memo) == general  # again, the memo's entries now known
    assert bool(memo._turns) == (request_ in ONE_TURN)  # the single-turn road leaves its plan


def test_the_single_turn_shape_is_the_memo_s_shape() -> None:
    memo = ShapeMemo()
    for model, content in itertools.product(MODELS, CONTENTS):
        message = {"role": "user", "content": content}
        assert memo.user_turn(content, model) == memo.shape([message], None, model)
        assert memo.user_turn(content, model) == shape_of([message], None, model)
        general = shape_of([message], None, model)
        assert memo.user_turn_values(content, model) == (*general.call_values(), general.input_tokens)


def _answer(rng: random.Random, model: str) -> dict[str, Any]:
    """A chat completion with a random split of its usage (cache and reasoning buckets or none)."""
    prompt, completion = rng.randrange(0, 300_000), rng.randrange(0, 5000)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    if rng.random() < 0.8:
        usage["prompt_tokens_details"] = {"cached_tokens": rng.randrange(0, prompt + 1), "audio_tokens": 0}
    if rng.random() < 0.8:
        usage["completion_tokens_details"] = {"reasoning_tokens": rng.randrange(0, completion + 1)}
    body: dict[str, Any] = {
        "id": f"chatcmpl-{rng.randrange(10**6)}",
        "object": "chat.completion",
        "created": 1_795_405_243,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi.", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": rng.choice(["stop", "length", None]),
            }
        ],
        "usage": usage,
    }
    tier = rng.choice([None, "default", "flex", "priority", "scale"])
    if tier is not None:
        body["service_tier"] = tier
    return body


ODD_BODIES: list[Any] = [
    [],
    "text",
    {"object": "chat.completion", "choices": [], "usage": None},
    {"object": "chat.completion", "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 9}},
    {"object": "chat.completion", "x_groq": {"usage": {"prompt_tokens": 3}}, "choices": []},
    {"error": {"type": "rate_limit_error", "message": "slow down"}},
]
for _counts in ((5, -2), (-2, 5), (5, 2)):
    _odd = _answer(random.Random(9), "gpt-4o-mini")
    _odd["usage"] = {
        "prompt_tokens": _counts[0],
        "completion_tokens": _counts[1],
        "total_tokens": sum(_counts),
    }
    if _counts == (5, 2):  # a part above its whole, then a part that is not an integer
        _odd["usage"]["prompt_tokens_details"] = {"cached_tokens": 6}
        ODD_BODIES.append(_odd)
        _odd = json.loads(json.dumps(_odd))
        _odd["usage"]["prompt_tokens_details"] = {"cached_tokens": 1.0}
    ODD_BODIES.append(_odd)


def _exchange(request: dict[str, Any], body: Any, status: int, memo: ShapeMemo | None) -> Exchange:
    exchange = Exchange(CHAT, "openai", request, Attribution(team="t"), "s1", 1_795_405_243_123_456_789)
    exchange.status, exchange.latency_ns, exchange.shapes = status, 2_345_678, memo
    exchange.body, exchange.parsed = json.dumps(body).encode(), body
    if status >= 400:
        exchange.end, exchange.error_type = "error", "rate_limit_error"
    return exchange


def _build(exchange: Exchange, pricer: Pricer) -> Call:
    random.seed(5)  # the same trace and span ids on both roads
    return build_call(exchange, pricer)


def _cases() -> list[tuple[dict[str, Any], Any, int]]:
    rng = random.Random(41)
    cases = []
    for index in range(240):
        model = rng.choice(["gpt-4o-mini", "gpt-4o", "o3", "my-own-model"])
        request = _request(model, messages=[{"role": "user", "content": rng.choice(CONTENTS)}])
        if index % 5 == 0:
            request["service_tier"] = rng.choice(["flex", "priority", "default"])
        if index % 7 == 0:
            request["max_tokens"] = rng.randrange(1, 4096)
        cases.append((request, _answer(rng, rng.choice([model, f"{model}-2024-08-06"])), 200))
    for body in ODD_BODIES:
        cases.append((_request("gpt-4o-mini"), body, 200))
        cases.append((_request("gpt-4o-mini"), body, 429))
    cases.append((_request(None), _answer(rng, "gpt-4o"), 200))
    cases.append((_request(None), ODD_BODIES[0], 200))
    return cases


def test_the_fast_build_is_the_general_build(monkeypatch: pytest.MonkeyPatch) -> None:
    pricer, memo = Pricer(), ShapeMemo()
    cases = _cases()
    fast = [_build(_exchange(r, b, s, memo), pricer) for r, b, s in cases]
    again = [_build(_exchange(r, b, s, memo), pricer) for r, b, s in cases]  # memo and plans known
    monkeypatch.setattr(metering, "_direct_reading", lambda body, api, provider: None)
    monkeypatch.setattr(messages_module, "_plain_prompt", lambda request: None)
    monkeypatch.setattr(compute, "_plan", lambda rates: None)
    monkeypatch.setattr(compute, "_PLANS", {})

    def price_by_keywords(  # noqa: PLR0917  (the positional entry's general twin)
        self: Pricer,
        usage: Any,
        model: str,
        provider: str,
        day: Any,
        tier: str | None,
        latency: float | None,
        *,
        started: Any = None,
    ) -> Any:
        found = self.lookup(model=model, provider=provider, at=day, service_tier=tier)
        at = started if started is not None and isinstance(found, Rates) and found.by_time_of_day else day
        return self.price_usage(
            usage, model=model, provider=provider, at=at, service_tier=tier, latency_ms=latency
        )

    monkeypatch.setattr(Pricer, "price_on_day", price_by_keywords)
    general = [_build(_exchange(r, b, s, None), Pricer()) for r, b, s in cases]
    assert fast == general
    assert again == general
    for twin, call in zip(fast, general, strict=True):  # the exponents too, which == on Decimals ignores
        if call.cost is not None and call.cost.total is not None:
            assert twin.cost is not None
            assert str(twin.cost.total) == str(call.cost.total)
            assert {k: str(v) for k, v in twin.cost.parts.items()} == {
                k: str(v) for k, v in call.cost.parts.items()
            }
    priced = [c for c in general if c.cost is not None and c.cost.total is not None]
    assert len(priced) >= 100
    assert any(c.usage.cache_read for c in priced)
    assert any(c.usage.reasoning for c in priced)
    assert any(c.service_tier == "flex" for c in priced)
    assert any(c.cost is not None and c.cost.estimated for c in priced)
    assert any(c.cost is not None and c.cost.total is None for c in general)  # the unknown model
    assert any(c.http_status == 429 for c in general)


def test_a_provider_marker_keeps_a_body_off_the_plain_road() -> None:
    body = _answer(random.Random(3), "gpt-4o-mini")
    assert plain_chat_parts(body) is not None
    for marker in openai_chat._PROVIDER_MARKERS:
        assert plain_chat_parts({**body, marker: {}}) is None
