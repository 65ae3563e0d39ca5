"""Budget alerts: a log line always, a webhook POST when configured, never on the request path.

Alerts are raised when a soft policy takes a downgrade step, when a hard policy first refuses in
a window, when enforcement is off because the ledger is unreachable (fail-open), and when
reservations of requests in flight could not be renewed (:mod:`tokenomy.budgets.renewal`). Each is
logged (logger ``tokenomy.budgets``) at once; when a webhook is configured the alert is queued
(bounded: a full queue drops and counts) and POSTed as JSON by one background thread, so a slow
or dead webhook never delays a request. The same alert (kind, account, step) is raised once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

LOG: Final = logging.getLogger("tokenomy.budgets")
_QUEUE: Final = 1000
_SEEN_MAX: Final = 10_000


@dataclass(frozen=True, slots=True)
class Alert:
    """One budget event worth telling someone about.

    Attributes:
        kind: ``downgrade``, ``exhausted``, ``enforcement_off`` or ``renewal_failed`` (a renewal of
            reservations in flight was not answered, or came after Redis had released one).
        policy: The policy's name (None for enforcement_off).
        account: The ledger account (policy, scope value and window).
        message: A sentence saying what happened.
        level: The downgrade step taken (1-based; 0 for other kinds).
        used_share: Spent plus reserved over the limit, when known.
        at: When it happened (UTC).
    """

    kind: str
    policy: str | None
    account: str | None
    message: str
    level: int = 0
    used_share: float | None = None
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The alert as the webhook's JSON body."""
        body = asdict(self)
        body["at"] = (self.at or datetime.now(UTC)).isoformat()
        return body


class Alerter:
    """Logs alerts and posts them to a webhook from a background thread.

    Args:
        webhook: An http(s) URL to POST each alert to, or None.
        timeout: Seconds a POST may take.
        quiet: Do not log (benchmarks and proofs that refuse on purpose); the webhook still posts.
    """

    def __init__(self, webhook: str | None = None, *, timeout: float = 5.0, quiet: bool = False) -> None:
        self.webhook = webhook
        self.quiet = quiet
        self.timeout = timeout
        self.dropped = 0
        self.failed = 0
        self.posted = 0
        self._seen: set[tuple[str, str | None, int]] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=_QUEUE)
        self._thread: threading.Thread | None = None

    def raise_once(self, alert: Alert) -> bool:
        """Raise ``alert`` unless the same one (kind, account, level) was raised; True if raised."""
        key = (alert.kind, alert.account, alert.level)
        with self._lock:
            if key in self._seen:
                return False
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen.add(key)
        self.send(alert)
        return True

    def send(self, alert: Alert) -> None:
        """Log the alert, and queue it for the webhook (never blocks)."""
        if not self.quiet:
            LOG.warning("budget %s: %s", alert.kind, alert.message)
        if self.webhook is None:
            return
        self._start()
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tokenomy-budget-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            self._post(alert)
            self._queue.task_done()

    def _post(self, alert: Alert) -> None:
        assert self.webhook is not None
        data = json.dumps(alert.to_json()).encode("utf-8")
        request = urllib.request.Request(
            self.webhook, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            self.posted += 1
        except Exception as exc:  # a webhook's failure must never reach the request path
            self.failed += 1
            LOG.warning("budget alert webhook %s failed: %s", self.webhook, exc)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued alerts were posted (for tests and shutdown); True when all were."""
        if self._thread is None:
            return True
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        """Stop the webhook thread after it posted what is queued."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(self.timeout + 1)
            self._thread = None
