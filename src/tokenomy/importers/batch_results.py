"""Batch API result files, read by the provider importer: one line a request, billed at batch rates.

Each provider writes its batch results as JSON lines that wrap the body a request got:

* OpenAI (Mistral writes the same): ``{"id": "batch_req_...", "custom_id": ..., "response":
  {"status_code": 200, "request_id": ..., "body": {...}}, "error": null}``; a request that never ran
  has ``"response": null`` and an ``error`` (``batch_expired``, ``batch_cancelled``...);
* Anthropic's Message Batches: ``{"custom_id": ..., "result": {"type": "succeeded", "message":
  {...}}}``, or ``errored`` with the error, ``canceled`` or ``expired`` with nothing;
* Gemini's batch mode: ``{"key": ..., "response": {...}}``, the response a ``generateContent`` body.

Read as the exchange it stands for (:func:`batch_result`), each answer is a call marked ``batch``, so
the pricer uses the provider's batch rates (half the standard ones, for most models): read as a
plain body it was priced at twice its bill. A request the provider answered with an error is a
failed call, not billed; one that never ran (cancelled, expired) is no call at all and is
reported as such, a rejected record that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenomy.native import FieldError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A batch result line read as an exchange.

    Attributes:
        record: The exchange: ``{"response": ...}`` with the line's own fields kept (its ``custom_id``).
        failed: The provider answered the request with an error (not billed).
    """

    record: Mapping[str, Any]
    failed: bool = False


def batch_result(record: Mapping[str, Any]) -> BatchResult | None:
    """The exchange a batch result line stands for, or None when ``record`` is not one.

    Raises:
        FieldError: The line is the result of a request that never ran (cancelled or expired).
    """
    result = record.get("result")
    if "custom_id" in record and isinstance(result, Mapping) and isinstance(result.get("type"), str):
        return _anthropic(record, result)
    response = record.get("response")
    if "custom_id" in record and (
        (isinstance(response, Mapping) and ("body" in response or "status_code" in response))
        or (response is None and isinstance(record.get("error"), Mapping))
    ):
        if response is None:
            error = record["error"]
            code = error.get("code") or error.get("type") or "an error"
            raise FieldError(
                "response", f"a batch request that never ran ({code}): not billed, nothing to store"
            )
        return BatchResult(record)
    if "key" in record and isinstance(response, Mapping) and "usageMetadata" in response:
        return BatchResult(record)
    return None


def _anthropic(record: Mapping[str, Any], result: Mapping[str, Any]) -> BatchResult:
    """An Anthropic Message Batches result as an exchange (see the module docstring)."""
    kind = result["type"]
    wrapper = {k: v for k, v in record.items() if k != "result"}
    if kind == "succeeded" and isinstance(result.get("message"), Mapping):
        return BatchResult({**wrapper, "provider": "anthropic", "response": result["message"]})
    if kind == "errored":
        error = result.get("error")
        inner = error.get("error") if isinstance(error, Mapping) else None
        found = inner if isinstance(inner, Mapping) else error if isinstance(error, Mapping) else {}
        return BatchResult({**wrapper, "provider": "anthropic", "response": {"error": found}}, failed=True)
    raise FieldError("result", f"a batch request that never ran ({kind}): not billed, nothing to store")
