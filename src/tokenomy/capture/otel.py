"""The application's current OpenTelemetry span, when it has one, so captured calls join its trace.

Only looked up when ``opentelemetry.trace`` is already imported by someone else: tokenomy never
imports it for this (the anthropic SDK imports it, so a process using that SDK looks it up on every
call). Without an OTel SDK configured there is no valid current span. When nothing is attached to
OpenTelemetry's current context (an empty context, as in a process that never starts a span), there
is no span, and the span's lookup (four calls into the OTel API) is skipped.
"""

from __future__ import annotations

import sys


def current_span() -> tuple[str, str] | None:
    """(trace id, span id) of the current OTel span as W3C hex, or None when there is none."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        found = sys.modules.get("opentelemetry.context")
        current = None if found is None else found.get_current()
        if isinstance(current, dict) and not current:  # an empty Context (a dict): no span in it
            return None
        context = trace.get_current_span(current).get_span_context()
    except Exception:  # a broken or partial OTel install must not break the call
        return None
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
