"""Fixtures for the gateway tests: the mock upstream, and a gateway in front of it recording to memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.support import ListTarget, Running, memory_sink, mock_routes, running
from tokenomy.capture.sink.core import Sink
from tokenomy.gateway import Gateway
from tokenomy.mockllm import Lengths, MockLLMConfig, MockThread, run_in_thread


@pytest.fixture(scope="module")
def mock() -> Iterator[MockThread]:
    """The mock upstream (16 output tokens per answer)."""
    with run_in_thread(MockLLMConfig(seed=7, output_tokens=Lengths.fixed(16))) as handle:
        yield handle


@pytest.fixture
def recorded() -> Iterator[tuple[Sink, ListTarget]]:
    """A sink into a list."""
    sink, target = memory_sink()
    yield sink, target
    sink.shutdown(5)


@pytest.fixture
def gateway(mock: MockThread, recorded: tuple[Sink, ListTarget]) -> Iterator[Running]:
    """A gateway in front of the mock, recording to ``recorded``."""
    mock.reset()
    app = Gateway(mock_routes(mock.base_url, mock.openai_base_url), sink=recorded[0])
    with running(app) as served:
        yield served
