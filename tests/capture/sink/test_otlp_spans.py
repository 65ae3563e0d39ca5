"""Records as OTLP spans, checked field by field and read back by tokenomy's own OTLP importer."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.capture.support import call
from tokenomy.capture.records import AgentSpan
from tokenomy.capture.sink.otlp_spans import call_attributes, export_request
from tokenomy.importers import calls_from_spans, decode_protobuf
from tokenomy.importers.results import ImportOptions
from tokenomy.providers import canonical
from tokenomy.schema import Attribution, Call, Charge, Cost, OutcomeEvent, Status, ToolUse, Usage

T0 = datetime(2026, 3, 2, 9, 30)


def _rich_call() -> Call:
    return Call(
        id="msg_01",
        provider="anthropic",
        request_model="claude-sonnet-4-6",
        response_model="claude-sonnet-4-6",
        api="messages",
        started_at=T0,
        ended_at=T0 + timedelta(milliseconds=1500),
        latency_ms=1500.0,
        ttft_ms=250.0,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        parent_span_id="00f067aa0ba902b7",
        session_id="s-9",
        step=4,
        streamed=True,
        usage=Usage.of(
            input_uncached=100,
            cache_read=2000,
            cache_write_5m=300,
            cache_write_1h=50,
            output_visible=40,
            reasoning=0,
        ),
        max_output_tokens=512,
        finish_reason="end_turn",
        tool_uses=(ToolUse("search", "abcd"),),
        attribution=Attribution(user="ana", team="support", agent="triage", tags={"tier": "gold"}),
        cost=Cost(total=Decimal("0.0123"), source="genai-prices@0.2.3"),
    )


def _attrs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v is not None}


def test_a_call_span_carries_inclusive_otel_usage_and_exact_tokenomy_buckets() -> None:
    attrs = _attrs(call_attributes(_rich_call()))
    assert attrs["gen_ai.usage.input_tokens"] == 2450  # uncached + cache reads + both cache writes
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 350
    assert attrs["gen_ai.usage.output_tokens"] == 40
    assert attrs["tokenomy.usage.cache_write_1h"] == 50
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.response.id"] == "msg_01"
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.25
    assert attrs["gen_ai.conversation.id"] == "s-9"
    assert attrs["gen_ai.agent.name"] == "triage"
    assert attrs["user.id"] == "ana"
    assert attrs["tokenomy.team"] == "support"
    assert attrs["tokenomy.tag.tier"] == "gold"
    assert attrs["tokenomy.cost.total"] == "0.0123"
    assert attrs["tokenomy.tool_uses"] == ["search:abcd"]
    assert attrs["tokenomy.step"] == 4


def test_the_otlp_importer_reads_back_the_same_call() -> None:
    original = _rich_call()
    body = export_request([original], service_name="svc", version="1").SerializeToString()
    (back,) = calls_from_spans(decode_protobuf(body, "request"), ImportOptions())
    assert back.id == "msg_01"
    assert (back.trace_id, back.span_id, back.parent_span_id) == (
        original.trace_id,
        original.span_id,
        original.parent_span_id,
    )
    assert back.session_id == "s-9"
    assert back.usage.input_total == original.usage.input_total
    assert back.usage.cache_read == 2000
    assert back.usage.output_total == 40
    assert back.latency_ms == 1500.0
    assert back.ttft_ms == 250.0
    assert back.attribution.user == "ana"
    assert back.attribution.agent == "triage"


def test_a_failed_call_span_has_error_status_and_a_fallback_id_is_not_a_response_id() -> None:
    failed = call(1, trace_id="ab" * 16, span_id="cd" * 8, status=Status.ERROR, error_type="RateLimitError")
    failed = failed.replace(id=f"{'ab' * 16}:{'cd' * 8}", http_status=429)
    (span,) = export_request([failed], service_name="s", version="1").resource_spans[0].scope_spans[0].spans
    assert span.status.code == span.status.STATUS_CODE_ERROR
    assert span.status.message == "RateLimitError"
    keys = {kv.key for kv in span.attributes}
    assert "gen_ai.response.id" not in keys
    assert "error.type" in keys
    (back,) = calls_from_spans(
        decode_protobuf(export_request([failed], service_name="s", version="1").SerializeToString(), "r"),
        ImportOptions(),
    )
    assert back.id == failed.id
    assert back.status is Status.ERROR


def test_agent_spans_charges_and_outcomes_become_internal_spans_that_are_not_calls() -> None:
    agent = AgentSpan("ab" * 16, "cd" * 8, "planner", T0, T0 + timedelta(seconds=3), session_id="s1")
    charge = Charge(id="chg1", amount=Decimal("0.5"), kind="search_api", at=T0, session_id="s1")
    outcome = OutcomeEvent("session", "s1", T0, success=True, score=0.9)
    request = export_request([agent, charge, outcome], service_name="s", version="1")
    spans = request.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans] == [
        "invoke_agent planner",
        "tokenomy.charge search_api",
        "tokenomy.outcome",
    ]
    assert all(s.kind == s.SPAN_KIND_INTERNAL for s in spans)
    charge_attrs = {kv.key: kv.value.string_value for kv in spans[1].attributes}
    assert charge_attrs["tokenomy.charge.amount"] == "0.5"
    again = export_request([charge], service_name="s", version="1").resource_spans[0].scope_spans[0].spans[0]
    assert (again.trace_id, again.span_id) == (
        spans[1].trace_id,
        spans[1].span_id,
    )  # a replay is the same span
    assert calls_from_spans(decode_protobuf(request.SerializeToString(), "r"), ImportOptions()) == []


WELL_KNOWN_PROVIDERS = (
    "openai", "gcp.gen_ai", "gcp.vertex_ai", "gcp.gemini", "anthropic", "cohere", "azure.ai.inference",
    "azure.ai.openai", "ibm.watsonx.ai", "aws.bedrock", "perplexity", "x_ai", "deepseek", "groq",
    "mistral_ai", "moonshot_ai",
)  # fmt: skip
"""The ``gen_ai.provider.name`` values the GenAI conventions list."""


def test_a_call_of_every_well_known_provider_names_it_as_the_conventions_spell_it() -> None:
    for name in WELL_KNOWN_PROVIDERS:
        provider = canonical(name)
        spelled = _attrs(call_attributes(call(1, provider=provider)))["gen_ai.provider.name"]
        assert spelled in WELL_KNOWN_PROVIDERS, (name, provider, spelled)
        assert canonical(spelled) == provider
    assert _attrs(call_attributes(call(1, provider="ibm")))["gen_ai.provider.name"] == "ibm.watsonx.ai"


def test_a_failed_call_without_an_error_type_carries_the_conventions_fallback_and_reads_back_as_none() -> (
    None
):
    """``error.type`` is required on a span that ended in an error: ``_OTHER`` when the call has no type."""
    for status in (Status.ERROR, Status.TIMEOUT, Status.REJECTED_BUDGET):
        failed = call(1, status=status, error_type=None)
        assert _attrs(call_attributes(failed))["error.type"] == "_OTHER"
        body = export_request([failed], service_name="s", version="1").SerializeToString()
        (back,) = calls_from_spans(decode_protobuf(body, "r"), ImportOptions())
        assert (back.status, back.error_type) == (status, None)
    assert "error.type" not in _attrs(call_attributes(call(1, status=Status.CANCELLED, error_type=None)))
    assert "error.type" not in _attrs(call_attributes(call(1)))
    typed = call(1, status=Status.TIMEOUT, error_type="ReadTimeout")
    assert _attrs(call_attributes(typed))["error.type"] == "ReadTimeout"
