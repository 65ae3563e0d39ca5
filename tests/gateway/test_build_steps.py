"""Each cheaper step of a metering build gives what the general step gives, on varied inputs: the
positional pricing entry (memo by model, provider, day and tier), the start time from the second's
memo, the request's output cap, the two ids from one draw and the single user turn's shape."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.support import chat_completion
from tokenomy.capture import build as capture_build
from tokenomy.capture.build import max_tokens_of, utc_milliseconds
from tokenomy.capture.shapes import ShapeMemo
from tokenomy.gateway import metering
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.importers.shape import shape_of
from tokenomy.pricing import Pricer, compute
from tokenomy.schema import BUCKETS, Attribution, Cost, Kind, Quality, Usage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"
EPOCH = datetime(1970, 1, 1)


def _usages(rng: random.Random) -> list[Usage]:
    """Whole usages with and without cache and reasoning tokens, and the general rules' cases."""
    found = []
    for _ in range(30):
        counts = [rng.choice([0, 0, rng.randrange(1, 400_000)]) for _ in BUCKETS]
        fields: dict[str, Any] = dict(zip(BUCKETS, counts, strict=True))
        found.append(Usage.of(**fields))
    return [
        *found,
        Usage.of(
            input_uncached=12,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=16,
            reasoning=0,
        ),
        Usage.of(input_uncached=7, cache_read=3, output_visible=4, reasoning=2, kind=Kind.ESTIMATED),
        Usage(input_total=100, output_total=20),
        Usage.of(input_uncached=10, cache_read=None, output_visible=5, reasoning=None),
        Usage.of(
            input_uncached=10,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=5,
            reasoning=0,
            server_tools={"web_searches": 2},
        ),
        Usage(
            input_uncached=-1, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=1, reasoning=0
        ),
        Usage(1, 0, 0, 0, 1, 0, input_total=5, output_total=1),
        Usage(1, 0, 0, 0, 1, 0, input_total=1, output_total=7),
        Usage.of(
            input_uncached=3,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=1,
            reasoning=0,
            quality=(Quality.TOTAL_MISMATCH,),
        ),
        Usage(),
    ]


