from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.pricing import Pricer
from tokenomy.schema import Kind, Quality, ToolUse
from tokenomy.usage import accumulate, args_hash, extract


def response(
    meta: dict[str, Any] | None, parts: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts or [{"text": "Paris."}]}, "index": 0}
    cand["finishReason"] = "STOP"
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.5-pro", "responseId": "r1"}
    if meta is not None:
        out["usageMetadata"] = meta
    out.update(fields)
    return out


def test_thoughts_on_top_of_candidates_and_tool_prompt_is_input() -> None:
    meta = {
        "promptTokenCount": 17,
        "candidatesTokenCount": 201,
        "thoughtsTokenCount": 213,
        "toolUsePromptTokenCount": 119,
        "totalTokenCount": 550,
    }
    e = extract(response(meta))
    assert e.usage.buckets() == {
        "input_uncached": 136,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 201,
        "reasoning": 213,
    }
    assert (e.usage.input_total, e.usage.output_total, e.usage.total) == (136, 414, 550)
    assert e.usage.ok
    assert (e.provider, e.api, e.response_model, e.response_id) == (
        "google",
        "generate_content",
        "gemini-2.5-pro",
        "r1",
    )
    assert e.finish_reason == "STOP"


def test_cached_content_is_inside_the_prompt_count() -> None:
    meta = {
        "promptTokenCount": 2000,
        "cachedContentTokenCount": 1500,
        "candidatesTokenCount": 10,
        "totalTokenCount": 2010,
    }
    u = extract(response(meta)).usage
    assert (u.input_uncached, u.cache_read, u.input_total) == (500, 1500, 2000)


def test_absent_counts_in_present_metadata_are_zero() -> None:
    u = extract(response({"promptTokenCount": 9, "totalTokenCount": 9})).usage
    assert (u.output_visible, u.reasoning, u.cache_read, u.output_total) == (0, 0, 0, 0)


def test_missing_metadata_is_unknown() -> None:
    u = extract(response(None)).usage
    assert u.input_total is None
    assert u.output_total is None


def test_impossible_numbers_are_flagged() -> None:
    mismatch = extract(
        response({"promptTokenCount": 9, "candidatesTokenCount": 1, "totalTokenCount": 99})
    ).usage
    assert mismatch.quality == (Quality.TOTAL_MISMATCH,)
    cached = extract(response({"promptTokenCount": 9, "cachedContentTokenCount": 12})).usage
    assert cached.input_uncached == -3
    assert Quality.CACHE_EXCEEDS_INPUT in cached.quality
    assert Quality.NEGATIVE in cached.quality


def test_parts_give_text_tool_uses_and_searches() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "let me think", "thought": True},
        {"functionCall": {"name": "get_capital", "args": {"country": "France"}}},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"text": "Paris."},
    ]
    grounding = {"webSearchQueries": ["capital of france", "paris"]}
    body = response({"promptTokenCount": 1}, parts, createTime="2025-06-27T08:35:02.123456Z")
    body["candidates"][0]["groundingMetadata"] = grounding
    e = extract(body)
    assert e.completion_text == "Paris."
    assert e.tool_uses == (
        ToolUse("get_capital", args_hash({"country": "France"})),
        ToolUse("code_execution", args_hash("print(1)"), server=True),
        ToolUse("google_search", args_hash("capital of france"), server=True),
        ToolUse("google_search", args_hash("paris"), server=True),
    )
    # two queries, one grounded prompt: Gemini 2.x bills the prompt
    assert e.usage.server_tools == {"web_searches": 1}
    assert e.created_at == datetime(2025, 6, 27, 8, 35, 2, 123456, tzinfo=UTC)


