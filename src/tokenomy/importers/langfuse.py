"""Langfuse trace exports: traces with their observations, as Langfuse's public API returns them.

Accepted shapes: one trace (``GET /api/public/traces/{id}``: the trace with ``observations`` as
objects), a list of traces, ``{"data": [...]}`` pages of traces or of observations
(``GET /api/public/observations``), or JSON lines of any of these.

Each observation of type ``GENERATION`` (or ``EMBEDDING``) becomes a call; spans, agents, tools,
chains and events are not calls, but the tree is kept: a call's ``trace_id`` is the trace id, its
``span_id`` the observation id and its ``parent_span_id`` the parent observation id, and its
``agent`` is the name of the nearest ``AGENT`` observation above it. The trace gives the session
(``sessionId``), the user (``userId``), the environment and the tags.

Usage comes from ``usageDetails`` (:mod:`tokenomy.importers.langfuse_usage`), else from the
deprecated ``usage`` object when its unit is tokens (totals only). Langfuse's own cost
(``costDetails.total``, else the sum of ``costDetails``, else ``calculatedTotalCost``) is kept as
``provider_reported_cost``. Latency and time to first token come from ``startTime``, ``endTime``
and ``completionStartTime``; ``level: ERROR`` makes the call an error, its ``statusMessage`` the
error type only when it is a classification (:func:`tokenomy.errors.error_kind`): a message that
starts ``Error code: 429`` (the OpenAI and Anthropic SDKs' text) gives ``http_429``, any other text
(it often quotes the prompt or the key) gives none. Steps number the calls of a session in the
file by start time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final

from tokenomy.errors import RecordError, error_kind
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.ids import canonical_json
from tokenomy.importers.langfuse_usage import langfuse_usage
from tokenomy.importers.messages import normalize, render, text_of, tool_uses_of
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import (
    guarded,
    iter_records,
    ms_between,
    opt_int,
    opt_number,
    opt_str,
    opt_time,
    reported_cost,
    sample_objects,
    tags_from,
)
from tokenomy.importers.results import ImportOptions, Item
from tokenomy.importers.shape import shape_of
from tokenomy.importers.steps import number_steps
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Attribution, Call, Content, Status, Usage

CALL_TYPES: Final = frozenset({"GENERATION", "EMBEDDING"})
_OBSERVATION_TYPES: Final = CALL_TYPES | {
    "SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "GUARDRAIL",
}  # fmt: skip
_HTTP_CODE: Final = re.compile(r"Error code: ([1-5][0-9][0-9])\b")
"""The start of the OpenAI and Anthropic SDKs' error text (``Error code: 401 - {...}``)."""


class LangfuseImporter(RecordImporter):
    """Langfuse traces with observations, or observation pages."""

    name: ClassVar[str] = "langfuse"
    summary: ClassVar[str] = "Langfuse trace exports (traces with observations, observation pages)."

    def sniff(self, sample: Sample) -> float:
        """Sure for traces holding observation objects, or observation objects with a type and trace id."""
        objects = sample_objects(sample, ("data",))
        if not objects:
            return 0.0
        first = objects[0]
        observations = first.get("observations")
        if isinstance(observations, list) and "id" in first:
            if all(isinstance(o, Mapping) for o in observations):
                return 0.95
            # the trace list (GET /api/public/traces) holds observation ids: claimed, so that the
            # read says how to export the observations themselves
            return 0.9 if observations and all(isinstance(o, str) for o in observations) else 0.0
        if _is_observation(first):
            return 0.85
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """The calls of every trace, tree links and steps filled in."""
        calls: list[Call] = []
        for number, record in iter_records(source, list_keys=("data",)):
            if isinstance(record, RecordError):
                yield record
                continue
            for item in guarded(source, number, trace_calls, record, options):
                if isinstance(item, Call):
                    calls.append(item)  # held for the steps, numbered over the whole file
                else:
                    yield item  # a bad record, or a note of a recorded cost set aside
        yield from number_steps(calls)


