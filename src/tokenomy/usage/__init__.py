"""Usage normalization: provider response bodies, streams and OTel spans into exclusive buckets.

One adapter per provider API surface (see :data:`ADAPTERS`) reads a body into an
:class:`Extracted`: usage in the buckets of :class:`tokenomy.schema.Usage` (unknown parts
None, impossible numbers flagged, never clamped) plus the response's model, id, finish
reason, hashed tool uses, service tier and visible text. Each adapter module states its
provider's counting convention; docs/usage.md gathers them in one table.

Typical use::

    from tokenomy.usage import extract, accumulate, iter_json_events

    extracted = extract(response_json)                       # surface detected from the shape
    extracted = extract(body, provider="groq")               # OpenAI-shaped, labelled groq
    streamed = accumulate(iter_json_events(raw_sse_bytes))   # a whole stream
    live = stream_accumulator("anthropic.messages")          # or None to detect; feed() per event
"""

from __future__ import annotations

from tokenomy.usage.adapter import Adapter, StreamAccumulator
from tokenomy.usage.base import Extracted, args_hash
from tokenomy.usage.otel import decode_otlp_attributes, from_otel
from tokenomy.usage.registry import ADAPTERS, detect, extract, resolve
from tokenomy.usage.sse import SSEDecoder, SSEEvent, iter_json_events, parse_sse
from tokenomy.usage.stream import AutoStream, accumulate, stream_accumulator

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AutoStream",
    "Extracted",
    "SSEDecoder",
    "SSEEvent",
    "StreamAccumulator",
    "accumulate",
    "args_hash",
    "decode_otlp_attributes",
    "detect",
    "extract",
    "from_otel",
    "iter_json_events",
    "parse_sse",
    "resolve",
    "stream_accumulator",
]
