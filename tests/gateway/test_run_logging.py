"""The gateway's expected stream cuts are one WARNING line in uvicorn's log, not an ERROR with a traceback."""

from __future__ import annotations

import asyncio
import logging
import sys

from tokenomy.gateway.run import ExpectedCuts
from tokenomy.gateway.upstream import UpstreamError


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(
        "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (), info
    )


def test_an_upstream_cut_and_a_drain_cut_become_one_warning_line() -> None:
    cut = _record(UpstreamError("protocol", "the upstream connection failed in the middle of its answer"))
    assert ExpectedCuts().filter(cut) is True
    assert (cut.levelno, cut.exc_info) == (logging.WARNING, None)
    assert cut.getMessage() == (
        "tokenomy gateway: the upstream cut a stream (the upstream connection failed in the middle of its "
        "answer); the client's was cut the same way"
    )
    drained = _record(asyncio.CancelledError())
    assert ExpectedCuts().filter(drained) is True
    assert drained.getMessage() == "tokenomy gateway: a stream still open when the drain time ended was cut"
    assert drained.levelname == "WARNING"


def test_any_other_exception_keeps_its_error_and_traceback() -> None:
    bug = _record(ZeroDivisionError("a real bug"))
    assert ExpectedCuts().filter(bug) is True
    assert (bug.levelno, bug.getMessage()) == (logging.ERROR, "Exception in ASGI application")
    assert bug.exc_info is not None