def trace_calls(record: Any, options: ImportOptions) -> list[Call]:
    """The calls of one trace (or of one observation, when the record is an observation).

    Raises:
        FieldError: The record is neither, or an observation has a bad field.
    """
    if not isinstance(record, Mapping):
        raise FieldError("(record)", "expected a Langfuse trace or observation object")
    if _is_observation(record, any_type=True) and "observations" not in record:
        trace: Mapping[str, Any] = {"id": record.get("traceId")}
        observations: list[Any] = [record]
    elif "observations" not in record:
        keys = ", ".join(sorted(str(k) for k in record)[:8]) or "none"
        raise FieldError(
            "(record)",
            "not a Langfuse trace (an object with an 'observations' list) or observation (with 'id', "
            f"'traceId' and a 'type' such as GENERATION); its keys: {keys}",
        )
    else:
        trace = record
        observations = record.get("observations") or []
        if not isinstance(observations, list):
            raise FieldError("observations", "expected a list of observation objects")
    by_id = {o.get("id"): o for o in observations if isinstance(o, Mapping)}
    calls = []
    for index, obs in enumerate(observations):
        if isinstance(obs, str):
            raise FieldError(
                f"observations[{index}]",
                "an observation id, not an observation: the trace list holds ids only; export each "
                "trace with GET /api/public/traces/{id}, or the observations with "
                "GET /api/public/observations",
            )
        if not isinstance(obs, Mapping):
            raise FieldError(f"observations[{index}]", "expected an observation object")
        if str(obs.get("type", "")).upper() in CALL_TYPES:
            calls.append(_observation_call(obs, trace, by_id, index, options))
    return calls


def _observation_call(
    obs: Mapping[str, Any],
    trace: Mapping[str, Any],
    by_id: Mapping[Any, Mapping[str, Any]],
    index: int,
    options: ImportOptions,
) -> Call:
    where = f"observations[{index}]"
    obs_id = opt_str(obs, "id")
    if obs_id is None:
        raise FieldError(f"{where}.id", "an observation needs an id")
    # the Observations API v2 names the model providedModelName (v1 and exports: model)
    provider, model = from_model_prefix(opt_str(obs, "model") or opt_str(obs, "providedModelName"))
    provider = provider or provider_of_model(model)
    started = opt_time(obs, "startTime", field=f"{where}.startTime")
    ended = opt_time(obs, "endTime", field=f"{where}.endTime")
    first_token = opt_time(obs, "completionStartTime", field=f"{where}.completionStartTime")
    messages = _messages(obs.get("input"))
    error = str(obs.get("level", "")).upper() == "ERROR"
    return Call(
        id=obs_id,
        provider=provider,
        request_model=model,
        operation="embeddings" if str(obs.get("type")).upper() == "EMBEDDING" else "chat",
        started_at=started,
        ended_at=ended,
        latency_ms=ms_between(started, ended) or _seconds_ms(obs, "latency", where),
        ttft_ms=ms_between(started, first_token) or _seconds_ms(obs, "timeToFirstToken", where),
        trace_id=opt_str(obs, "traceId") or opt_str(trace, "id"),
        span_id=obs_id,
        parent_span_id=opt_str(obs, "parentObservationId"),
        session_id=opt_str(trace, "sessionId") or opt_str(obs, "sessionId"),  # (v2: on the observation)
        usage=_usage(obs),
        max_output_tokens=_max_tokens(obs, where),
        status=Status.ERROR if error else Status.OK,
        error_type=_error_type(opt_str(obs, "statusMessage")) if error else None,
        tool_uses=tool_uses_of(obs["output"]) if isinstance(obs.get("output"), Mapping) else (),
        attribution=_attribution(obs, trace, by_id),
        provider_reported_cost=_cost(obs, where),
        content=_content(obs, messages) if options.capture_content else None,
        **(shape_of(messages, None, model).fields() if messages else {}),
    )


