"""Live capture in the host app: instrumented SDK clients, attribution scopes, outcomes, the sink.

Typical use::

    import tokenomy
    from openai import OpenAI

    tokenomy.configure()                       # local DuckDB file; or "http://host:4318"...
    client = tokenomy.instrument(OpenAI())

    with tokenomy.context(session="s-42", user="ana", feature="support", agent="triage"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        tokenomy.charge("0.004", "search_api", quantity=1)
    tokenomy.record_outcome("s-42", success=True, action="ticket_resolved")

See docs/capture.md.
"""

from __future__ import annotations

from tokenomy.capture.api import configure, flush, shutdown, sink_stats, warm_up
from tokenomy.capture.events import charge, record_outcome
from tokenomy.capture.instrumenting import instrument
from tokenomy.capture.scope import Scope, context, run_in_context
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.stats import SinkStats

__all__ = [
    "Scope",
    "Sink",
    "SinkSettings",
    "SinkStats",
    "charge",
    "configure",
    "context",
    "flush",
    "instrument",
    "record_outcome",
    "run_in_context",
    "shutdown",
    "sink_stats",
    "warm_up",
]
