"""Alerts: logged, posted to a webhook in the background, once per (kind, account, step), never blocking."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tokenomy.budgets.alerts import Alert, Alerter


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    hold: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            self.hold.wait(10)
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    _Hook.hold = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Hook.hold.set()
    server.shutdown()


def test_alerts_are_logged_and_posted_once(hook: str, caplog: pytest.LogCaptureFixture) -> None:
    alerter = Alerter(hook + "/hook")
    alert = Alert("downgrade", "p", "p:*:d2026-03-10", "budget 'p' is at 80%", level=1, used_share=0.8)
    with caplog.at_level(logging.WARNING, logger="tokenomy.budgets"):
        assert alerter.raise_once(alert) is True
        assert alerter.raise_once(alert) is False
        assert alerter.raise_once(Alert("downgrade", "p", "p:*:d2026-03-10", "step 2", level=2)) is True
    assert alerter.flush(5)
    assert [r.getMessage() for r in caplog.records] == [
        "budget downgrade: budget 'p' is at 80%",
        "budget downgrade: step 2",
    ]
    assert [(b["kind"], b["level"], b["account"]) for b in _Hook.received] == [
        ("downgrade", 1, "p:*:d2026-03-10"),
        ("downgrade", 2, "p:*:d2026-03-10"),
    ]
    assert _Hook.received[0]["used_share"] == 0.8
    assert alerter.posted == 2
    alerter.close()


def test_a_slow_webhook_never_blocks_the_caller(hook: str) -> None:
    alerter = Alerter(hook + "/slow")
    for i in range(1_100):
        alerter.send(Alert("exhausted", "p", f"k{i}", "m"))
    # every send returned while the webhook still holds the first POST: nothing was received yet
    assert _Hook.received == []
    assert alerter.dropped >= 1_100 - 1_000 - 1  # the queue holds 1000 (one is in flight)
    _Hook.hold.set()
    assert alerter.flush(10)
    assert alerter.posted == 1_100 - alerter.dropped
    alerter.close()


def test_a_dead_webhook_is_counted_not_raised() -> None:
    alerter = Alerter("http://127.0.0.1:9/none", timeout=0.5)
    alerter.send(Alert("exhausted", "p", "k", "m"))
    assert alerter.flush(5)
    assert (alerter.posted, alerter.failed) == (0, 1)
    alerter.close()