@pytest.mark.parametrize("overrides", [None, EXAMPLE])
def test_the_positional_pricing_entry_prices_as_price_usage(
    overrides: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # price_usage by the general bucket rules alone (cost_of without its whole-usage path)
    monkeypatch.setattr(compute, "whole_usage_cost", lambda usage, rates, latency_ms: None)
    rng = random.Random(17)
    usages = _usages(rng)
    fast, general = Pricer(overrides), Pricer(overrides)
    models = [
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("OpenAI", "o3"),
        ("anthropic", "claude-sonnet-4-5"),
        ("google", "gemini-1.5-pro"),
        (None, "gpt-4o"),
        ("openai", "my-own-model"),
        ("openai", ""),
    ]
    tiers = [None, "default", "flex", " Flex ", "priority", "batch", "scale", ""]
    days = [date(2025, 6, 1), date(2026, 6, 1), date(2025, 6, 1)]  # a day change, then back
    compared = priced = 0
    for (provider, model), tier, day, latency in itertools.product(models, tiers, days, (None, 1234.5)):
        for usage in rng.sample(usages, 6) + usages[-10:]:
            got = fast.price_on_day(usage, model, provider, day, tier, latency)
            want = general.price_usage(
                usage, model=model, provider=provider, at=day, service_tier=tier, latency_ms=latency
            )
            assert got == want, (provider, model, tier, day, usage)
            if want.total is not None:  # the exponents too, which == on Decimals ignores
                priced += 1
                assert str(got.total) == str(want.total)
                assert {k: str(v) for k, v in got.parts.items()} == {k: str(v) for k, v in want.parts.items()}
            compared += 1
    assert compared > 6000
    assert priced > 2000


def test_the_positional_pricing_entry_sees_an_override_s_date_change() -> None:
    pricer = Pricer(EXAMPLE)
    usage = Usage.of(
        input_uncached=1200,
        cache_read=300,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=80,
        reasoning=0,
    )
    in_2025 = pricer.price_on_day(usage, "claude-sonnet-4-5", "anthropic", date(2025, 6, 1), None, None)
    in_2026 = pricer.price_on_day(usage, "claude-sonnet-4-5", "anthropic", date(2026, 6, 1), None, None)
    assert in_2025.source == "override:overrides.toml#acme-anthropic-2025"
    assert in_2025.total == Decimal("0.0041565")  # 1200 x 2.55 + 300 x 0.255 + 80 x 12.75, per million
    assert in_2026.source != in_2025.source
    unknown = pricer.price_on_day(usage, "no-such-model-xyz", "openai", date(2026, 6, 1), None, None)
    assert unknown.total is None
    assert unknown.reason
    assert unknown == Cost.unpriced(unknown.reason or "", price_date=date(2026, 6, 1))


def _reference_time(ns: int) -> datetime:
    return EPOCH + timedelta(0, 0, 0, ns // 1_000_000)


def test_the_start_time_is_the_epoch_plus_whole_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_build, "_last_second", (0, EPOCH))
    monkeypatch.setattr(capture_build, "_MILLISECONDS", {})
    rng = random.Random(3)
    base = 1_795_405_243_000_000_000
    times = [base + rng.randrange(-3 * 10**9, 3 * 10**9) for _ in range(3000)]
    times += [base + step for step in (0, 999_999, 1_000_000, 999_999_999, 1_000_000_000, -1, -1_000_001)]
    times += [
        0,
        1,
        999_999,
        1_000_000,
        -1,
        -999_999,
        -1_000_000,
        -1_000_001,
        86_399_999_999_999,
        253_402_300_799 * 10**9,
    ]
    times += [1_795_391_999_999_999_999, 1_795_392_000_000_000_000]  # the last millisecond of a day, the next
    for ns in times + times[::-1]:  # every second met again after others (the memo replaced)
        assert utc_milliseconds(ns) == _reference_time(ns), ns
    assert utc_milliseconds(1_795_392_000_000_000_000).date() == date(2026, 11, 23)
    assert len(capture_build._MILLISECONDS) <= 1000


def test_the_output_cap_is_read_as_before() -> None:
    def reference(request: dict[str, Any]) -> int | None:
        for key in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
            value = request.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    requests: list[dict[str, Any]] = [
        {},
        {"model": "m", "messages": []},
        {"max_tokens": 10},
        {"max_tokens": True},
        {"max_tokens": 1.5, "max_output_tokens": 7},
        {"max_completion_tokens": None, "max_tokens": 3},
        {"max_completion_tokens": 4, "max_tokens": 3},
        {"max_output_tokens": "9"},
        {"max_tokens": 0},
        {"max_tokens": -5},
    ]
    for request in requests:
        assert max_tokens_of(request) == reference(request), request


def _ids(bits: int, monkeypatch: pytest.MonkeyPatch) -> tuple[str | None, str | None]:
    monkeypatch.setattr(metering, "getrandbits", lambda n: bits)
    exchange = Exchange(
        SURFACES["/v1/chat/completions"], "openai", {}, Attribution(), None, 1_795_405_243 * 10**9
    )
    call = build_call(exchange, None)
    return call.trace_id, call.span_id


@pytest.mark.parametrize(
    "bits",
    [
        1 << 64 | 1,
        (1 << 192) - 1,
        0xABCDEF << 100 | 0x42,
        random.Random(8).getrandbits(192),
        (1 << 127) << 64 | (1 << 63),
    ],
)
def test_the_ids_are_the_draw_s_hex_digits(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"{bits:048x}"
    assert _ids(bits, monkeypatch) == (text[:32], text[32:])


@pytest.mark.parametrize("bits", [0, 1, (1 << 64) - 1, 5 << 64, 1 << 191])
def test_a_zero_id_is_drawn_again(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    trace_id, span_id = _ids(bits, monkeypatch)
    text = f"{bits:048x}"
    assert trace_id is not None
    assert span_id is not None
    assert (trace_id, span_id) != (text[:32], text[32:])
    assert len(trace_id) == 32
    assert len(span_id) == 16
    assert int(trace_id, 16) != 0
    assert int(span_id, 16) != 0


def test_the_single_turn_shape_is_the_general_shape_for_every_family() -> None:
    memo = ShapeMemo()
    models = [
        "gpt-4o-mini",
        "gpt-4",
        "o3",
        "claude-sonnet-4-5",
        "gemini-2.0-flash",
        "llama-3-70b",
        "qwen3",
        None,
        "x",
    ]
    contents = ["", "hi", "Say hello in one line. " * 40, "«ünïcode» 漢字 🙂", "<|endoftext|>", "\ud800 lone"]
    for _ in range(2):  # the plans made, then known
        for model, content in itertools.product(models, contents):
            general = shape_of([{"role": "user", "content": content}], None, model)
            assert memo.user_turn(content, model) == general
            assert memo.user_turn_values(content, model) == (*general.call_values(), general.input_tokens)


def test_the_single_turn_plans_are_bounded() -> None:
    from tokenomy.capture import shapes

    memo = ShapeMemo()
    for index in range(shapes._TURN_MODELS + 10):  # the real bound (a compiled module inlines it)
        model = f"model-{index}"
        assert memo.user_turn("hello", model) == shape_of([{"role": "user", "content": "hello"}], None, model)
        assert 0 < len(memo._turns) <= shapes._TURN_MODELS


@pytest.mark.parametrize(
    ("latency_ns", "micros"),
    [
        (0, 0),
        (499, 0),
        (500, 1),
        (1_499, 1),
        (2_500_000, 2_500),
        (2_500_499, 2_500),
        (2_500_500, 2_501),
        (86_400 * 10**9 + 7_000, 86_400 * 10**6 + 7),
    ],
)
def test_a_call_ends_at_its_start_plus_its_latency_to_the_nearest_microsecond(
    latency_ns: int, micros: int
) -> None:
    started_ns = 1_795_405_243_123_456_789
    exchange = Exchange(
        SURFACES["/v1/chat/completions"], "openai", {}, Attribution(), None, started_ns, latency_ns=latency_ns
    )
    call = build_call(exchange, None)
    assert call.started_at == utc_milliseconds(started_ns)
    assert call.ended_at == call.started_at + timedelta(microseconds=micros)
    assert call.latency_ms == latency_ns / 1e6


def _built_twice(
    pricer: Pricer, provider: str, request: dict[str, Any], body: dict[str, Any], started_ns: int
) -> list[Cost]:
    """The cost of a chat answer built twice with ``pricer``: the first build asks the pricer (and
    fills its memo), the second reads the memo; each as a fresh pricer of its class prices the call."""
    costs = []
    for _ in range(2):
        exchange = Exchange(
            SURFACES["/v1/chat/completions"],
            provider,
            request,
            Attribution(),
            None,
            started_ns,
            status=200,
            parsed=body,
            latency_ns=1_000_000,
        )
        call = build_call(exchange, pricer)
        assert call.cost == type(pricer)().price(call)  # as a fresh pricer of its class prices it
        costs.append(call.cost)
    return costs


@pytest.mark.parametrize("model", ["gpt-4o-mini", "no-such-model-xyz"])
def test_the_build_prices_from_the_pricer_s_memo_as_the_pricer_prices(model: str) -> None:
    pricer = Pricer()
    body = chat_completion("chatcmpl-1", model, prompt=1200, completion=80)
    body["usage"].update(
        prompt_tokens_details={"cached_tokens": 300}, completion_tokens_details={"reasoning_tokens": 0}
    )
    request = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    costs = _built_twice(pricer, "openai", request, body, 1_795_405_243 * 10**9)
    assert len(pricer.asked) == 1
    assert costs[0] == costs[1]
    assert costs[0] is not None
    if model == "gpt-4o-mini":
        assert costs[0].total is not None
        assert costs[0].total > 0
    else:
        assert costs[0].total is None
        assert costs[0].reason


@pytest.mark.parametrize(("hour", "peak"), [(19, False), (10, True)])
def test_the_build_prices_a_model_whose_prices_change_during_the_day_at_its_start(
    hour: int, peak: bool
) -> None:
    """DeepSeek's off-peak hours cost half: a call through the gateway at 19:00 UTC pays the
    off-peak rate (as Pricer.price gives), not the day's peak, even once the day's rates are in
    the pricer's memo."""
    pricer = Pricer()
    body = chat_completion("chatcmpl-1", "deepseek-chat", prompt=1_000_000, completion=0)
    request = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    started = int(datetime(2025, 9, 4, hour, 0, tzinfo=UTC).timestamp()) * 10**9
    costs = _built_twice(pricer, "deepseek", request, body, started)  # the second finds the day's peak
    assert costs[0] == costs[1]
    assert costs[0] is not None
    assert costs[0].total == (Decimal("0.27") if peak else Decimal("0.135"))  # a million input tokens


def test_a_pricer_subclass_with_the_six_argument_price_on_day_still_prices_every_build() -> None:
    """The build asks a subclass's own ``price_on_day`` with the arguments it has always taken (the
    start time goes only to the base class's own)."""

    class Tagged(Pricer):
        def price_on_day(  # type: ignore[override]  # noqa: PLR0917  (written against the six-argument entry)
            self,
            usage: Usage,
            model: str,
            provider: str | None,
            day: date,
            service_tier: str | None,
            latency_ms: float | None,
        ) -> Cost:
            return Cost.unpriced(f"tagged {model} on {day}")

    body = chat_completion("chatcmpl-1", "deepseek-chat", prompt=10, completion=2)
    request = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    started = int(datetime(2025, 9, 4, 19, 0, tzinfo=UTC).timestamp()) * 10**9
    exchange = Exchange(
        SURFACES["/v1/chat/completions"], "deepseek", request, Attribution(), None, started,
        status=200, parsed=body, latency_ns=1_000_000,
    )  # fmt: skip
    assert build_call(exchange, Tagged()).cost == Cost.unpriced("tagged deepseek-chat on 2025-09-04")


def test_a_pricer_subclass_that_wraps_or_marks_up_prices_the_build_as_its_price_does() -> None:
    """A subclass whose ``price_on_day`` passes its arguments on gets the start time (an evening
    DeepSeek call at the off-peak rate, as the base class gives); one that overrides only
    ``price_usage`` (a markup) prices the build as its own ``price(call)`` does."""

    class Logging(Pricer):
        def price_on_day(self, *args: Any, **kwargs: Any) -> Cost:
            return super().price_on_day(*args, **kwargs)

    class Markup(Pricer):
        def price_usage(self, usage: Usage, **kwargs: Any) -> Cost:
            cost = super().price_usage(usage, **kwargs)
            assert cost.total is not None
            return dataclasses.replace(cost, total=cost.total * 2)

    body = chat_completion("chatcmpl-1", "deepseek-chat", prompt=1_000_000, completion=0)
    request = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    started = int(datetime(2025, 9, 4, 19, 0, tzinfo=UTC).timestamp()) * 10**9
    (logged, _), (marked, again) = (
        _built_twice(pricer, "deepseek", request, body, started) for pricer in (Logging(), Markup())
    )
    assert logged.total == Decimal("0.135")
    assert marked.total == again.total == Decimal("0.270")  # twice the off-peak rate


def test_a_pricer_subclass_prices_every_build_itself() -> None:
    class Marked(Pricer):
        def price_on_day(self, *args: Any) -> Cost:  # type: ignore[override]  # (as subclasses were written)
            return Cost.unpriced("priced by the subclass")

    pricer = Marked()
    pricer.lookup(model="gpt-4o-mini", provider="openai", at=date(2026, 11, 23))  # the memo holds Rates
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    exchange = Exchange(
        SURFACES["/v1/chat/completions"], "openai", request, Attribution(), None, 1_795_392_000 * 10**9
    )
    assert pricer.asked  # the build would find Rates there
    assert build_call(exchange, pricer).cost == Cost.unpriced("priced by the subclass")