def _error_type(message: str | None) -> str | None:
    """An error observation's type from its status message: the message itself when it is a
    classification, ``http_NNN`` when it starts with the SDKs' ``Error code: NNN`` (the gateway's
    form for HTTP errors), else None: the rest of such a message is free text, prompt or key included."""
    kind = error_kind(message)
    if kind is not None or message is None:
        return kind
    found = _HTTP_CODE.match(message)
    return f"http_{found[1]}" if found else None


def _is_observation(obj: Mapping[str, Any], *, any_type: bool = False) -> bool:
    """An observation: an id, a trace id and a type (a known one, unless ``any_type``)."""
    kind = obj.get("type")
    known = isinstance(kind, str) and (any_type or kind.upper() in _OBSERVATION_TYPES)
    return known and "traceId" in obj and "id" in obj


def _usage(obs: Mapping[str, Any]) -> Usage:
    details = obs.get("usageDetails")
    if isinstance(details, Mapping) and details:
        return langfuse_usage(details)
    legacy = obs.get("usage")
    if isinstance(legacy, Mapping) and str(legacy.get("unit") or "TOKENS").upper() == "TOKENS":
        return Usage.of(input_total=opt_int(legacy, "input"), output_total=opt_int(legacy, "output"))
    return Usage()


def _cost(obs: Mapping[str, Any], where: str) -> Any:
    details = obs.get("costDetails")
    if isinstance(details, Mapping) and details:
        if "total" in details:
            return reported_cost(details, "total", field=f"{where}.costDetails.total")
        amounts = [reported_cost(details, k, field=f"{where}.costDetails.{k}") for k in details]
        known = [a for a in amounts if a is not None]
        return sum(known[1:], known[0]) if known else None
    key = (
        "calculatedTotalCost" if obs.get("calculatedTotalCost") is not None else "totalCost"
    )  # v2: totalCost
    return reported_cost(obs, key, field=f"{where}.{key}")


def _seconds_ms(obs: Mapping[str, Any], key: str, where: str) -> float | None:
    seconds = opt_number(obs, key, field=f"{where}.{key}")
    return None if seconds is None else seconds * 1000


def _max_tokens(obs: Mapping[str, Any], where: str) -> int | None:
    params = obs.get("modelParameters")
    if not isinstance(params, Mapping):
        return None
    for key in ("max_tokens", "max_completion_tokens", "maxTokens", "max_output_tokens"):
        value = opt_int(params, key, field=f"{where}.modelParameters.{key}")
        if value is not None:
            return value
    return None


def _attribution(
    obs: Mapping[str, Any], trace: Mapping[str, Any], by_id: Mapping[Any, Mapping[str, Any]]
) -> Attribution:
    return Attribution(
        user=opt_str(trace, "userId") or opt_str(obs, "userId"),
        environment=opt_str(obs, "environment") or opt_str(trace, "environment"),
        agent=_agent(obs, by_id),
        tags=tags_from(trace.get("tags")),
    )


def _agent(obs: Mapping[str, Any], by_id: Mapping[Any, Mapping[str, Any]]) -> str | None:
    seen: set[Any] = set()
    parent = by_id.get(obs.get("parentObservationId"))
    while parent is not None and parent.get("id") not in seen:
        seen.add(parent.get("id"))
        if str(parent.get("type", "")).upper() == "AGENT":
            return opt_str(parent, "name")
        parent = by_id.get(parent.get("parentObservationId"))
    return None


def _messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list) and all(isinstance(m, Mapping) and "role" in m for m in value):
        return [normalize(m) for m in value]
    return []


def _content(obs: Mapping[str, Any], messages: list[dict[str, Any]]) -> Content:
    prompt = render(messages) if messages else _as_text(obs.get("input"))
    return Content(prompt=prompt, completion=_as_text(obs.get("output")))


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = text_of(value)
    return text or canonical_json(value)
