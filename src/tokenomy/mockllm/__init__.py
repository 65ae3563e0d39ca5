"""A fast, faithful, controllable mock of the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.

It speaks Chat Completions, Responses, Completions, Embeddings, Models and Anthropic Messages
(plain and streamed) well enough for the official SDKs to work against it unchanged; reports
usage that is its own ground truth (``GET /_mock/stats``); simulates prompt caching, reasoning,
latency and failures; and is controlled by :class:`MockLLMConfig` or per request by
``X-Mock-*`` headers. See docs/mock-upstream.md.
"""

from __future__ import annotations

from tokenomy.mockllm.config import FAULTS, Latency, Lengths, MockLLMConfig
from tokenomy.mockllm.ledger import Served
from tokenomy.mockllm.server import MockLLMServer, MockThread, run_in_thread

__all__ = [
    "FAULTS",
    "Latency",
    "Lengths",
    "MockLLMConfig",
    "MockLLMServer",
    "MockThread",
    "Served",
    "run_in_thread",
]
