"""Fixtures for the capture tests: the mock upstream, and the process's capture sink pointed at memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.capture.support import MemoryTarget, sink_with
from tokenomy.capture.runtime import RUNTIME, ContentSettings
from tokenomy.config import Config
from tokenomy.mockllm import MockLLMConfig, MockThread, run_in_thread


@pytest.fixture(scope="session")
def mock() -> Iterator[MockThread]:
    """One mock upstream for the whole run (reset by ``recorded`` before each test)."""
    with run_in_thread(MockLLMConfig(seed=11)) as handle:
        yield handle


@pytest.fixture
def recorded(mock: MockThread) -> Iterator[MemoryTarget]:
    """The process's sink, delivering to memory; the mock's ground truth starts from zero."""
    mock.reset()
    target = MemoryTarget()
    RUNTIME.configure(sink_with(target), config=Config())
    yield target
    RUNTIME.shutdown(10)
    RUNTIME.content = ContentSettings()
