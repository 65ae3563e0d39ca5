"""The application's current OpenTelemetry span, when it has one, so captured calls join its trace.

Only looked up when ``opentelemetry.trace`` is already imported by someone else: tokenomy never
imports it for this. Without an OTel SDK configured there is no valid current span.
"""

from __future__ import annotations

import sys


def current_span() -> tuple[str, str] | None:
    """(trace id, span id) of the current OTel span as W3C hex, or None when there is none."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        context = trace.get_current_span().get_span_context()
    except Exception:  # a broken or partial OTel install must not break the call
        return None
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