def _grounded(model: str | None, queries: int) -> dict[str, Any]:
    body = response({"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 110})
    body["candidates"][0]["groundingMetadata"] = {"webSearchQueries": [f"q{i}" for i in range(queries)]}
    if model is None:
        del body["modelVersion"]
    else:
        body["modelVersion"] = model
    return body


@pytest.mark.parametrize(
    ("model", "billed"),
    [
        ("gemini-2.5-pro", 1),
        ("gemini-2.0-flash-001", 1),
        ("models/gemini-1.5-pro-002", 1),
        ("publishers/google/models/gemini-2.5-flash", 1),
        ("gemini-3-pro-preview", 3),
        ("gemini-3.1-flash-lite", 3),
        (None, 3),
    ],
)
def test_web_searches_count_what_google_bills(model: str | None, billed: int) -> None:
    e = extract(_grounded(model, 3))
    assert e.usage.server_tools == {"web_searches": billed}
    assert [t.name for t in e.tool_uses] == ["google_search"] * 3


def test_a_grounded_gemini_2_prompt_costs_one_grounding_fee() -> None:
    pricer = Pricer()
    day = date(2026, 1, 15)
    old = pricer.price_usage(extract(_grounded("gemini-2.5-pro", 3)).usage, model="gemini-2.5-pro", at=day)
    # $35 per 1,000 grounded prompts; 100 in at $1.25/M, 10 out at $10/M
    assert old.parts["server_tools"] == Decimal("0.035")
    assert old.total == Decimal("0.035") + Decimal("0.000125") + Decimal("0.0001")
    new = pricer.price_usage(
        extract(_grounded("gemini-3-pro-preview", 3)).usage, model="gemini-3-pro-preview", at=day
    )
    # $14 per 1,000 search queries
    assert new.parts["server_tools"] == Decimal("0.042")
    assert extract(_grounded("gemini-2.5-pro", 0)).usage.server_tools == {}


def test_vertex_traffic_type_and_service_tier() -> None:
    e = extract(response({"promptTokenCount": 1, "trafficType": "ON_DEMAND", "serviceTier": "standard"}))
    assert (e.service_tier, e.extra["traffic_type"]) == ("standard", "ON_DEMAND")


@pytest.mark.parametrize(
    ("traffic", "tier"),
    [
        ("ON_DEMAND_FLEX", "flex"),
        ("ON_DEMAND_PRIORITY", "priority"),
        ("ON_DEMAND", None),
        ("PROVISIONED_THROUGHPUT", None),
    ],
)
def test_vertex_flex_and_priority_traffic_are_service_tiers(traffic: str, tier: str | None) -> None:
    # as Vertex reports a Flex PayGo call (pydantic-ai's test_google_vertex_service_tier_flex)
    meta = {"promptTokenCount": 5, "candidatesTokenCount": 1, "thoughtsTokenCount": 51, "totalTokenCount": 57}
    e = extract(response({**meta, "trafficType": traffic}, modelVersion="gemini-3.8-flash-tts"))
    assert (e.service_tier, e.extra["traffic_type"]) == (tier, traffic)


def test_a_vertex_flex_call_is_priced_at_the_flex_rates() -> None:
    meta = {"promptTokenCount": 1_000_000, "candidatesTokenCount": 1_000_000, "trafficType": "ON_DEMAND_FLEX"}
    e = extract(response(meta, modelVersion="gemini-3.8-flash-tts"))
    pricer = Pricer()
    day = date(2027, 2, 1)
    flex = pricer.price_usage(e.usage, model="gemini-3.8-flash-tts", at=day, service_tier=e.service_tier)
    standard = pricer.price_usage(e.usage, model="gemini-3.8-flash-tts", at=day)
    # the catalog's flex price from 2027-01-01: $0.50 in, $9 out per MTok
    assert (flex.total, flex.estimated) == (Decimal("9.5"), False)
    assert standard.total == Decimal("9.5") * 2  # $1 in, $18 out
    # a model without a flex price: standard rates, and the cost says so
    cost = pricer.price_usage(e.usage, model="gemini-3-flash-preview", at=day, service_tier=e.service_tier)
    assert cost.estimated
    assert cost.reason is not None
    assert "no 'flex' service-tier price for gemini-3-flash-preview" in cost.reason


def chunk(text: str, candidates: int, finish: str | None = None) -> dict[str, Any]:
    meta = {"promptTokenCount": 18, "candidatesTokenCount": candidates, "thoughtsTokenCount": 35}
    meta["totalTokenCount"] = 18 + candidates + 35
    out = response(meta, [{"text": text}])
    out["candidates"][0]["finishReason"] = finish
    return out


def test_stream_usage_grows_and_the_last_wins() -> None:
    e = accumulate([chunk("1\n2", 31), chunk("\n3", 79), chunk("0", 80, "STOP")])
    assert (e.usage.input_total, e.usage.output_visible, e.usage.reasoning, e.usage.total) == (
        18,
        80,
        35,
        133,
    )
    assert e.completion_text == "1\n2\n30"
    assert (e.finish_reason, e.extra["complete"]) == ("STOP", True)


def test_stream_cut_keeps_the_usage_so_far() -> None:
    e = accumulate([chunk("1\n2", 31), chunk("\n3", 79)])
    assert (e.usage.output_visible, e.extra["complete"]) == (79, False)


def _running(text: str, prompt: int, total: int) -> dict[str, Any]:
    """A running chunk as Gemini 2.0 sends it before the last: the prompt counted, the output not."""
    out = response({"promptTokenCount": prompt, "totalTokenCount": total}, [{"text": text}])
    del out["candidates"][0]["finishReason"]
    return out


def test_stream_cut_after_a_chunk_that_counted_no_output_has_unknown_output() -> None:
    # The shape of a real Gemini 2.0 Flash stream's first chunk (pydantic-ai's recording).
    cut = accumulate([_running("The temperature in Paris", 169, 169)])
    u = cut.usage
    assert (u.input_total, u.output_visible, u.reasoning, u.output_total) == (169, None, None, None)
    assert u.quality == ()
    assert (cut.extra["complete"], cut.completion_text) == (False, "The temperature in Paris")
    whole = accumulate(
        [
            _running("The temperature in Paris", 169, 169),
            response(
                {"promptTokenCount": 79, "candidatesTokenCount": 12, "totalTokenCount": 91},
                [{"text": " is 30°C."}],
            ),
        ]
    )
    assert (whole.usage.output_visible, whole.usage.reasoning, whole.extra["complete"]) == (12, 0, True)


def test_a_stream_cut_while_thinking_keeps_its_reported_thoughts() -> None:
    thinking = response({"promptTokenCount": 100, "thoughtsTokenCount": 500, "totalTokenCount": 600}, [])
    del thinking["candidates"][0]["finishReason"]  # still thinking when the stream was cut
    cut = accumulate([thinking])
    u = cut.usage
    assert (u.input_total, u.output_visible, u.reasoning, u.output_total) == (100, 0, 500, 500)
    assert (u.kind, cut.extra["complete"]) == (Kind.REPORTED, False)


def test_a_running_total_that_counts_unreported_output_is_no_mismatch_once_the_output_is_unknown() -> None:
    cut = accumulate([_running("Par", 18, 25)])
    assert (cut.usage.output_total, cut.usage.quality) == (None, ())


def test_a_stream_is_complete_only_when_every_candidate_finished() -> None:
    first = chunk("a", 3, "STOP")
    second = chunk("b", 5)
    second["candidates"][0]["index"] = 1
    e = accumulate([first, second])
    assert e.extra["complete"] is False
    done = chunk("c", 6, "STOP")
    done["candidates"][0]["index"] = 1
    assert accumulate([first, second, done]).extra["complete"] is True


def test_a_blocked_prompt_stream_is_complete_with_no_output() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
        "modelVersion": "gemini-2.0-flash",
        "responseId": "r-blocked",
    }
    e = accumulate([blocked])
    assert (e.usage.input_total, e.usage.output_total, e.extra["complete"]) == (7, 0, True)
