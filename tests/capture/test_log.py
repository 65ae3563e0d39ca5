"""Rate-limited warnings."""

from __future__ import annotations

import logging

import pytest

from tokenomy.capture.log import RateLimitedLog


def test_each_kind_is_logged_once_per_interval_with_the_count_in_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = RateLimitedLog(interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        assert log.note("down", "target down") is True
        assert log.note("down", "target down") is False
        assert log.note("down", "target down") is False
        assert log.note("full", "queue full") is True
        now[0] = 61.0
        assert log.note("down", "target down") is True
    assert [r.getMessage() for r in caplog.records] == [
        "target down",
        "queue full",
        "target down (2 more like this since the last message)",
    ]
